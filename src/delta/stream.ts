// The fota delta stream ("fd2"): a tiny plain header, then one range-coded stream of operations.
//
//   header  byte 0: 0xD0 | filter id (bits 0..3) ; varint new size ; varint old size ; varint map
//           flags (PRED in predict.ts) and coding flags (CODING_LANES) ; varint load address when the
//           flags include absolute pointers ; with PRED.elfEh: offset and length of the base's
//           .eh_frame_hdr, of its .eh_frame and of its ARM tables (EhTables) ; with PRED.wasmAddr:
//           zigzag base, zigzag delta, data start, code start, run count, then per run its length
//           and zigzag index change
//           (WasmAddressing in wasm.ts)
//   body    [address map: segment count, then per segment gap, length - 1, shift change]
//           operations until the output reaches the new size. Each operation is
//             copyLen            (length model; context: last literal run empty?, last kind rep0?)
//             [offset kind ...]  only when copyLen > 0: where the copy reads (below)
//             differences        new = old + diff (mod 256) over the copy, as runs: (zeros + 1) then a
//                                non-zero byte (CODING_LANES: first "as predicted" bit), or 0 = the
//                                rest of the copy is unchanged
//             litLen             (length model; context: class of the copy length)
//             litLen literals    bytes of the new image; context: position parity, top 3 bits of the
//                                byte before (sparse, nearly random data: few contexts learn fastest)
//           offsets: kind 0 = same (old - new) displacement as the last copy, 1 = continue right after
//           the last copy's old end, 2 = the displacement before that, 3 = explicit signed change from
//           kind 0's, 4 = an exact copy of the new image's own last HISTORY_BYTES (distance coded; no
//           differences), 5 = the displacement the address map predicts at this new position (see
//           AddressMap.shiftAtNew), 6 = explicit signed change from that predicted displacement (the
//           encoder takes 3 or 6, whichever change is smaller). The kind is a 3-bit tree in the
//           context of the previous kind. Thumb streams ("narrow" code) model differences with fewer
//           contexts than 4-byte code (see dbyteCtx, zrunCtx).
//           After the last operation: END_MARK in 16 direct bits.
// Everything is computed on filtered images (see filters.ts), against the base as the address map
// sees it (predict.ts): the decoder filters and maps what it reads from the base and unfilters what
// it writes. In-place streams (inplace.ts) add the sector-size bits and the step-range limit to the
// header (the range limit + INPLACE_STASH_ANYWHERE when stashes may go to any sector, or +
// INPLACE_STRAIGHT for one run of sectors that is not announced, then + INPLACE_FLOW when operations
// flow across its ranges; + INPLACE_SPARE and the count of
// spare sectors past the images that stashes use; + INPLACE_STRADDLE when Thumb calls across sector
// boundaries are filtered), step announcements (sector, stash bit, step
// range) and per-operation fill bits.

import { marginWindowBytes, PRED, type AddressMap, type EhTables } from "./predict.js";
import type { WasmAddressing } from "./wasm.js";
import { L, RangeEncoder } from "./rangecoder.js";

export const STREAM_MAGIC = 0xd0;
export const INPLACE_MAGIC = 0xe0;
/** Most sectors an in-place step range may hold (the header's limit; the decoder's output buffer holds one range). */
export const INPLACE_MAX_RANGE = 16;
/** In-place header: added to the range limit when stashes may go to any sector not yet written or past the new image's end (each step on a sector not yet used then codes the stash bit). */
export const INPLACE_STASH_ANYWHERE = 32;
/**
 * In-place header: added to the range limit for a straight patch: every sector written once, in step
 * ranges of the limit, from sector 0 up (with INPLACE_STASH_ANYWHERE also set: from the last sector
 * down), no stashes; no step is announced in the body.
 */
export const INPLACE_STRAIGHT = 64;
/**
 * In-place header: added to the range limit when the patch uses spare sectors past the images (the
 * device's slot is larger): a varint with their count follows, and the applier refuses the patch
 * before writing when its region is smaller. Stashes go there like past a shrinking image's end.
 */
