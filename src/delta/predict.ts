// Reference mapping: when code moves, every branch and pointer to moved code changes by the same
// amount as its target. The patch carries a compact address map (old position -> shift, taken from a
// first matching pass) and the base image is "mapped" before diffing: after a branch filter has made
// Thumb-2 BL/B.W or AArch64 BL/B targets absolute, each target T becomes T + shift(T); absolute 32-bit
// pointers into the image (load address `base`) move the same way. Moved references then match the
// new image exactly; only real changes remain. Like the filters, the mapping is stateless: it decides
// from the filtered bytes at fixed alignments, so any slice of the base can be mapped on its own.

import { FILTER_MARGIN, FILTERS } from "./filters.js";
import type { WasmAddressing } from "./wasm.js";
import { mapLoongArch, mapMipsPairs, mapPower, mapRiscV, mapRiscVCompressed, word } from "./wordmaps.js";
import { mapThumbMovw } from "./movw.js";

export const PRED = {
  /** Thumb-2 branch targets (needs filter thumb). */
  thumb: 1,
  /** AArch64 branch targets (needs filter arm64 or arm64-branch). */
  arm64: 2,
  /** Absolute 32-bit pointers. */
  abs32: 4,
  /** Thumb PC-relative literal loads and ADR (16-bit forms): the pool moves with its function. */
  thumbLdr: 8,
  /** AArch64 BL/B left relative (no filter): offsets follow caller and target (robust to data that looks like code). */
  arm64rel: 16,
  /** Thumb short relative forms: B<c> and B (16-bit), CBZ/CBNZ, LDR.W (literal): offsets follow caller and target. */
  thumbRel: 32,
  /**
   * AArch64 ADRP followed by the ADD (immediate) or load/store (unsigned offset) that completes its
   * address from the same register: the page and the low 12 bits follow caller and target (no filter).
   */
  arm64page: 64,
  /** With abs32: pointers are 64-bit (8-aligned, the high half zero); only their low half is mapped. */
  ptr64: 128,
  /** 32-bit ARM BL targets (needs filter arm). */
  armCall: 256,
  /** 32-bit ARM B<c> and LDR (literal): offsets follow caller and target (needs filter arm). */
  armRel: 512,
  /**
   * With abs32: pointers past the image's end (RAM on a microcontroller: globals move between
   * versions) follow segments of their own, coded after the map's (AddressMap.ext); an odd one, or
   * one that no such segment holds, stays as it is.
   */
  extAbs: 1024,
  // 2048 is CODING_LANES (stream.ts): it shares the header field
  /**
   * x86-64 (no filter): CALL and JMP rel32, Jcc rel32 and RIP-relative operands (ModRM 00.reg.101 after
   * an opcode with nothing after its displacement): offsets follow caller and target.
   */
  x86rel: 4096,
  /**
   * WebAssembly (no filter, no other flag): memory addresses of the module's static data follow it,
   * in i32.const before the data and in aligned 32-bit words of the data, and function indices in
   * calls follow their functions (see mapWasmAddresses).
   */
  wasmAddr: 8192,
  /**
   * s390x (no filter, no other flag: big-endian): the relative-long forms with a 32-bit offset in
   * halfwords (BRASL, BRCL, LARL, and the loads, stores and compares relative long) follow caller and
   * target (see mapS390Relative).
   */
  s390rel: 16384,
  /** MIPS, little-endian (no filter; with abs32, whose load address it uses): JAL targets follow them. */
  mipsCall: 32768,
  /** RISC-V (no filter): JAL and AUIPC pairs follow caller and target (see mapRiscV). */
  riscv: 65536,
  /** LoongArch (no filter): B, BL and PCALAU12I pairs follow caller and target (see mapLoongArch). */
  loong: 131072,
  /** POWER, little-endian (no filter; with abs32, whose load address it uses): B, BL and LIS pairs (see mapPower). */
  power: 262144,
  /** MIPS, little-endian (no filter; with abs32): LUI address pairs and triples (see mapMipsPairs). */
  mipsAddr: 524288,
  /** With riscv: compressed code, the windows at every halfword (see mapRiscVCompressed). */
  riscvC: 1048576,
  /**
   * With x86rel and abs32 (not ptr64: word-aligned fields are left to the 32-bit pointer pass): 32-bit
   * x86, where ModRM 00.reg.101 operands and MOV moffs (A0-A3) hold an absolute address (load address
   * of abs32) that follows its target (see mapX86Relative).
   */
  x86abs: 2097152,
  /** With riscv and abs32: LUI and the instruction adding its low part, an absolute address (see mapRiscV). */
  riscvAbs: 4194304,
  /** Xtensa (no filter; with abs32 or alone): CALL0, CALL4, CALL8 and CALL12 follow caller and target (see mapXtensaCalls). */
  xtensa: 8388608,
  /** With thumb and abs32: MOVW/MOVT address pairs, as LLVM builds them (see movw.ts). */
  thumbMovw: 16777216,
  /**
   * With xtensa: also jumps (J) and literal loads (L32R) whose target lies within XTENSA_NEAR_JUMP or
   * XTENSA_NEAR_LITERAL bytes (see mapXtensaNear; windows are decided among all three kinds, so calls
   * map as without it only where no near window is close).
   */
  xtensaNear: 33554432,
  /**
   * ELF unwind tables (with any flags but wasmAddr and s390rel; their place in the header, EhTables):
   * the offsets of .eh_frame_hdr's table, the pc-relative initial locations of .eh_frame's FDEs and
   * the prel31 offsets of ARM's .ARM.extab and .ARM.exidx follow their targets (see mapElfEh).
   */
  elfEh: 67108864,
} as const;

/** Every flag a stream may carry. */
export const PRED_ALL = 2047 | PRED.x86rel | PRED.wasmAddr | PRED.s390rel | PRED.mipsCall | PRED.riscv | PRED.loong | PRED.power | PRED.mipsAddr | PRED.riscvC | PRED.x86abs | PRED.riscvAbs | PRED.xtensa | PRED.thumbMovw | PRED.xtensaNear | PRED.elfEh;

/** Short names of the PRED flags, for people (`fota inspect`). */
export const PRED_NAMES: Readonly<Record<keyof typeof PRED, string>> = {
  thumb: "Thumb calls",
  arm64: "AArch64 branches",
  abs32: "32-bit pointers",
  thumbLdr: "Thumb literal loads",
  arm64rel: "AArch64 relative branches",
  thumbRel: "Thumb relative branches",
  arm64page: "AArch64 page addresses",
  ptr64: "64-bit pointers",
  armCall: "ARM calls",
  armRel: "ARM relative branches",
  extAbs: "pointers past the image",
  x86rel: "x86-64 relative references",
  wasmAddr: "WebAssembly memory addresses",
  s390rel: "s390x relative-long references",
  mipsCall: "MIPS calls",
  riscv: "RISC-V relative references",
  loong: "LoongArch relative references",
  power: "POWER branches and address pairs",
  mipsAddr: "MIPS address pairs",
  riscvC: "RISC-V compressed code",
  x86abs: "x86 absolute operands",
  riscvAbs: "RISC-V LUI address pairs",
  xtensa: "Xtensa calls",
  thumbMovw: "Thumb MOVW/MOVT address pairs",
  xtensaNear: "Xtensa near jumps and literal loads",
  elfEh: "ELF unwind tables",
};

/**
 * Bytes of margin a random-access reader must add on each side of a slice of the base to filter and
 * map it exactly with these flags. x86-64 mapping needs 16: its decisions read 2 bytes before a window
 * and 8 after it, and come after the pointer pass, which rewrites only 8-byte words wholly inside
 * the slice (see mapX86Relative); the WebAssembly map reads 11 bytes from a field on, and a MIPS address
 * triple is 12 bytes long (see mapMipsPairs), and a RISC-V window on a halfword is decided from 14 bytes
 * (see mapRiscVCompressed); RISC-V LUI windows are up to 16 bytes long, 30 bytes decide one on halfwords
 * (32); Thumb MOVW/MOVT windows need 64 (see movw.ts). The decoder takes margins up to 16 bytes from
 * its base window; wider ones add their bytes to it (marginWindowBytes).
 */
export function mapMargin(flags: number): number {
  if (flags & PRED.thumbMovw) return 64;
  if ((flags & (PRED.riscvAbs | PRED.riscvC)) === (PRED.riscvAbs | PRED.riscvC)) return 32;
  return flags & (PRED.x86rel | PRED.wasmAddr | PRED.mipsAddr | PRED.riscvC | PRED.riscvAbs) ? 16 : FILTER_MARGIN;
}

/**
 * Bytes the decoder adds to its base window for mapMargin(flags) (the margins up to 16 come out of the
 * window; wider ones, RISC-V LUI windows on halfwords and Thumb MOVW/MOVT pairs, are added, so a small
 * window still holds a slice).
 */
export function marginWindowBytes(flags: number): number {
  const m = mapMargin(flags);
  return m > 2 * FILTER_MARGIN ? 2 * (m - FILTER_MARGIN) : 0;
}

