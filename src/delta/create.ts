// createDelta: filters or reference prediction, matching and coding on the host. "auto" tries the
// branch filters and the reference predictors and keeps the smallest stream.

import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";
import { agreeing, buildChains, chainBits, ChainIndex, diffOps, extendMatches, fewEdits, hash4, lcp, OldIndex, shortCopyFill, WIDE_SWITCH_BONUS, type MatchIndex } from "./diff.js";
import { filterImage, FILTERS, type FilterName } from "./filters.js";
import { AddressMap, isPtr64, mapReferences, marginWindowBytes, PRED, withArmCallTargets, withCallTargets, withPointerTargets, xtensaCallTarget, type EhTables } from "./predict.js";
import { CODING_LANES, encodeHeader, encodeOps, MAP_SEGMENT_BYTES, mapMemorySegments, STREAM_MAGIC, type Op, type Prediction } from "./stream.js";
import { wasmAddressing } from "./wasm.js";
import { jalOffset } from "./wordmaps.js";
import { movtAfter, movwAddress } from "./movw.js";

export interface CreateOptions {
  /** "auto" (default) tries every filter and predictor and keeps the smallest patch. */
  filter?: FilterName | "auto";
  /** Filters tried by auto. */
  autoFilters?: FilterName[];
  /** Reference prediction flags to force (0 = none); default: auto tries them when filter is auto. */
  predict?: number;
  /** Most address-map segments. */
  maxMapSegments?: number;
  /** Coding flags to force (CODING_LANES or 0); default: chosen per stream (see SUBST_BOTH_BELOW). */
  coding?: number;
  /** The matcher's switch bonus (see DiffOptions), fixed: no second matching with WIDE_SWITCH_BONUS (tests, experiments). */
  switchBonus?: number;
  /** Called as each stage of the work starts (a person-readable step; long on big images). */
  onProgress?: (step: string) => void;
}

export interface RawDelta {
  patch: Uint8Array;
  filter: FilterName;
  /** Reference prediction flags used (see predict.ts). */
  predict: number;
  /** Decoder memory of the address map, in segments (MAP_SEGMENT_BYTES each): the segments the stream carries and the WebAssembly call runs (two to a segment). */
  mapSegments: number;
  /** Coding flags of the stream (CODING_LANES). */
  coding: number;
}

export const DEFAULT_AUTO_FILTERS: FilterName[] = ["none", "thumb", "arm", "arm64"];

export function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export function copiesOf(ops: readonly Op[]): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  let pos = 0;
  // indexed loops over operations (a for-of allocates an iterator result per element until compiled)
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.copyLen > 0 && op.hist === undefined) out.push([op.oldPos, pos, op.copyLen]);
    pos += op.copyLen + op.litLen;
  }
  return out;
}

/** The address map (and, for absolute pointers, the load address) of a prediction over `ops`. */
export function buildPrediction(old: Uint8Array, nw: Uint8Array, ops: readonly Op[], flags: number, maxSeg = 1024): Prediction {
  return predictionFromCopies(old, nw, copiesOf(ops), flags, maxSeg);
}

/** Words under this are small numbers, not pointers (a load address is higher: firmware's, or an executable's)... */
const SMALL_NUMBER_MAX = 0x100000;
/** ...except in an ELF image loaded at 0 (a shared library or PIE) where no load address fits the larger words: there pointers start past the headers. */
const SMALL_POINTER_MIN = 0x1000;
const ELF_DYN = 3;

/** Aligned 32-bit words of copies that changed: wo[i] in the old image, wn[i] in the new. */
interface ChangedWords {
  wo: Float64Array;
  wn: Float64Array;
  count: number;
}

/**
 * Up to `max` aligned 32-bit words that differ in copies (same top byte, not small numbers), in copy
 * order, spread evenly over all of them (an executable's code comes first and holds most changed
 * words; its pointers are further on). Typed arrays and plain loops: they run over most of the image.
 */
function changedWords(old: Uint8Array, nw: Uint8Array, copies: Array<[number, number, number]>, max: number, wide: boolean, least = SMALL_NUMBER_MAX): ChangedWords {
  let total = 0;
  for (let c = 0; c < copies.length; c++) {
    const cp = copies[c]!;
    if ((cp[0] - cp[1]) % (wide ? 8 : 4) === 0) total = changedWordsIn(old, nw, cp[0], cp[1], cp[2], null, null, total, Infinity, 1, wide, 0, least);
  }
  const stride = Math.max(1, Math.ceil(total / max));
  const wo = new Float64Array(max);
  const wn = new Float64Array(max);
  let count = 0;
  let seen = 0; // changed words before this copy
  for (let c = 0; c < copies.length && count < max; c++) {
    const cp = copies[c]!;
    if ((cp[0] - cp[1]) % (wide ? 8 : 4) !== 0) continue;
    const before = seen;
    seen = changedWordsIn(old, nw, cp[0], cp[1], cp[2], null, null, seen, Infinity, 1, wide, 0, least);
    count = changedWordsIn(old, nw, cp[0], cp[1], cp[2], wo, wn, count, max, stride, wide, before, least);
  }
  return { wo, wn, count };
}

/**
 * Counts (wos null) or collects the changed words of one copy: with `stride` > 1 only those whose
 * index among all changed words (counting on from `index0`) is a multiple of it. Returns the new
 * count (collected) or index (counted).
 */
function changedWordsIn(old: Uint8Array, nw: Uint8Array, o: number, n: number, len: number, wos: Float64Array | null, wns: Float64Array | null, count: number, max: number, stride: number, wide: boolean, index0 = 0, least = SMALL_NUMBER_MAX): number {
  let index = index0;
  const step = wide ? 8 : 4;
  for (let k = (step - (o & (step - 1))) & (step - 1); k + step <= len && count < max; k += step) {
    const a = o + k;
    const b = n + k;
    if (wide && (!isPtr64(old, a) || !isPtr64(nw, b))) continue;
    // the tests below on bytes first (same top byte, not a small number, not the same word): a 32-bit
    // value is a heap number until this loop is compiled, so few are made
    if (old[a + 3] !== nw[b + 3] || (old[a + 3] === 0 && ((old[a + 2]! << 16) | (old[a + 1]! << 8) | old[a]!) < least)) continue;
    if (old[a] === nw[b] && old[a + 1] === nw[b + 1] && old[a + 2] === nw[b + 2]) continue;
    if (wos === null) {
      count++;
      continue;
    }
    if (index++ % stride !== 0) continue;
    wos[count] = (old[a]! | (old[a + 1]! << 8) | (old[a + 2]! << 16) | (old[a + 3]! << 24)) >>> 0;
    wns![count] = (nw[b]! | (nw[b + 1]! << 8) | (nw[b + 2]! << 16) | (nw[b + 3]! << 24)) >>> 0;
    count++;
  }
  return count;
}

