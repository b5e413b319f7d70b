// Reference maps for fixed-width 32-bit instruction sets in little-endian words: RISC-V, LoongArch,
// POWER (ppc64le) and MIPS address pairs. Each rewrites, in place, the immediates of the references
// whose target moved by another amount than the reference itself, and decides only from opcode and
// register bits (never rewritten) and from the immediates of its own window (which no other window
// shares), so any slice maps the same as the whole image from mapMargin() bytes inside its edges on: a
// window starts on a word and is 4 or 8 bytes long (FILTER_MARGIN suffices), or 12 for a MIPS triple (16
// bytes of margin: it may start 11 bytes before a byte it covers). RISC-V compressed code is the
// exception: its windows start on any halfword, and overlapping ones are left alone as x86's are (see
// mapRiscVCompressed). A pair or triple that straddles `barrier` (in place: a sector boundary) is left
// alone, as the AArch64 page pairs are.
//
// Two kinds of address appear:
// - relative (RISC-V, LoongArch, POWER branches): a file position p refers to t; the new offset is
//   (t + shift(t)) - (p + shift(p));
// - absolute in a high/low pair (POWER `lis` and MIPS `lui` followed by the instruction that adds the
//   low half): the address A of file position x = A - base becomes A + shift(x).
// In both, the high half is rounded so that the signed low half completes it, as the linker does.

import type { AddressMap } from "./predict.js";

/** The little-endian 32-bit word at b[i], signed. */
export function word(b: Uint8Array, i: number): number {
  return b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
}

function put(b: Uint8Array, i: number, w: number): void {
  b[i] = w & 0xff;
  b[i + 1] = (w >>> 8) & 0xff;
  b[i + 2] = (w >>> 16) & 0xff;
  b[i + 3] = w >>> 24;
}

const straddles = (p: number, len: number, barrier: number): boolean => barrier !== 0 && Math.floor(p / barrier) !== Math.floor((p + len - 1) / barrier);

/** 1 when the RISC-V word w2 adds a 12-bit I-type offset to rs1 rd (ADDI, JALR, loads), 2 an S-type one (stores), else 0. */
function riscvLo(w2: number, rd: number): number {
  if (rd === 0 || ((w2 >>> 15) & 31) !== rd) return 0;
  const op = w2 & 0x7f;
  const f3 = (w2 >>> 12) & 7;
  if ((op === 0x13 && f3 === 0) || (op === 0x67 && f3 === 0) || (op === 0x03 && f3 !== 7) || (op === 0x07 && (f3 === 2 || f3 === 3))) return 1;
  if ((op === 0x23 && f3 < 4) || (op === 0x27 && (f3 === 2 || f3 === 3))) return 2;
  return 0;
}

/** The byte offset of the RISC-V JAL w. */
export const jalOffset = (w: number): number => ((w >> 31) << 20) | (((w >>> 21) & 0x3ff) << 1) | (((w >>> 20) & 1) << 11) | (((w >>> 12) & 0xff) << 12);

/** The JAL w with offset d, or -1 when d does not fit. */
function jalWith(w: number, d: number): number {
  if (d < -(1 << 20) || d >= 1 << 20 || d & 1) return -1;
  return ((w & 0xfff) | (((d >> 20) & 1) << 31) | (((d >> 1) & 0x3ff) << 21) | (((d >> 11) & 1) << 20) | (((d >> 12) & 0xff) << 12)) >>> 0;
}

/** The low 12-bit offset of the RISC-V word w2 of kind riscvLo() `kind`. */
const loOffset = (w2: number, kind: number): number => (kind === 2 ? ((w2 >> 25) << 5) | ((w2 >>> 7) & 31) : w2 >> 20);

/**
 * For the LUI rd at buf[i]: the distance to the instruction that adds its low part (riscvLo with rs1 rd)
 * among the next three (16-bit ones passed over in compressed code), or 0 when none does first or one
 * of them sets rd first (a 32-bit instruction other than a store or branch with rd in bits 7-11).
 * Reads buf[i, i + 16) at most.
 */