/** Which filter a prediction flag needs (0 = any). */
export function predFilterOk(flags: number, filter: number): boolean {
  if (flags & PRED.thumb && filter !== FILTERS.thumb) return false;
  if (flags & PRED.arm64 && filter !== FILTERS.arm64 && filter !== FILTERS["arm64-branch"]) return false;
  if (flags & PRED.arm64rel && (filter !== FILTERS.none || flags & PRED.arm64)) return false;
  if (flags & PRED.thumbRel && filter !== FILTERS.thumb) return false;
  if (flags & PRED.arm64page && (filter !== FILTERS.none || !(flags & PRED.arm64rel))) return false;
  if (flags & PRED.ptr64 && !(flags & PRED.abs32)) return false;
  if (flags & PRED.extAbs && !(flags & PRED.abs32)) return false;
  if (flags & (PRED.armCall | PRED.armRel) && filter !== FILTERS.arm) return false;
  if (flags & PRED.x86rel && (filter !== FILTERS.none || flags & (PRED.arm64 | PRED.arm64rel | PRED.thumb | PRED.thumbRel | PRED.thumbLdr))) return false;
  if (flags & PRED.wasmAddr && (filter !== FILTERS.none || flags !== PRED.wasmAddr)) return false;
  if (flags & PRED.s390rel && (filter !== FILTERS.none || flags !== PRED.s390rel)) return false;
  // (pointers, and the unwind tables: data any code has)
  const pointers = PRED.abs32 | PRED.ptr64 | PRED.extAbs | PRED.elfEh;
  if (flags & (PRED.mipsCall | PRED.mipsAddr) && (filter !== FILTERS.none || !(flags & PRED.abs32) || flags & ~(PRED.mipsCall | PRED.mipsAddr | pointers))) return false;
  if (flags & (PRED.riscv | PRED.loong) && (filter !== FILTERS.none || (flags & ~pointers) !== (flags & (PRED.riscv | PRED.riscvC | PRED.riscvAbs | PRED.loong)) || (flags & PRED.riscv && flags & PRED.loong))) return false;
  if (flags & PRED.riscvC && !(flags & PRED.riscv)) return false;
  if (flags & PRED.riscvAbs && (!(flags & PRED.riscv) || !(flags & PRED.abs32))) return false;
  if (flags & PRED.xtensa && (filter !== FILTERS.none || flags & ~(PRED.xtensa | PRED.xtensaNear | PRED.abs32 | PRED.extAbs | PRED.elfEh))) return false;
  if (flags & PRED.xtensaNear && !(flags & PRED.xtensa)) return false;
  if (flags & PRED.thumbMovw && (!(flags & PRED.thumb) || !(flags & PRED.abs32))) return false;
  if (flags & PRED.x86abs && (!(flags & PRED.x86rel) || !(flags & PRED.abs32) || flags & (PRED.ptr64 | PRED.extAbs))) return false;
  if (flags & PRED.power && (filter !== FILTERS.none || !(flags & PRED.abs32) || flags & ~(PRED.power | pointers))) return false;
  return true;
}

/** Piecewise-constant map old position -> shift (new - old), sorted by old start. */
export class AddressMap {
  constructor(
    readonly starts: Int32Array,
    readonly ends: Int32Array,
    readonly shifts: Int32Array,
  ) {}

  get length(): number {
    return this.starts.length;
  }

  /** With PRED.extAbs: segments of old positions past the base image (pointers there follow them only where one holds them). */
  ext: AddressMap | null = null;

  /** Shift of the segment holding old position x; NaN when none does (a binary search: ext maps are short). */
  holdingShift(x: number): number {
    const s = this.starts;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid]! > x) hi = mid - 1;
      else if (this.ends[mid]! <= x) lo = mid + 1;
      else return this.shifts[mid]!;
    }
    return NaN;
  }

  /** Segment indices sorted by new start (start + shift); built on first use, once the map is complete. */
  private byNew: Uint16Array | Int32Array | null = null;
  /**
   * Index for shift(), built on first use once the map is complete: old positions in buckets of
   * 2^bucketBits bytes (at most one bucket per segment); bucket b holds 1 + the last segment starting
   * at or before b << bucketBits (0: none). With byNew in 16 bits it keeps the map within
   * MAP_SEGMENT_BYTES (decode.ts) a segment.
   */
  private bucket: Uint16Array | Int32Array | null = null;
  private bucketBits = 0;

  private buildBuckets(): Uint16Array | Int32Array {
    const s = this.starts;
    const n = s.length;
    const span = s[n - 1]! + 1;
    let bits = 0;
    while (span / 2 ** bits > n) bits++;
    const nb = Math.floor((span - 1) / 2 ** bits) + 2;
    const b = n < 0xffff ? new Uint16Array(nb) : new Int32Array(nb);
    let j = 0; // segments [0, j) start at or before the bucket start
    for (let k = 0; k < nb; k++) {
      const at = k * 2 ** bits;
      while (j < n && s[j]! <= at) j++;
      b[k] = j;
    }
    this.bucketBits = bits;
    return (this.bucket = b);
  }

  /** Shift of the segment with the greatest new start (start + shift) at or before new position y; NaN if none. */
  shiftAtNew(y: number): number {
    const n = this.starts.length;
    if (n === 0) return NaN;
    const st = this.starts;
    const sh = this.shifts;
    let idx = this.byNew;
    if (idx === null) {
      idx = this.byNew = n < 0xffff ? new Uint16Array(n) : new Int32Array(n);
      for (let i = 0; i < n; i++) idx[i] = i;
      idx.sort((a, b) => st[a]! + sh[a]! - (st[b]! + sh[b]!) || a - b);
    }
    if (y >= this.nLo && y < this.nHi) return this.nVal; // copies go forward: often the same answer
    let lo = 0;
    let hi = n - 1;
    let at = -1; // the last position in new-start order with a start at or before y
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const i = idx[mid]!;
      if (st[i]! + sh[i]! <= y) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    const key = (k: number): number => st[idx[k]!]! + sh[idx[k]!]!;
    this.nLo = at < 0 ? -Infinity : key(at);
    this.nHi = at + 1 < n ? key(at + 1) : Infinity;
    this.nVal = at < 0 ? NaN : sh[idx[at]!]!;
    return this.nVal;
  }

  // the answer of the last shiftAtNew() lookup, for every new position in [nLo, nHi). The interval
  // fields start as (empty) doubles: they later hold +-Infinity and +-2^31, and a field that changed
  // from small integers to doubles mid-run would throw away the compiled code that reads it
  private nLo = -Infinity;
  private nHi = -Infinity;
  private nVal = NaN;

  // The answers of the last two lookups as intervals of old positions with one shift each (mapping
  // alternates between a reference's own position and its target: both usually repeat).
  private aLo = -Infinity;
  private aHi = -Infinity;
  private aVal = 0;
  private bLo = -Infinity;
  private bHi = -Infinity;
  private bVal = 0;

  /** Shift of old position x: of the segment holding it, else of the nearer neighbour. */
  shift(x: number): number {
    if (x >= this.aLo && x < this.aHi) return this.aVal;
    if (x >= this.bLo && x < this.bHi) return this.bVal;
    return this.lookup(x);
  }

  // a third answer kept for scans (shiftSeq): a reference's own position advances steadily while its
  // targets jump about, so the scan's interval survives the targets' look-ups
  private cLo = -Infinity;
  private cHi = -Infinity;
  private cVal = 0;

  /** shift(x) for positions that mostly increase (a scan's own position); the same answer as shift(). */
  shiftSeq(x: number): number {
    if (x >= this.cLo && x < this.cHi) return this.cVal;
    const v = this.shift(x);
    if (x >= this.aLo && x < this.aHi) {
      this.cLo = this.aLo;
      this.cHi = this.aHi;
    } else {
      this.cLo = this.bLo;
      this.cHi = this.bHi;
    }
    this.cVal = v;
    return v;
  }

  private lookup(x: number): number {
    const s = this.starts;
    const n = s.length;
    if (n === 0) return 0;
    const e = this.ends;
    const sh = this.shifts;
    let from: number;
    let to: number;
    let val: number;
    if (x < s[0]!) {
      from = -0x80000000;
      to = s[0]!;
      val = sh[0]!;
    } else {
      // the last segment starting at or before x lies between the bucket's first and the next bucket's
      let lo = n - 1;
      if (x < s[lo]!) {
        const b = this.bucket ?? this.buildBuckets();
        const k = x >>> this.bucketBits;
        lo = Math.max(0, b[k]! - 1);
        let hi = b[k + 1]! - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (s[mid]! <= x) lo = mid;
          else hi = mid - 1;
        }
      }
      if (lo === n - 1) {
        from = s[lo]!;
        to = 0x7fffffff;
        val = sh[lo]!;
      } else if (x < e[lo]!) {
        from = s[lo]!;
        to = e[lo]!;
        val = sh[lo]!;
      } else {
        // in the gap: the nearer neighbour, the left one at equal distance
        const half = Math.floor((e[lo]! + s[lo + 1]!) / 2);
        if (x <= half) {
          from = e[lo]!;
          to = half + 1;
          val = sh[lo]!;
        } else {
          from = half + 1;
          to = s[lo + 1]!;
          val = sh[lo + 1]!;
        }
      }
    }
    this.bLo = this.aLo;
    this.bHi = this.aHi;
    this.bVal = this.aVal;
    this.aLo = from;
    this.aHi = to;
    this.aVal = val;
    return val;
  }

  /** From copy segments (oldPos, newPos, len): merged, non-overlapping, at most `max` segments. */
  static fromCopies(copies: Array<[number, number, number]>, max: number, minLen = 16): AddressMap {
    const segs = copies.filter((c) => c[2] >= minLen).sort((a, b) => a[0] - b[0]);
    const out: Array<[number, number, number]> = []; // start, end, shift
    for (let i = 0; i < segs.length; i++) {
      const [o, nw, len] = segs[i]!;
      const shift = nw - o;
      const last = out[out.length - 1];
      let start = o;
      if (last && start < last[1]) start = last[1];
      const end = o + len;
      if (end <= start) continue;
      if (last && last[2] === shift) last[1] = end;
      else out.push([start, end, shift]);
    }
    let keep = out;
    if (out.length > max) {
      const idx = out
        .map((_, i) => i)
        .sort((a, b) => out[b]![1] - out[b]![0] - (out[a]![1] - out[a]![0]) || a - b)
        .slice(0, max)
        .sort((a, b) => a - b);
      keep = idx.map((i) => out[i]!);
    }
    return mapOfTriples(keep);
  }
}