export const INPLACE_SPARE = 128;
/**
 * In-place header (Thumb filter only): added to the range limit when Thumb calls that straddle a
 * sector boundary are filtered too, wherever both their sectors hold the same image: in the base
 * while neither sector was rewritten, in the new image between sectors of one step range (decoded
 * together) and, in what copies read, between two rewritten sectors. Without it such calls stay
 * unfiltered, so that a sector's view never depends on its neighbours.
 */
export const INPLACE_STRADDLE = 256;
/**
 * In-place header: added to the range limit (then at most INPLACE_FLOW - 1) of a straight patch from
 * sector 0 up: operations flow on across step ranges, coded as in an ordinary stream (no fill bits, no
 * cut at a range's end; the applier writes a range's sectors when its output reaches the range's end
 * and goes on in the next). The limit's field then reads 17-31, which older appliers refuse before
 * writing. A one-byte fix then costs in place what it costs in an ordinary stream, plus the header.
 */
export const INPLACE_FLOW = 16;
/** Whether an in-place header's range field has INPLACE_FLOW: a limit field over INPLACE_MAX_RANGE in a straight patch from sector 0 up. */
export function inPlaceFlows(field: number): boolean {
  return (field & (INPLACE_STRAIGHT | INPLACE_STASH_ANYWHERE)) === INPLACE_STRAIGHT && (field & (INPLACE_STASH_ANYWHERE - 1)) > INPLACE_MAX_RANGE;
}

/** The step-range limit an in-place header's range field gives (its low 5 bits, less INPLACE_FLOW when that is added). */
export function inPlaceRangeLimit(field: number): number {
  return (field & (INPLACE_STASH_ANYWHERE - 1)) - (inPlaceFlows(field) ? INPLACE_FLOW : 0);
}

/** Most spare sectors a header may ask for. */
export const INPLACE_MAX_SPARE = 4096;
/** How far back (bytes of new image) a history copy (offset kind 4) may reach: the decoder's window. */
export const HISTORY_BYTES = 16 * 1024;
export const KIND_HISTORY = 4;
/** Offset kind 5: the displacement the address map predicts for the copy's new position (streams with a map). */
export const KIND_MAP = 5;
/** Offset kind 6: an explicit change from the map-predicted displacement (streams with a map). */
export const KIND_NEAR_MAP = 6;
/** 16 direct bits after the last operation: a cut-off stream (decoded from zero padding) cannot end cleanly. */
export const END_MARK = 0xa5c3;

/** One bsdiff-style operation: copy-with-difference from old, then literal bytes. */
export interface Op {
  copyLen: number;
  oldPos: number;
  litLen: number;
  /** In-place only: the bytes the decoder will see at oldPos (when they differ from the base). */
  src?: Uint8Array;
  srcAt?: number;
  /** History copy: copyLen bytes copied exactly from `hist` bytes back in the new image (oldPos unused). */
  hist?: number;
}