function luiLo(buf: Uint8Array, i: number, n: number, compressed: boolean): number {
  const rd = (buf[i]! >>> 7) | ((buf[i + 1]! & 15) << 1);
  if (rd === 0) return 0;
  let j = i + 4;
  for (let k = 0; k < 3; k++) {
    if (j + 2 > n) return 0;
    if ((buf[j]! & 3) !== 3) {
      if (!compressed) return 0;
      j += 2;
      continue;
    }
    if (j + 4 > n) return 0;
    const w2 = word(buf, j);
    if (riscvLo(w2, rd) !== 0) return j - i;
    const op = w2 & 0x7f;
    if (op !== 0x23 && op !== 0x27 && op !== 0x63 && ((w2 >>> 7) & 31) === rd) return 0;
    j += 4;
  }
  return 0;
}

/** The absolute address of the LUI w and the word w2 of kind `kind` adding its low part (unsigned). */
const luiAddress = (w: number, w2: number, kind: number): number => (((w & ~0xfff) + loOffset(w2, kind)) | 0) >>> 0;

/**
 * Rewrites the AUIPC (or LUI) at buf[i] and the word at buf[j] of kind `kind` to reach d: a pc-relative
 * offset (or an absolute address, mod 2^32 as an int32).
 */
function putPcPair(buf: Uint8Array, i: number, w: number, j: number, w2: number, kind: number, d: number): void {
  const hi = (d + 0x800) >> 12;
  const lo = d - hi * 4096;
  put(buf, i, (w & 0xfff) | (hi << 12));
  put(buf, j, kind === 2 ? (w2 & 0x01fff07f) | ((lo >> 5) << 25) | ((lo & 31) << 7) : (w2 & 0xfffff) | (lo << 20));
}

/**
 * RISC-V (RV64/RV32 without compressed instructions, as Go emits):
 * - JAL with rd zero, ra or t0 (jumps, calls, Go's calls of morestack): a 21-bit offset;
 * - AUIPC rd followed by the instruction that completes the address from rd: ADDI, JALR, a load or a
 *   store (integer or floating point);
 * - with absBase >= 0 (PRED.riscvAbs: RV32 firmware addresses its data so): LUI rd and the instruction
 *   among the next three that adds the low part from rd (luiLo), an absolute address of file position
 *   address - absBase. A window is then up to 16 bytes long: mapMargin() gives 16.
 */
export function mapRiscV(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, barrier: number, absBase = -1): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const b0 = buf[i]!;
    // opcode 0x6f (JAL), 0x17 (AUIPC) or 0x37 (LUI) in the low 7 bits: one compare rejects most words
    const op = b0 & 0x7f;
    if (op !== 0x6f && op !== 0x17 && op !== 0x37) continue;
    const w = word(buf, i);
    const p = pos0 + i;
    if (op === 0x37) {
      // (PRED.riscvAbs) an absolute address; the words between are visited as any other
      if (absBase < 0) continue;
      const g = luiLo(buf, i, n, false);
      if (g === 0 || straddles(p, g + 4, barrier)) continue;
      const w2 = word(buf, i + g);
      const kind = riscvLo(w2, (w >>> 7) & 31);
      const x = luiAddress(w, w2, kind) - absBase;
      if (x >= 0 && x < oldSize) putPcPair(buf, i, w, i + g, w2, kind, (luiAddress(w, w2, kind) + map.shift(x)) | 0);
      continue;
    }
    if ((b0 & 0x7f) === 0x6f) {
      const rd = (w >>> 7) & 31;
      if (rd !== 0 && rd !== 1 && rd !== 5) continue;
      const t = p + jalOffset(w);
      if (t < 0 || t >= oldSize) continue;
      const wn = jalWith(w, t + map.shift(t) - (p + map.shiftSeq(p)));
      if (wn >= 0) put(buf, i, wn);
      continue;
    }
    if (i + 8 > n) continue;
    const w2 = word(buf, i + 4);
    const kind = riscvLo(w2, (w >>> 7) & 31);
    if (kind === 0 || straddles(p, 8, barrier)) continue;
    const t = p + (w & ~0xfff) + loOffset(w2, kind);
    i += 4; // the second word starts no window
    if (t < 0 || t >= oldSize) continue;
    putPcPair(buf, i - 4, w, i, w2, kind, t + map.shift(t) - (p + map.shiftSeq(p)));
  }
}