/**
 * Adds one-entry segments for call targets the map predicts wrongly: every Thumb BL/B.W in a copy
 * (old position, new position, length) whose filtered target T becomes T' in the new image, where
 * T lies outside every segment and at least `minCalls` calls agree on T' - T. Changed functions are
 * not copied whole, so their entry points fall into gaps of the map; their callers are not.
 */
export function withCallTargets(map: AddressMap, old: Uint8Array, nw: Uint8Array, copies: ReadonlyArray<readonly [number, number, number]>, max: number, minCalls = 1): AddressMap {
  const votes = new Map<number, Map<number, number>>();
  for (let c = 0; c < copies.length; c++) {
    const cp = copies[c]!;
    const o = cp[0];
    const n = cp[1];
    if ((o - n) & 1) continue;
    callVotes(map, old, nw, o, n, cp[2], votes);
  }
  return withPoints(map, votes, minCalls, max);
}

/**
 * The votes of one copy for withCallTargets. This loop runs over most of the image: the common case
 * (not the first halfword of a branch) is rejected inline, so the calls (slow until the JIT has
 * compiled the loop) happen only at branch candidates.
 */
function callVotes(map: AddressMap, old: Uint8Array, nw: Uint8Array, o: number, n: number, len: number, votes: Map<number, Map<number, number>>): void {
  for (let k = o & 1; k + 4 <= len; k += 2) {
    const a = o + k;
    const b = n + k;
    if ((old[a + 1]! & 0xf8) !== 0xf0 || !isThumbBranch(old, a) || !isThumbBranch(nw, b)) continue;
    const t = thumbBranchTarget(old, a);
    const shift = thumbBranchTarget(nw, b) - t;
    k += 2;
    if (t >= old.length || shift === map.shift(t)) continue;
    let v = votes.get(t);
    if (!v) votes.set(t, (v = new Map()));
    v.set(shift, (v.get(shift) ?? 0) + 1);
  }
}

/** withCallTargets for filtered 32-bit ARM code: BL words (condition "always") hold absolute targets. */
export function withArmCallTargets(map: AddressMap, old: Uint8Array, nw: Uint8Array, copies: ReadonlyArray<readonly [number, number, number]>, max: number, minCalls = 1): AddressMap {
  const votes = new Map<number, Map<number, number>>();
  for (let c = 0; c < copies.length; c++) {
    const cp = copies[c]!;
    if ((cp[0] - cp[1]) & 3) continue;
    armCallVotes(map, old, nw, cp[0], cp[1], cp[2], votes);
  }
  return withPoints(map, votes, minCalls, max);
}

function armCallVotes(map: AddressMap, old: Uint8Array, nw: Uint8Array, o: number, n: number, len: number, votes: Map<number, Map<number, number>>): void {
  for (let k = (4 - (o & 3)) & 3; k + 4 <= len; k += 4) {
    const a = o + k;
    const b = n + k;
    if (old[a + 3] !== 0xeb || nw[b + 3] !== 0xeb) continue;
    const t = (old[a]! | (old[a + 1]! << 8) | (old[a + 2]! << 16)) * 4;
    const shift = (nw[b]! | (nw[b + 1]! << 8) | (nw[b + 2]! << 16)) * 4 - t;
    if (t >= old.length || shift === map.shift(t)) continue;
    let v = votes.get(t);
    if (!v) votes.set(t, (v = new Map()));
    v.set(shift, (v.get(shift) ?? 0) + 1);
  }
}

/**
 * Adds one-entry segments for pointer targets the map predicts wrongly: aligned 32-bit words in
 * copies that point into the image (load address `base`) and elsewhere in the new image, where at
 * least `minVotes` words agree.
 */
export function withPointerTargets(map: AddressMap, old: Uint8Array, nw: Uint8Array, copies: ReadonlyArray<readonly [number, number, number]>, base: number, max: number, minVotes = 2, wide = false): AddressMap {
  const votes = new Map<number, Map<number, number>>();
  for (let c = 0; c < copies.length; c++) {
    const cp = copies[c]!;
    const o = cp[0];
    const n = cp[1];
    if ((o - n) & (wide ? 7 : 3)) continue;
    pointerVotes(map, old, nw, o, n, cp[2], base, votes, wide);
  }
  return withPoints(map, votes, minVotes, max);
}

/** The votes of one copy for withPointerTargets (words read inline, as in callVotes). */
function pointerVotes(map: AddressMap, old: Uint8Array, nw: Uint8Array, o: number, n: number, len: number, base: number, votes: Map<number, Map<number, number>>, wide: boolean): void {
  // a word pointing into an image has a top byte in this range: most words are rejected on it
  // before a 32-bit value (a heap number until this loop is compiled) is made of them
  const loTop = Math.floor(base / 2 ** 24);
  const hiTopOld = Math.floor((base + old.length - 1) / 2 ** 24);
  const hiTopNew = Math.floor((base + nw.length - 1) / 2 ** 24);
  for (let k = (4 - (o & 3)) & 3; k + 4 <= len; k += 4) {
    const a = o + k;
    const b = n + k;
    if (old[a + 3]! < loTop || old[a + 3]! > hiTopOld || nw[b + 3]! < loTop || nw[b + 3]! > hiTopNew) continue;
    if (wide && ((a & 7) !== 0 || a + 8 > old.length || !isPtr64(old, a))) continue;
    const wo = (old[a]! | (old[a + 1]! << 8) | (old[a + 2]! << 16) | (old[a + 3]! << 24)) >>> 0;
    const x = wo - base;
    if (x < 0 || x >= old.length) continue;
    const wn = (nw[b]! | (nw[b + 1]! << 8) | (nw[b + 2]! << 16) | (nw[b + 3]! << 24)) >>> 0;
    if (wn - base < 0 || wn - base >= nw.length) continue;
    const t = x & ~1;
    const shift = wn - wo;
    if (shift === map.shift(t)) continue;
    let v = votes.get(t);
    if (!v) votes.set(t, (v = new Map()));
    v.set(shift, (v.get(shift) ?? 0) + 1);
  }
}

/**
 * The map with two-byte segments at voted targets (target -> shift -> votes) that lie outside every
 * segment: the most-voted first, as many as `max` segments leave room for.
 */
function withPoints(map: AddressMap, votes: Map<number, Map<number, number>>, minVotes: number, max: number): AddressMap {
  const voted: Array<[number, number, number]> = [];
  // forEach: no entry array per element (a for-of over a Map allocates them until compiled)
  votes.forEach((v, t) => {
    let best = 0;
    let count = 0;
    v.forEach((c, sh) => {
      if (c > count) {
        best = sh;
        count = c;
      }
    });
    if (count >= minVotes) voted.push([t, best, count]);
  });
  voted.sort((a, b) => b[2] - a[2] || a[0] - b[0]);
  const room = max - map.length;
  if (room <= 0 || voted.length === 0) return map;
  const all: Array<[number, number, number]> = [];
  for (let i = 0; i < map.length; i++) all.push([map.starts[i]!, map.ends[i]!, map.shifts[i]!]);
  for (const [t, shift] of voted.slice(0, room)) all.push([t, t + 2, shift]);
  all.sort((a, b) => a[0] - b[0] || b[1] - b[0] - (a[1] - a[0]));
  const out: Array<[number, number, number]> = [];
  for (const g of all) {
    const last = out[out.length - 1];
    if (last && g[0] < last[1]) continue; // inside a segment (or another point): the segment stays
    out.push(g);
  }
  return mapOfTriples(out);
}

/** An AddressMap of (start, end, shift) triples, by plain loops (Int32Array.from iterates, allocating per element until compiled). */
function mapOfTriples(segs: ReadonlyArray<readonly [number, number, number]>): AddressMap {
  const n = segs.length;
  const starts = new Int32Array(n);
  const ends = new Int32Array(n);
  const shifts = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const g = segs[i]!;
    starts[i] = g[0];
    ends[i] = g[1];
    shifts[i] = g[2];
  }
  return new AddressMap(starts, ends, shifts);
}

let claimedBuf = new Uint8Array(0);

/** A Thumb branch window at buffer index i that may be converted (not straddling a barrier). */
function branchAt(b: Uint8Array, i: number, pos0: number, barrier: number): boolean {
  if (barrier !== 0 && (pos0 + i + 2) % barrier === 0) return false;
  return isThumbBranch(b, i);
}

function isThumbBranch(b: Uint8Array, i: number): boolean {
  if ((b[i + 1]! & 0xf8) !== 0xf0) return false;
  const t = b[i + 3]! & 0xf8;
  return t === 0xf8 || t === 0xe8 || t === 0xb8;
}

/** The absolute target (mod 2^23) of the filtered Thumb BL/BLX-like pair at b[i]. */
function thumbBranchTarget(b: Uint8Array, i: number): number {
  return (((b[i + 1]! & 7) << 19) | (b[i]! << 11) | ((b[i + 3]! & 7) << 8) | b[i + 2]!) * 2;
}

/**
 * Maps, in place, the references in `buf[0, n)` (filtered base bytes; byte 0 at old position `pos0`).
 * Only windows lying wholly inside it are touched (the caller keeps a margin of mapMargin(flags)
 * bytes around the slice it needs). `barrier`: as for the filters.
 */
export function mapReferences(flags: number, buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, barrier = 0, n = buf.length, wasm?: WasmAddressing, eh?: EhTables): void {
  mapCode(flags, buf, pos0, map, oldSize, base, barrier, n, wasm, flags & PRED.elfEh ? eh : undefined);
  // the unwind tables last: they read the words as the other passes left them (which skip the tables)
  if (flags & PRED.elfEh && eh) mapElfEh(buf, pos0, map, oldSize, n, eh);
}

/**
 * Where an ELF image's unwind tables lie (PRED.elfEh; file offsets in the base, from its section
 * headers; a length 0 where the image has no such table).
 */