/** The addresses of MOVW/MOVT pairs (movtAfter) in copies that differ between old and new, at most `max`. */
function changedMovwPairs(old: Uint8Array, nw: Uint8Array, copies: Array<[number, number, number]>, max: number): ChangedWords {
  const wo = new Float64Array(max);
  const wn = new Float64Array(max);
  let count = 0;
  for (let c = 0; c < copies.length && count < max; c++) {
    const [o, n, len] = copies[c]!;
    if ((o - n) & 1) continue;
    for (let k = o & 1; k + 4 <= len && count < max; k += 2) {
      const a = o + k;
      const b = n + k;
      if (old[a + 1] !== 0xf2 && old[a + 1] !== 0xf6) continue;
      const g = movtAfter(old, a, Math.min(old.length, o + len));
      if (g === 0 || movtAfter(nw, b, Math.min(nw.length, n + len)) !== g) continue;
      const vo = movwAddress(old, a, g);
      const vn = movwAddress(nw, b, g);
      if (vo === vn) continue;
      wo[count] = vo;
      wn[count] = vn;
      count++;
    }
  }
  return { wo, wn, count };
}

/** Keeps load-address events positive (they lie within +-2^33). */
const EVENT_BIAS = 2 ** 34;

/** The same from copies (oldPos, newPos, len). */
export function predictionFromCopies(old: Uint8Array, nw: Uint8Array, copies: Array<[number, number, number]>, flags: number, maxSeg = 1024): Prediction {
  // the wider base window some maps need comes out of the map's budget (see mapMemorySegments)
  maxSeg = Math.max(0, maxSeg - Math.ceil((2 * marginWindowBytes(flags)) / MAP_SEGMENT_BYTES));
  let map = AddressMap.fromCopies(withPaddingInPlace(old, nw, copies), maxSeg);
  if (flags & PRED.thumb) map = withCallTargets(map, old, nw, copies, maxSeg);
  if (flags & PRED.armCall) map = withArmCallTargets(map, old, nw, copies, maxSeg);
  let base = 0;
  if (flags & PRED.abs32) {
    // sample changed aligned words in copies and pick the load address that predicts most of them
    let words = changedWords(old, nw, copies, 4000, (flags & PRED.ptr64) !== 0);
    base = loadAddress(map, words);
    if (predictedWords(map, old.length, words, base) < Math.max(8, words.count * 0.05) && elfType(old) === ELF_DYN) {
      // a shared library or PIE loaded at 0: its pointers are small numbers, which the sample skips; a
      // library under 1 MB has no others (taken only then: in larger ones the small words sampled as
      // well are mostly other numbers, and a load address they vote for maps the pointers wrongly)
      words = changedWords(old, nw, copies, 4000, (flags & PRED.ptr64) !== 0, SMALL_POINTER_MIN);
      base = loadAddress(map, words);
    }
    if (predictedWords(map, old.length, words, base) < Math.max(8, words.count * 0.05)) {
      // LLVM's Thumb code keeps few pointers in words: its MOVW/MOVT pairs tell the load address then
      const pairs = flags & PRED.thumbMovw ? changedMovwPairs(old, nw, copies, 4000) : null;
      const b2 = pairs ? loadAddress(map, pairs) : 0;
      if (pairs && predictedWords(map, old.length, pairs, b2) >= Math.max(8, pairs.count * 0.05)) base = b2;
      else flags &= ~PRED.abs32;
    }
  }
  if (flags & PRED.abs32) map = withPointerTargets(map, old, nw, copies, base, maxSeg, 2, (flags & PRED.ptr64) !== 0);
  else flags &= ~(PRED.ptr64 | PRED.extAbs | PRED.mipsCall | PRED.mipsAddr | PRED.power | PRED.x86abs | PRED.riscvAbs | PRED.thumbMovw); // (they need the load address)
  if (flags & PRED.extAbs) {
    const ext = extSegments(old, nw, copies, base, (flags & PRED.ptr64) !== 0, Math.min(EXT_MAX_SEGMENTS, maxSeg - map.length));
    if (ext.length > 0) map.ext = ext;
    else flags &= ~PRED.extAbs;
  }
  let eh: EhTables | undefined;
  if (flags & PRED.elfEh) {
    eh = elfEhTables(old);
    if (!eh) flags &= ~PRED.elfEh;
  }
  if (flags & PRED.wasmAddr) {
    // the call runs take decoder memory as the map's segments do (two runs a segment): within maxSeg
    const wasm = wasmAddressing(old, nw, (x) => map.shift(x), 2 * Math.max(0, maxSeg - map.length));
    if (wasm) return { flags, base, map, wasm };
    flags &= ~PRED.wasmAddr;
  }
  return { flags, base, map, ...(eh ? { eh } : {}) };
}

/**
 * Where a little-endian ELF image's unwind tables lie (.eh_frame_hdr and .eh_frame, and ARM's
 * .ARM.extab and .ARM.exidx, from its section headers), or undefined: not such an image, or it has no
 * such sections (a stripped image keeps its section headers; Go's executables have no .eh_frame,
 * Debian's armhf libraries no tables at all).
 */
export function elfEhTables(b: Uint8Array): EhTables | undefined {
  const cls = elfClass(b);
  if (cls === 0 || b[5] !== 1 || b.length < 0x40) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const wide = cls === 2;
  const num = (o: number, w: boolean): number => (w ? dv.getUint32(o, true) + dv.getUint32(o + 4, true) * 2 ** 32 : dv.getUint32(o, true));
  const shoff = num(wide ? 0x28 : 0x20, wide);
  const entsize = dv.getUint16(wide ? 0x3a : 0x2e, true);
  const shnum = dv.getUint16(wide ? 0x3c : 0x30, true);
  const strndx = dv.getUint16(wide ? 0x3e : 0x32, true);
  if (entsize < (wide ? 64 : 40) || strndx >= shnum || shoff + shnum * entsize > b.length) return undefined;
  const at = (i: number): { name: number; offset: number; size: number } => {
    const o = shoff + i * entsize;
    return { name: dv.getUint32(o, true), offset: num(o + (wide ? 0x18 : 0x10), wide), size: num(o + (wide ? 0x20 : 0x14), wide) };
  };
  const strtab = at(strndx);
  const nameOf = (i: number): string => {
    let s = "";
    for (let p = strtab.offset + at(i).name; p < b.length && p < strtab.offset + strtab.size && b[p] !== 0 && s.length < 32; p++) s += String.fromCharCode(b[p]!);
    return s;
  };
  const found = new Map<string, { offset: number; size: number }>();
  for (let i = 1; i < shnum; i++) {
    const sec = at(i);
    if (sec.offset + sec.size <= b.length && sec.size > 0) found.set(nameOf(i), sec);
  }
  const hdr = found.get(".eh_frame_hdr");
  const frame = found.get(".eh_frame");
  // ARM: .ARM.extab then .ARM.exidx, as one run when they are close (as linkers place them)
  const idx = found.get(".ARM.exidx");
  const tab = found.get(".ARM.extab");
  let arm = idx;
  if (idx && tab && tab.offset < idx.offset && idx.offset - (tab.offset + tab.size) < 64) arm = { offset: tab.offset, size: idx.offset + idx.size - tab.offset };
  const eh = { hdr: 0, hdrLen: 0, eh: 0, ehLen: 0, arm: 0, armLen: 0 };
  if (hdr && frame && hdr.size >= 12 && frame.size >= 16) Object.assign(eh, { hdr: hdr.offset, hdrLen: hdr.size, eh: frame.offset, ehLen: frame.size });
  if (arm && arm.size >= 8) Object.assign(eh, { arm: arm.offset, armLen: arm.size });
  return eh.hdrLen + eh.armLen > 0 ? eh : undefined;
}