export function putVarint(out: number[], v: number): void {
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

// Context functions shared by encoder and decoder.
/**
 * Difference-run state `hist`: bit 0 = the byte before was a non-zero difference; bits 1-2 = class of
 * the last zero run (runClass). A run length's context: alignment of its start and that state.
 */
export const zrunCtx = (pos: number, hist: number, rem: number, narrow: number): number =>
  narrow ? ((hist & 7) << 2) | (rem < 16 ? 32 : 0) | (rem < 4 ? 1 : 0) : (pos & 3) | ((hist & 7) << 2) | (rem < 16 ? 32 : 0);
export const runClass = (z: number): number => (z === 0 ? 0 : z <= 2 ? 1 : z <= 6 ? 2 : 3);
// Difference bytes and literals are sparse, high-entropy data: few contexts learn fastest (measured
// on firmware pairs; more context bits cost bytes and model memory). Thumb streams (`narrow`: 2-byte
// code) use 4 difference contexts; 4-byte code (ARM, AArch64, unfiltered) also the alignment in the
// word and the class of the last difference.
export const dbyteCtx = (pos: number, hist: number, prevDiff: number, narrow: number): number =>
  narrow ? (pos & 1) | ((hist & 1) << 1) : (pos & 3) | ((hist & 1) << 2) | ((prevDiff === 0 ? 0 : prevDiff > 0xff ? 3 : prevDiff < 0x80 ? 1 : 2) << 3);
export const DBYTE_CONTEXTS = 32;

/**
 * Header flag (with the map flags; never a map flag): differences are modelled per lane of the code
 * unit (position & 1 for Thumb, & 3 otherwise).
 * - Predicted difference bytes: per lane and base byte value, a table keeps the last difference
 *   coded for that byte; each difference byte is first one bit "the same as the table's" (context:
 *   its dbyteCtx and whether the last one was), and only when it is not, the byte itself. New code
 *   generation rewrites the same byte values the same way (a register, an opcode, a frame offset),
 *   so the bit often stands for the whole byte. The bit is decided without the base byte, which
 *   in-place replay needs: there the base is gone, and a miss gives the base byte back as
 *   new - difference.
 * - Zero runs take their mantissa bits from a model per lane of the run's start: the low bits of a
 *   run say in which lane the next change falls (the offset field of an instruction, say).
 */
export const CODING_LANES = 0x800;
/** prevDiff after a predicted difference byte (its value is not known in in-place replay): a class of its own in dbyteCtx. */
export const SUBST_HIT = 0x100;
/** Index of the substitution table entry: lane (position & 1 or & 3) and base byte value. */
export const substKey = (pos: number, base: number, narrow: number): number => ((narrow ? pos & 1 : pos & 3) << 8) | base;
export const SUBST_TABLE_BYTES = 4 * 256;
/** Whether a stream with filter `filterId` uses the narrow (Thumb) difference contexts. */
export const narrowCode = (filterId: number): number => (filterId === 1 ? 1 : 0);
export const litCtx = (pos: number, prev: number): number => ((pos & 1) << 3) | (prev >> 5);
export const LIT_CONTEXTS = 16;

/** Per-stream coder state shared by the encoder's mirror of the decoder. */
export interface CoderState {
  rep0: number;
  rep1: number;
  prevOldEnd: number;
  lastLit: number;
  hist: number;
  prevDiff: number;
  prev: number;
  kind: number;
}

export function initialCoderState(): CoderState {
  return { rep0: 0, rep1: 0, prevOldEnd: 0, lastLit: 0, hist: 0, prevDiff: 0, prev: 0, kind: 0 };
}

export const copyLenCtx = (s: CoderState): number => (s.lastLit === 0 ? 0 : 1) | (s.kind === 0 ? 0 : 2);
export const litLenCtx = (copyLen: number): number => (copyLen === 0 ? 0 : copyLen < 32 ? 1 : copyLen < 512 ? 2 : 3);

/** Reference prediction settings of a stream (see predict.ts). */
export interface Prediction {
  flags: number;
  base: number;
  map: AddressMap;
  /** With PRED.wasmAddr: where the data lies (coded in the header). */
  wasm?: WasmAddressing;
  /** With PRED.elfEh: where the base's unwind tables lie (coded in the header). */
  eh?: EhTables;
}

/** Segments the stream codes for a prediction (the map's, and with PRED.extAbs those past the image): the decoder keeps each. */
export function mapSegmentCount(pred: Prediction): number {
  return pred.map.length + (pred.flags & PRED.extAbs && pred.map.ext ? pred.map.ext.length : 0);
}

/**
 * The decoder memory a prediction takes, in map segments (MAP_SEGMENT_BYTES each): its coded segments,
 * the WebAssembly call runs (8 bytes each, two to a segment) and marginWindowBytes.
 */
export function mapMemorySegments(pred: Prediction): number {
  // and the wider base window some maps need (twice: an in-place decoder maps a copy of it)
  return mapSegmentCount(pred) + Math.ceil((pred.wasm?.calls.length ?? 0) / 4) + Math.ceil((2 * marginWindowBytes(pred.flags)) / MAP_SEGMENT_BYTES);
}

/** Working memory per address-map segment: start, end, shift and the new-keyed index (4 bytes each). */
export const MAP_SEGMENT_BYTES = 16;

export const zigzag = (d: number): number => (d >= 0 ? d * 2 : -d * 2 - 1);
export const unzigzag = (z: number): number => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);

