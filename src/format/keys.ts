// Ed25519 keys (node:crypto): generate, load from PEM (or raw public bytes), key id, sign, verify.
// A key id is the first 8 bytes of SHA-256 over the raw 32-byte public key, shown as 16 hex digits.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { SignatureError } from "../errors.js";
import { sha256, toHex } from "./bytes.js";
import { FORMAT } from "./constants.js";

/** A public key a reader trusts. */
export interface TrustedKey {
  readonly publicKey: KeyObject;
  /** Raw 32-byte Ed25519 public key. */
  readonly raw: Uint8Array;
  readonly keyId: Uint8Array;
  readonly keyIdHex: string;
}

/** A private key a writer signs with (its public half included). */
export interface SigningKey extends TrustedKey {
  readonly privateKey: KeyObject;
}

/** Anything a caller may hand in as a trusted public key: a TrustedKey, a KeyObject, PEM text, or raw 32 bytes. */
export type PublicKeyInput = TrustedKey | KeyObject | string | Uint8Array;

function rawPublic(pub: KeyObject): Uint8Array {
  const jwk = pub.export({ format: "jwk" });
  if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.x !== "string") {
    throw new SignatureError("bad-key", `key is ${pub.asymmetricKeyType ?? "not asymmetric"}; fota uses Ed25519 keys`);
  }
  return new Uint8Array(Buffer.from(jwk.x, "base64url"));
}

export function keyIdOf(rawPublicKey: Uint8Array): Uint8Array {
  return sha256(rawPublicKey).slice(0, FORMAT.keyIdBytes);
}

function trusted(publicKey: KeyObject): TrustedKey {
  if (publicKey.asymmetricKeyType !== "ed25519") {
    throw new SignatureError("bad-key", `key is ${publicKey.asymmetricKeyType ?? "unknown"}; fota uses Ed25519 keys`);
  }
  const raw = rawPublic(publicKey);
  const keyId = keyIdOf(raw);
  return { publicKey, raw, keyId, keyIdHex: toHex(keyId) };
}

export function generateSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { ...trusted(publicKey), privateKey };
}

/** PKCS#8 PEM of the private key. */
export function privateKeyPem(k: SigningKey): string {
  return k.privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** SPKI PEM of the public key. */
export function publicKeyPem(k: TrustedKey): string {
  return k.publicKey.export({ format: "pem", type: "spki" }).toString();
}

/** Loads a private key from PKCS#8 PEM text (what `fota keygen` writes). */
export function loadSigningKey(pem: string | Uint8Array, source = "key"): SigningKey {
  const text = typeof pem === "string" ? pem : Buffer.from(pem).toString("utf8");
  if (/-----BEGIN PUBLIC KEY-----/.test(text)) {
    throw new SignatureError("bad-key", `${source} holds a public key; signing needs the private key (the file without .pub)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: text, format: "pem" });
  } catch (e) {
    throw new SignatureError("bad-key", `${source} is not a PEM private key`, { cause: e });
  }
  if (privateKey.asymmetricKeyType !== "ed25519") {
    throw new SignatureError("bad-key", `${source} is a ${privateKey.asymmetricKeyType ?? "unknown"} key; fota signs with Ed25519`);
  }
  return { ...trusted(createPublicKey(privateKey)), privateKey };
}

/** Loads a public key: SPKI PEM text, raw 32 bytes, a KeyObject (public or private), or a TrustedKey. */
export function loadTrustedKey(input: PublicKeyInput, source = "public key"): TrustedKey {
  if (typeof input === "object" && "keyId" in input && "raw" in input) return input;
  if (input instanceof Uint8Array) {
    if (input.length === FORMAT.publicKeyBytes) {
      const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(input).toString("base64url") }, format: "jwk" });
      return trusted(publicKey);
    }
    input = Buffer.from(input).toString("utf8");
  }
  if (typeof input === "string") {
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: input, format: "pem" });
    } catch (e) {
      throw new SignatureError("bad-key", `${source} is not a PEM public key`, { cause: e });
    }
    return trusted(publicKey);
  }
  return trusted(input.type === "private" ? createPublicKey(input) : input);
}

export function signMessage(key: SigningKey, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, key.privateKey));
}

export function verifyMessage(key: TrustedKey, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== FORMAT.signatureBytes) return false;
  try {
    return verify(null, message, key.publicKey, signature);
  } catch {
    return false;
  }
}