/** The windows of the halfwords around the one mapRiscVCompressed decides: a ring of 16 spans in halfwords (0: none). */
const riscvSpans = new Uint8Array(16);

/**
 * The span in halfwords of the window at buf[i] for mapRiscVCompressed, from the bytes as they came in:
 * 2 a JAL (rd zero, ra or t0), 4 an AUIPC pair (as in mapRiscV), with absBase >= 0 (g + 4) / 2 for a
 * LUI and its low part g bytes on, whose target lies in the base and that straddle no barrier; else 0.
 * Reads buf[i, i + 16) at most.
 */
function riscvWindowAt(buf: Uint8Array, i: number, pos0: number, oldSize: number, n: number, barrier: number, absBase: number): number {
  const op = buf[i]! & 0x7f;
  if (op !== 0x6f && op !== 0x17 && (op !== 0x37 || absBase < 0)) return 0;
  const w = word(buf, i);
  const p = pos0 + i;
  const rd = (w >>> 7) & 31;
  if (op === 0x6f) {
    const t = p + jalOffset(w);
    return (rd === 0 || rd === 1 || rd === 5) && t >= 0 && t < oldSize && !straddles(p, 4, barrier) ? 2 : 0;
  }
  if (op === 0x37) {
    const g = luiLo(buf, i, n, true);
    if (g === 0 || straddles(p, g + 4, barrier)) return 0;
    const w2 = word(buf, i + g);
    const x = luiAddress(w, w2, riscvLo(w2, rd)) - absBase;
    return x >= 0 && x < oldSize ? (g + 4) >> 1 : 0;
  }
  if (i + 8 > n) return 0;
  const w2 = word(buf, i + 4);
  const kind = riscvLo(w2, rd);
  if (kind === 0 || straddles(p, 8, barrier)) return 0;
  const t = p + (w & ~0xfff) + loOffset(w2, kind);
  return t >= 0 && t < oldSize ? 4 : 0;
}

/**
 * RISC-V with compressed instructions (PRED.riscv | PRED.riscvC: 32-bit instructions on any halfword,
 * as GCC and LLVM emit for RV64GC and RV32IMC): the windows of mapRiscV at every halfword. Instruction
 * boundaries are unknown, so a window counts only when no other starts within its bytes or reaches
 * into them (then counted windows never overlap), every window read from the bytes as they came in:
 * the span of halfword k + 8 is read before window k is rewritten, and no window before k reaches that
 * far (no memory beyond a ring of 16 spans). A window's decision reads 14 bytes from 6 before it (16
 * bytes of margin), or with LUI windows (up to 16 bytes long) 30 from 14 before it (32).
 */
