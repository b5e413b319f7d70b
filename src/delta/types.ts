// The synchronous byte interfaces shared with src/format and src/device (same names and shapes as
// src/format/payload.ts; structural typing makes either definition acceptable).

export interface RandomAccessReader {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export interface PayloadDecoder {
  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void;
  finish(out: (image: Uint8Array) => void): void;
  saveState?(): Uint8Array;
}

/** A RandomAccessReader over bytes in memory. */
export function bytesReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      return bytes.subarray(offset, offset + length);
    },
  };
}