/** Most segments for pointers past the image (PRED.extAbs). */
const EXT_MAX_SEGMENTS = 256;
/** Most candidate words read (a power of two; it also packs the sort keys). */
const EXT_MAX_CANDIDATES = 1 << 22;
/** Fewest different addresses among them (a code word that recurs is not a pointer to many globals). */
const EXT_MIN_DISTINCT = 4;
/** Fewest changed pointers a segment past the image must predict (a segment costs 6-8 bytes; each pointer it predicts saves 1-3). */
const EXT_MIN_POINTERS = 8;

/**
 * Segments for the pointers past the old image (PRED.extAbs; RAM addresses on a microcontroller):
 * the aligned words of the copies whose value lies past the image (w - base >= old.length, even:
 * odd ones were mostly pairs of Thumb instructions that changed alike), sorted by
 * that position; a run of them that all changed by the same non-zero amount, EXT_MIN_POINTERS or
 * more and with no other such word between them, becomes a segment with that shift. Words that did
 * not change split runs, so no segment moves them.
 */
function extSegments(old: Uint8Array, nw: Uint8Array, copies: Array<[number, number, number]>, base: number, wide: boolean, max: number): AddressMap {
  // candidates as typed arrays, then sorted by (position, index) packed in one double (position < 2^30,
  // index < 2^22): millions of words on a 9.5 MB executable
  let xs = new Int32Array(1024);
  let ds = new Int32Array(1024);
  let count = 0;
  for (let c = 0; c < copies.length && count < EXT_MAX_CANDIDATES; c++) {
    const cp = copies[c]!;
    const o = cp[0];
    const n = cp[1];
    const len = cp[2];
    for (let k = (4 - (o & 3)) & 3; k + 4 <= len; k += 4) {
      const a = o + k;
      if (wide && ((a & 7) !== 0 || k + 8 > len || !isPtr64(old, a) || !isPtr64(nw, n + k))) continue;
      const x = ((old[a]! | (old[a + 1]! << 8) | (old[a + 2]! << 16) | (old[a + 3]! << 24)) >>> 0) - base;
      if (x < old.length || x >= 0x3ffffff0 || x & 1) continue; // (the stream codes gaps below 2^30)
      const b = n + k;
      const wn = (nw[b]! | (nw[b + 1]! << 8) | (nw[b + 2]! << 16) | (nw[b + 3]! << 24)) >>> 0;
      if (count === xs.length) {
        const x2 = new Int32Array(count * 2);
        x2.set(xs);
        xs = x2;
        const d2 = new Int32Array(count * 2);
        d2.set(ds);
        ds = d2;
      }
      xs[count] = x;
      ds[count] = (wn - x - base) | 0;
      if (++count === EXT_MAX_CANDIDATES) break;
    }
  }
  const keys = new Float64Array(count);
  for (let i = 0; i < count; i++) keys[i] = xs[i]! * EXT_MAX_CANDIDATES + i;
  keys.sort();
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = keys[i]! % EXT_MAX_CANDIDATES;
  // and by shift among equal positions (a common constant can recur thousands of times)
  for (let i = 0; i < count; ) {
    let j = i + 1;
    while (j < count && xs[order[j]!] === xs[order[i]!]) j++;
    if (j - i > 1) order.subarray(i, j).sort((p, q) => ds[p]! - ds[q]!);
    i = j;
  }
  const runs: Array<[number, number, number, number]> = []; // start, end, shift, count
  for (let r = 0; r < count; ) {
    const d = ds[order[r]!]!;
    let e = r + 1;
    let distinct = 1;
    for (; e < count && ds[order[e]!] === d; e++) if (xs[order[e]!] !== xs[order[e - 1]!]) distinct++;
    // a position that also appears with another shift ends the run before it
    const alone = (e === count || xs[order[e]!] !== xs[order[e - 1]!]) && (r === 0 || xs[order[r - 1]!] !== xs[order[r]!]);
    if (d !== 0 && e - r >= EXT_MIN_POINTERS && distinct >= EXT_MIN_DISTINCT && alone) runs.push([xs[order[r]!]!, xs[order[e - 1]!]! + 1, d, e - r]);
    r = e;
  }
  const keep = runs.length <= max ? runs : [...runs].sort((p, q) => q[3] - p[3]).slice(0, Math.max(0, max)).sort((p, q) => p[0] - q[0]);
  return new AddressMap(Int32Array.from(keep, (k) => k[0]), Int32Array.from(keep, (k) => k[1]), Int32Array.from(keep, (k) => k[2]));
}

/** Shortest run of one repeated byte at an image's end that counts as padding. */
export const PADDING_MIN = 64;

/** Where the run of the last byte value that ends `b` starts. */
export function paddingStart(b: Uint8Array): number {
  let end = b.length;
  while (end > 0 && b[end - 1] === b[b.length - 1]) end--;
  return end;
}

/**
 * The copies as the map sees them when both images end in padding (a run of one repeated byte,
 * PADDING_MIN or longer): the padding matches at any displacement, so the copies' displacement
 * there says nothing; the padding both images hold is taken to stay where it is. (The Pybricks EV3
 * image has 326 references to addresses in its zero padding, unchanged between versions; its last
 * copy ran on into the padding with the code's displacement.)
 */
function withPaddingInPlace(old: Uint8Array, nw: Uint8Array, copies: Array<[number, number, number]>): Array<[number, number, number]> {
  const endNew = paddingStart(nw);
  const endOld = paddingStart(old);
  const from = Math.max(endNew, endOld);
  const to = Math.min(old.length, nw.length);
  if (to - from < PADDING_MIN || nw.length - endNew < PADDING_MIN || old[old.length - 1] !== nw[nw.length - 1]) return copies;
  const out: Array<[number, number, number]> = [];
  for (let c = 0; c < copies.length; c++) {
    const cp = copies[c]!;
    if (cp[1] + cp[2] <= endNew) out.push(cp);
    else if (cp[1] < endNew) out.push([cp[0], cp[1], endNew - cp[1]]);
  }
  out.push([from, from, to - from]);
  return out;
}

// The load-address search in small functions of plain loops: each is compiled on its own, early and
// cheaply (one large function with all of them was compiled four times in a cold run, at a cost of
// hundreds of milliseconds of compiler time).

/**
 * Each changed word allows the load addresses B with shift(wo - B) = wn - wo: one interval per
 * segment with that shift (shifts shared by more than 64 segments are skipped). The B covered by
 * the most intervals (the first such, 0 when none).
 */
function loadAddress(map: AddressMap, words: ChangedWords): number {
  const bySegShift = segmentsByShift(map);
  const events = intervalEvents(map, words, bySegShift);
  events.sort();
  return bestCovered(events);
}

function segmentsByShift(map: AddressMap): Map<number, number[]> {
  const bySegShift = new Map<number, number[]>();
  const shifts = map.shifts;
  for (let i = 0; i < shifts.length; i++) {
    const sh = shifts[i]!;
    let l = bySegShift.get(sh);
    if (!l) bySegShift.set(sh, (l = []));
    l.push(i);
  }
  return bySegShift;
}

/**
 * Interval ends as numbers (at + EVENT_BIAS) * 2 + (opens ? 1 : 0): a plain numeric sort orders them
 * by position, closing before opening. x = wo - B in [start, end), x & ~1 for Thumb function pointers.
 */
