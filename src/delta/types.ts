// The synchronous byte interfaces are src/format/payload.ts's. bytesReader differs from format's
// bufferReader on purpose: it clamps reads at the end instead of throwing.

import type { RandomAccessReader } from "../format/payload.js";

export type { RandomAccessReader, PayloadDecoder } from "../format/payload.js";

/** A RandomAccessReader over bytes in memory. */
export function bytesReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      return bytes.subarray(offset, offset + length);
    },
  };
}
