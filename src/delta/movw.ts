// Thumb-2 MOVW/MOVT address pairs (PRED.thumbMovw): LLVM (clang, Rust) builds the address of a global
// on a Cortex-M with MOVW rd, #lo16 then MOVT rd, #hi16 where GCC loads it from a literal pool. The
// absolute address (hi16 << 16) | lo16 of file position address - base (the load address of the
// 32-bit pointer map; bit 0, a Thumb function's, kept) becomes address + shift.
//
// The map runs after every other Thumb map, on what they leave, and rewrites only the two immediates.
// Instruction boundaries are unknown, so every halfword may start a pair: a MOVW and the MOVT of the
// same register among the next four instructions, their lengths read from their first halfwords. Two
// pairs never share a byte (a MOVW/MOVT's second halfword has bit 15 clear, its first one set, so one
// cannot start inside another), and what a pair's decision reads of another pair is never rewritten (its
// opcode, register and top bits), so every pair is mapped, in any order, interleaved ones too (LLVM
// often emits MOVW r1, MOVW r2, MOVT r1, MOVT r2). A pair is at most 24 bytes, read after maps whose
// own decisions reach 16 bytes: 64 bytes of margin.

import type { AddressMap } from "./predict.js";

/** The 16-bit immediate of a MOVW/MOVT (T3/T1): imm4 (hw1 3-0), i (hw1 10), imm3 (hw2 14-12), imm8 (hw2 7-0). */
const imm16 = (hw1: number, hw2: number): number => ((hw1 & 15) << 12) | (((hw1 >> 10) & 1) << 11) | (((hw2 >> 12) & 7) << 8) | (hw2 & 0xff);

const half = (b: Uint8Array, i: number): number => b[i]! | (b[i + 1]! << 8);

/** Writes v as the immediate of the MOVW/MOVT at b[i], its other bits kept. */
function putImm16(b: Uint8Array, i: number, v: number): void {
  const hw1 = (half(b, i) & 0xfbf0) | ((v >> 12) & 15) | (((v >> 11) & 1) << 10);
  const hw2 = (half(b, i + 2) & 0x8f00) | (((v >> 8) & 7) << 12) | (v & 0xff);
  b[i] = hw1 & 0xff;
  b[i + 1] = hw1 >> 8;
  b[i + 2] = hw2 & 0xff;
  b[i + 3] = hw2 >> 8;
}

/** Whether the halfwords at b[i] are a MOVW (T3) or, with movt, a MOVT (T1). */
const isMov = (b: Uint8Array, i: number, movt: boolean): boolean => (half(b, i) & 0xfbf0) === (movt ? 0xf2c0 : 0xf240) && (b[i + 3]! & 0x80) === 0;

/**
 * The distance from the MOVW rd at b[i] to the MOVT rd among the next four instructions (16-bit ones,
 * and 32-bit ones whose first halfword says so: top five bits 11101, 11110 or 11111), or 0 when there is
 * none first, or another MOVW of rd comes first. Reads b[i, i + 24) at most.
 */
export function movtAfter(b: Uint8Array, i: number, n: number): number {
  if (i + 4 > n || !isMov(b, i, false)) return 0;
  const rd = b[i + 3]! & 15;
  let j = i + 4;
  for (let k = 0; k < 4; k++) {
    if (j + 2 > n) return 0;
    if (b[j + 1]! >> 3 < 0x1d) {
      j += 2;
      continue;
    }
    if (j + 4 > n) return 0;
    if ((b[j + 3]! & 15) === rd && (b[j + 3]! & 0x80) === 0) {
      if (isMov(b, j, true)) return j - i;
      if (isMov(b, j, false)) return 0;
    }
    j += 4;
  }
  return 0;
}

/** The address of the MOVW at b[i] and the MOVT g bytes on: (hi16 << 16) | lo16. */
export const movwAddress = (b: Uint8Array, i: number, g: number): number => ((imm16(half(b, i + g), half(b, i + g + 2)) << 16) | imm16(half(b, i), half(b, i + 2))) >>> 0;

/** Maps the MOVW/MOVT pairs in b[0, n) (byte 0 at old position pos0); see the file's comment. */
export function mapThumbMovw(b: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, n: number, barrier: number): void {
  for (let i = pos0 & 1; i + 4 <= n; i += 2) {
    if (b[i + 1] !== 0xf2 && b[i + 1] !== 0xf6) continue; // a MOVW's first byte pair: 1111 0i10 0100 imm4
    const g = movtAfter(b, i, n);
    if (g === 0) continue;
    const p = pos0 + i;
    if (barrier !== 0 && Math.floor(p / barrier) !== Math.floor((p + g + 3) / barrier)) continue;
    const a = movwAddress(b, i, g);
    if (a - base < 0 || a - base >= oldSize) continue;
    const an = (a + map.shift((a - base) & ~1)) >>> 0;
    putImm16(b, i, an & 0xffff);
    putImm16(b, i + g, an >>> 16);
  }
}