export function mapRiscVCompressed(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, barrier: number, absBase = -1): void {
  const first = pos0 & 1; // even file positions
  const count = n - first >= 4 ? ((n - first - 4) >> 1) + 1 : 0;
  const c = riscvSpans;
  const span = (k: number): number => (k < count ? riscvWindowAt(buf, first + 2 * k, pos0, oldSize, n, barrier, absBase) : 0);
  for (let k = 0; k < 8; k++) c[k] = span(k);
  for (let k = 0; k < count; k++) {
    c[(k + 8) & 15] = span(k + 8);
    const len = c[k & 15]!;
    if (len === 0) continue;
    // another window starting within this one, or before it and reaching into it
    let clash = false;
    for (let j = 1; j < 8 && !clash; j++) clash = (j < len && c[(k + j) & 15] !== 0) || (k >= j && c[(k - j) & 15]! > j);
    if (clash) continue;
    const i = first + 2 * k;
    const p = pos0 + i;
    const w = word(buf, i);
    const op = w & 0x7f;
    if (op === 0x6f) {
      const t = p + jalOffset(w);
      const wn = jalWith(w, t + map.shift(t) - (p + map.shiftSeq(p)));
      if (wn >= 0) put(buf, i, wn);
    } else if (op === 0x17) {
      const w2 = word(buf, i + 4);
      const lo = riscvLo(w2, (w >>> 7) & 31);
      const t = p + (w & ~0xfff) + loOffset(w2, lo);
      putPcPair(buf, i, w, i + 4, w2, lo, t + map.shift(t) - (p + map.shiftSeq(p)));
    } else {
      const j = i + 2 * len - 4;
      const w2 = word(buf, j);
      const lo = riscvLo(w2, (w >>> 7) & 31);
      const a = luiAddress(w, w2, lo);
      putPcPair(buf, i, w, j, w2, lo, (a + map.shift(a - absBase)) | 0);
    }
  }
}

/**
 * LoongArch (LA64):
 * - BL and B: a 26-bit offset in words, its low 16 bits above its high 10;
 * - PCALAU12I rd (the 4 KiB page of pc + si20 pages) followed by ADDI.D or a load or store with a
 *   12-bit offset from rd (the file is taken to be loaded at a page-aligned address).
 */
export function mapLoongArch(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, barrier: number): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const b3 = buf[i + 3]!;
    const op6 = b3 >>> 2;
    const branch = op6 === 0x15 || op6 === 0x14;
    if (!branch && b3 >>> 1 !== 0x0d) continue;
    const w = word(buf, i);
    const p = pos0 + i;
    if (branch) {
      const off = ((((w >>> 10) & 0xffff) | ((w & 0x3ff) << 16)) << 6) >> 4;
      const t = p + off;
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p));
      if (d < -(1 << 27) || d >= 1 << 27 || d & 3) continue;
      const m = d >> 2;
      put(buf, i, (op6 << 26) | ((m & 0xffff) << 10) | ((m >>> 16) & 0x3ff));
      continue;
    }
    if (i + 8 > n) continue;
    const w2 = word(buf, i + 4);
    const op10 = w2 >>> 22;
    if ((op10 !== 0x0b && (op10 < 0xa0 || op10 > 0xaf)) || ((w2 >>> 5) & 31) !== (w & 31)) continue;
    if (straddles(p, 8, barrier)) continue;
    const t = p - (p & 0xfff) + ((w << 7) >> 12) * 4096 + ((w2 << 10) >> 20);
    i += 4;
    if (t < 0 || t >= oldSize) continue;
    const tn = t + map.shift(t);
    const pn = p + map.shiftSeq(p);
    const loN = ((tn & 0xfff) << 20) >> 20;
    const pages = (tn - loN - (pn - (pn & 0xfff))) / 4096;
    put(buf, i - 4, (w & 0xfe00001f) | ((pages & 0xfffff) << 5));
    put(buf, i, (w2 & 0xffc003ff) | ((loN & 0xfff) << 10));
  }
}

/** D-form POWER opcodes that add a signed 16-bit offset to rA: ADDI, the integer and float loads and stores. */
const POWER_D = new Uint8Array(64);
for (const op of [14, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 48, 49, 50, 51, 52, 53, 54, 55]) POWER_D[op] = 1;
/** DS-form (the offset's low 2 bits are part of the opcode): LD, LDU, LWA (58) and STD, STDU (62). */
POWER_D[58] = 2;
POWER_D[62] = 2;

/**
 * POWER (ppc64le):
 * - B and BL (I-form, not absolute): a 26-bit byte offset;
 * - LIS rD (ADDIS rD, 0, hi) followed by ADDI or a D/DS-form load or store from rD: the absolute
 *   address (hi << 16) + lo of file position A - base (the load address of the 32-bit pointer map).
 */