function intervalEvents(map: AddressMap, words: ChangedWords, bySegShift: Map<number, number[]>): Float64Array {
  const { wo, wn } = words;
  let count = 0;
  for (let p = 0; p < words.count; p++) {
    const segs = bySegShift.get(wn[p]! - wo[p]!);
    if (segs && segs.length <= 64) count += 2 * segs.length;
  }
  const events = new Float64Array(count);
  const starts = map.starts;
  const ends = map.ends;
  let e = 0;
  for (let p = 0; p < words.count; p++) {
    const w = wo[p]!;
    const segs = bySegShift.get(wn[p]! - w);
    if (!segs || segs.length > 64) continue;
    for (let s = 0; s < segs.length; s++) {
      const i = segs[s]!;
      events[e++] = (w - ends[i]! + 1 + EVENT_BIAS) * 2 + 1;
      events[e++] = (w - starts[i]! + 2 + EVENT_BIAS) * 2;
    }
  }
  return events;
}

function bestCovered(events: Float64Array): number {
  let cover = 0;
  let bestScore = 0;
  let base = 0;
  for (let j = 0; j < events.length; j++) {
    const v = events[j]!;
    const opens = v % 2 === 1;
    cover += opens ? 1 : -1;
    if (opens && cover > bestScore) {
      bestScore = cover;
      base = Math.max(0, (v - 1) / 2 - EVENT_BIAS);
    }
  }
  return base;
}

/** How many of the changed words the map predicts exactly with load address `base`. */
function predictedWords(map: AddressMap, oldSize: number, words: ChangedWords, base: number): number {
  const { wo, wn } = words;
  let exact = 0;
  for (let p = 0; p < words.count; p++) {
    const x = wo[p]! - base;
    if (x >= 0 && x < oldSize && ((wo[p]! + map.shift(x & ~1)) >>> 0) === wn[p]!) exact++;
  }
  return exact;
}

function assemble(filterId: number, newSize: number, oldSize: number, body: Uint8Array, pred: Prediction | undefined, coding: number): Uint8Array {
  const head = encodeHeader(STREAM_MAGIC, filterId, newSize, oldSize, undefined, pred, coding);
  const patch = new Uint8Array(head.length + body.length);
  patch.set(head);
  patch.set(body, head.length);
  return patch;
}

/**
 * Patches up to this size are also coded without predicted difference bytes (CODING_LANES), and the
 * smaller kept: with few differences the table rarely hits, and its bit costs a few bytes (on the
 * corpus: up to 30 bytes, below 5 KB); larger patches gain 0.5-10% with it.
 */
const SUBST_BOTH_BELOW = 16 * 1024;

/** The patch of `ops` (header included) and its coding flags: see SUBST_BOTH_BELOW. */
function codeStream(ops: readonly Op[], base: Uint8Array, newF: Uint8Array, pred: Prediction | undefined, id: number, oldSize: number, force?: number): { patch: Uint8Array; coding: number } {
  const first = force ?? CODING_LANES;
  const a = assemble(id, newF.length, oldSize, encodeOps(ops, base, newF, pred, id, first), pred, first);
  if (force !== undefined || a.length > SUBST_BOTH_BELOW) return { patch: a, coding: first };
  const b = assemble(id, newF.length, oldSize, encodeOps(ops, base, newF, pred, id, 0), pred, 0);
  return b.length < a.length ? { patch: b, coding: 0 } : { patch: a, coding: CODING_LANES };
}

/**
 * Share of positions where the new image has the branch patterns of each architecture; for 32-bit
 * ARM also the share of words with condition "always" (most ARM instructions; few Thumb halfwords).
 */
export function archHints(img: Uint8Array): ArchHints {
  const counts = new Float64Array(15);
  countBranchPatterns(img, counts);
  const n = Math.max(1, img.length / 4);
  return {
    thumb: counts[0]! / n,
    arm64: counts[1]! / n,
    arm: counts[2]! / n,
    armAlways: counts[3]! / n,
    x86: counts[4]! / n,
    mips: counts[5]! / n,
    s390: counts[6]! / n,
    riscv: counts[7]! / n,
    loong: counts[8]! / n,
    power: counts[9]! / n,
    riscvOdd: counts[10]! / n,
    riscvCalls: counts[11]! / n,
    riscvCallsOdd: counts[12]! / n,
    xtensa: counts[13]! / n,
    movw: counts[14]! / n,
  };
}

interface ArchHints {
  thumb: number;
  arm64: number;
  arm: number;
  armAlways: number;
  x86: number;
  /** MIPS (little-endian) function returns, JR RA. */
  mips: number;
  /** s390x BRASL (call relative long) to a place in the image. */
  s390: number;
  /** RISC-V AUIPC followed by ADDI from the same register, on words. */
  riscv: number;
  /** The same on the halfwords between (compressed code). */
  riscvOdd: number;
  /** RISC-V JAL ra to a place in the image, on words and between them. */
  riscvCalls: number;
  riscvCallsOdd: number;
  /** Xtensa calls to a function entry (see xtensaEntryCall). */
  xtensa: number;
  /** Thumb-2 MOVW followed by the MOVT of the same register (see movtAfter). */
  movw: number;
  /** LoongArch PCALAU12I followed by ADDI.D from the same register. */
  loong: number;
  /** POWER (little-endian) LIS followed by ADDI from the same register. */
  power: number;
}

/**
 * Whether hints look like MIPS (little-endian) or s390x code: measured on esbuild's mips64el build (JR
 * RA 0.0058 per 4 bytes) and s390x build (BRASL into the image 0.027); every other image tried: 0.0001
 * at most.
 */
const isMipsCode = (h: ArchHints): boolean => h.mips > 0.001;
const isS390Code = (h: ArchHints): boolean => h.s390 > 0.005;

/**
 * Whether hints look like RISC-V, LoongArch or POWER (little-endian) code: address pairs (high part, then
 * ADDI of the low part from the same register) per 4 bytes in esbuild's builds: RISC-V 0.018, LoongArch
 * 0.017, POWER 0.023; every other image tried (Thumb, ARM, AArch64, x86, MIPS, s390x, WebAssembly): 0.0000.
 */
const PAIR_SHARE_MIN = 0.002;
/**
 * RISC-V code is also found by its calls, JAL ra into the image (firmware built for RV32 addresses
 * its data with LUI, not AUIPC: SQLite for RV32IMAC 0.082 per 4 bytes, 0.0001 AUIPC pairs); by chance
 * other images have 0.0001 at most (esbuild for nine architectures, Pybricks, WebAssembly, rollup).
 */
const RISCV_CALL_SHARE_MIN = 0.01;
const isRiscVCode = (h: ArchHints): boolean => h.riscv > PAIR_SHARE_MIN || h.riscvCalls + h.riscvCallsOdd > RISCV_CALL_SHARE_MIN;
/** Share of RISC-V address pairs and calls between words, against those on words, above which code is taken for compressed. */
const RISCV_COMPRESSED_MIN = 0.25;
const isLoongCode = (h: ArchHints): boolean => h.loong > PAIR_SHARE_MIN;
const isPowerCode = (h: ArchHints): boolean => h.power > PAIR_SHARE_MIN;

