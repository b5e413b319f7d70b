// Signatures over the manifest. Each entry of the signature block names its algorithm and key id;
// the signed message is SHA-256(context || 0x00 || manifest bytes), 32 bytes, so even a small
// verifier (MicroPython) hashes the manifest once with SHA-256 and runs Ed25519 over 32 bytes.
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, SignatureError, UsageError } from "../errors.js";
import { encodeUtf8, sha256, toHex } from "./bytes.js";
import { FORMAT, SIGNATURE_ALGORITHMS, SIGNATURE_BLOCK_FIELDS, SIGNATURE_FIELDS } from "./constants.js";
import { signMessage, verifyMessage, type SigningKey, type TrustedKey } from "./keys.js";
import { decodeFixed, decodeMap, decodeUint, encodeTlv, encodeUint, type RawField, type UnknownField } from "./tlv.js";

export interface SignatureEntry {
  /** Wire value from SIGNATURE_ALGORITHMS (1 = ed25519); unknown algorithms are skipped by readers. */
  algorithm: number;
  keyId: Uint8Array;
  signature: Uint8Array;
  unknown?: UnknownField[];
}

const CONTEXT = new Uint8Array([...encodeUtf8(FORMAT.signatureContext), 0]);

/** The 32-byte message every signature of a manifest signs. */
export function signedMessage(manifestBytes: Uint8Array): Uint8Array {
  return sha256(CONTEXT, manifestBytes);
}

export function signManifest(manifestBytes: Uint8Array, keys: readonly SigningKey[]): SignatureEntry[] {
  const msg = signedMessage(manifestBytes);
  return keys.map((k) => ({ algorithm: SIGNATURE_ALGORITHMS.ed25519, keyId: k.keyId, signature: signMessage(k, msg) }));
}

export function encodeSignatureBlock(entries: readonly SignatureEntry[]): Uint8Array {
  const S = SIGNATURE_FIELDS;
  const fields: RawField[] = entries.map((e) => ({
    id: SIGNATURE_BLOCK_FIELDS.signature.id,
    critical: SIGNATURE_BLOCK_FIELDS.signature.critical,
    value: encodeTlv([
      { id: S.algorithm.id, critical: S.algorithm.critical, value: encodeUint(e.algorithm) },
      { id: S.keyId.id, critical: S.keyId.critical, value: e.keyId },
      { id: S.signature.id, critical: S.signature.critical, value: e.signature },
      ...(e.unknown ?? []),
    ]),
  }));
  return encodeTlv(fields);
}

export function decodeSignatureBlock(buf: Uint8Array, config: FotaConfig = DEFAULT_CONFIG): SignatureEntry[] {
  const lim = config.format;
  if (buf.length > lim.maxSignatureBlockBytes) {
    throw new FormatError("limit-exceeded", `signature block is ${buf.length} bytes; the limit is ${lim.maxSignatureBlockBytes}`, { details: { length: buf.length, limit: lim.maxSignatureBlockBytes } });
  }
  const limits = { maxFields: lim.maxSignatures, maxStringBytes: lim.maxStringBytes };
  const { known } = decodeMap(buf, SIGNATURE_BLOCK_FIELDS, "signature block", { ...limits, maxFields: lim.maxManifestFields });
  const list = known.signature ?? [];
  if (list.length > lim.maxSignatures) {
    throw new FormatError("limit-exceeded", `package carries ${list.length} signatures; the limit is ${lim.maxSignatures}`, { details: { signatures: list.length, limit: lim.maxSignatures } });
  }
  return list.map((v, i) => {
    const what = `signature ${i + 1}`;
    const { known: k, unknown } = decodeMap(v, SIGNATURE_FIELDS, what, { ...limits, maxFields: 16 });
    if (!k.algorithm || !k.keyId || !k.signature) throw new FormatError("malformed", `${what} lacks its algorithm, key id or signature`);
    const e: SignatureEntry = {
      algorithm: decodeUint(k.algorithm[0]!, `${what} algorithm`),
      keyId: decodeFixed(k.keyId[0]!, `${what} key id`, FORMAT.keyIdBytes),
      signature: k.signature[0]!.slice(),
    };
    if (k.signature[0]!.length > 1024) throw new FormatError("limit-exceeded", `${what} is ${k.signature[0]!.length} bytes long`);
    if (unknown.length) e.unknown = unknown;
    return e;
  });
}

export interface SignatureCheck {
  /** Hex ids of the trusted keys whose signatures verified. */
  verifiedKeyIds: string[];
}

/**
 * Checks the signatures of a manifest against trusted keys. Every signature that names a trusted key
 * must verify (else bad-signature); at least `minSignatures` distinct trusted keys must have signed
 * (else untrusted-key). Signatures by unknown keys or with unknown algorithms are ignored.
 */
export function verifySignatures(manifestBytes: Uint8Array, entries: readonly SignatureEntry[], trustedKeys: readonly TrustedKey[], minSignatures = 1): SignatureCheck {
  if (trustedKeys.length === 0) throw new UsageError("bad-argument", "no trusted public key given; pass the signer's .pub file");
  if (!Number.isInteger(minSignatures) || minSignatures < 1) throw new UsageError("bad-argument", `minimum signature count ${minSignatures} must be at least 1`);
  const msg = signedMessage(manifestBytes);
  const byId = new Map(trustedKeys.map((k) => [k.keyIdHex, k]));
  const ok = new Set<string>();
  for (const e of entries) {
    if (e.algorithm !== SIGNATURE_ALGORITHMS.ed25519) continue;
    const id = toHex(e.keyId);
    const key = byId.get(id);
    if (!key) continue;
    if (!verifyMessage(key, msg, e.signature)) {
      throw new SignatureError("bad-signature", `the signature by key ${id} does not verify: the manifest or the signature was changed`, { details: { keyId: id } });
    }
    ok.add(id);
  }
  if (ok.size < minSignatures) {
    const signers = entries.map((e) => toHex(e.keyId));
    const detail = signers.length ? `signed by ${signers.join(", ")}` : "not signed at all";
    throw new SignatureError(
      "untrusted-key",
      ok.size === 0
        ? `no signature by a trusted key: the package is ${detail}; trusted: ${[...byId.keys()].join(", ")}`
        : `${ok.size} trusted signature(s); ${minSignatures} required`,
      { details: { signers, trusted: [...byId.keys()], verified: [...ok] } },
    );
  }
  return { verifiedKeyIds: [...ok] };
}