export function mapPower(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, n: number, barrier: number): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const op = buf[i + 3]! >>> 2;
    if (op !== 18 && op !== 15) continue;
    const w = word(buf, i);
    const p = pos0 + i;
    if (op === 18) {
      if (w & 2) continue; // absolute
      const t = p + ((w << 6) >> 6) - (w & 3);
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p));
      if (d < -(1 << 25) || d >= 1 << 25 || d & 3) continue;
      put(buf, i, (w & 0xfc000003) | (d & 0x03fffffc));
      continue;
    }
    if (((w >>> 16) & 31) !== 0 || i + 8 > n) continue;
    const w2 = word(buf, i + 4);
    const form = POWER_D[w2 >>> 26]!;
    if (form === 0 || ((w2 >>> 16) & 31) !== ((w >>> 21) & 31)) continue;
    if (straddles(p, 8, barrier)) continue;
    const xo = form === 2 ? w2 & 3 : 0;
    const a = (w << 16) + (((w2 & 0xffff) << 16) >> 16) - xo;
    i += 4;
    const x = a - base;
    if (x < 0 || x >= oldSize) continue;
    const an = a + map.shift(x);
    const hi = (an + 0x8000) >> 16;
    const lo = an - hi * 65536;
    if (form === 2 && lo & 3) continue;
    put(buf, i - 4, (w & 0xffff0000) | (hi & 0xffff));
    put(buf, i, (w2 & 0xffff0000) | ((lo + xo) & 0xffff));
  }
}

/** MIPS I-type opcodes that add a signed 16-bit offset to rs: ADDIU, DADDIU, the loads and stores. */
const MIPS_LO = new Uint8Array(64);
for (const op of [0x09, 0x19, 0x20, 0x21, 0x23, 0x24, 0x25, 0x27, 0x37, 0x28, 0x29, 0x2b, 0x3f, 0x31, 0x35, 0x39, 0x3d]) MIPS_LO[op] = 1;

/**
 * MIPS (little-endian) absolute addresses: LUI rt, hi, then (as Go emits them) DADDU or ADDU rt, rt,
 * gp or none, then ADDIU, DADDIU or a load or store from rt adding lo: the address (hi << 16) + lo of
 * file position A - base (the load address of the 32-bit pointer map).
 */
export function mapMipsPairs(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, n: number, barrier: number): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 8 <= n; i += 4) {
    // LUI: opcode 0x0f, rs 0
    if (buf[i + 3] !== 0x3c || (buf[i + 2]! & 0xe0) !== 0) continue;
    const w = word(buf, i);
    const rt = (w >>> 16) & 31;
    let j = i + 4;
    let w2 = word(buf, j);
    if ((w2 & 0xfc0007ff) === 0x2d || (w2 & 0xfc0007ff) === 0x21) {
      // DADDU / ADDU rt, rt, gp (either order)
      const rs = (w2 >>> 21) & 31;
      const rt2 = (w2 >>> 16) & 31;
      if (((w2 >>> 11) & 31) !== rt || !((rs === rt && rt2 === 28) || (rs === 28 && rt2 === rt))) continue;
      j += 4;
      if (j + 4 > n) continue;
      w2 = word(buf, j);
    }
    if (MIPS_LO[w2 >>> 26] === 0 || ((w2 >>> 21) & 31) !== rt) continue;
    const p = pos0 + i;
    if (straddles(p, j + 4 - i, barrier)) continue;
    const a = (w << 16) + ((w2 << 16) >> 16);
    const x = a - base;
    if (x < 0 || x >= oldSize) continue;
    const an = a + map.shift(x);
    const hi = (an + 0x8000) >> 16;
    put(buf, i, (w & 0xffff0000) | (hi & 0xffff));
    put(buf, j, (w2 & 0xffff0000) | ((an - hi * 65536) & 0xffff));
    i = j;
  }
}