/** 1 when img[i] is an Xtensa CALLn whose target starts a function (ADDI a1, a1, -N or ENTRY a1, N), else 0. */
function xtensaEntryCall(img: Uint8Array, i: number): number {
  if (i + 3 > img.length) return 0;
  const t = xtensaCallTarget(img, i, i);
  if (t < 0 || t + 2 > img.length) return 0;
  return (img[t] === 0x12 && img[t + 1] === 0xc1) || (img[t] === 0x36 && (img[t + 1]! & 0x0f) === 1) ? 1 : 0;
}

/**
 * Xtensa code (ESP8266, ESP32) calls function entries: SQLite built for the ESP8266 0.063 per 4 bytes,
 * every other image tried 0.0001 at most.
 */
const XTENSA_SHARE_MIN = 0.005;
const isXtensaCode = (h: ArchHints): boolean => h.xtensa > XTENSA_SHARE_MIN;

/**
 * Whether hints look like x86 code (32 or 64-bit): CALL rel32 (E8) to a place in the image far above
 * chance (esbuild x86-64 0.030 per 4 bytes, x86 0.037, rollup's x86-64 module 0.040; the Thumb, ARM,
 * AArch64, RISC-V, MIPS, LoongArch, POWER, s390x and WebAssembly images tried: 0.001 at most).
 */
const isX86Code = (h: ArchHints): boolean => h.x86 > 0.01;

/**
 * Shares of Thumb BL-like halfword pairs and of AArch64 BL words above which an image is taken for
 * that code. Thumb firmware: 0.086 and more; AArch64 executables 0.028 and more. By chance, other code
 * reaches 0.004 (RISC-V: it had been coded as Thumb, 1.53 x bsdiff) and 0.008 (x86).
 */
export const THUMB_SHARE_MIN = 0.03;
export const ARM64_SHARE_MIN = 0.015;

/** Whether hints look like 32-bit ARM code (BL words and "always" conditions far above chance; measured on Pybricks EV3 and esbuild). */
const isArmCode = (h: { arm: number; armAlways: number }): boolean => h.arm > 0.02 && h.armAlways > 0.2;

/**
 * counts[0] += Thumb BL-like halfword pairs, counts[1] += AArch64 BL words, counts[2] += ARM BL words,
 * counts[3] += ARM words with condition "always". Nothing follows the loop: compiled on stack during
 * its first run, code after it would have no type feedback yet and deoptimise (it did, on every call).
 */
function countBranchPatterns(img: Uint8Array, counts: Float64Array): void {
  for (let i = 0; i + 4 <= img.length; i += 2) {
    const b3 = img[i + 3]!;
    const b1 = img[i + 1]!;
    if ((b1 & 0xf8) === 0xf0 && (b3 & 0xf8) === 0xf8) counts[0]!++;
    // x86: E8 (CALL rel32) whose target lies in the image, at either byte of the halfword
    if (img[i] === 0xe8 && i + 5 <= img.length) {
      const t = i + 5 + (b1 | (img[i + 2]! << 8) | (b3 << 16) | (img[i + 4]! << 24));
      if (t >= 0 && t < img.length) counts[4]!++;
    }
    if (b1 === 0xe8 && i + 6 <= img.length) {
      const t = i + 6 + (img[i + 2]! | (b3 << 8) | (img[i + 4]! << 16) | (img[i + 5]! << 24));
      if (t >= 0 && t < img.length) counts[4]!++;
    }
    // s390x: BRASL (C0 x5, then a big-endian offset in halfwords) to a place in the image
    if (img[i] === 0xc0 && (b1 & 15) === 5 && i + 6 <= img.length) {
      const t = i + 2 * ((img[i + 2]! << 24) | (b3 << 16) | (img[i + 4]! << 8) | img[i + 5]!);
      if (t >= 0 && t < img.length) counts[6]!++;
    }
    // RISC-V AUIPC, ADDI: on words, or (compressed code) on the other halfwords too
    if ((img[i]! & 0x7f) === 0x17 && i + 8 <= img.length && (img[i + 4]! & 0x7f) === 0x13) {
      const w = img[i]! | (b1 << 8);
      const w2 = img[i + 4]! | (img[i + 5]! << 8) | (img[i + 6]! << 16);
      if ((w2 & 0x7000) === 0 && ((w >>> 7) & 31) === ((w2 >>> 15) & 31)) counts[(i & 3) === 0 ? 7 : 10]!++;
    }
    // Thumb-2 MOVW/MOVT address pairs (LLVM's)
    if ((b1 === 0xf2 || b1 === 0xf6) && movtAfter(img, i, img.length) !== 0) counts[14]!++;
    // Xtensa CALLn (low nibble 5, at any byte) to a function entry: ADDI a1, a1, -N (CALL0 ABI) or ENTRY a1
    if ((img[i]! & 0x0f) === 5) counts[13]! += xtensaEntryCall(img, i);
    if ((b1 & 0x0f) === 5) counts[13]! += xtensaEntryCall(img, i + 1);
    // RISC-V JAL ra (its low 12 bits 0x0ef) to a place in the image, the same way
    if (img[i] === 0xef && (b1 & 0x0f) === 0) {
      const t = i + jalOffset(0xef | (b1 << 8) | (img[i + 2]! << 16) | (b3 << 24));
      if (t >= 0 && t < img.length) counts[(i & 3) === 0 ? 11 : 12]!++;
    }
    if ((i & 3) === 0) {
      if (b3 === 0x03 && img[i]! === 0x08 && b1 === 0 && img[i + 2] === 0xe0) counts[5]!++; // JR RA
      // address pairs: an instruction setting the high part of rd, then an add of the low part to rd
      if (b3 >>> 1 === 0x0d && i + 8 <= img.length && img[i + 7] === 0x02 && (img[i + 6]! & 0xc0) === 0xc0) {
        if ((img[i]! & 31) === (((img[i + 4]! >>> 5) | (img[i + 5]! << 3)) & 31)) counts[8]!++; // PCALAU12I, ADDI.D
      }
      if (b3 >>> 2 === 15 && (img[i + 2]! & 31) === 0 && i + 8 <= img.length && img[i + 7]! >>> 2 === 14) {
        if ((((b3 & 3) << 3) | (img[i + 2]! >>> 5)) === (img[i + 6]! & 31)) counts[9]!++; // LIS, ADDI
      }
      if ((b3 & 0xfc) === 0x94) counts[1]!++;
      if (b3 >= 0xe0 && b3 <= 0xef) {
        counts[3]!++;
        if (b3 === 0xeb) counts[2]!++;
      }
    }
  }
}

/** Shortest copy of the second pass that shapes the refined address map (tuned on the corpus). */
const REFINED_MAP_MIN_COPY = 24;
/** Bytes hashed per position by the first-pass matcher. */
const GRAM = 4;
/** Candidates the first-pass matcher tries per position (most recent first). */
const CHAIN_DEPTH = 8;
/** A match this long on the current alignment is taken without looking elsewhere. */
const LONG_MATCH = 8;
/** Bytes after equally long matches compared to choose between them. */
const TIE_WINDOW = 16;

function agreement(old: Uint8Array, x: number, nw: Uint8Array, y: number, from: number): number {
  const lim = Math.min(old.length - x, nw.length - y, from + TIE_WINDOW);
  let t = 0;
  for (let i = from; i < lim; i++) if (old[x + i] === nw[y + i]) t++;
  return t;
}