export interface EhTables {
  /** .eh_frame_hdr */
  hdr: number;
  hdrLen: number;
  /** .eh_frame */
  eh: number;
  ehLen: number;
  /** ARM: .ARM.extab and .ARM.exidx (one run: the two sections and what lies between them) */
  arm: number;
  armLen: number;
}

/**
 * PRED.elfEh: in .eh_frame_hdr, after its 12-byte head, the binary-search table's 32-bit offsets from
 * the header's start (each FDE's initial location, and the FDE) whose target lies in the base become
 * (target + shift) - (header + its shift); in .eh_frame, a 32-bit word (on the section's 4-byte grid)
 * that as a pc-relative offset points before .eh_frame (an FDE's initial location: the code) becomes
 * (target + shift) - (word + its shift); in ARM's tables, a word with bit 31 clear (on the run's 4-byte
 * grid) that as a prel31 offset (31 bits, signed) points before the run (a function's start in
 * .ARM.exidx, a personality routine in .ARM.extab) gets the same, in 31 bits. Decided from the word
 * and its position alone.
 */
function mapElfEh(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, eh: EhTables): void {
  // (one function a table: see mapCode)
  if (eh.hdrLen > 0) mapEhHdr(buf, pos0, map, oldSize, n, eh);
  if (eh.ehLen > 0) mapEhFrame(buf, pos0, map, n, eh);
  if (eh.armLen > 0) mapArmEh(buf, pos0, map, n, eh);
}

/** The first position from `from` on the 4-byte grid of `grid`, for a buffer whose byte 0 is at pos0. */
const ehFirst = (pos0: number, from: number, grid: number): number => Math.max(from, pos0 + ((((grid - pos0) % 4) + 4) % 4));

/** .eh_frame_hdr's table (see mapElfEh). */
function mapEhHdr(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, eh: EhTables): void {
  const hEnd = Math.min(eh.hdr + eh.hdrLen, pos0 + n);
  const hNew = eh.hdr + map.shift(eh.hdr);
  for (let p = ehFirst(pos0, eh.hdr + 12, eh.hdr); p + 4 <= hEnd; p += 4) {
    const t = eh.hdr + word(buf, p - pos0);
    if (t >= 0 && t < oldSize) putInt32(buf, p - pos0, t + map.shift(t) - hNew);
  }
}

/** .eh_frame's pc-relative words into what lies before it (see mapElfEh). */
function mapEhFrame(buf: Uint8Array, pos0: number, map: AddressMap, n: number, eh: EhTables): void {
  const eEnd = Math.min(eh.eh + eh.ehLen, pos0 + n);
  for (let p = ehFirst(pos0, eh.eh, eh.eh); p + 4 <= eEnd; p += 4) {
    const t = p + word(buf, p - pos0);
    if (t >= 0 && t < eh.eh) putInt32(buf, p - pos0, t + map.shift(t) - (p + map.shiftSeq(p)));
  }
}

/** ARM's tables: prel31 words into what lies before them (see mapElfEh). */
function mapArmEh(buf: Uint8Array, pos0: number, map: AddressMap, n: number, eh: EhTables): void {
  const aEnd = Math.min(eh.arm + eh.armLen, pos0 + n);
  for (let p = ehFirst(pos0, eh.arm, eh.arm); p + 4 <= aEnd; p += 4) {
    const w = word(buf, p - pos0);
    if (w < 0) continue; // bit 31 set: inline unwind data, or not a prel31 offset
    const t = p + ((w << 1) >> 1);
    if (t >= 0 && t < eh.arm) {
      const d = t + map.shift(t) - (p + map.shiftSeq(p));
      if (d >= -(2 ** 30) && d < 2 ** 30) putInt32(buf, p - pos0, d & 0x7fffffff);
    }
  }
}

function inEhTables(p: number, eh: EhTables): boolean {
  return (p + 8 > eh.hdr && p < eh.hdr + eh.hdrLen) || (p + 8 > eh.eh && p < eh.eh + eh.ehLen) || (p + 8 > eh.arm && p < eh.arm + eh.armLen);
}

/**
 * mapReferences without the unwind tables (`eh`: given with PRED.elfEh, for the pointer pass to skip them).
 * Each pass is a function of its own whose loop is its last statement, and this one has no loop: the
 * first call in a process (a whole image, when a delta is made) compiles a loop while it runs (OSR)
 * before the code after it has ever run, and Node 20's V8 kept entering that compiled loop from later
 * calls (the decoder maps every window it reads) and leaving it again at the first operation with no
 * type feedback. When this was one function of all the passes, one process of 100 applies of one patch
 * had 305,602 such deoptimizations (`node --trace-deopt`), and its best apply took 100 ms instead of 25.
 */
function mapCode(flags: number, buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, barrier: number, n: number, wasm: WasmAddressing | undefined, eh: EhTables | undefined): void {
  if (flags & PRED.wasmAddr) {
    if (wasm) mapWasmAddresses(buf, pos0, map, oldSize, n, wasm);
    return;
  }
  if (flags & PRED.s390rel) {
    mapS390Relative(buf, pos0, map, oldSize, n);
    return;
  }
  if (flags & PRED.xtensa) (flags & PRED.xtensaNear ? mapXtensaNear : mapXtensaCalls)(buf, pos0, map, oldSize, n);
  if (flags & PRED.mipsCall) mapMipsCalls(buf, pos0, map, oldSize, base, n);
  if (flags & PRED.mipsAddr) mapMipsPairs(buf, pos0, map, oldSize, base, n, barrier);
  if (flags & PRED.riscv) (flags & PRED.riscvC ? mapRiscVCompressed : mapRiscV)(buf, pos0, map, oldSize, n, barrier, flags & PRED.riscvAbs ? base : -1);
  if (flags & PRED.loong) mapLoongArch(buf, pos0, map, oldSize, n, barrier);
  if (flags & PRED.power) mapPower(buf, pos0, map, oldSize, base, n, barrier);
  if (flags & PRED.thumb) mapThumbCalls(buf, pos0, map, oldSize, barrier, n);
  if (flags & PRED.armCall) mapArmCalls(buf, pos0, map, oldSize, n);
  if (flags & PRED.armRel) mapArmRelative(buf, pos0, map, oldSize, n);
  // before the pointer pass: its decisions then read only filtered, branch-mapped bytes, which are
  // the same in any slice from its third byte on (a pointer rewrite near a slice's start is not)
  if (flags & PRED.thumbRel) mapThumbRelative(buf, pos0, map, oldSize, n);
  // (the Thumb LDR pass leaves alone the words the pointer pass took)
  const claimed = flags & PRED.thumbLdr ? claimedFor(n) : undefined;
  if (flags & (PRED.arm64 | PRED.abs32 | PRED.arm64rel)) mapWords(flags, buf, pos0, map, oldSize, base, barrier, n, eh, claimed);
  if (claimed) {
    mapThumbLdr(buf, pos0, map, oldSize, barrier, n, claimed);
    claimed.fill(0, 0, (n >> 2) + 2);
  }
  if (flags & PRED.x86rel) mapX86Relative(buf, pos0, map, oldSize, n, flags & PRED.x86abs ? base : -1);
  // last: it reads what the Thumb maps above leave
  if (flags & PRED.thumbMovw) mapThumbMovw(buf, pos0, map, oldSize, base, n, barrier);
}

/** Thumb-2 BL/B.W targets (filtered: absolute) through the map (see mapCode). */
function mapThumbCalls(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, barrier: number, n: number): void {
  for (let i = pos0 & 1; i + 4 <= n; i += 2) {
    if ((buf[i + 1]! & 0xf8) !== 0xf0) {
      // the common case first, without a call; two halfwords at a time (no window starts at either)
      if (i + 6 <= n && (buf[i + 3]! & 0xf8) !== 0xf0) i += 2;
      continue;
    }
    if (!branchAt(buf, i, pos0, barrier)) continue;
    const w = ((buf[i + 1]! & 7) << 19) | (buf[i]! << 11) | ((buf[i + 3]! & 7) << 8) | buf[i + 2]!;
    const t = w * 2; // absolute target (mod 2^23)
    if (t >= oldSize) continue;
    const m = ((t + map.shift(t)) >> 1) & 0x3fffff;
    buf[i + 1] = 0xf0 | ((m >>> 19) & 7);
    buf[i] = (m >>> 11) & 0xff;
    buf[i + 3] = (buf[i + 3]! & 0xf8) | ((m >>> 8) & 7);
    buf[i + 2] = m & 0xff;
    i += 2;
  }
}

/** ARM BL targets (filtered: absolute) through the map (see mapCode). */
function mapArmCalls(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  // filtered ARM BL (condition "always"): the word holds the absolute target / 4 (mod 2^24)
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    if (buf[i + 3] !== 0xeb) continue;
    const t = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16)) * 4;
    if (t >= oldSize) continue;
    const m = ((t + map.shift(t)) >>> 2) & 0xffffff;
    buf[i] = m & 0xff;
    buf[i + 1] = (m >>> 8) & 0xff;
    buf[i + 2] = (m >>> 16) & 0xff;
  }
}

/** The buffer the pointer pass marks its words in for the Thumb LDR pass (all zero between calls). */
function claimedFor(n: number): Uint8Array {
  if (claimedBuf.length < (n >> 2) + 2) claimedBuf = new Uint8Array((n >> 2) + 2);
  return claimedBuf;
}

/**
 * The aligned-word pass (see mapCode): AArch64 branches (absolute or relative) and ADRP pairs, and
 * 32-bit (or 64-bit) pointers into the image; the pointer words taken are marked in `claimed`.
 * The flags are read once, before the loop (this runs on every window the decoder maps).
 */
