// Host file helpers for the CLI and tools: key files, a RandomAccessReader over a file, streaming a
// file through a push consumer, and write-to-temp-then-rename.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { SignatureError, StorageError, UsageError } from "../errors.js";
import { generateSigningKey, loadSigningKey, loadTrustedKey, privateKeyPem, publicKeyPem, type SigningKey, type TrustedKey } from "./keys.js";
import type { RandomAccessReader } from "./payload.js";

function ioError(e: unknown, what: string): never {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT") throw new UsageError("bad-argument", `${what}: no such file`, { cause: e });
  if (code === "EISDIR") throw new UsageError("bad-argument", `${what}: is a directory`, { cause: e });
  if (code === "ENOSPC") throw new StorageError("no-space", `${what}: no space left on the device`, { cause: e });
  throw new StorageError("io-failed", `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

export function readFileBytes(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    ioError(e, path);
  }
}

/** Writes a new key pair: private key (PKCS#8 PEM, mode 0600) to `path`, public key (SPKI PEM) to `path.pub`. */
export function writeKeyPair(path: string, opts: { force?: boolean } = {}): SigningKey {
  const pub = `${path}.pub`;
  if (!opts.force) {
    for (const p of [path, pub]) {
      if (existsSync(p)) throw new UsageError("file-exists", `${p} already exists; pass --force to replace the key`, { details: { path: p } });
    }
  }
  const key = generateSigningKey();
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, privateKeyPem(key), { mode: 0o600 });
    writeFileSync(pub, publicKeyPem(key), { mode: 0o644 });
  } catch (e) {
    ioError(e, path);
  }
  return key;
}

export function readSigningKey(path: string): SigningKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    ioError(e, `key file ${path}`);
  }
  return loadSigningKey(text, path);
}

export function readTrustedKey(path: string): TrustedKey {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    ioError(e, `public key file ${path}`);
  }
  const text = Buffer.from(bytes).toString("utf8");
  if (/PRIVATE KEY/.test(text)) {
    throw new SignatureError("bad-key", `${path} holds a private key; give the public key (${basename(path)}.pub) so the secret stays with the signer`);
  }
  return loadTrustedKey(text, path);
}

/** A RandomAccessReader over a file (synchronous reads; close() when done). */
export function openFileReader(path: string): RandomAccessReader & { close(): void } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    ioError(e, path);
  }
  const size = fstatSync(fd).size;
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      if (offset < 0 || length < 0 || offset + length > size) throw new RangeError(`read(${offset}, ${length}) outside 0..${size} of ${path}`);
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new StorageError("io-failed", `${path} shrank while reading`);
        done += n;
      }
      return out;
    },
    close() {
      closeSync(fd);
    },
  };
}

/** Reads a file in `step`-byte pieces into `consume`. */
export function streamFile(path: string, consume: (bytes: Uint8Array) => void, step = 64 * 1024): number {
  const r = openFileReader(path);
  try {
    for (let o = 0; o < r.size; o += step) consume(r.read(o, Math.min(step, r.size - o)));
    return r.size;
  } finally {
    r.close();
  }
}

/**
 * Writes a file through a temporary sibling: `produce` gets a write function; the temporary file is
 * renamed over `path` only if `produce` returns normally, and removed otherwise.
 */
export function writeFileAtomically<T>(path: string, produce: (write: (bytes: Uint8Array) => void) => T): T {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, "w", 0o644);
  } catch (e) {
    ioError(e, path);
  }
  let ok = false;
  try {
    const result = produce((bytes) => {
      try {
        let done = 0;
        while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      } catch (e) {
        ioError(e, path);
      }
    });
    closeSync(fd);
    fd = -1;
    try {
      renameSync(tmp, path);
    } catch (e) {
      ioError(e, path);
    }
    ok = true;
    return result;
  } finally {
    if (fd >= 0) closeSync(fd);
    if (!ok) rmSync(tmp, { force: true });
  }
}
