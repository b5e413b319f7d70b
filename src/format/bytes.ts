// Small byte helpers of the format: minimal LEB128 varints, concatenation, hex, SHA-256.
import { createHash } from "node:crypto";
import { FormatError } from "../errors.js";
import { FORMAT } from "./constants.js";

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export function fromHex(s: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new TypeError(`not a hex string: ${s.slice(0, 20)}`);
  return new Uint8Array(Buffer.from(s, "hex"));
}

/** Bytes a value takes as a minimal LEB128 varint. */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Minimal unsigned LEB128; values are safe integers. */
export function encodeVarint(v: number): Uint8Array {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`varint value out of range: ${v}`);
  const out = new Uint8Array(varintLength(v));
  let i = 0;
  while (v >= 0x80) {
    out[i++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  out[i] = v;
  return out;
}

/**
 * Reads a minimal LEB128 varint at `offset` of `buf` (not past `end`). Returns undefined when the
 * bytes end inside the varint (the caller decides whether that means "truncated" or "need more").
 */
export function readVarint(buf: Uint8Array, offset: number, end: number, what: string): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < FORMAT.maxVarintBytes; i++) {
    if (offset + i >= end) return undefined;
    const b = buf[offset + i]!;
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) {
      if (b === 0 && i > 0) throw new FormatError("malformed", `${what}: varint at byte ${offset} is not minimally encoded`, { details: { offset } });
      if (!Number.isSafeInteger(value)) throw new FormatError("limit-exceeded", `${what}: varint at byte ${offset} is above 2^53-1`, { details: { offset } });
      return { value, next: offset + i + 1 };
    }
    scale *= 128;
  }
  throw new FormatError("malformed", `${what}: varint at byte ${offset} is longer than ${FORMAT.maxVarintBytes} bytes`, { details: { offset } });
}

/** Strict UTF-8 decoding (invalid sequences are refused, not replaced). */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export function decodeUtf8(b: Uint8Array, what: string): string {
  try {
    return utf8.decode(b);
  } catch (e) {
    throw new FormatError("malformed", `${what} is not valid UTF-8`, { cause: e });
  }
}
export function encodeUtf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