function mapWords(flags: number, buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, barrier: number, n: number, eh: EhTables | undefined, claimed: Uint8Array | undefined): void {
  const arm64rel = (flags & PRED.arm64rel) !== 0;
  const arm64page = (flags & PRED.arm64page) !== 0;
  const arm64 = (flags & PRED.arm64) !== 0;
  const abs32 = (flags & PRED.abs32) !== 0;
  const armCall = (flags & PRED.armCall) !== 0;
  const mipsCall = (flags & PRED.mipsCall) !== 0;
  const riscvAbs = (flags & PRED.riscvAbs) !== 0;
  const armRel = (flags & PRED.armRel) !== 0;
  const ptr64 = (flags & PRED.ptr64) !== 0;
  const thumb = (flags & PRED.thumb) !== 0;
  // pointers into the image have a top byte in [topLo, topHi]: one compare rejects most other words
  // (only when the image's addresses do not wrap past 2^32; the full test below decides the rest)
  const wraps = base + oldSize > 0x100000000;
  const topLo = arm64 || arm64rel || wraps ? 0 : base >>> 24;
  const ext = flags & PRED.extAbs ? map.ext : null;
  const extStart = ext && ext.length > 0 ? ext.starts[0]! : oldSize;
  const extEnd = ext && ext.length > 0 ? ext.ends[ext.length - 1]! : oldSize;
  const topHi = arm64 || arm64rel || wraps || base + extEnd > 0x100000000 ? 255 : Math.floor((base + extEnd - 1) / 0x1000000);
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const b3 = buf[i + 3]!;
    if (b3 < topLo || b3 > topHi) continue;
    if (arm64rel) {
      const op = b3 & 0xfc;
      if (op === 0x94 || op === 0x14) {
        const v = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | ((b3 & 3) << 24);
        const p = pos0 + i;
        const t = p + ((v << 6) >> 6) * 4;
        if (t >= 0 && t < oldSize) {
          const offN = t + map.shift(t) - (p + map.shiftSeq(p));
          if (offN >= -(1 << 27) && offN < 1 << 27) {
            const m = (offN >> 2) & 0x3ffffff;
            buf[i] = m & 0xff;
            buf[i + 1] = (m >>> 8) & 0xff;
            buf[i + 2] = (m >>> 16) & 0xff;
            buf[i + 3] = op | ((m >>> 24) & 3);
          }
        }
        continue;
      }
      if (arm64page && (b3 & 0x9f) === 0x90 && i + 8 <= n && mapPagePair(buf, i, pos0, map, oldSize, barrier)) {
        i += 4; // the second word of the pair starts no window
        continue;
      }
    }
    if (arm64) {
      const op = b3 & 0xfc;
      if (op === 0x94 || op === 0x14) {
        const w = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | ((b3 & 3) << 24);
        const t = w * 4;
        if (t < oldSize) {
          const m = ((t + map.shift(t)) >> 2) & 0x3ffffff;
          buf[i] = m & 0xff;
          buf[i + 1] = (m >>> 8) & 0xff;
          buf[i + 2] = (m >>> 16) & 0xff;
          buf[i + 3] = op | ((m >>> 24) & 3);
        }
        continue;
      }
    }
    if (!abs32) continue;
    if (eh && inEhTables(pos0 + i, eh)) continue; // (mapped by mapElfEh)
    if (armCall && b3 === 0xeb) continue; // a call, mapped before
    if (mipsCall && (b3 & 0xfc) === 0x0c) continue; // a JAL, mapped before
    // a RISC-V LUI of an address near the image reads as a pointer into it: its pair was mapped before
    if (riscvAbs && (buf[i]! & 0x7f) === 0x37) continue;
    if (armRel && armRelAt(buf, i)) continue; // a relative form, mapped before
    if (ptr64 && (((pos0 + i) & 7) !== 0 || i + 8 > n || !isPtr64(buf, i))) continue;
    const w = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (b3 << 24)) >>> 0;
    const x = w - base;
    let s: number;
    if (x >= 0 && x < oldSize) s = NaN;
    else if (ext !== null && x >= extStart && x < extEnd && (x & 1) === 0) {
      s = ext.holdingShift(x);
      if (Number.isNaN(s)) continue;
    } else continue;
    // never inside a Thumb branch window (those were mapped before)
    if (thumb) {
      if (i < 2 || i + 6 > n) continue;
      if (branchAt(buf, i - 2, pos0, barrier) || branchAt(buf, i, pos0, barrier) || branchAt(buf, i + 2, pos0, barrier)) continue;
    }
    if (claimed) claimed[i >> 2] = 1;
    if (Number.isNaN(s)) s = map.shift(x & ~1);
    if (s === 0) continue;
    const wn = (w + s) >>> 0;
    buf[i] = wn & 0xff;
    buf[i + 1] = (wn >>> 8) & 0xff;
    buf[i + 2] = (wn >>> 16) & 0xff;
    buf[i + 3] = wn >>> 24;
  }
}

/**
 * Thumb LDR (literal) offsets through the map (see mapCode), except in words the pointer pass took
 * (`claimed`).
 */
function mapThumbLdr(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, barrier: number, n: number, claimed: Uint8Array): void {
  const a0 = (4 - (pos0 & 3)) & 3; // buffer index of the first aligned word
  for (let i = pos0 & 1; i + 2 <= n; i += 2) {
    const hi = buf[i + 1]! & 0xf8;
    if (hi !== 0x48 && hi !== 0xa0) {
      if (i + 4 <= n && (buf[i + 3]! & 0xf8) !== 0x48 && (buf[i + 3]! & 0xf8) !== 0xa0) i += 2; // nor the next
      continue;
    }
    if (i < 4 || i + 8 > n) continue;
    if (i >= a0 && claimed[(i - a0) >> 2]) continue;
    if (branchAt(buf, i - 2, pos0, barrier)) continue;
    const p = pos0 + i;
    const t = ((p + 4) & ~3) + buf[i]! * 4;
    if (t >= oldSize) continue;
    const ps = map.shiftSeq(p);
    const tn = t + map.shift(t);
    const d = tn - ((p + ps + 4) & ~3);
    if (d < 0 || d > 1020 || d & 3) continue;
    buf[i] = d >> 2;
  }
}

/** Whether the 8 bytes at b[i] can be a 64-bit pointer the map rewrites (the caller checks its 8-byte alignment): the high half zero. */
export function isPtr64(b: Uint8Array, i: number): boolean {
  return (b[i + 4]! | b[i + 5]! | b[i + 6]! | b[i + 7]!) === 0;
}

/**
 * An AArch64 ADRP at buf[i] and, at buf[i + 4], the instruction completing its address from the same
 * register: ADD (64-bit immediate, unshifted) or a load/store with an unsigned scaled offset. Decided
 * from opcode and register bits only (never changed here); a pair straddling `barrier` is left alone.
 * The target t (file offset: the image's load address is taken to be page-aligned) is rewritten to
 * t + shift(t) as seen from the caller's new position, when the new low bits fit the access size.
 * Returns whether the words form such a pair (rewritten or not).
 */
function mapPagePair(buf: Uint8Array, i: number, pos0: number, map: AddressMap, oldSize: number, barrier: number): boolean {
  const j = i + 4;
  const c3 = buf[j + 3]!;
  const c2 = buf[j + 2]!;
  let scale: number;
  if (c3 === 0x91 && (c2 & 0xc0) === 0) scale = 0; // ADD Xd, Xn, #imm12
  else if ((c3 & 0x3b) === 0x39) scale = (c3 & 4) !== 0 && (c2 & 0x80) !== 0 ? 4 : c3 >> 6; // LDR/STR (unsigned offset); SIMD 128-bit: 16
  else return false;
  const rn = (buf[j]! >> 5) | ((buf[j + 1]! & 3) << 3);
  if (rn !== (buf[i]! & 31)) return false;
  const p = pos0 + i;
  if (barrier !== 0 && (p + 4) % barrier === 0) return false;
  const adrp = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> 0;
  const page = ((((adrp >>> 5) & 0x7ffff) << 2) | ((adrp >>> 29) & 3)) << 11 >> 11; // signed 21 bits
  const lo = (((c2 & 0x3f) << 6) | (buf[j + 1]! >> 2)) << scale;
  const t = (p - (p & 0xfff)) + page * 4096 + lo;
  if (t < 0 || t >= oldSize) return true;
  const tn = t + map.shift(t);
  const pn = p + map.shiftSeq(p);
  if (tn < 0 || pn < 0) return true;
  const loN = tn & 0xfff;
  const pageN = Math.floor(tn / 4096) - Math.floor(pn / 4096);
  if ((loN & ((1 << scale) - 1)) !== 0 || pageN < -(1 << 20) || pageN >= 1 << 20) return true;
  const out = ((adrp & 0x9f00001f) | ((pageN & 3) << 29) | (((pageN >> 2) & 0x7ffff) << 5)) >>> 0;
  buf[i] = out & 0xff;
  buf[i + 1] = (out >>> 8) & 0xff;
  buf[i + 2] = (out >>> 16) & 0xff;
  buf[i + 3] = out >>> 24;
  const imm = loN >> scale;
  buf[j + 1] = (buf[j + 1]! & 3) | ((imm & 0x3f) << 2);
  buf[j + 2] = (c2 & 0xc0) | (imm >> 6);
  return true;
}

/** Whether the ARM word at b[i] is a B<c> or an LDR (literal), from bits mapArmRelative never changes. */
function armRelAt(b: Uint8Array, i: number): boolean {
  const b3 = b[i + 3]!;
  if ((b3 & 0x0f) === 0x0a) return b3 < 0xf0; // B<c> (cond 1111 is BLX)
  return (b3 & 0x0f) === 0x05 && b3 < 0xf0 && (b[i + 2]! & 0x7f) === 0x1f; // LDR Rt, [PC, #+-imm12] (U bit 23 aside)
}

/**
 * 32-bit ARM B<c> and LDR (literal) whose caller and target moved by different amounts: the offset
 * is rewritten to (target + shift(target)) - (caller + shift(caller)) when it still fits.
 */