/**
 * Longest match of nw[scan..] in old, 4 bytes or more (out = [position, length]; length 0: none): the
 * current alignment c0 first, then up to CHAIN_DEPTH hash-chain candidates unless c0 already gives
 * LONG_MATCH bytes; between equally long matches the one agreeing with more of the bytes after them.
 */
function chainSearch(old: Uint8Array, nw: Uint8Array, scan: number, c0: number, head: Int32Array, prev: Int32Array, shift: number, out: Int32Array): void {
  const n = old.length;
  let len = 0;
  let pos = -1;
  if (c0 >= 0 && c0 < n) {
    const k = lcp(old, c0, nw, scan, 0);
    if (k >= GRAM) {
      len = k;
      pos = c0;
    }
  }
  let tail = -1;
  for (let c = len >= LONG_MATCH ? -1 : head[hash4(nw, scan, shift)]! - 1, d = 0; c >= 0 && d < CHAIN_DEPTH; c = prev[c]! - 1, d++) {
    if (len > 0 && (c + len > n || old[c + len - 1] !== nw[scan + len - 1])) continue;
    const k = lcp(old, c, nw, scan, 0);
    if (k < GRAM || k < len || c === pos) continue;
    if (k === len) {
      if (tail < 0) tail = agreement(old, pos, nw, scan, len);
      const t = agreement(old, c, nw, scan, k);
      if (t <= tail) continue;
      tail = t;
    } else tail = -1;
    len = k;
    pos = c;
  }
  out[0] = pos;
  out[1] = len;
}

/**
 * First-pass copies (oldPos, newPos, len) for the address map, without a suffix array: the bsdiff
 * scan (keep the current alignment until a match elsewhere beats it by `bonus` bytes; grow copies
 * while at least half their bytes agree) with its longest-match search replaced by hash chains over
 * 4-byte strings (CHAIN_DEPTH candidates; the current alignment first; between equally long matches
 * the one agreeing with more of the bytes after them, as neighbouring suffixes would).
 */
export function firstPassCopies(old: Uint8Array, nw: Uint8Array, bonus = 5): Array<[number, number, number]> {
  const n = old.length;
  const m = nw.length;
  const out: Array<[number, number, number]> = [];
  if (n < GRAM || m < GRAM) return out;
  const bits = chainBits(n);
  const shift = 32 - bits;
  const head = new Int32Array(1 << bits);
  const prev = new Int32Array(n);
  buildChains(old, head, prev, shift);
  const res = new Int32Array(2);
  const ext = new Int32Array(2);
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < m) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < m; scan++) {
      len = 0;
      if (scan + GRAM <= m) {
        chainSearch(old, nw, scan, scan + lastOffset, head, prev, shift, res);
        len = res[1]!;
        if (len > 0) pos = res[0]!;
      }
      if (scsc < scan + len) {
        oldScore += agreeing(old, nw, scsc, scan + len, lastOffset);
        scsc = scan + len;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + bonus) break;
      const q = scan + lastOffset;
      if (q >= 0 && q < n && old[q] === nw[scan]) oldScore--;
    }
    if (len !== oldScore || scan === m) {
      // grow the previous match forwards and this one backwards while half their bytes agree
      extendMatches(old, nw, lastScan, lastPos, scan, pos, ext);
      const lenf = ext[0]!;
      const lenb = ext[1]!;
      if (lenf > 0) out.push([lastPos, lastScan, lenf]);
      lastScan = scan - lenb;
      lastPos = pos - lenb;
      lastOffset = pos - scan;
    }
  }
  return out;
}

/** The base as the decoder sees it: filtered, then references mapped. */
export function mappedBase(oldF: Uint8Array, pred: Prediction, barrier = 0): Uint8Array {
  const out = new Uint8Array(oldF);
  mapReferences(pred.flags, out, 0, pred.map, oldF.length, pred.base, barrier, out.length, pred.wasm, pred.eh);
  return out;
}

/** An ELF image's class (1: 32-bit, 2: 64-bit), 0 for anything else. */
/** The type of a little-endian ELF image (e_type; 3: a shared object or PIE), else 0. */
const elfType = (b: Uint8Array): number => (elfClass(b) !== 0 && b.length >= 20 && b[5] === 1 ? b[16]! | (b[17]! << 8) : 0);

/** The machine of a little-endian ELF image (e_machine; 40: ARM), else 0. */
const elfMachine = (b: Uint8Array): number => (elfClass(b) !== 0 && b.length >= 20 && b[5] === 1 ? b[18]! | (b[19]! << 8) : 0);

/**
 * ARM ELF images (EM_ARM) whose Thumb BL share is over this are taken for Thumb code: Debian's armhf
 * shared libraries (Thumb-2) have 0.012 (libcrypto) and 0.022 (libssl), under THUMB_SHARE_MIN, for
 * their data and their calls through ARM-mode PLT stubs; they had been coded unfiltered at 0.91 and
 * 1.01 x bsdiff (0.57 with the Thumb filter). Other images reach 0.008 by chance.
 */
const THUMB_ELF_SHARE_MIN = 0.005;
const ELF_ARM = 40;

const elfClass = (b: Uint8Array): number => (b.length >= 5 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46 && (b[4] === 1 || b[4] === 2) ? b[4] : 0);

/** Whether an image is a 32-bit ELF (class 1) or PE (optional header magic 0x10b) executable. */
export function is32BitExecutable(b: Uint8Array): boolean {
  if (b.length >= 5 && b[0] === 0x7f && b[1] === 0x45 && b[2] === 0x4c && b[3] === 0x46) return b[4] === 1;
  if (b.length < 0x40 || b[0] !== 0x4d || b[1] !== 0x5a) return false;
  const pe = b[0x3c]! | (b[0x3d]! << 8) | (b[0x3e]! << 16);
  return pe + 26 <= b.length && b[pe] === 0x50 && b[pe + 1] === 0x45 && b[pe + 2] === 0 && b[pe + 3] === 0 && b[pe + 24] === 0x0b && b[pe + 25] === 0x01;
}

/** Whether an image is a WebAssembly module (its magic and version 1). */
const isWasm = (b: Uint8Array): boolean => b.length >= 8 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d && b[4] === 1;

/**
 * Thumb code with MOVW/MOVT address pairs (clang's Cortex-M SQLite 0.019 per 4 bytes; GCC's and
 * Pybricks 0.0000): the variant with their map too.
 */
const MOVW_SHARE_MIN = 0.001;

/** Reference-map flags worth trying with a filter (`hints`: of the new image, for the variants only some code needs). */
export function mapFlagsFor(filter: FilterName, hints?: ArchHints): number[] {
  const X = PRED.extAbs;
  if (filter === "thumb") {
    const all = PRED.thumb | PRED.abs32 | X | PRED.thumbLdr | PRED.thumbRel;
    const movw = hints && hints.movw > MOVW_SHARE_MIN ? [all | PRED.thumbMovw] : [];
    return [...movw, all, PRED.thumb | PRED.abs32 | X | PRED.thumbLdr, PRED.thumb | PRED.abs32 | X];
  }
  if (filter === "arm64" || filter === "arm64-branch") return [PRED.arm64 | PRED.abs32, PRED.arm64];
  if (filter === "arm") return [PRED.armCall | PRED.abs32 | X, PRED.armCall | PRED.armRel | PRED.abs32 | X, PRED.armCall, PRED.abs32 | X];
  return [PRED.abs32];
}