/**
 * Codes operations one at a time; mirrors the decoder's state machine. `oldF` is the base as the
 * decoder sees it (filtered, references mapped), `newF` the filtered new image.
 */
export class OpEncoder {
  readonly s = initialCoderState();
  private readonly narrow: number;
  constructor(
    readonly enc: RangeEncoder,
    private readonly oldF: Uint8Array,
    private readonly newF: Uint8Array,
    private readonly pred?: Prediction,
    filterId = 0,
    coding = 0,
  ) {
    this.narrow = narrowCode(filterId);
    this.subst = coding & CODING_LANES ? new Uint8Array(SUBST_TABLE_BYTES) : null;
    if (pred && pred.flags !== 0) {
      // the map's segments, then (PRED.extAbs) those past the base image, as one list
      const ext = pred.flags & PRED.extAbs && pred.map.ext ? pred.map.ext : undefined;
      enc.len(L.mapN, 0, mapSegmentCount(pred));
      let prevEnd = 0;
      let prevShift = 0;
      for (const m of ext ? [pred.map, ext] : [pred.map]) {
        for (let i = 0; i < m.length; i++) {
          enc.len(L.mapGap, 0, m.starts[i]! - prevEnd);
          enc.len(L.mapLen, 0, m.ends[i]! - m.starts[i]! - 1);
          enc.len(L.mapShift, 0, zigzag(m.shifts[i]! - prevShift));
          prevEnd = m.ends[i]!;
          prevShift = m.shifts[i]!;
        }
      }
    }
  }

  private sectorDir = 1;
  /** In-place: no operation of the current sector coded yet (the fill bit has its own context then). */
  private sectorFirst = false;
  /** CODING_LANES: the last difference coded per lane and base byte (0: none yet), and whether the last difference byte was the table's. */
  private readonly subst: Uint8Array | null;
  private substHit = 0;
  /**
   * In-place streams: announces the sector the next operations fill (see inplace.ts): one bit when it
   * continues the direction of the last change (prevIndex +- 1), else the signed jump from there.
   * `stash`: given for a sector past the base image that is neither written nor holding a stash:
   * whether this step writes a stash there (1 bit). `quiet` (straight patches): nothing coded.
   */
  sector(index: number, prevIndex: number, stash?: boolean, quiet = false): void {
    const next = quiet ? index : prevIndex + this.sectorDir;
    if (!quiet) this.enc.bit(L.fill + 1, index === next ? 1 : 0);
    if (index !== next) {
      this.enc.len(L.sector, 0, zigzag(index - next) - 1);
      this.sectorDir = index > prevIndex ? 1 : -1;
    }
    if (stash !== undefined) this.enc.bit(L.fill + 3, stash ? 1 : 0);
    this.s.prev = 0;
    this.sectorFirst = true;
    this.s.kind = 7; // the first copy kind of a sector has its own context (kind 7 is never coded)
  }

  /**
   * In-place: after sector(), a step range of `count` sectors (the announced one first, then on in
   * direction `dir`): up to `max` - 1 bits "one more", the first "one more" followed by 1 bit "in the
   * current direction". Not for stash steps.
   */
  sectorRun(count: number, dir: number, max: number): void {
    for (let c = 1; c < max; c++) {
      this.enc.bit(L.fill + 4, c < count ? 1 : 0);
      if (c >= count) break;
      if (c === 1) this.enc.bit(L.fill + 5, dir === this.sectorDir ? 1 : 0);
    }
    if (count > 1) this.sectorDir = dir;
  }