function mapArmRelative(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const b3 = buf[i + 3]!;
    const low = b3 & 0x0f;
    if ((low !== 0x0a && low !== 0x05) || !armRelAt(buf, i)) continue;
    const p = pos0 + i;
    if (low === 0x0a) {
      const t = p + 8 + (((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16)) << 8) >> 6);
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 8;
      if (d < -(1 << 25) || d >= 1 << 25) continue;
      const m = (d >> 2) & 0xffffff;
      buf[i] = m & 0xff;
      buf[i + 1] = (m >>> 8) & 0xff;
      buf[i + 2] = (m >>> 16) & 0xff;
    } else {
      const imm = buf[i]! | ((buf[i + 1]! & 15) << 8);
      const up = buf[i + 2]! & 0x80;
      const t = up ? p + 8 + imm : p + 8 - imm;
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 8;
      if (d <= -4096 || d >= 4096) continue;
      const a = Math.abs(d);
      buf[i] = a & 0xff;
      buf[i + 1] = (buf[i + 1]! & 0xf0) | (a >> 8);
      buf[i + 2] = (buf[i + 2]! & 0x7f) | (d >= 0 ? 0x80 : 0);
    }
  }
}

/** The high byte of a halfword that starts a 32-bit Thumb-2 instruction (so the next halfword is its second half). */
const wide = (hi: number): boolean => hi >= 0xe8;

/** 1 for the high bytes of the halfwords mapThumbRelative may rewrite: B<c>, B, CBZ/CBNZ, LDR.W (literal). */
const THUMB_REL_CLASS = (() => {
  const c = new Uint8Array(256);
  for (let hi = 0; hi < 256; hi++) c[hi] = (hi >= 0xd0 && hi <= 0xdd) || (hi & 0xf8) === 0xe0 || (hi & 0xf5) === 0xb1 || hi === 0xf8 ? 1 : 0;
  return c;
})();

/**
 * Thumb short relative forms whose caller and target moved by different amounts: the offset is
 * rewritten to (target + shift(target)) - (caller + shift(caller)) when the new offset still fits.
 * Decides from opcode bits only (never changed here) and from the halfword before (a halfword after
 * the first half of a 32-bit instruction is skipped), within the buffer's margin.
 */
function mapThumbRelative(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  const cls = THUMB_REL_CLASS;
  for (let i = (pos0 & 1) + 4; i + 8 <= n; i += 2) {
    const hi = buf[i + 1]!;
    // one table look-up rejects the other halfwords (most of them) with one well-predicted branch
    if (cls[hi] === 0) {
      if (i + 10 <= n && cls[buf[i + 3]!] === 0) i += 2; // the next halfword is none of them either
      continue;
    }
    if (wide(buf[i - 1]!)) continue; // second half of a 32-bit instruction
    const p = pos0 + i;
    if (hi >= 0xd0 && hi <= 0xdd) {
      // B<c> T1: offset = sext(imm8) * 2
      const t = p + 4 + ((buf[i]! << 24) >> 23);
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 4;
      if (d >= -256 && d <= 254) buf[i] = (d >> 1) & 0xff;
    } else if ((hi & 0xf8) === 0xe0) {
      // B T2: offset = sext(imm11) * 2
      const t = p + 4 + ((((hi & 7) << 8) | buf[i]!) << 21 >> 20);
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 4;
      if (d >= -2048 && d <= 2046) {
        const v = (d >> 1) & 0x7ff;
        buf[i] = v & 0xff;
        buf[i + 1] = 0xe0 | (v >> 8);
      }
    } else if ((hi & 0xf5) === 0xb1) {
      // CBZ/CBNZ: offset = i:imm5:0, forward only
      const lo = buf[i]!;
      const t = p + 4 + (((hi >> 1) & 1) << 6) + ((lo >> 3) << 1);
      if (t >= oldSize) continue;
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 4;
      if (d >= 0 && d <= 126) {
        buf[i] = (lo & 7) | (((d >> 1) & 31) << 3);
        buf[i + 1] = (hi & ~2) | ((d >> 6) << 1);
      }
    } else if (hi === 0xf8 && (buf[i]! & 0x7f) === 0x5f) {
      // LDR.W (literal) T2: target = Align(p + 4, 4) +/- imm12
      const imm = buf[i + 2]! | ((buf[i + 3]! & 15) << 8);
      const up = buf[i]! & 0x80;
      const a = (p + 4) & ~3;
      const t = up ? a + imm : a - imm;
      if (t < 0 || t >= oldSize) continue;
      const d = t + map.shift(t) - ((p + map.shiftSeq(p) + 4) & ~3);
      // bit 11 of the offset shares a byte with bits a branch check reads (the next halfword's top): kept
      if (d > -4096 && d < 4096 && (Math.abs(d) & 0x800) === (imm & 0x800)) {
        const m = Math.abs(d);
        buf[i] = (buf[i]! & 0x7f) | (d >= 0 ? 0x80 : 0);
        buf[i + 2] = m & 0xff;
        buf[i + 3] = (buf[i + 3]! & 0xf0) | (m >> 8);
      }
      i += 2;
    }
  }
}

/** One-byte opcodes whose ModRM 00.reg.101 operand is [RIP + disp32] with no immediate after it: ALU r/m forms, MOVSXD, TEST, XCHG, MOV, LEA, group 5 (INC, DEC, CALL, JMP, PUSH). */
const X86_RIP_OP = (() => {
  const t = new Uint8Array(256);
  for (let op = 0; op < 0x40; op++) if ((op & 7) < 4) t[op] = 1;
  for (const op of [0x63, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8d, 0xff]) t[op] = 1;
  return t;
})();

/** The same for the second byte of 0x0F opcodes: SSE moves and arithmetic, CMOVcc, IMUL, MOVZX/MOVSX and the like. */
const X86_RIP_OP0F = (() => {
  const t = new Uint8Array(256);
  const ops = [0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x28, 0x29, 0x2a, 0x2c, 0x2d, 0x2e, 0x2f, 0x51, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x5f];
  for (const op of ops) t[op] = 1;
  for (let op = 0x40; op < 0x50; op++) t[op] = 1; // CMOVcc
  for (let op = 0x60; op < 0x70; op++) t[op] = 1; // MMX/SSE2 packed forms
  for (const op of [0x7e, 0x7f, 0xaf, 0xb6, 0xb7, 0xbe, 0xbf, 0xd6, 0xd4, 0xdb, 0xeb, 0xef, 0xfa, 0xfb, 0xfe]) t[op] = 1;
  return t;
})();

/**
 * Absolute operands (32-bit code, PRED.x86abs): what follows the displacement does not matter there, so
 * the forms with an immediate after it count too: ALU, MOV, IMUL and TEST with an immediate, the shifts.
 */
const X86_ABS_OP = (() => {
  const t = X86_RIP_OP.slice();
  for (const op of [0x69, 0x6b, 0x80, 0x81, 0x83, 0xc0, 0xc1, 0xc6, 0xc7, 0xd0, 0xd1, 0xd2, 0xd3, 0xf6, 0xf7, 0xfe]) t[op] = 1;
  return t;
})();

/**
 * What a window's first byte can be: 1 CALL or JMP (E8, E9), 2 the second byte of a Jcc (80-8F), 3 a
 * ModRM byte 00.reg.101, 4 MOV with a 32-bit absolute moffs (A0-A3: 32-bit code only); 0 none.
 */
const X86_START = (() => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = c === 0xe8 || c === 0xe9 ? 1 : (c & 0xf0) === 0x80 ? 2 : (c & 0xc7) === 0x05 ? 3 : c >= 0xa0 && c <= 0xa3 ? 4 : 0;
  return t;
})();

/**
 * Whether buf[q] starts an x86-64 window: the 4 bytes after it are a rel32 whose target
 * (p + 5 + rel32, p the old position of q) lies in the base image. q is a CALL or JMP opcode (E8, E9),
 * the second byte of a Jcc (0F 8x), or a ModRM byte 00.reg.101 after an opcode of X86_RIP_OP(0F).
 * With absBase >= 0 (32-bit code, PRED.x86abs) a ModRM byte 00.reg.101 after an opcode of
 * X86_ABS_OP (or X86_RIP_OP0F), or a MOV moffs opcode (A0-A3), starts a window when the 4 bytes after
 * it are an absolute address of the base: file position field - absBase in [0, oldSize).
 * Reads buf[q - 2, q + 5); the caller keeps q >= 2.
 */
function x86At(buf: Uint8Array, q: number, p: number, oldSize: number, absBase: number): boolean {
  const k = X86_START[buf[q]!]!;
  if (k === 0) return false;
  if (k === 2) {
    if (buf[q - 1] !== 0x0f) return false;
  } else if (k >= 3) {
    if (absBase >= 0) {
      // 32-bit code: the field is an address
      if (k === 3 && (buf[q - 2] === 0x0f ? X86_RIP_OP0F[buf[q - 1]!] === 0 : X86_ABS_OP[buf[q - 1]!] === 0)) return false;
      const x = ((buf[q + 1]! | (buf[q + 2]! << 8) | (buf[q + 3]! << 16) | (buf[q + 4]! << 24)) >>> 0) - absBase;
      return x >= 0 && x < oldSize;
    }
    if (k === 4 || (buf[q - 2] === 0x0f ? X86_RIP_OP0F[buf[q - 1]!] === 0 : X86_RIP_OP[buf[q - 1]!] === 0)) return false;
  }
  const t = p + 5 + (buf[q + 1]! | (buf[q + 2]! << 8) | (buf[q + 3]! << 16) | (buf[q + 4]! << 24));
  return t >= 0 && t < oldSize;
}