/**
 * With a base that is an ELF image with unwind tables: every set of flags also with PRED.elfEh (the
 * tables' words change wherever code moved: 14-22% of the patch of Debian's libssl and libcurl
 * updates), and the first set without it too (the variants' copies then tell which maps less wrongly).
 */
function withUnwindTables(list: number[], old: Uint8Array): number[] {
  if (list.length === 0 || !elfEhTables(old)) return list;
  const can = (f: number): boolean => (f & (PRED.wasmAddr | PRED.s390rel)) === 0;
  return [...list.map((f) => (can(f) ? f | PRED.elfEh : f)), list[0]!];
}

/** Reference-map flags for an unfiltered stream of an architecture's code. */
function rawFlagsFor(hints: ArchHints, wasm: boolean, img: Uint8Array): number[] {
  const elf = elfClass(img);
  const is32Bit = is32BitExecutable(img);
  // WebAssembly: addresses of the data (the first pass keeps the flag only when both modules have data)
  if (wasm) return [PRED.wasmAddr];
  if (isS390Code(hints)) return [PRED.s390rel];
  if (isMipsCode(hints)) return [PRED.mipsCall | PRED.mipsAddr | PRED.abs32 | PRED.ptr64, PRED.mipsCall | PRED.abs32 | PRED.ptr64, PRED.mipsCall | PRED.abs32, PRED.abs32 | PRED.ptr64];
  if (isXtensaCode(hints)) {
    const near = PRED.xtensa | PRED.xtensaNear;
    return [near | PRED.abs32, PRED.xtensa | PRED.abs32, near, PRED.xtensa, PRED.abs32];
  }
  if (isRiscVCode(hints)) {
    // compressed code: its 32-bit instructions fall on either halfword of a word alike (Debian's u-boot
    // for RV64GC: 0.0160 and 0.0155 per 4 bytes); Go's code: none between words
    const c = hints.riscvOdd + hints.riscvCallsOdd > (hints.riscv + hints.riscvCalls) * RISCV_COMPRESSED_MIN ? PRED.riscvC : 0;
    // 64-bit pointers (RV64), else 32-bit ones and addresses built by LUI (RV32 firmware); an ELF
    // header tells which (a 10 MB RV64 executable then spends no time on RV32 variants)
    const rv64 = [PRED.riscv | c | PRED.abs32 | PRED.ptr64, PRED.riscv | c];
    const rv32 = [PRED.riscv | c | PRED.riscvAbs | PRED.abs32, PRED.riscv | c | PRED.abs32, PRED.riscv | c];
    return elf === 2 ? rv64 : elf === 1 ? rv32 : [rv64[0]!, ...rv32];
  }
  if (isLoongCode(hints)) return [PRED.loong | PRED.abs32 | PRED.ptr64, PRED.loong];
  if (isPowerCode(hints)) return [PRED.power | PRED.abs32 | PRED.ptr64, PRED.abs32 | PRED.ptr64];
  if (isX86Code(hints)) {
    // 32-bit code: its ModRM 00.reg.101 operands are absolute addresses
    if (is32Bit) return [PRED.x86rel | PRED.x86abs | PRED.abs32, PRED.x86rel | PRED.abs32, PRED.x86rel];
    return [PRED.x86rel | PRED.abs32 | PRED.ptr64, PRED.x86rel | PRED.abs32, PRED.x86rel, PRED.abs32 | PRED.ptr64];
  }
  if (hints.arm64 > ARM64_SHARE_MIN && hints.arm64 > hints.thumb) return [PRED.arm64rel | PRED.arm64page | PRED.abs32 | PRED.ptr64, PRED.arm64rel | PRED.arm64page | PRED.abs32, PRED.arm64rel | PRED.arm64page, PRED.arm64rel | PRED.abs32, PRED.arm64rel];
  // code of another architecture, or data: pointers, 64-bit ones first (on 64-bit code, 32-bit words
  // taken for pointers cost more than they gain: RISC-V 1.6x the patch with them)
  return [PRED.abs32 | PRED.ptr64, PRED.abs32];
}

/**
 * Matching with reference mapping: a cheap first pass (hash chains, see firstPassCopies) gives the
 * address map; the base is mapped and matched with a suffix array (moved references now match); the
 * map is refined from that pass. Returns the best stream found for this filter.
 */