  /** `limit`: where the current run of output ends (new size; in-place: the end of the step range). */
  op(op: Op, newPos: number, limit = this.newF.length, inPlace = false): void {
    const { enc, oldF, newF, s } = this;
    const { copyLen, oldPos, litLen } = op;
    const fills = copyLen === limit - newPos;
    if (inPlace) enc.bit(L.fill + (this.sectorFirst ? 2 : 0), fills ? 1 : 0);
    this.sectorFirst = false;
    if (!inPlace || !fills) enc.len(L.copyLen, copyLenCtx(s), copyLen);
    if (copyLen > 0 && op.hist !== undefined) {
      enc.tree(L.offKind + s.kind * 8, 3, KIND_HISTORY);
      enc.len(L.histDist, 0, op.hist - 1);
      s.kind = KIND_HISTORY;
      newPos += copyLen;
      s.prev = newF[newPos - 1]!;
    } else if (copyLen > 0) {
      const offset = oldPos - newPos;
      const p0 = this.pred && this.pred.flags !== 0 ? this.pred.map.shiftAtNew(newPos) : NaN;
      const predicted = Number.isNaN(p0) ? NaN : -p0 | 0; // a small integer, not -0 or a double
      let kind: number;
      if (offset === s.rep0) kind = 0;
      else if (oldPos === s.prevOldEnd) kind = 1;
      else if (offset === s.rep1) kind = 2;
      else if (predicted === offset) kind = KIND_MAP;
      else kind = Math.abs(offset - predicted) < Math.abs(offset - s.rep0) ? KIND_NEAR_MAP : 3;
      enc.tree(L.offKind + s.kind * 8, 3, kind);
      if (kind === 3 || kind === KIND_NEAR_MAP) {
        const near = kind === KIND_NEAR_MAP ? 1 : 0;
        const d = offset - (near ? predicted : s.rep0);
        enc.bit(L.offSign + near, d < 0 ? 1 : 0);
        enc.len(L.offMag, near, Math.abs(d) - 1);
      }
      s.kind = kind;
      if (offset !== s.rep0) {
        s.rep1 = s.rep0;
        s.rep0 = offset;
      }
      let hist = s.hist;
      let prevDiff = s.prevDiff;
      const src = op.src ?? oldF;
      const srcAt = op.src ? op.srcAt! : oldPos;
      // differences as runs: (zeros + 1) then the non-zero byte; 0 = the rest of the copy is zero
      for (let k = 0; k < copyLen; ) {
        const z = sameRun(newF, newPos + k, src, srcAt + k, copyLen - k);
        const ctx = zrunCtx(newPos + k, hist, copyLen - k, this.narrow);
        const mant = this.subst === null ? L.zrun.mant : L.zrunLaneMant + ((newPos + k) & (this.narrow ? 1 : 3)) * 256;
        if (k + z === copyLen) {
          enc.len(L.zrun, ctx, 0, mant);
          hist = (z > 0 ? 0 : hist & 1) | 6;
          break;
        }
        enc.len(L.zrun, ctx, z + 1, mant);
        hist = (z === 0 ? hist & 1 : 0) | (runClass(z) << 1);
        const q = newPos + k + z;
        const o = src[srcAt + k + z]!;
        const d = (newF[q]! - o) & 0xff;
        const ctx2 = dbyteCtx(q, hist, prevDiff, this.narrow);
        const table = this.subst;
        if (table !== null) {
          const key = substKey(q, o, this.narrow);
          const hit = table[key] === d ? 1 : 0;
          enc.bit(L.subst + ctx2 * 2 + this.substHit, hit);
          this.substHit = hit;
          if (hit) prevDiff = SUBST_HIT;
          else {
            enc.tree(L.dbyte + ctx2 * 256, 8, d);
            table[key] = d;
            prevDiff = d;
          }
        } else {
          enc.tree(L.dbyte + ctx2 * 256, 8, d);
          prevDiff = d;
        }
        hist |= 1;
        k += z + 1;
      }
      s.hist = hist;
      s.prevDiff = prevDiff;
      s.prevOldEnd = oldPos + copyLen;
      newPos += copyLen;
      s.prev = newF[newPos - 1]!;
    }
    if (newPos < limit) enc.len(L.litLen, litLenCtx(copyLen), litLen);
    let prev = s.prev;
    for (let k = 0; k < litLen; k++) {
      const p = newPos + k;
      const b = newF[p]!;
      enc.tree(L.lit + litCtx(p, prev) * 256, 8, b);
      prev = b;
    }
    s.prev = prev;
    s.lastLit = litLen;
  }
}