/**
 * x86-64 relative references (PRED.x86rel) whose caller and target moved by different amounts: the
 * rel32 after a window start q (x86At) becomes (target + shift(target)) - (caller + shift(caller)) - 5.
 * Instruction boundaries are unknown, so q counts only when none of q + 1 .. q + 4 starts a window as
 * well (then windows never overlap). Every decision reads the bytes as they came in, within
 * [q - 2, q + 9): two rewrites wait, and a third window writes the oldest, 10 bytes back at least
 * (windows are 5 bytes apart), where no later decision reads. So any slice maps the same as the
 * whole image from mapMargin() bytes inside its edges on.
 */
function mapX86Relative(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, absBase: number): void {
  // (the scan's loop is its last statement, see mapCode: the rewrites still pending at its end are written here)
  const pend = x86Pending;
  pend[0] = pend[2] = -1;
  scanX86Relative(buf, pos0, map, oldSize, n, absBase, pend);
  if (pend[0]! >= 0) putInt32(buf, pend[0]! + 1, pend[1]!);
  if (pend[2]! >= 0) putInt32(buf, pend[2]! + 1, pend[3]!);
}

/** The rewrites mapX86Relative's scan holds back: window position and new rel32 of the oldest, then of the other (-1: none). */
const x86Pending = new Int32Array(4);

function scanX86Relative(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, absBase: number, pend: Int32Array): void {
  const first = X86_START;
  let w1 = -1; // the pending rewrites, oldest first: window position and new rel32
  let v1 = 0;
  let w2 = -1;
  let v2 = 0;
  for (let q = 2; q + 9 <= n; q++) {
    if (first[buf[q]!] === 0) continue; // most bytes: one table look-up
    const p = pos0 + q;
    if (!x86At(buf, q, p, oldSize, absBase)) continue;
    if (x86At(buf, q + 1, p + 1, oldSize, absBase) || x86At(buf, q + 2, p + 2, oldSize, absBase) || x86At(buf, q + 3, p + 3, oldSize, absBase) || x86At(buf, q + 4, p + 4, oldSize, absBase)) continue;
    const rel = buf[q + 1]! | (buf[q + 2]! << 8) | (buf[q + 3]! << 16) | (buf[q + 4]! << 24);
    let v: number;
    if (absBase >= 0 && X86_START[buf[q]!]! >= 3) {
      // an absolute address; a word-aligned one the pointer pass has mapped already
      v = ((p + 1) & 3) === 0 ? rel : rel + map.shift((rel >>> 0) - absBase);
    } else {
      const t = p + 5 + rel;
      v = t + map.shift(t) - (p + map.shiftSeq(p)) - 5;
    }
    if (v !== rel && v >= -0x80000000 && v <= 0x7fffffff) {
      // a third: the oldest is written (w1 <= q - 10: no decision from here on reads its bytes)
      if (w2 >= 0) {
        putInt32(buf, w1 + 1, v1);
        w1 = w2;
        v1 = v2;
        w2 = q;
        v2 = v;
      } else if (w1 >= 0) {
        w2 = q;
        v2 = v;
      } else {
        w1 = q;
        v1 = v;
      }
      pend[0] = w1;
      pend[1] = v1;
      pend[2] = w2;
      pend[3] = v2;
    }
    q += 4; // q + 1 .. q + 4 start no window
  }
}

function putInt32(buf: Uint8Array, i: number, v: number): void {
  buf[i] = v & 0xff;
  buf[i + 1] = (v >>> 8) & 0xff;
  buf[i + 2] = (v >>> 16) & 0xff;
  buf[i + 3] = (v >>> 24) & 0xff;
}

/**
 * The length (1-5) of the LEB128 after buf[q] when buf[q] starts a field the WebAssembly map rewrites:
 * an i32.const (0x41, then a signed LEB128, often padded to 5 bytes by the linker) whose value is an
 * address of the old module's data (x = value - base in [dataStart, oldSize)), or, from codeStart on,
 * a call (0x10, then an unsigned LEB128) of a function index below `functions`; either ending before
 * the data. 0 for any other position. Reads buf[q, q + 6).
 */
function wasmAt(buf: Uint8Array, q: number, pos0: number, n: number, w: WasmAddressing, oldSize: number, functions: number): number {
  const op = buf[q];
  if (op !== 0x41 && (op !== 0x10 || pos0 + q < w.codeStart)) return 0;
  let v = 0;
  let scale = 1;
  for (let k = 0; k < 5; k++) {
    if (q + 1 + k >= n) return 0;
    const c = buf[q + 1 + k]!;
    v += (c & 0x7f) * scale;
    scale *= 128;
    if ((c & 0x80) === 0) {
      if (pos0 + q + 1 + k >= w.dataStart) return 0; // not before the data
      if (op === 0x10) return v < functions ? k + 1 : 0;
      if ((c & 0x40) !== 0) return 0; // negative
      const x = v - w.base;
      return x >= w.dataStart && x < oldSize ? k + 1 : 0;
    }
  }
  return 0;
}

// the first index past each run of the last runs seen (a decoder maps with the same runs at every refill)
let endsOf: Int32Array | null = null;
let endsCache = new Float64Array(0);

function runEnds(runs: Int32Array): Float64Array {
  if (runs !== endsOf) {
    endsCache = new Float64Array(runs.length >> 1);
    for (let r = 0, at = 0; r < endsCache.length; r++) endsCache[r] = at += runs[2 * r]!;
    endsOf = runs;
  }
  return endsCache;
}

/**
 * The WebAssembly map (PRED.wasmAddr). Memory addresses follow the data they point at: an address A
 * of old file position x = A - base becomes A + shift(x) + delta, in i32.const in the code and in
 * 32-bit words of the data aligned in memory. Function indices in calls follow their functions
 * (WasmAddressing.calls). A const or call is rewritten when its new value fits the same number of
 * bytes (padded as the old one was, or not: the others are left alone) and no other such field
 * starts within its bytes (then they never overlap, and as the decisions read only bytes at or after
 * a field, none reads a rewritten one). Decisions read 11 bytes from a field on, and the word
 * itself: see mapMargin().
 */
function mapWasmAddresses(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, w: WasmAddressing): void {
  // (code, then data, each a function of its own: see mapCode)
  if (pos0 < w.dataStart) mapWasmCode(buf, pos0, map, oldSize, n, w);
  if (pos0 + n > w.dataStart) mapWasmData(buf, pos0, map, oldSize, n, w);
}

/** The code's i32.const addresses and call indices (see mapWasmAddresses). */
function mapWasmCode(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, w: WasmAddressing): void {
  const runs = w.calls;
  const ends = runEnds(runs);
  const functions = ends.length > 0 ? ends[ends.length - 1]! : 0;
  for (let q = 0; q + 11 <= n && pos0 + q < w.dataStart; q++) {
    const op = buf[q];
    if (op !== 0x41 && op !== 0x10) continue;
    const len = wasmAt(buf, q, pos0, n, w, oldSize, functions);
    if (len === 0) continue;
    let clash = false;
    for (let k = 1; k <= len && !clash; k++) {
      const b = buf[q + k];
      clash = (b === 0x41 || b === 0x10) && wasmAt(buf, q + k, pos0, n, w, oldSize, functions) !== 0;
    }
    if (clash) continue;
    let v = 0;
    for (let k = 0, scale = 1; k < len; k++, scale *= 128) v += (buf[q + 1 + k]! & 0x7f) * scale;
    let nv: number;
    let limit: number; // values below it fit len bytes
    if (op === 0x41) {
      nv = v + map.shift(v - w.base) + w.delta;
      limit = Math.min(2 ** 31, 2 ** (7 * len - 1)); // non-negative and a clear sign bit
    } else {
      let lo = 0;
      let hi = ends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (ends[mid]! > v) hi = mid;
        else lo = mid + 1;
      }
      nv = v + runs[2 * lo + 1]!;
      limit = Math.min(2 ** 32, 2 ** (7 * len));
    }
    if (nv !== v && nv >= 0 && nv < limit) {
      for (let k = 0; k < len; k++) buf[q + 1 + k] = ((nv >>> (7 * k)) & 0x7f) | (k < len - 1 ? 0x80 : 0); // (nv < 2^32)
    }
    q += len; // its bytes start no field
  }
}

/** The data's pointers into itself (see mapWasmAddresses). */
function mapWasmData(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number, w: WasmAddressing): void {
  const from = Math.max(0, w.dataStart - pos0);
  for (let i = from + ((4 - ((pos0 + from + w.base) & 3)) & 3); i + 4 <= n; i += 4) {
    const v = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24);
    const x = v - w.base;
    if (x < w.dataStart || x >= oldSize) continue;
    const nv = v + map.shift(x) + w.delta;
    if (nv !== v) putInt32(buf, i, nv);
  }
}

/** Second bytes (after C0, C4 or C6) of the s390x RIL-b forms with a 32-bit offset in halfwords: bit (op & 15) of S390_RIL[opcode byte]. */
const S390_RIL: Readonly<Record<number, number>> = {
  0xc0: (1 << 0) | (1 << 4) | (1 << 5), // LARL, BRCL, BRASL
  0xc4: (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15), // LLHRL .. STRL
  0xc6: (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15), // EXRL .. CLRL
};

/** Whether the even position buf[q] starts an s390x RIL-b form whose target (p + 2 x offset) lies in the base. Reads buf[q, q + 6). */
function s390At(buf: Uint8Array, q: number, p: number, oldSize: number, n: number): boolean {
  const c = buf[q]!;
  if (c !== 0xc0 && c !== 0xc4 && c !== 0xc6) return false;
  if (q + 6 > n || ((S390_RIL[c]! >> (buf[q + 1]! & 15)) & 1) === 0) return false;
  const t = p + 2 * ((buf[q + 2]! << 24) | (buf[q + 3]! << 16) | (buf[q + 4]! << 8) | buf[q + 5]!);
  return t >= 0 && t < oldSize;
}