function tryFilter(
  name: FilterName,
  oldImage: Uint8Array,
  newImage: Uint8Array,
  flagsList: number[],
  maxSeg: number,
  consider: (p: { patch: Uint8Array; coding: number }, f: FilterName, flags: number, mapSegments: number) => void,
  progress: (step: string) => void = () => {},
  coding?: number,
  bonus?: number,
): void {
  // one bonus when given; else the default, then WIDE_SWITCH_BONUS where the first matching filled new content with short copies
  const wide = (ops: readonly Op[]): boolean => bonus === undefined && shortCopyFill(ops, newImage.length);
  const b0 = bonus === undefined ? {} : { switchBonus: bonus };
  const id = FILTERS[name];
  progress(`filter ${name}: first pass`);
  const oldF = id === FILTERS.none ? oldImage : filterImage(id, oldImage);
  const newF = id === FILTERS.none ? newImage : filterImage(id, newImage);
  const first = flagsList.length === 0 ? undefined : firstPassCopies(oldF, newF);
  const pred1 = first === undefined ? undefined : predictionFromCopies(oldF, newF, first, flagsList[0]!, maxSeg);
  // a few local edits: hash chains find the same copies as a suffix array, at a fraction of its cost
  const few = first !== undefined && fewEdits(first, newF.length);
  const indexOf = (base: Uint8Array): MatchIndex => (few ? new ChainIndex(base) : new OldIndex(base));
  // the plain stream only when there is no mapping to try (it wins by a few bytes at most otherwise)
  if (!pred1 || pred1.flags === 0) {
    progress(`filter ${name}: matching`);
    const index1 = indexOf(oldF);
    const ops1 = diffOps(index1, newF, { history: true, ...b0 });
    consider(codeStream(ops1, oldF, newF, undefined, id, oldImage.length, coding), name, 0, 0);
    if (wide(ops1)) {
      progress(`filter ${name}: matching again, fewer short copies`);
      const opsW = diffOps(index1, newF, { history: true, switchBonus: WIDE_SWITCH_BONUS });
      consider(codeStream(opsW, oldF, newF, undefined, id, oldImage.length, coding), name, 0, 0);
    }
    return;
  }
  const oldM = mappedBase(oldF, pred1);
  progress(`filter ${name}: matching against the mapped base`);
  const indexM = indexOf(oldM);
  const predicted = (y: number): number => -pred1.map.shiftAtNew(y);
  const ops2 = diffOps(indexM, newF, { history: true, predicted, ...b0 });
  // the refined map depends on the copies and on the Thumb and pointer flags only: one refinement
  // serves the flag sets that share them. Short copies are left out: their displacements are often
  // chance matches, and a segment costs bytes in the stream
  const copies2 = copiesOf(ops2).filter((c) => c[2] >= REFINED_MAP_MIN_COPY);
  const refinedBy = new Map<number, Prediction>();
  const seen = new Set<number>();
  const variants: Array<{ pred: Prediction; base: Uint8Array; mismatches: number }> = [];
  for (const f of flagsList) {
    // (the flags refinement may drop: pointers, and what needs them or needs the images' own data)
    const dropped = PRED.abs32 | PRED.ptr64 | PRED.extAbs | PRED.mipsCall | PRED.mipsAddr | PRED.power | PRED.x86abs | PRED.riscvAbs | PRED.thumbMovw | PRED.wasmAddr | PRED.elfEh;
    const key = f & (PRED.thumb | PRED.armCall | dropped);
    let r = refinedBy.get(key);
    if (!r) refinedBy.set(key, (r = predictionFromCopies(oldF, newF, copies2, f, maxSeg)));
    const flags = (f & ~dropped) | (r.flags & dropped);
    if (flags === 0 || seen.has(flags)) continue;
    seen.add(flags);
    const pred: Prediction = { flags, base: flags & PRED.abs32 ? r.base : 0, map: r.map, ...(r.wasm ? { wasm: r.wasm } : {}), ...(r.eh ? { eh: r.eh } : {}) };
    const base = mappedBase(oldF, pred);
    variants.push({ pred, base, mismatches: copyMismatches(ops2, base, newF) });
  }
  // the variants share the operations and the map and differ in how the base is mapped: the one whose
  // copies differ in the fewest bytes codes smallest (checked on the corpus), so only those close to
  // the fewest are encoded
  const fewest = Math.min(...variants.map((v) => v.mismatches));
  progress(`filter ${name}: coding`);
  // the first map costs more segments; on the corpus it won only where its copies mismatched less
  if (variants.length === 0 || copyMismatches(ops2, oldM, newF) < fewest) {
    consider(codeStream(ops2, oldM, newF, pred1, id, oldImage.length, coding), name, pred1.flags, mapMemorySegments(pred1));
  }
  for (const { pred, base, mismatches } of variants) {
    if (mismatches > fewest + Math.max(2, fewest * 0.005)) continue;
    consider(codeStream(ops2, base, newF, pred, id, oldImage.length, coding), name, pred.flags, mapMemorySegments(pred));
    // segments past the image cost bytes the copies' mismatches do not show: the stream without them too
    if (pred.flags & PRED.extAbs) {
      const twin: Prediction = { ...pred, flags: pred.flags & ~PRED.extAbs };
      consider(codeStream(ops2, mappedBase(oldF, twin), newF, twin, id, oldImage.length, coding), name, twin.flags, mapMemorySegments(twin));
    }
  }
  if (wide(ops2)) {
    // the second matching (see WIDE_SWITCH_BONUS), coded with the mapping its copies differ least from
    progress(`filter ${name}: matching again, fewer short copies`);
    const opsW = diffOps(indexM, newF, { history: true, predicted, switchBonus: WIDE_SWITCH_BONUS });
    let pick = { pred: pred1, base: oldM, mismatches: copyMismatches(opsW, oldM, newF) };
    for (const v of variants) {
      const mm = copyMismatches(opsW, v.base, newF);
      if (mm < pick.mismatches) pick = { pred: v.pred, base: v.base, mismatches: mm };
    }
    consider(codeStream(opsW, pick.base, newF, pick.pred, id, oldImage.length, coding), name, pick.pred.flags, mapMemorySegments(pick.pred));
  }
}

/** Bytes of the (non-history) copies of `ops` that differ between `base` and `nw`. */
export function copyMismatches(ops: readonly Op[], base: Uint8Array, nw: Uint8Array): number {
  let mismatches = 0;
  let pos = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.hist === undefined && op.copyLen > 0) mismatches += op.copyLen - agreeing(base, nw, pos, pos + op.copyLen, op.oldPos - pos);
    pos += op.copyLen + op.litLen;
  }
  return mismatches;
}

export function createRawDelta(oldImage: Uint8Array, newImage: Uint8Array, opts: CreateOptions = {}): RawDelta {
  const want = opts.filter ?? "auto";
  if (want !== "auto" && !(want in FILTERS)) throw new UsageError("bad-argument", `unknown filter "${want}"; use one of ${Object.keys(FILTERS).join(", ")} or auto`);
  const maxSeg = opts.maxMapSegments ?? Math.min(16384, Math.max(1024, Math.ceil(newImage.length / 1024)));
  let best: RawDelta | undefined;
  const consider = ({ patch, coding }: { patch: Uint8Array; coding: number }, filter: FilterName, flags: number, mapSegments: number): void => {
    if (!best || patch.length < best.patch.length) best = { patch, filter, predict: flags, mapSegments, coding };
  };
  if (want !== "auto") {
    // "none" is also what auto picks for AArch64 code: the same relative mapping then
    const flags = opts.predict === undefined ? withUnwindTables(want === "none" ? rawFlagsFor(archHints(newImage), isWasm(newImage), newImage) : mapFlagsFor(want, archHints(newImage)), oldImage) : opts.predict === 0 ? [] : [opts.predict];
    tryFilter(want, oldImage, newImage, flags, maxSeg, consider, opts.onProgress, opts.coding, opts.switchBonus);
    return best!;
  }
  const hints = archHints(newImage);
  // 32-bit ARM code also has Thumb-like patterns (the Pybricks EV3 image: 1.9% of its words), so it is told apart first
  const arm = isArmCode(hints);
  // code with a map of its own and no filter
  const x86 = isX86Code(hints) || isMipsCode(hints) || isS390Code(hints) || isRiscVCode(hints) || isLoongCode(hints) || isPowerCode(hints) || isXtensaCode(hints);
  const wasm = isWasm(newImage);
  const thumb = hints.thumb > THUMB_SHARE_MIN || (elfMachine(newImage) === ELF_ARM && hints.thumb > THUMB_ELF_SHARE_MIN);
  const arch = thumb || hints.arm64 > ARM64_SHARE_MIN || x86 || wasm;
  // one matching run per plausible filter: the architecture's branch filter (with reference mapping)
  // when the image looks like code of that architecture, else the plain ones
  const filters = (opts.autoFilters ?? DEFAULT_AUTO_FILTERS).filter((f) => {
    // x86-64: no filter, relative mapping (PRED.x86rel); its byte patterns also pass the ARM tests by chance
    if (x86 || wasm) return f === "none";
    if (f === "thumb") return !arm && thumb && hints.thumb >= hints.arm64;
    // AArch64: absolute branch filters turn data that looks like branches into differences when it
    // moves; relative mapping without a filter does better (see PRED.arm64rel)
    if (f === "arm64-branch" || f === "arm64") return false;
    if (f === "none") return !arm && (!arch || (hints.arm64 > ARM64_SHARE_MIN && hints.arm64 > hints.thumb));
    if (f === "arm") return arm || !arch;
    return !arch;
  });
  if (filters.length === 0) filters.push("none");
  for (const name of filters) tryFilter(name, oldImage, newImage, withUnwindTables(name === "none" ? rawFlagsFor(hints, wasm, newImage) : mapFlagsFor(name, hints), oldImage), maxSeg, consider, opts.onProgress, opts.coding, opts.switchBonus);
  return best!;
}