/**
 * Length of the run of equal bytes a[i..] = b[j..], at most max. The encoder's per-byte work in a
 * function of its own: compiled early and cheaply in a cold run.
 */
function sameRun(a: Uint8Array, i: number, b: Uint8Array, j: number, max: number): number {
  let z = 0;
  while (z < max && a[i + z] === b[j + z]) z++;
  return z;
}

/** Encodes sequential operations over filtered images into the range-coded body (no header). */
export function encodeOps(ops: readonly Op[], oldF: Uint8Array, newF: Uint8Array, pred: Prediction | undefined, filterId: number, coding = 0): Uint8Array {
  const e = new OpEncoder(new RangeEncoder(), oldF, newF, pred, filterId, coding);
  let newPos = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    e.op(op, newPos);
    newPos += op.copyLen + op.litLen;
  }
  if (newPos > 0) e.enc.direct(END_MARK, 16);
  return e.enc.finish();
}

export function encodeHeader(
  magic: number,
  filter: number,
  newSize: number,
  oldSize: number,
  inPlace?: { sectorBits: number; rangeMax: number; stashAnywhere?: boolean; straight?: number; spareSectors?: number; straddle?: boolean; flow?: boolean },
  pred?: Prediction,
  coding = 0,
): Uint8Array {
  const h: number[] = [magic | filter];
  putVarint(h, newSize);
  putVarint(h, oldSize);
  if (inPlace) {
    putVarint(h, inPlace.sectorBits);
    const st = inPlace.straight ?? 0;
    const spare = inPlace.spareSectors ?? 0;
    if (inPlace.flow && (st !== 1 || spare > 0 || inPlace.straddle || inPlace.rangeMax >= INPLACE_FLOW)) throw new Error("in-place header: operations flow only in a straight patch from sector 0 up, limit under 16, nothing else");
    putVarint(h, inPlace.rangeMax + (inPlace.flow ? INPLACE_FLOW : 0) + (st !== 0 ? INPLACE_STRAIGHT + (st < 0 ? INPLACE_STASH_ANYWHERE : 0) : inPlace.stashAnywhere ? INPLACE_STASH_ANYWHERE : 0) + (spare > 0 ? INPLACE_SPARE : 0) + (inPlace.straddle ? INPLACE_STRADDLE : 0));
    if (spare > 0) putVarint(h, spare);
  }
  const flags = (pred?.flags ?? 0) | coding;
  putVarint(h, flags);
  if (flags & 4) putVarint(h, pred!.base);
  if (flags & PRED.elfEh) for (const v of [pred!.eh!.hdr, pred!.eh!.hdrLen, pred!.eh!.eh, pred!.eh!.ehLen, pred!.eh!.arm, pred!.eh!.armLen]) putVarint(h, v);
  if (flags & PRED.wasmAddr) {
    const w = pred!.wasm!;
    putVarint(h, zigzag(w.base));
    putVarint(h, zigzag(w.delta));
    putVarint(h, w.dataStart);
    putVarint(h, w.codeStart);
    putVarint(h, w.calls.length / 2);
    for (let r = 0; r < w.calls.length; r += 2) {
      putVarint(h, w.calls[r]!);
      putVarint(h, zigzag(w.calls[r + 1]!));
    }
  }
  return Uint8Array.from(h);
}