/**
 * s390x relative-long forms (PRED.s390rel) whose caller and target moved by different amounts: the
 * big-endian offset becomes ((target + shift) - (caller + shift)) / 2 when that is whole. Instructions
 * are halfword-aligned; a position counts only when neither of the next two halfwords starts such a
 * form too (then they never overlap). Decisions read forward only, 10 bytes at most, never a
 * rewritten byte; a byte's windows start at most 5 bytes before it, so FILTER_MARGIN bytes suffice.
 */
function mapS390Relative(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  for (let q = pos0 & 1; q + 10 <= n; q += 2) {
    const c = buf[q]!;
    if (c !== 0xc0 && c !== 0xc4 && c !== 0xc6) continue;
    const p = pos0 + q;
    if (!s390At(buf, q, p, oldSize, n) || s390At(buf, q + 2, p + 2, oldSize, n) || s390At(buf, q + 4, p + 4, oldSize, n)) continue;
    const rel = (buf[q + 2]! << 24) | (buf[q + 3]! << 16) | (buf[q + 4]! << 8) | buf[q + 5]!;
    const t = p + 2 * rel;
    const d = t + map.shift(t) - (p + map.shiftSeq(p));
    if ((d & 1) === 0 && d / 2 !== rel && d / 2 >= -0x80000000 && d / 2 <= 0x7fffffff) {
      const v = d / 2;
      buf[q + 2] = (v >>> 24) & 0xff;
      buf[q + 3] = (v >>> 16) & 0xff;
      buf[q + 4] = (v >>> 8) & 0xff;
      buf[q + 5] = v & 0xff;
    }
    q += 4; // the next two halfwords are its offset
  }
}

/**
 * Whether buf[q] starts an Xtensa CALL0, CALL4, CALL8 or CALL12 (24 bits, little-endian: op0 5 in the
 * low nibble, an 18-bit signed offset in words from bit 6) whose target ((p & ~3) + 4 + 4 x offset, p
 * the old position of q) lies in the base. Reads buf[q, q + 3).
 */
function xtensaCallAt(buf: Uint8Array, q: number, p: number, oldSize: number): boolean {
  if ((buf[q]! & 0x0f) !== 5) return false;
  const t = xtensaCallTarget(buf, q, p);
  return t >= 0 && t < oldSize;
}

/** The target of the Xtensa CALLn at buf[q] (old position p): (p & ~3) + 4 + 4 x its 18-bit offset. */
export function xtensaCallTarget(buf: Uint8Array, q: number, p: number): number {
  return (p & ~3) + 4 + (((buf[q]! | (buf[q + 1]! << 8) | (buf[q + 2]! << 16)) << 8) >> 14) * 4;
}

/**
 * Xtensa calls (PRED.xtensa; ESP8266 and ESP32 code, instructions of 2 or 3 bytes at any byte) whose
 * caller and target moved by different amounts: the offset becomes ((target + shift) - ((caller +
 * shift) & ~3) - 4) / 4 when that is whole and fits. Instruction boundaries are unknown, so q counts
 * only when neither q + 1 nor q + 2 starts a call too (then counted windows never overlap); the scan
 * goes on after a counted window, whose rewrite no later decision reads. Decisions read 5 bytes from a
 * window on: FILTER_MARGIN bytes suffice.
 */
function mapXtensaCalls(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  for (let q = 0; q + 5 <= n; q++) {
    if ((buf[q]! & 0x0f) !== 5) continue;
    const p = pos0 + q;
    if (!xtensaCallAt(buf, q, p, oldSize) || xtensaCallAt(buf, q + 1, p + 1, oldSize) || xtensaCallAt(buf, q + 2, p + 2, oldSize)) continue;
    const w = buf[q]! | (buf[q + 1]! << 8) | (buf[q + 2]! << 16);
    const t = xtensaCallTarget(buf, q, p);
    const d = t + map.shift(t) - ((p + map.shiftSeq(p)) & ~3) - 4;
    if (d % 4 === 0 && d >= -(1 << 19) && d < 1 << 19) {
      const wn = (w & 0x3f) | ((d / 4) << 6);
      buf[q] = wn & 0xff;
      buf[q + 1] = (wn >>> 8) & 0xff;
      buf[q + 2] = (wn >>> 16) & 0xff;
    }
    q += 2; // q + 1 and q + 2 start no window
  }
}

/**
 * Bytes within which an Xtensa J or L32R target must lie to count (PRED.xtensaNear). Jumps stay inside
 * a function and literal pools sit just before their code, so real ones are near; a random byte
 * passes the opcode and this test about once in 1000 positions (J: 1/64 x 1/16; L32R: 1/16 x 1/64).
 * On SQLite for the ESP8266, 4096 for both gave 15,923 and 94,540 bytes of payload, 8192 for jumps
 * 15,708 and 94,377, 65536 for both 20,881 and 105,098 (without the near windows 17,227 and 96,977).
 */
export const XTENSA_NEAR_JUMP = 8192;
export const XTENSA_NEAR_LITERAL = 4096;

/** The Xtensa window kind at buf[q] (old position p): 1 a call, 2 a near J, 3 a near L32R, 0 none. Reads buf[q, q + 3). */
function xtensaKind(buf: Uint8Array, q: number, p: number, oldSize: number): number {
  const b0 = buf[q]!;
  const op = b0 & 0x0f;
  if (op === 5) return xtensaCallAt(buf, q, p, oldSize) ? 1 : 0;
  if (op === 1) {
    // L32R at, imm16: ((p + 3) & ~3) + 4 x (imm16 - 65536), a literal before the code
    const d = ((buf[q + 1]! | (buf[q + 2]! << 8)) - 65536) * 4;
    const t = ((p + 3) & ~3) + d;
    return d >= -XTENSA_NEAR_LITERAL && t >= 0 ? 3 : 0;
  }
  if ((b0 & 0x3f) === 0x06) {
    // J: p + 4 + an 18-bit signed byte offset from bit 6 (op0 6, n 0)
    const d = ((b0 | (buf[q + 1]! << 8) | (buf[q + 2]! << 16)) << 8) >> 14;
    const t = p + 4 + d;
    return d >= -XTENSA_NEAR_JUMP && d < XTENSA_NEAR_JUMP && t >= 0 && t < oldSize ? 2 : 0;
  }
  return 0;
}

/**
 * PRED.xtensa with PRED.xtensaNear: calls as in mapXtensaCalls, and near jumps and literal loads whose
 * caller and target moved by different amounts (J: offset (target + shift) - (caller + shift) - 4; L32R:
 * (literal + shift) - ((load + shift + 3) & ~3), whole words, still before the load). A window counts
 * only when neither of the next two bytes starts a window of any kind. Decisions read 5 bytes from a
 * window on: FILTER_MARGIN bytes suffice.
 */
function mapXtensaNear(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, n: number): void {
  for (let q = 0; q + 5 <= n; q++) {
    const op = buf[q]! & 0x0f;
    if (op !== 5 && op !== 1 && op !== 6) continue;
    const p = pos0 + q;
    const kind = xtensaKind(buf, q, p, oldSize);
    if (kind === 0 || xtensaKind(buf, q + 1, p + 1, oldSize) !== 0 || xtensaKind(buf, q + 2, p + 2, oldSize) !== 0) continue;
    const w = buf[q]! | (buf[q + 1]! << 8) | (buf[q + 2]! << 16);
    let wn = 0;
    let fits = false;
    if (kind === 1) {
      const t = xtensaCallTarget(buf, q, p);
      const d = t + map.shift(t) - ((p + map.shiftSeq(p)) & ~3) - 4;
      fits = d % 4 === 0 && d >= -(1 << 19) && d < 1 << 19;
      wn = (w & 0x3f) | ((d / 4) << 6);
    } else if (kind === 2) {
      const t = p + 4 + ((w << 8) >> 14);
      const d = t + map.shift(t) - (p + map.shiftSeq(p)) - 4;
      fits = d >= -(1 << 17) && d < 1 << 17;
      wn = (w & 0x3f) | ((d & 0x3ffff) << 6);
    } else {
      const t = ((p + 3) & ~3) + ((w >>> 8) - 65536) * 4;
      const d = t + map.shift(t) - ((p + map.shiftSeq(p) + 3) & ~3);
      fits = d % 4 === 0 && d < 0 && d >= -(1 << 18);
      wn = (w & 0xff) | ((d / 4 + 65536) << 8);
    }
    if (fits) {
      buf[q] = wn & 0xff;
      buf[q + 1] = (wn >>> 8) & 0xff;
      buf[q + 2] = (wn >>> 16) & 0xff;
    }
    q += 2; // q + 1 and q + 2 start no window
  }
}

/**
 * MIPS JAL (little-endian words, PRED.mipsCall): the target, (pc + 4) & 0xF0000000 | index x 4 in
 * memory at load address `base`, becomes target + shift(target - base) when it stays in the same
 * 256 MiB region. Decided from the word alone.
 */
function mapMipsCalls(buf: Uint8Array, pos0: number, map: AddressMap, oldSize: number, base: number, n: number): void {
  for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
    const b3 = buf[i + 3]!;
    if ((b3 & 0xfc) !== 0x0c) continue;
    const region = Math.floor((pos0 + i + base + 4) / 0x10000000) * 0x10000000;
    const t = region + (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | ((b3 & 3) << 24)) * 4;
    const x = t - base;
    if (x < 0 || x >= oldSize) continue;
    const tn = t + map.shift(x);
    if (tn < region || tn >= region + 0x10000000 || (tn & 3) !== 0) continue;
    const idx = (tn - region) / 4;
    buf[i] = idx & 0xff;
    buf[i + 1] = (idx >>> 8) & 0xff;
    buf[i + 2] = (idx >>> 16) & 0xff;
    buf[i + 3] = 0x0c | ((idx >>> 24) & 3);
  }
}
