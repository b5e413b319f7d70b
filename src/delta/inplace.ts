// In-place deltas for single-slot devices: the new image is written over the base image in the same
// flash region, one sector at a time (through the device's scratch sector). The patch lists sectors in
// an order where no old sector is overwritten while a later sector still copies from it; where the
// reads form a cycle, the reads that close it are broken and their bytes found again in what is still
// readable when their sector is written (old sectors not yet rewritten, new sectors already written,
// the sector's own earlier bytes), else sent as literals. When the new image grows into sectors past
// the base, such a sector can first hold a stash: base bytes a cycle needs, written (as a step of its
// own, through the scratch sector like any other) before their sector is rewritten and read back by
// the later steps, its own final write last. With the header's stash-anywhere flag (appliers without
// it refuse the patch before writing) a stash may go to any sector not written yet (every such step
// then codes the stash bit) or past the new image's end (a shrinking image: always a stash there, no
// bit): it keeps the sector's own base bytes that steps from there on still read in their place, and
// broken reads in the dead stretches between (see planMoreStashes). A slot larger than the images
// gives spare sectors past both (header flag INPLACE_SPARE and their count): stash hosts from the
// first step that are never final-written; the applier refuses a smaller region. Resuming after a power cut needs
// only the number of completed steps: the applier re-decodes the patch, replaying done steps from the
// region itself (they already hold their bytes, a stash step too), and continues writing from the
// next step.
//
// Step ranges: final writes of adjacent sectors that follow each other (up to the header's limit, as
// many as the applier's memory bound leaves room for: its output buffer holds one range) are decoded
// as one run of output, from the lowest sector, so a copy and its difference runs go on across the
// sector boundaries; then the sectors are written one by one in the announced order (each a step).
// A sector joins a range only when none of its copies reads a sector written before it in that range
// (the applier reads before it writes, and after a cut those sectors hold their new bytes already).
//
// Stream: header (magic | filter, new size, old size, sector-size bits, most sectors in a range (+ 32:
// stashes anywhere), map flags [, load address]); then, per step, the sector (1 bit: next in the
// current direction, else the signed jump), for a sector past the base not yet used (with the flag:
// any sector not yet used; none for a sector past the new image's end, with the flag always a stash)
// 1 bit "stash", for a final write the range (up to limit - 1 bits "one more sector", the first
// followed by 1 bit "in the current direction"),
// then operations as in ordinary streams with a fill bit each (the copy reaches the range's end).
// A straight patch (header flag INPLACE_STRAIGHT, with INPLACE_STASH_ANYWHERE as its direction: set =
// from the last sector down) writes every sector once, from sector 0 up or from the last down, in step
// ranges of the header's limit, no stashes: nothing is announced per step (tiny fixes pay no framing
// beyond the fill bits and the cuts at range ends); taken when it codes smaller.
//
// What a copy reads (the decoder's view of the region): a rewritten sector holds the new image,
// filtered only; a stash its whole sector, filtered only; any other sector the base, filtered and
// mapped (see DeltaDecoder.viewRegion). Maps see each sector alone (sectorMappedBase). With the
// header flag INPLACE_STRADDLE (Thumb) a call across a sector boundary is filtered where both its
// sectors hold the same image (both the base, or both rewritten; in the output, inside a step range):
// the encoder changes its view at a boundary when the range holding one of its sectors is finished.

import { diffOps, hash4, OldIndex, shortCopyFill, WIDE_SWITCH_BONUS } from "./diff.js";
import { applyFilter, filterImage, FILTER_MARGIN, FILTERS } from "./filters.js";
import { RangeEncoder } from "./rangecoder.js";
import { encodeHeader, END_MARK, INPLACE_FLOW, INPLACE_MAGIC, INPLACE_MAX_RANGE, mapMemorySegments, OpEncoder, type Op, type Prediction } from "./stream.js";
import { ARM64_SHARE_MIN, buildPrediction, copiesOf, copyMismatches, firstPassCopies, PADDING_MIN, paddingStart, predictionFromCopies } from "./create.js";
import { mapReferences, PRED } from "./predict.js";
import type { InPlaceSink } from "./decode.js";
import type { RandomAccessReader } from "./types.js";

/** The device-side view of the region an in-place patch rewrites. */
export interface InPlaceRegion extends RandomAccessReader, InPlaceSink {}

const enum K {
  /** copy from the base (region position = src) */
  Old = 0,
  Lit = 1,
  /** copy from the new image at src (a history copy of the ordinary matcher) */
  New = 2,
}

interface Seg {
  at: number;
  len: number;
  kind: K;
  src: number;
}

/** A piece of a sector's final operations: a copy from the region, an in-sector history copy, or literals. */
interface Piece {
  at: number;
  len: number;
  /** region position, or -1 for literals */
  src: number;
  /** in-sector history copy: distance back */
  hist?: number;
}

export interface InPlaceStats {
  /** Sector writes (stash steps included). */
  steps: number;
  /** Copy bytes whose source was gone (or not yet there) when their sector was written. */
  brokenBytes: number;
  /** Of those, bytes found again elsewhere in the region or in the sector itself. */
  rescuedBytes: number;
  /** Spare sectors past both images the patch keeps stashes in (the device's region must hold them). */
  spareSectors: number;
}

/** Shortest copy a broken read is replaced with (region copies; in-sector history copies: 4). */
const MIN_RESCUE = 5;
/** Suffix-array neighbours examined for a match that is still readable. */
const SA_SPAN = 24;
/** Broken reads this close in the base share one stash range; ranges holding fewer bytes are not kept (cheaper found again). */
const STASH_GAP = 64;
const STASH_MIN_BYTES = 24;
/** Most stash steps (the last sectors the new image grows into). */
const MAX_STASHES = 16;
/** Most stash steps planMoreStashes adds; images of more sectors are not searched (time). */
const MAX_MORE_STASHES = 24;
const MORE_STASHES_MAX_SECTORS = 1024;
/**
 * Images of more sectors search more stashes from the first sector order only (time: on rollup's
 * 2 MB ARM module the second order never won and took half of the planner's 3.6 minutes).
 */
const MORE_STASHES_ALL_ORDERS_MAX = 256;
/** Broken reads this close in the base go to a stash together; fewer bytes than MORE_MIN are not stashed; dead stretches shorter than HOLE_MIN are not used. */
const MORE_GAP = 40;
const MORE_MIN = 24;
const HOLE_MIN = 16;
/** Stash positions tried per sector; what each piece of other bytes in a stash costs the planner (bytes). */
const MORE_STASH_TRIES = 12;
const MORE_STASH_RANGE_COST = 8;
/** What moving a final write to the end costs (its announcement, a broken step range), in bytes. */
const MOVE_COST = 16;
/** Images up to this size are also matched with a map from a full first matching. */
const FULL_FIRST_PASS_MAX = 4 << 20;
/** What a sector out of sequence costs the order search, in broken-read bytes. */
const JUMP_COST = 6;
const CHAIN_DEPTH = 32;
/** Patches below this many bytes are also planned without INPLACE_STRADDLE (its header byte can decide). */
const SMALL_PATCH = 1024;

export interface InPlacePatchOptions {
  /** Reference-map flags (0: no map). */
  predFlags?: number;
  maxMapSegments?: number;
  /**
   * Most sectors a step range may hold (the applier's output buffer holds one range), or a function
   * of the address map (whether there is one, its segments) giving it (what fits the memory bound).
   */
  rangeSectors?: number | ((mapped: boolean, mapSegments: number) => number);
  /** Sectors of the device's slot past both images, free for stashes (the header asks for those used). */
  spareSectors?: number;
  /** Coding flags (CODING_LANES in stream.ts); createDelta passes what the ordinary stream chose. */
  coding?: number;
  /** Called as each stage of the work starts (a person-readable step; long on big images). */
  onProgress?: (step: string) => void;
  /** Thumb: may filter calls across sector boundaries (INPLACE_STRADDLE; default true, when it codes smaller). */
  straddle?: boolean;
}

/** Builds an in-place patch (header + body) with filter `filterId`. */
export function createInPlacePatch(oldImage: Uint8Array, newImage: Uint8Array, filterId: number, sectorSize: number, opts: InPlacePatchOptions = {}): { patch: Uint8Array; stats: InPlaceStats } {
  let predFlags = opts.predFlags ?? 0;
  const maxMapSegments = opts.maxMapSegments ?? 1024;
  const rangeSectors = opts.rangeSectors ?? 1;
  const spareSectors = opts.spareSectors ?? 0;
  const coding = opts.coding ?? 0;
  const straddle = opts.straddle ?? true;
  const progress = opts.onProgress ?? ((): void => {});
  const S = sectorSize;
  const bits = Math.log2(S);
  if (!Number.isInteger(bits) || bits < 8 || bits > 16) throw new RangeError(`in-place sector size ${S} must be a power of two in 256..65536`);
  const rangeFor = (pred: Prediction | undefined): number => {
    const mapped = pred !== undefined && pred.flags !== 0;
    const k = typeof rangeSectors === "function" ? rangeSectors(mapped, mapped ? mapMemorySegments(pred) : 0) : rangeSectors;
    return Math.max(1, Math.min(INPLACE_MAX_RANGE, Math.floor(k)));
  };
  const oF = filterImage(filterId, oldImage, true, S);
  const nF = filterImage(filterId, newImage, true, S);
  // an explicit filter "none" comes without a map; AArch64 code still gains from relative mapping
  if (predFlags === 0 && filterId === FILTERS.none && arm64Share(newImage) > ARM64_SHARE_MIN) predFlags = PRED.arm64rel | PRED.arm64page | PRED.abs32 | PRED.ptr64;
  // matching as for ordinary streams: a first map from a quick pass, matching on the mapped base, then
  // the map refined from that matching's longer copies when the copies then differ in fewer bytes;
  // on smaller images also the map from a full first matching (the smaller patch wins)
  const cands: Candidate[] = [];
  if (predFlags !== 0) {
    progress("in place: matching against the sector-mapped base");
    const pred1 = predictionFromCopies(oF, nF, firstPassCopies(oF, nF), predFlags, maxMapSegments);
    if (pred1.flags !== 0) {
      let pred = pred1;
      let base = sectorMappedBase(oF, pred1, S);
      let index = new OldIndex(base);
      const ops = diffOps(index, nF, { history: true, predicted: (y) => -pred1.map.shiftAtNew(y) });
      const r = predictionFromCopies(oF, nF, copiesOf(ops).filter((c) => c[2] >= 24), predFlags, maxMapSegments);
      if (r.flags !== 0) {
        const base2 = sectorMappedBase(oF, r, S);
        if (copyMismatches(ops, base2, nF) < copyMismatches(ops, base, nF)) {
          pred = r;
          base = base2;
          index = new OldIndex(base);
        }
      }
      cands.push({ pred, base, index, ops });
    }
  }
  if (cands.length === 0 || newImage.length <= FULL_FIRST_PASS_MAX) {
    progress(cands.length === 0 ? "in place: matching" : "in place: matching again with a map from a full first matching");
    const index0 = new OldIndex(oF);
    const ops0 = diffOps(index0, nF, { history: true });
    const pred = predFlags !== 0 ? buildPrediction(oF, nF, ops0, predFlags, maxMapSegments) : undefined;
    if (pred && pred.flags !== 0) {
      const base = sectorMappedBase(oF, pred, S);
      const index = new OldIndex(base);
      cands.push({ pred, base, index, ops: diffOps(index, nF, { history: true, predicted: (y) => -pred.map.shiftAtNew(y) }) });
    } else if (cands.length === 0) cands.push({ base: oF, index: index0, ops: ops0 });
  }
  // new content filled with short copies: also a matching that leaves it to literals (see WIDE_SWITCH_BONUS)
  for (const c of cands.slice()) {
    if (!shortCopyFill(c.ops, nF.length)) continue;
    progress("in place: matching again, fewer short copies");
    const pred = c.pred;
    cands.push({ ...c, ops: diffOps(c.index, nF, { history: true, switchBonus: WIDE_SWITCH_BONUS, ...(pred ? { predicted: (y: number) => -pred.map.shiftAtNew(y) } : {}) }) });
  }
  let best: { enc: Encoded; pred: Prediction | undefined; rangeMax: number } | undefined;
  // (a spare sector costs the header two bytes)
  const size = (e: Encoded): number => headerAware(e) + (e.spare > 0 ? 2 : 0);
  let plans = 0;
  const consider = (c: Candidate, rangeMax: number): Encoded => {
    progress(`in place: ordering sectors, planning stashes and coding (plan ${++plans})`);
    const e = buildSteps(c, nF, filterId, S, bits, rangeMax, spareSectors, coding, straddle);
    if (!best || size(e) < size(best.enc)) best = { enc: e, pred: c.pred, rangeMax };
    // the stash planner is greedy: spare sectors it took can leave a worse plan than none
    if (e.spare > 0) {
      const e0 = buildSteps(c, nF, filterId, S, bits, rangeMax, 0, coding, straddle);
      if (size(e0) < size(best.enc)) best = { enc: e0, pred: c.pred, rangeMax };
    }
    // a fix of a few hundred bytes: a plan made without calls across boundaries filtered may win by the header byte
    if (straddle && filterId === FILTERS.thumb && e.body.length < SMALL_PATCH) {
      const e1 = buildSteps(c, nF, filterId, S, bits, rangeMax, spareSectors, coding, false);
      if (size(e1) < size(best.enc)) best = { enc: e1, pred: c.pred, rangeMax };
    }
    return e;
  };
  for (const c of cands) {
    const rangeMax = rangeFor(c.pred);
    const e = consider(c, rangeMax);
    // reads a cycle broke, and padding that could give stash room: also with the padding as runs
    const runs = e.broken > 0 ? paddingAsRuns(c.ops, nF, S) : c.ops;
    if (runs !== c.ops) consider({ ...c, ops: runs }, rangeMax);
  }
  const { enc, pred, rangeMax } = best!;
  const head = encodeHeader(INPLACE_MAGIC, filterId, newImage.length, oldImage.length, { sectorBits: bits, rangeMax, stashAnywhere: enc.anywhere, straight: enc.straight, spareSectors: enc.spare, straddle: enc.straddle, flow: enc.flow }, pred, coding);
  const patch = new Uint8Array(head.length + enc.body.length);
  patch.set(head);
  patch.set(enc.body, head.length);
  return { patch, stats: { steps: enc.steps, brokenBytes: enc.broken, rescuedBytes: enc.rescued, spareSectors: enc.spare } };
}

interface Candidate {
  pred?: Prediction;
  /** the base as copies see it before any sector is rewritten */
  base: Uint8Array;
  index: OldIndex;
  ops: Op[];
}

/**
 * The operations with the new image's padding (a run of one repeated byte to its end, a sector or
 * longer) rewritten as, in each sector, one literal byte and a copy of the byte before it: the
 * padding then reads nothing of the base, so the base of the sectors it fills is free for stashes.
 * (A padded image, EV3's: its padding had been copied from the base's.)
 */
function paddingAsRuns(ops: Op[], nF: Uint8Array, S: number): Op[] {
  const from = paddingStart(nF);
  if (nF.length - from < Math.max(S, PADDING_MIN)) return ops;
  const out: Op[] = [];
  let pos = 0;
  for (const op of ops) {
    if (pos + op.copyLen + op.litLen <= from) out.push(op);
    else if (pos + op.copyLen < from || (op.copyLen > 0 && pos + op.copyLen === from)) out.push({ ...op, litLen: from - pos - op.copyLen });
    else if (pos < from) out.push({ ...op, copyLen: from - pos, litLen: 0 });
    else break;
    pos += op.copyLen + op.litLen;
  }
  for (let a = from; a < nF.length; ) {
    const b = Math.min(nF.length, (Math.floor(a / S) + 1) * S);
    out.push({ copyLen: 0, oldPos: 0, litLen: 1 });
    if (b - a > 1) out.push({ copyLen: b - a - 1, oldPos: 0, litLen: 0, hist: 1 });
    a = b;
  }
  return out;
}

/**
 * Orders the sectors of one matching (two orders), plans stashes, and codes the steps (the smallest
 * of the plans with and without stashes); when broken reads are left, also the best order with its
 * heaviest broken constraint kept instead.
 */
function buildSteps(cand: Candidate, nF: Uint8Array, filterId: number, S: number, bits: number, rangeMax: number, spare: number, coding: number, straddle = true): Encoded {
  const { pred, base, index, ops } = cand;
  const oF = base;
  const oldLen = oF.length;
  const newLen = nF.length;
  const nNew = Math.ceil(newLen / S);
  // sectors over both images, then the spare sectors of the slot past them (stashes only)
  const nAll = Math.ceil(Math.max(oldLen, newLen) / S) + spare;

  // the operations cut at sector boundaries
  const segs: Seg[][] = Array.from({ length: nNew }, () => []);
  const addSeg = (at: number, len: number, kind: K, src: number): void => {
    while (len > 0) {
      const j = at >> bits;
      const n = Math.min(len, (j + 1) * S - at);
      segs[j]!.push({ at, len: n, kind, src });
      at += n;
      len -= n;
      src += n;
    }
  };
  let pos = 0;
  for (const op of ops) {
    if (op.hist !== undefined) addSeg(pos, op.copyLen, K.New, pos - op.hist);
    else addSeg(pos, op.copyLen, K.Old, op.oldPos);
    pos += op.copyLen;
    addSeg(pos, op.litLen, K.Lit, 0);
    pos += op.litLen;
  }

  // ordering constraints: before[u] maps v -> bytes that need u written before v
  const before: Map<number, number>[] = Array.from({ length: nNew }, () => new Map());
  const need = (u: number, v: number, n: number): void => {
    if (u === v || u >= nNew || v >= nNew) return;
    before[u]!.set(v, (before[u]!.get(v) ?? 0) + n);
  };
  for (let j = 0; j < nNew; j++) {
    for (const g of segs[j]!) {
      if (g.kind === K.Lit) continue;
      forSectors(g.src, g.len, bits, (m, n) => (g.kind === K.Old ? need(j, m, n) : need(m, j, n)));
    }
  }
  const orders: number[][] = [];
  for (const rule of [0, 1]) {
    const o = improveOrder(before, orderSectors(before, rule));
    if (!orders.some((x) => x.every((v, i) => v === o[i]))) orders.push(o);
  }
  orders.sort((x, y) => backwardWeight(before, x) - backwardWeight(before, y));
  // the sectors from the last down (or the first up), improved: where most content moves one way, as
  // when an executable's segments all move up by their alignment (esbuild for MIPS and s390x grows by
  // 64 KiB), the rules above meet one cycle over most of the image and break 2.7x the bytes this does.
  // Taken only when it breaks fewer bytes than the best order so far, which is then searched as fully
  // as before (the order that breaks fewer bytes does not always code smaller)
  const lead = orders[0]!;
  for (const dir of [-1, 1]) {
    const o = improveOrder(before, Array.from({ length: nNew }, (_, i) => (dir < 0 ? nNew - 1 - i : i)));
    if (backwardWeight(before, o) < backwardWeight(before, orders[0]!)) orders.unshift(o);
  }
  const chain = new HashIndex(nF);
  const input = { S, bits, nF, base, index, chain, pred, filterId, coding, segs, oldLen, newLen, nNew, nAll, rangeMax, straddle: straddle && filterId === FILTERS.thumb };
  // the stash-anywhere flag when a stash is outside the sectors the image grows into
  const encode = (steps: Step[]): Encoded => encodeSteps(steps, { ...input, anywhere: steps.some((st) => st.stash !== undefined && !(st.j < nNew && st.j * S >= oldLen)) });
  const geometry = { S, bits, oldLen, newLen, nNew, nAll };
  let best: Encoded | undefined;
  for (const [k, order] of orders.entries()) {
    const full = k === 0 || order === lead;
    const plain = order.map((j) => ({ j }));
    const tries: Step[][] = full ? [plain] : [];
    const stashed = planStashes(order, segs, before, geometry);
    if (stashed) tries.push(stashed);
    for (const move of full || nAll <= MORE_STASHES_ALL_ORDERS_MAX ? [false, true] : []) {
      for (const start of [plain, stashed]) {
        const more = start && planMoreStashes(start, segs, geometry, move);
        if (more) tries.push(more);
      }
    }
    for (const steps of tries) {
      const e = encode(steps);
      if (!best || e.body.length < best.body.length) best = e;
    }
  }
  // a straight patch (nothing announced) when every sector may go in one direction
  for (const dir of [1, -1]) {
    const steps = Array.from({ length: nNew }, (_, i) => ({ j: dir > 0 ? i : nNew - 1 - i }));
    const e = encodeSteps(steps, { ...input, anywhere: false, straight: dir });
    if (e && e.body.length < best!.body.length) best = e;
    // from sector 0 up, operations flowing on across the ranges (their limit field must stay under 17)
    if (dir > 0 && rangeMax < INPLACE_FLOW) {
      const f = encodeSteps(steps, { ...input, anywhere: false, straight: 1, straddle: false, flow: true });
      if (f && f.body.length < headerAware(best!)) best = f;
    }
  }
  // a cycle the stashes could not hold: the best rule order with its heaviest broken constraint kept instead
  // (the reader moved right before the sector it reads, or that sector right after the reader)
  if (best!.broken - best!.rescued > 256 && nNew <= MORE_STASHES_MAX_SECTORS / 2) {
    const cur = lead;
    const rank = new Int32Array(nNew);
    cur.forEach((v, i) => (rank[v] = i));
    let heavy: [number, number, number] | undefined;
    for (let u = 0; u < nNew; u++) for (const [v, w] of before[u]!) if (rank[u]! > rank[v]! && (!heavy || w > heavy[2])) heavy = [u, v, w];
    if (heavy) {
      const [u, v] = heavy;
      const o1 = cur.filter((x) => x !== u);
      o1.splice(o1.indexOf(v), 0, u);
      const o2 = cur.filter((x) => x !== v);
      o2.splice(o2.indexOf(u) + 1, 0, v);
      for (const o of [o1, o2]) {
        for (const move of [false, true]) {
          const more = planMoreStashes(o.map((j) => ({ j })), segs, geometry, move);
          const e = more && encode(more);
          if (e && e.body.length < best!.body.length) best = e;
        }
      }
    }
  }
  // calls across boundaries filtered (INPLACE_STRADDLE) cost a header byte: the plan without, when smaller
  if (input.straddle) {
    const e = encodeSteps(best!.plan.steps, { ...input, anywhere: best!.plan.anywhere, straight: best!.plan.straight, straddle: false, flow: best!.plan.flow });
    if (e && e.body.length <= headerAware(best!)) best = e;
  }
  return best!;
}

/** A body's size with the header byte its flags may add: INPLACE_STRADDLE makes the range field two bytes (spare sectors already do). */
function headerAware(e: Encoded): number {
  return e.body.length + (e.straddle && e.spare === 0 ? 1 : 0);
}

/**
 * The base as the applier's copies see it: mapped sector by sector, each sector with FILTER_MARGIN
 * zero bytes in place of its neighbours (image edges stay edges), so no mapping decision depends on
 * another sector (which may already hold new bytes when it is read).
 */
export function sectorMappedBase(oF: Uint8Array, pred: Prediction, S: number): Uint8Array {
  const out = new Uint8Array(oF);
  const M = FILTER_MARGIN;
  const tmp = new Uint8Array(S + 2 * M);
  for (let s = 0; s < oF.length; s += S) {
    const e = Math.min(oF.length, s + S);
    const lf = s > 0 ? M : 0;
    const rf = e < oF.length ? M : 0;
    const n = e - s;
    tmp.fill(0);
    tmp.set(oF.subarray(s, e), lf);
    mapReferences(pred.flags, tmp.subarray(0, lf + n + rf), s - lf, pred.map, oF.length, pred.base, S, lf + n + rf, pred.wasm, pred.eh);
    out.set(tmp.subarray(lf, lf + n), s);
  }
  return out;
}

/** One step of an in-place patch: the final write of sector j, or (stash) base ranges [position, length] kept in sector j, one after another. */
interface Step {
  j: number;
  stash?: Array<[number, number]>;
}

interface Encoded {
  body: Uint8Array;
  /** the header's stash-anywhere flag */
  anywhere: boolean;
  /** the header's straight flag: 0, or the direction */
  straight: number;
  /** the header's INPLACE_FLOW flag */
  flow: boolean;
  /** spare sectors past both images used (the last one holding a stash) */
  spare: number;
  /** the header's INPLACE_STRADDLE flag */
  straddle: boolean;
  /** what was coded: the steps, and the header flags they were coded with */
  plan: { steps: Step[]; anywhere: boolean; straight: number; flow: boolean };
  steps: number;
  broken: number;
  rescued: number;
}

interface EncodeInput {
  S: number;
  bits: number;
  nF: Uint8Array;
  base: Uint8Array;
  index: OldIndex;
  chain: HashIndex;
  pred: Prediction | undefined;
  filterId: number;
  /** Coding flags (CODING_LANES) */
  coding: number;
  segs: Seg[][];
  oldLen: number;
  newLen: number;
  nNew: number;
  nAll: number;
  /** most sectors in a step range */
  rangeMax: number;
  /** stashes may go to any sector not yet written (header flag: every such step codes the stash bit) */
  anywhere: boolean;
  /** a straight patch (header flag): 0, or the direction of the one run of sectors (nothing announced; ranges of rangeMax) */
  straight?: number;
  /** Thumb calls across sector boundaries filtered where both sectors hold the same image (header flag INPLACE_STRADDLE) */
  straddle: boolean;
  /** with straight 1 (and no straddle): operations flow on across step ranges (header flag INPLACE_FLOW) */
  flow?: boolean;
}

/**
 * Codes the steps in order, finding broken reads again in what the region holds at each step. A
 * straight patch (inp.straight): the steps must be every sector once in that direction, and each
 * range of rangeMax must be able to join (else null).
 */
function encodeSteps(steps: Step[], inp: EncodeInput): Encoded;
function encodeSteps(steps: Step[], inp: EncodeInput): Encoded | null;
function encodeSteps(steps: Step[], inp: EncodeInput): Encoded | null {
  const { S, bits, nF, index, chain, pred, filterId, coding, segs, oldLen, newLen, nNew, nAll, rangeMax, anywhere } = inp;
  const straight = inp.straight ?? 0;
  const straddle = inp.straddle;
  // INPLACE_FLOW: the ranges' operations, joined where one goes on in the next range, coded at the end
  const flow = inp.flow === true && straight === 1 && !straddle;
  const flowOps: Op[] = [];
  const flowOn = (op: Op): void => {
    const last = flowOps[flowOps.length - 1];
    if (last && last.litLen === 0 && last.copyLen > 0 && last.hist === undefined && op.copyLen > 0 && op.hist === undefined && op.oldPos === last.oldPos + last.copyLen && op.src === last.src && op.srcAt === last.srcAt! + last.copyLen) {
      last.copyLen += op.copyLen;
      last.litLen = op.litLen;
    } else if (last && last.litLen > 0 && op.copyLen === 0) last.litLen += op.litLen;
    else flowOps.push({ ...op });
  };
  /** the region as the decoder's copies see it (with INPLACE_STRADDLE: plain, then the calls across boundaries) */
  const view = new Uint8Array(nAll * S);
  view.set(inp.base);
  const plain = straddle ? new Uint8Array(view) : view;
  // what each step writes, as the encoder's "new image": a stash step's sector holds the stash meanwhile
  const tgt = new Uint8Array(nAll * S);
  tgt.set(nF);
  /** 0: base, 1: new image, 2: a stash */
  const state = new Uint8Array(nAll);
  /** active stashes: sector -> the ranges they hold, [position, length, whether that was still the base] */
  const stashes = new Map<number, Array<[number, number, boolean]>>();
  let broken = 0;
  let rescued = 0;
  /** INPLACE_STRADDLE: the call across boundary b (if any) filtered when both sectors hold the base or both the new image, else as each sector has it */
  const straddleAt = (b: number): void => {
    if (b <= 0 || b >= nAll * S) return;
    const m = b >> bits;
    view.set(plain.subarray(b - 2, b + 2), b - 2);
    const a = state[m - 1]!;
    if (a === state[m] && a !== 2 && b + 2 <= (a === 0 ? oldLen : newLen)) applyFilter(filterId, view, 0, true, b - 2, b + 2, 0);
  };
  if (straddle) for (let b = S; b < nAll * S; b += S) straddleAt(b);
  const validEnd = (m: number): number => Math.min((m + 1) * S, state[m] === 1 ? newLen : state[m] === 2 ? (m + 1) * S : oldLen);
  /** Length of the match of nF[i..] at region position p as the decoder sees it now (at most max). */
  const lcpView = (p: number, i: number, max: number): number => {
    let k = 0;
    while (k < max) {
      const lim = Math.min(max, validEnd((p + k) >> bits) - p);
      if (lim <= k) break;
      while (k < lim && view[p + k] === nF[i + k]) k++;
      if (k < lim) break;
    }
    return k;
  };
  const res = new Int32Array(2);
  const sa = index.sa;

  /** Covers nF[a, b) of sector j with what is readable now: copies, in-sector history, literals. */
  const rematch = (j: number, a: number, b: number, out: Piece[]): number => {
    let got = 0;
    for (let i = a; i < b; ) {
      let bestLen = 0;
      let bestSrc = -1;
      let bestHist = 0;
      const max = b - i;
      // the base, where it is still readable: suffix-array neighbours of the longest match
      if (oldLen > 0) {
        const at = index.locate(nF, i, res);
        for (let d = 0, lo = at, hi = at + 1; d < SA_SPAN && (lo >= 0 || hi < sa.length); d++, lo--, hi++) {
          for (const x of [lo, hi]) {
            if (x < 0 || x >= sa.length) continue;
            const p = sa[x]!;
            const n = lcpView(p, i, max);
            if (n > bestLen) {
              bestLen = n;
              bestSrc = p;
            }
          }
          if (bestLen === max) break;
        }
      }
      // the new image: rewritten sectors, or earlier in this sector (a history copy)
      if (bestLen < max) {
        chain.around(i, CHAIN_DEPTH, (q) => {
          const m = q >> bits;
          if (m === j) {
            if (q > i) return false;
            let n = 0;
            while (n < max && nF[q + n] === nF[i + n]) n++;
            if (n >= 4 && (n > bestLen || (n === bestLen && bestHist === 0))) {
              bestLen = n;
              bestSrc = q;
              bestHist = i - q;
            }
          } else if (state[m] === 1) {
            const n = lcpView(q, i, max);
            if (n > bestLen) {
              bestLen = n;
              bestSrc = q;
              bestHist = 0;
            }
          }
          return bestLen === max;
        });
      }
      if (bestHist > 0 || bestLen >= MIN_RESCUE) {
        const pc: Piece = { at: i, len: bestLen, src: bestSrc };
        if (bestHist > 0) pc.hist = bestHist;
        out.push(pc);
        got += bestLen;
        i += bestLen;
      } else {
        const last = out[out.length - 1];
        if (last && last.src < 0 && last.at + last.len === i) last.len++;
        else out.push({ at: i, len: 1, src: -1 });
        i++;
      }
    }
    return got;
  };
  /** A broken base read nF[at, at + n) <- base[src, ...): from a stash where one holds it, else found again. */
  const lost = (j: number, at: number, src: number, n: number, out: Piece[]): void => {
    broken += n;
    for (const [t, ranges] of stashes) {
      let off = t * S;
      for (const [c, len, base] of ranges) {
        const a = Math.max(src, c);
        const b = Math.min(src + n, c + len);
        // (filler a stash took from a rewritten sector holds other bytes than the base there)
        if (a < b && base) {
          broken -= n; // counted again piece by piece
          if (a > src) lost(j, at, src, a - src, out);
          out.push({ at: at + (a - src), len: b - a, src: off + (a - c) });
          broken += b - a;
          rescued += b - a;
          if (b < src + n) lost(j, at + (b - src), b, src + n - b, out);
          return;
        }
        off += len;
      }
    }
    rescued += rematch(j, at, at + n, out);
  };

  const enc = new OpEncoder(new RangeEncoder(), view, tgt, pred, filterId, coding);
  let prevJ = -1;
  /** what each copy piece reads, kept at its target position (the view changes with later steps) */
  const snap = new Uint8Array(nAll * S);
  /**
   * The open step range: consecutive final writes of adjacent sectors, decoded as one run of output
   * (from its lowest sector) before any of them is written. A sector joins only when none of its copies
   * reads a sector of the range (those are written before it, and the decoder reads before writing).
   */
  let run: { js: number[]; pieces: Piece[]; free: boolean; stash?: boolean } | null = null;
  const flush = (): void => {
    if (!run) return;
    const { js, pieces } = run;
    const j = js[0]!;
    const c = js.length;
    const dir = c > 1 ? js[1]! - j : 1;
    const lo = Math.min(j, js[c - 1]!);
    const hi = Math.max(j, js[c - 1]!) + 1;
    if (straight !== 0) {
      if (!flow) enc.sector(j, prevJ, undefined, true);
    } else {
      enc.sector(j, prevJ, run.free ? run.stash === true : undefined);
      if (!run.stash) enc.sectorRun(c, dir, rangeMax);
    }
    prevJ = js[c - 1]!;
    const limit = run.stash ? (j + 1) * S : Math.min(newLen, hi * S);
    pieces.sort((x, y) => x.at - y.at);
    // INPLACE_STRADDLE: the range is decoded as one run, so calls between its sectors are whole there (filtered)
    const kept: Array<[number, Uint8Array]> = [];
    if (straddle && !run.stash) {
      for (let b = (lo + 1) * S; b + 2 <= limit && b < hi * S; b += S) {
        kept.push([b - 2, tgt.slice(b - 2, b + 2)]);
        applyFilter(filterId, tgt, 0, true, b - 2, b + 2, 0);
      }
    }
    let newPos = lo * S;
    for (const op of piecesToOps(pieces, snap)) {
      if (flow) flowOn(op);
      else enc.op(op, newPos, limit, true);
      newPos += op.copyLen + op.litLen;
    }
    for (const [at, bytes] of kept) tgt.set(bytes, at);
    // the decoder now counts the range's sectors as rewritten: the calls across their boundaries as it sees them
    if (straddle && !run.stash) for (let b = lo * S; b <= hi * S; b += S) straddleAt(b);
    if (newPos !== limit) throw new Error(`in-place encoder: step range at sector ${j} covers ${newPos - lo * S} of ${limit - lo * S} bytes`);
    run = null;
  };
  /** What each copy piece reads, taken again (after a range was finished, the view changed at its boundaries). */
  const resnap = (pieces: Piece[]): void => {
    for (const p of pieces) if (p.src >= 0 && p.hist === undefined) snap.set(view.subarray(p.src, p.src + p.len), p.at);
  };
  for (const step of steps) {
    const j = step.j;
    // a stash step never joins a range: the open one is finished first (the stash keeps the base as
    // the decoder then sees it)
    if (step.stash !== undefined) flush();
    // the stash bit is coded (see the decoder); a sector past the new image's end is always a stash
    const free = (anywhere || j * S >= oldLen) && j < nNew && state[j] === 0;
    const pieces: Piece[] = [];
    /** a stash step's ranges by source sector, and whether each still held the base */
    const held: Array<[number, number, boolean]> = [];
    let limit: number;
    if (step.stash !== undefined) {
      let at = j * S;
      for (const [c, len] of step.stash) {
        forSectors(c, len, bits, (m, n, off) => void held.push([c + off, n, state[m] === 0]));
        tgt.set(view.subarray(c, c + len), at);
        pieces.push({ at, len, src: c });
        at += len;
      }
      limit = (j + 1) * S;
    } else {
      limit = Math.min(newLen, (j + 1) * S);
      if (state[j] === 2) {
        tgt.fill(0, j * S, (j + 1) * S);
        tgt.set(nF.subarray(j * S, limit), j * S);
      }
      const readable = (m: number): boolean => state[m] === 0;
      for (const g of segs[j]!) {
        if (g.kind === K.Lit) {
          pieces.push({ at: g.at, len: g.len, src: -1 });
          continue;
        }
        // split by source sector: readable runs stay copies, the rest is found again
        forSectors(g.src, g.len, bits, (m, n, off) => {
          const at = g.at + off;
          const src = g.src + off;
          if (g.kind === K.Old) {
            if (readable(m)) pieces.push({ at, len: n, src });
            else lost(j, at, src, n, pieces);
          } else if (m === j) pieces.push({ at, len: n, src, hist: at - src });
          else if (state[m] === 1) pieces.push({ at, len: n, src });
          else {
            broken += n;
            rescued += rematch(j, at, at + n, pieces);
          }
        });
      }
    }
    stashes.delete(j); // (its own final write could still read it)
    resnap(pieces);
    // join the open range, or start one
    let joins = false;
    if (run && !run.stash && step.stash === undefined && run.js.length < rangeMax) {
      const js = run.js;
      const last = js[js.length - 1]!;
      const dir = js.length > 1 ? js[1]! - js[0]! : j - last;
      if (straight !== 0 && j - last !== straight) return null;
      if (Math.abs(j - last) === 1 && j - last === dir) {
        joins = true;
        for (const p of pieces) {
          if (p.src < 0 || p.hist !== undefined) continue;
          forSectors(p.src, p.len, bits, (m) => {
            if (js.includes(m)) joins = false;
          });
          if (!joins) break;
        }
      }
    }
    if (straight !== 0 && run && run.js.length < rangeMax && !joins) return null; // the range must hold rangeMax sectors
    if (joins) {
      run!.js.push(j);
      run!.pieces.push(...pieces);
    } else {
      if (run) {
        flush();
        if (straddle) resnap(pieces);
      }
      run = { js: [j], pieces, free };
      if (step.stash !== undefined) run.stash = true;
    }
    if (step.stash !== undefined) flush();
    view.set(tgt.subarray(j * S, limit), j * S);
    if (straddle) plain.set(tgt.subarray(j * S, limit), j * S);
    if (step.stash !== undefined) {
      state[j] = 2;
      stashes.set(j, held);
    } else state[j] = 1;
    // (a final write's boundaries change when its range is finished: see flush)
    if (straddle && step.stash !== undefined) {
      straddleAt(j * S);
      straddleAt((j + 1) * S);
    }
  }
  flush();
  if (flow) {
    let at = 0;
    for (const op of flowOps) {
      enc.op(op, at, newLen);
      at += op.copyLen + op.litLen;
    }
  }
  if (newLen > 0) enc.enc.direct(END_MARK, 16);
  const both = Math.ceil(Math.max(oldLen, newLen) / S);
  const spare = steps.reduce((m, st) => (st.stash !== undefined ? Math.max(m, st.j + 1 - both) : m), 0);
  return { body: enc.enc.finish(), anywhere: inp.anywhere, straight, flow, spare, straddle, steps: steps.length, broken, rescued, plan: { steps, anywhere: inp.anywhere, straight, flow } };
}

/**
 * Sectors past the base image (the new image grew into them) are free until their final write: each
 * can first keep S bytes of the base that later steps read after their sector was rewritten (the
 * reads a cycle broke). Returns the steps with stashes, or null when there is nothing to keep.
 */
function planStashes(order: number[], segs: Seg[][], before: Map<number, number>[], g: { S: number; bits: number; oldLen: number; nNew: number }): Step[] | null {
  const { S, bits, oldLen, nNew } = g;
  const firstFree = Math.ceil(oldLen / S);
  if (firstFree >= nNew || oldLen < S) return null;
  let steps: Step[] = order.map((j) => ({ j }));
  /** base position -> length of the reads from there that a stash holds */
  const covered = new Map<number, number>();
  for (let t = nNew - 1; t >= Math.max(firstFree, nNew - MAX_STASHES); t--) {
    const rank = new Map<number, number>();
    steps.forEach((st, i) => {
      if (st.stash === undefined) rank.set(st.j, i);
    });
    // broken base reads (not yet covered by a stash): [src, src + n) read by sector j
    const lostReads: Array<{ src: number; n: number; j: number }> = [];
    for (let j = 0; j < nNew; j++) {
      for (const sg of segs[j]!) {
        if (sg.kind !== K.Old) continue;
        forSectors(sg.src, sg.len, bits, (m, n, off) => {
          if (m === j || m >= nNew || rank.get(m)! > rank.get(j)!) return;
          const src = sg.src + off;
          if ((covered.get(src) ?? 0) >= n) return;
          lostReads.push({ src, n, j });
        });
      }
    }
    if (lostReads.length === 0) break;
    lostReads.sort((x, y) => x.src - y.src);
    // base ranges holding them (reads close together merged), the densest first, packed into S bytes
    const groups: Array<{ c: number; n: number; bytes: number; reads: typeof lostReads }> = [];
    for (const r of lostReads) {
      const last = groups[groups.length - 1];
      if (last && r.src <= last.c + last.n + STASH_GAP && Math.max(last.c + last.n, r.src + r.n) - last.c <= S) {
        last.n = Math.max(last.c + last.n, r.src + r.n) - last.c;
        last.bytes += r.n;
        last.reads.push(r);
      } else groups.push({ c: r.src, n: r.n, bytes: r.n, reads: [r] });
    }
    groups.sort((x, y) => y.bytes - x.bytes);
    // first what t's own final write reads from the base: that write moves after the stash's readers
    const own: typeof lostReads = [];
    for (const sg of segs[t]!) {
      if (sg.kind !== K.Old) continue;
      forSectors(sg.src, sg.len, bits, (m, n, off) => {
        if (m !== t && m < nNew) own.push({ src: sg.src + off, n, j: t });
      });
    }
    const ownGroups: typeof groups = [];
    for (const r of own) {
      const last = ownGroups[ownGroups.length - 1];
      if (last && r.src >= last.c && r.src <= last.c + last.n + 16 && r.src + r.n - last.c <= S) {
        last.n = Math.max(last.n, r.src + r.n - last.c);
        last.bytes += r.n;
        last.reads.push(r);
      } else ownGroups.push({ c: r.src, n: r.n, bytes: r.n, reads: [r] });
    }
    const ranges: Array<[number, number]> = [];
    const inWin: typeof lostReads = [];
    let used = 0;
    for (const x of [...ownGroups, ...groups.filter((x) => x.reads.every((r) => r.j !== t))]) {
      if (used + x.n > S || x.bytes < STASH_MIN_BYTES) continue;
      ranges.push([x.c, x.n]);
      inWin.push(...x.reads);
      used += x.n;
    }
    const bestBytes = inWin.reduce((z, r) => z + r.n, 0);
    if (bestBytes < 64) break;
    // the rest of the sector: more base bytes after the last range (any readable ones will do)
    ranges.sort((x, y) => x[0] - y[0]);
    const lastR = ranges[ranges.length - 1]!;
    if (used < S) {
      const more = Math.min(S - used, oldLen - (lastR[0] + lastR[1]));
      lastR[1] += more;
      used += more;
      if (used < S) ranges.push([0, S - used]);
    }
    // the stash goes right before the first of its source sectors is rewritten; its sector's final
    // write after the last step reading the stash, where the fewest of its own constraints break
    const srcSectors = new Set<number>();
    for (const [c, len] of ranges) forSectors(c, len, bits, (m) => void (m < nNew && srcSectors.add(m)));
    const stashAt = Math.min(...[...srcSectors].map((m) => rank.get(m)!));
    const lastReader = Math.max(...inWin.map((r) => rank.get(r.j)!));
    const rest = steps.filter((st) => !(st.j === t && st.stash === undefined));
    const posOf = (i: number): number => (i > rank.get(t)! ? i - 1 : i); // index in rest
    const insStash = posOf(stashAt);
    let from = posOf(lastReader) + 1;
    if (rank.get(t)! < stashAt) from = Math.max(from, insStash);
    // choose where t's final write goes (at or after `from`): the constraint bytes broken by the
    // steps before it (t had to precede them) and after it (they had to precede t)
    const w = (i: number, tFirst: boolean): number => {
      const st = rest[i]!;
      if (st.stash !== undefined) return 0;
      return tFirst ? (before[st.j]!.get(t) ?? 0) : (before[t]!.get(st.j) ?? 0);
    };
    let cost = 0;
    for (let i = 0; i < rest.length; i++) cost += w(i, i >= from);
    let bestPos = from;
    let bestCost = cost;
    for (let p = from; p < rest.length; p++) {
      cost += w(p, false) - w(p, true); // rest[p] moves before t
      if (cost < bestCost) {
        bestCost = cost;
        bestPos = p + 1;
      }
    }
    const next: Step[] = [];
    for (let i = 0; i <= rest.length; i++) {
      if (i === insStash) next.push({ j: t, stash: ranges });
      if (i === bestPos) next.push({ j: t });
      if (i < rest.length) next.push(rest[i]!);
    }
    // a final write of t placed before its stash would be wrong: keep the stash first
    const si = next.findIndex((st) => st.j === t && st.stash !== undefined);
    const fi = next.findIndex((st) => st.j === t && st.stash === undefined);
    if (si < 0 || fi < si) break;
    steps = next;
    for (const r of inWin) covered.set(r.src, Math.max(covered.get(r.src) ?? 0, r.n));
  }
  return covered.size > 0 ? steps : null;
}

/**
 * More stashes, in any sector not written yet (past the new image's end: any sector whose base is no
 * longer read). A stash in sector x at step s keeps the base bytes of x that steps from s on still
 * read in their place (those copies then read the stash, at the same positions), and in the dead
 * stretches between them broken base reads (not held by a stash yet) whose sources still hold the base
 * at s and whose readers come before x's final write. With `move`, x's final write may also go to the
 * end: its own base reads are then kept in the stash too. Each round adds the stash that holds the most
 * broken bytes. Returns the steps with the stashes added, or null when none pays.
 */
function planMoreStashes(start: Step[], segs: Seg[][], g: { S: number; bits: number; oldLen: number; newLen: number; nNew: number; nAll: number }, move: boolean): Step[] | null {
  const { S, bits, oldLen, newLen, nNew, nAll } = g;
  const nOld = Math.ceil(oldLen / S);
  if (oldLen < S || nAll > MORE_STASHES_MAX_SECTORS) return null;
  const steps = start.slice();
  let added = 0;
  /** a base read: nF[...] <- base[src, src + n) by step i; g: the first step that overwrites one of its sectors */
  type Read = { src: number; n: number; i: number; g: number };
  /** reads close in the base, stashed together: bytes read in [c, c + n) (must: reads the stash has to hold) */
  type G = { c: number; n: number; bytes: number; must: boolean };
  /** each stash's ranges by source position (a range holds at most S bytes), kept across rounds */
  const bySource = new WeakMap<Step, Array<[number, number]>>();
  const rangesBySource = (st: Step): Array<[number, number]> => {
    let r = bySource.get(st);
    if (!r) bySource.set(st, (r = st.stash!.slice().sort((p, q) => p[0] - q[0])));
    return r;
  };
  for (let round = 0; round < MAX_MORE_STASHES; round++) {
    const n = steps.length;
    const fpos = new Float64Array(nAll).fill(Infinity);
    const spos = new Float64Array(nAll).fill(Infinity);
    steps.forEach((st, i) => ((st.stash !== undefined ? spos : fpos)[st.j] = i));
    /** the step index that overwrites sector m's base */
    const gone = (m: number): number => Math.min(fpos[m]!, spos[m]!);
    /** the first step that overwrites a sector of [c, c + len) (Infinity: none); the read is intact at `at` while this is >= at */
    const goneIn = (c: number, len: number): number => {
      let g = Infinity;
      forSectors(c, len, bits, (m) => {
        const v = gone(m);
        if (v < g) g = v;
      });
      return g;
    };
    /** last stash step reading a sector's base; final writes' base reads of each sector */
    const stashRead = new Float64Array(nAll).fill(-1);
    const reads: Read[][] = Array.from({ length: nAll }, () => []);
    /** each final write's base reads; copies of each sector's new bytes by other final writes */
    const finalReads: Read[][] = Array.from({ length: nAll }, () => []);
    const newReads: Array<Array<{ j: number; n: number }>> = Array.from({ length: nAll }, () => []);
    const lostReads: Read[] = [];
    for (let i = 0; i < n; i++) {
      const st = steps[i]!;
      if (st.stash !== undefined) {
        for (const [c, len] of st.stash) forSectors(c, len, bits, (m) => void (m < nOld && gone(m) >= i && (stashRead[m] = Math.max(stashRead[m]!, i))));
        continue;
      }
      for (const sg of segs[st.j]!) {
        if (sg.kind === K.New) forSectors(sg.src, sg.len, bits, (m, len) => void (m !== st.j && newReads[m]!.push({ j: st.j, n: len })));
        if (sg.kind !== K.Old) continue;
        forSectors(sg.src, sg.len, bits, (m, len, off) => {
          const r = { src: sg.src + off, n: len, i, g: goneIn(sg.src + off, len) };
          finalReads[st.j]!.push(r);
          if (gone(m) >= i) reads[m]!.push(r);
          else lostReads.push(r);
        });
      }
    }
    // the parts a stash does not hold already
    const open: Read[] = [];
    const stashAt: number[] = [];
    steps.forEach((st, i) => void (st.stash !== undefined && stashAt.push(i)));
    for (const r of lostReads) {
      let parts: Array<[number, number]> = [[r.src, r.src + r.n]];
      for (const i of stashAt) {
        if (i >= r.i || parts.length === 0) break;
        const st = steps[i]!;
        // (a stash laid after the read's source sector was rewritten holds filler there, not the base)
        if (fpos[st.j]! < r.i || gone(r.src >> bits) < i) continue;
        // the ranges that can overlap the read: from the first starting after r.src - S
        const rs = rangesBySource(st);
        let k0 = 0;
        for (let hi = rs.length; k0 < hi; ) {
          const mid = (k0 + hi) >> 1;
          if (rs[mid]![0] <= r.src - S) k0 = mid + 1;
          else hi = mid;
        }
        for (let k = k0; k < rs.length && rs[k]![0] < r.src + r.n; k++) {
          const [c, len] = rs[k]!;
          if (c + len <= r.src) continue;
          const next: Array<[number, number]> = [];
          for (const [a, b] of parts) {
            if (b <= c || a >= c + len) next.push([a, b]);
            else {
              if (a < c) next.push([a, c]);
              if (b > c + len) next.push([c + len, b]);
            }
          }
          parts = next;
        }
      }
      for (const [a, b] of parts) open.push({ src: a, n: b - a, i: r.i, g: goneIn(a, b - a) });
    }
    if (open.length === 0) break;
    open.sort((x, y) => x.src - y.src);
    const openAt = new Map<number, Read[]>();
    for (const r of open) {
      const l = openAt.get(r.i);
      if (l) l.push(r);
      else openAt.set(r.i, [r]);
    }
    let best: { x: number; at: number; ranges: Array<[number, number]>; score: number; moved: boolean } | undefined;
    /** Bytes rewritten or still holding the base at `at` (a stash may copy them), for filling: [position, length] pieces. */
    const filler = (need: number, at: number): Array<[number, number]> | null => {
      const out: Array<[number, number]> = [];
      for (let m = 0; m < nNew && need > 0; m++) {
        if (fpos[m]! < at) {
          const k = Math.min(need, Math.min(newLen, (m + 1) * S) - m * S);
          out.push([m * S, k]);
          need -= k;
        }
      }
      for (let m = 0; m < nOld && need > 0; m++) {
        if (gone(m) >= at) {
          const k = Math.min(need, Math.min(oldLen, (m + 1) * S) - m * S);
          out.push([m * S, k]);
          need -= k;
        }
      }
      return need > 0 ? null : out;
    };
    /**
     * The stash of x at `at`: x's own base where steps still read it, in its own place (copies read
     * it where they did), the dead stretches between holding other bytes: `must` reads of other
     * sectors first, then broken reads (`may`) the densest first, split as the stretches require.
     */
    const layStash = (x: number, at: number, must: Read[], kept: readonly G[]): { ranges: Array<[number, number]>; bytes: number; pieces: number } | null => {
      const x0 = x * S;
      const xEnd = Math.max(0, Math.min(S, oldLen - x0));
      // the stretches of x's base still read (sector offsets, within the base), the other reads apart
      const live: Array<[number, number]> = [];
      const others: Read[] = [];
      for (const r of must) {
        if (r.src >> bits !== x) others.push(r);
        else if (r.src - x0 < xEnd) live.push([r.src - x0, Math.min(xEnd, r.src - x0 + r.n)]);
      }
      live.sort((p, q) => p[0] - q[0]);
      // the dead stretches between them, of at least HOLE_MIN bytes (past the base: all)
      const holes: Array<[number, number]> = [];
      let dead = 0;
      for (const [a, b] of live) {
        if (a - dead >= HOLE_MIN) holes.push([dead, a - dead]);
        if (b > dead) dead = b;
      }
      if (dead < S && (S - dead >= HOLE_MIN || S > xEnd)) holes.push([dead, S - dead]);
      const mg: G[] = [];
      for (const r of others.sort((p, q) => p.src - q.src)) {
        const last = mg[mg.length - 1];
        if (last && r.src <= last.c + last.n + 16) last.n = Math.max(last.n, r.src + r.n - last.c);
        else mg.push({ c: r.src, n: r.n, bytes: 0, must: true });
      }
      // packed into the holes in order, split where a hole ends
      const put: Array<Array<[number, number]>> = holes.map(() => []);
      let h = 0;
      let hUsed = 0;
      let bytes = 0;
      let pieces = 0;
      for (const g of [...mg, ...kept]) {
        let c = g.c;
        let n = g.n;
        while (n > 0 && h < holes.length) {
          const k = Math.min(n, holes[h]![1] - hUsed);
          put[h]!.push([c, k]);
          pieces++;
          c += k;
          n -= k;
          hUsed += k;
          if (hUsed === holes[h]![1]) {
            h++;
            hUsed = 0;
          }
        }
        if (g.must && n > 0) return null;
        if (!g.must) bytes += Math.floor((g.bytes * (g.n - n)) / g.n);
        if (n > 0) break;
      }
      if (bytes === 0) return null;
      // the stash: x's base in place, the holes filled (the rest of one: x's base again, else filler)
      const ranges: Array<[number, number]> = [];
      const push = (c: number, n: number): void => {
        const last = ranges[ranges.length - 1];
        if (last && last[0] + last[1] === c) last[1] += n;
        else ranges.push([c, n]);
      };
      let o = 0;
      for (let k = 0; k <= holes.length; k++) {
        const [ho, hn] = k < holes.length ? holes[k]! : [S, 0];
        if (ho > o) push(x0 + o, ho - o);
        if (k === holes.length) break;
        let p = ho;
        for (const [c, n] of put[k]!) {
          push(c, n);
          p += n;
        }
        const e = ho + hn;
        if (p < e && p < xEnd) {
          const n = Math.min(e, xEnd) - p;
          push(x0 + p, n);
          p += n;
        }
        if (p < e) {
          const f = filler(e - p, at);
          if (!f) return null;
          for (const [c, n] of f) push(c, n);
        }
        o = e;
      }
      return { ranges, bytes, pieces };
    };
    /**
     * The broken reads a stash laid at step `at` for a final write at `fx` may hold (read from `at` to
     * `fx`, their sources intact at `at`), in groups close in the base (a group spans at most S bytes),
     * those worth a piece, the densest first; and `fill`, the bytes they hold in S bytes of holes
     * (layStash fills its holes with them in that order, after the reads it must hold: never more).
     * The same for every candidate sharing `at` and `fx`: made once a round.
     */
    const mayGroups = new Map<number, { kept: G[]; fill: number }>();
    const groupsFor = (at: number, fx: number): { kept: G[]; fill: number } => {
      // (fx is Infinity for a sector past the new image: no final write; reads are by steps before n)
      const through = Math.min(fx, n);
      const key = at * (n + 1) + through;
      let e = mayGroups.get(key);
      if (e) return e;
      const groups: G[] = [];
      for (const r of open) {
        // (open is sorted by src)
        if (r.i < at || r.i > through || r.g < at) continue;
        const last = groups[groups.length - 1];
        const end = Math.max(last ? last.c + last.n : 0, r.src + r.n);
        if (last && r.src <= last.c + last.n + MORE_GAP && end - last.c <= S) {
          last.bytes += r.n;
          last.n = end - last.c;
        } else groups.push({ c: r.src, n: r.n, bytes: r.n, must: false });
      }
      const kept = groups.filter((q) => q.bytes >= MORE_MIN).sort((p, q) => q.bytes - p.bytes);
      let fill = 0;
      let room = S;
      for (const g of kept) {
        const k = Math.min(g.n, room);
        fill += Math.floor((g.bytes * k) / g.n);
        room -= k;
        if (k < g.n) break;
      }
      mayGroups.set(key, (e = { kept, fill }));
      return e;
    };
    // the open reads' bytes by reading step, summed: what the reads of a span of steps hold at most
    const openBytes = new Float64Array(n + 1);
    for (const r of open) openBytes[r.i + 1]! += r.n;
    for (let i = 1; i <= n; i++) openBytes[i]! += openBytes[i - 1]!;
    // every candidate (sector, moved or not, step) with that bound; laid out below from the highest
    // bound down, so that a good stash found early rules out the rest (on a 2 MB image most of the
    // planner's time went to laying stashes that could not win). The pick is the same as trying them
    // in this order and keeping the first of the highest score: ties go to the lower index
    type Cand = { x: number; moved: boolean; at: number; fx: number; own: Read[]; cost: number; bound: number; idx: number };
    const cands: Cand[] = [];
    for (let x = 0; x < nAll; x++) {
      // (past both images: the slot's spare sectors, free from the start)
      if (spos[x] !== Infinity) continue;
      // x's final write where it is, or moved to the end (its base reads then come from its stash;
      // copies of its new bytes by final writes between break)
      // (not when a stash step after it copies x's new bytes: they would not be there)
      const canMove = move && x < nNew && fpos[x]! < n - 1 && !steps.some((st, i) => i > fpos[x]! && st.stash?.some(([c, len]) => c < (x + 1) * S && c + len > x * S));
      for (const moved of canMove ? [false, true] : [false]) {
        let penalty = 0;
        if (moved) {
          penalty = MOVE_COST;
          for (const r of newReads[x]!) if (fpos[r.j]! > fpos[x]!) penalty += r.n;
        }
        const own = moved ? [...reads[x]!.filter((r) => r.i !== fpos[x]), ...finalReads[x]!] : reads[x]!;
        const fx = moved ? n : fpos[x]!;
        // where the stash may go: after the last stash step reading x's base, at most right before x's
        // final write; tried right after each step reading x's base (the last few)
        const lo = stashRead[x]! + 1;
        const hi = Math.min(fpos[x]!, n);
        if (lo > hi) continue;
        const at0 = new Set<number>([hi]);
        for (let k = own.length - 1; k >= 0 && at0.size < MORE_STASH_TRIES; k--) if (own[k]!.i + 1 >= lo && own[k]!.i + 1 <= hi) at0.add(own[k]!.i + 1);
        if (lo <= hi && at0.size < MORE_STASH_TRIES) at0.add(lo);
        // moved: each of its reads' bytes that no stash holds later (lost when the stash cannot take
        // the read: its sources gone at `at`)
        const fr = moved ? finalReads[x]! : [];
        const unheld = fr.map((r) => {
          let k = r.n;
          for (const o of openAt.get(r.i) ?? []) k -= Math.max(0, Math.min(o.src + o.n, r.src + r.n) - Math.max(o.src, r.src));
          return k;
        });
        for (const at of at0) {
          let lostMore = 0;
          for (let k = 0; k < fr.length; k++) if (fr[k]!.g < at) lostMore += unheld[k]!;
          const cost = penalty + lostMore;
          const bound = openBytes[Math.min(fx + 1, n)]! - openBytes[Math.min(at, n)]! - cost;
          if (bound > 0) cands.push({ x, moved, at, fx, own, cost, bound, idx: cands.length });
        }
      }
    }
    cands.sort((p, q) => q.bound - p.bound || p.idx - q.idx);
    let bestIdx = -1;
    /** whether a candidate scoring `v` at index `idx` would be picked over the best so far */
    const wins = (v: number, idx: number): boolean => v > (best?.score ?? 0) || (best !== undefined && v === best.score && idx < bestIdx);
    for (const c of cands) {
      if (!wins(c.bound, c.idx)) {
        if (c.bound < (best?.score ?? 0)) break; // (the rest are bounded lower still)
        continue;
      }
      const { x, moved, at, fx, own, cost } = c;
      const { kept, fill } = groupsFor(at, fx);
      // (a stash cannot hold more than its holes take of them, in at least one piece)
      if (fill === 0 || !wins(fill - MORE_STASH_RANGE_COST - cost, c.idx)) continue;
      // x's own base still read from `at` on (must be held)
      const must = own.filter((r) => r.i >= at && r.g >= at);
      const laid = layStash(x, at, must, kept);
      if (!laid) continue;
      const score = laid.bytes - MORE_STASH_RANGE_COST * laid.pieces - cost;
      if (wins(score, c.idx)) {
        best = { x, at, ranges: laid.ranges, score, moved };
        bestIdx = c.idx;
      }
    }
    if (!best || best.score < 64) break;
    const { x, at, ranges } = best;
    steps.splice(at, 0, { j: x, stash: ranges });
    if (best.moved) {
      const f = steps.findIndex((st) => st.j === x && st.stash === undefined);
      steps.push(...steps.splice(f, 1));
    }
    added++;
  }
  return added > 0 ? steps : null;
}

/** Share of aligned words that are AArch64 BL instructions. */
function arm64Share(img: Uint8Array): number {
  let n = 0;
  for (let i = 3; i < img.length; i += 4) if ((img[i]! & 0xfc) === 0x94) n++;
  return n / Math.max(1, img.length / 4);
}

/** Calls f(sector, bytes, offset) for each sector the range [src, src + len) touches. */
function forSectors(src: number, len: number, bits: number, f: (m: number, n: number, off: number) => void): void {
  const S = 1 << bits;
  for (let off = 0; off < len; ) {
    const m = (src + off) >> bits;
    const n = Math.min(len - off, (m + 1) * S - (src + off));
    f(m, n, off);
    off += n;
  }
}

/**
 * A write order for the sectors: each sector as soon as every sector that must come before it is
 * written, preferring the neighbour in the current direction (cheap to announce); when the
 * constraints form a cycle, `rule` picks the sector to write anyway: 0 = the fewest bytes waiting
 * on it, 1 = the most (bytes it unblocks - bytes waiting on it).
 */
function orderSectors(before: Map<number, number>[], rule: number): number[] {
  const n = before.length;
  const inW = new Float64Array(n);
  const outW = new Float64Array(n);
  const inDeg = new Int32Array(n);
  for (let u = 0; u < n; u++) {
    for (const [v, w] of before[u]!) {
      inW[v]! += w;
      outW[u]! += w;
      inDeg[v]!++;
    }
  }
  const done = new Uint8Array(n);
  const order: number[] = [];
  let last = -1;
  let dir = 1;
  const ready = new Set<number>();
  for (let v = 0; v < n; v++) if (inDeg[v] === 0) ready.add(v);
  const place = (v: number): void => {
    done[v] = 1;
    ready.delete(v);
    if (v !== last + dir && last >= 0) dir = v > last ? 1 : -1;
    last = v;
    order.push(v);
    for (const [w, x] of before[v]!) {
      if (done[w]) continue;
      inW[w]! -= x;
      if (--inDeg[w]! === 0) ready.add(w);
    }
  };
  while (order.length < n) {
    let v = -1;
    if (ready.size > 0) {
      if (ready.has(last + dir)) v = last + dir;
      else if (ready.has(last - dir)) v = last - dir;
      else {
        // nearest ready sector
        let bestD = Infinity;
        for (const r of ready) {
          const d = Math.abs(r - last);
          if (d < bestD || (d === bestD && r < v)) {
            bestD = d;
            v = r;
          }
        }
      }
    } else {
      let best = Infinity;
      for (let u = 0; u < n; u++) {
        if (done[u]) continue;
        let outLeft = 0;
        if (rule === 1) for (const [w, x] of before[u]!) if (!done[w]) outLeft += x;
        const score = rule === 0 ? inW[u]! : inW[u]! - outLeft;
        if (score < best || (score === best && Math.abs(u - last) < Math.abs(v - last))) {
          best = score;
          v = u;
        }
      }
    }
    place(v);
  }
  return order;
}

/**
 * Local search: moves single sectors to the position where the fewest constraint bytes are broken
 * (a few passes; only moves that break strictly fewer).
 */
function improveOrder(before: Map<number, number>[], order: number[]): number[] {
  const n = order.length;
  if (n > 4096) return order;
  const after: Map<number, number>[] = Array.from({ length: n }, () => new Map());
  for (let u = 0; u < n; u++) for (const [v, w] of before[u]!) after[v]!.set(u, w);
  const o = order.slice();
  for (let pass = 0; pass < 4; pass++) {
    let moved = false;
    for (let a = 0; a < n; a++) {
      const v = o[a]!;
      // gain of moving v to just after position b (b > a) or just before b (b < a); a sector that
      // does not follow its predecessor costs JUMP_COST (its announcement, a broken run of copies)
      const jump = (x: number | undefined, y: number | undefined): number => (x === undefined || y === undefined || Math.abs(x - y) === 1 ? 0 : JUMP_COST);
      const out = jump(o[a - 1], v) + jump(v, o[a + 1]) - jump(o[a - 1], o[a + 1]);
      let bestGain = 0;
      let bestB = a;
      let g = 0;
      for (let b = a + 1; b < n; b++) {
        const u = o[b]!;
        g += (after[v]!.get(u) ?? 0) - (before[v]!.get(u) ?? 0); // u must come before v: fixed; v before u: now broken
        const gj = g + out - (jump(u, v) + jump(v, o[b + 1]) - jump(u, o[b + 1]));
        if (gj > bestGain) {
          bestGain = gj;
          bestB = b;
        }
      }
      g = 0;
      for (let b = a - 1; b >= 0; b--) {
        const u = o[b]!;
        g += (before[v]!.get(u) ?? 0) - (after[v]!.get(u) ?? 0);
        const gj = g + out - (jump(o[b - 1], v) + jump(v, u) - jump(o[b - 1], u));
        if (gj > bestGain) {
          bestGain = gj;
          bestB = b;
        }
      }
      if (bestB !== a) {
        o.splice(a, 1);
        o.splice(bestB, 0, v);
        moved = true;
      }
    }
    if (!moved) break;
  }
  return o;
}

/** Bytes of constraints an order breaks. */
function backwardWeight(before: Map<number, number>[], order: number[]): number {
  const rank = new Int32Array(before.length);
  order.forEach((v, i) => (rank[v] = i));
  let c = 0;
  for (let u = 0; u < before.length; u++) for (const [v, w] of before[u]!) if (rank[u]! > rank[v]!) c += w;
  return c;
}

/** Positions of the new image grouped by 4-byte prefix hash, in increasing order within a group. */
class HashIndex {
  private readonly start = new Int32Array((1 << 16) + 1);
  private readonly pos: Int32Array;
  constructor(private readonly nw: Uint8Array) {
    const n = Math.max(0, nw.length - 3);
    this.pos = new Int32Array(n);
    const st = this.start;
    for (let i = 0; i < n; i++) st[hash4(this.nw, i, 16) + 1]!++;
    for (let h = 0; h < 1 << 16; h++) st[h + 1]! += st[h]!;
    const fill = st.slice(0, 1 << 16);
    for (let i = 0; i < n; i++) this.pos[fill[hash4(this.nw, i, 16)]!++] = i;
  }
  /** Calls f(q) for up to `depth` positions q != i with the prefix hash of i, nearest first; stops when f returns true. */
  around(i: number, depth: number, f: (q: number) => boolean): void {
    if (i + 4 > this.nw.length) return;
    const h = hash4(this.nw, i, 16);
    const a = this.start[h]!;
    const b = this.start[h + 1]!;
    const pos = this.pos;
    let lo = a;
    let hi = b;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pos[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    // lo: first index with pos >= i (pos[lo] === i)
    let l = lo - 1;
    let r = lo < b && pos[lo] === i ? lo + 1 : lo;
    for (let d = 0; d < depth && (l >= a || r < b); d++) {
      if (l >= a && (r >= b || i - pos[l]! <= pos[r]! - i)) {
        if (f(pos[l--]!)) return;
      } else if (f(pos[r++]!)) return;
    }
  }
}

/** Copy-then-literal operations for one step's pieces (in order); `snap` holds what each copy reads, at the copy's target position. */
function piecesToOps(list: Piece[], snap: Uint8Array): Op[] {
  const ops: Op[] = [];
  let cur: Op | undefined;
  for (const g of list) {
    if (g.len === 0) continue;
    if (g.src < 0) {
      if (!cur) {
        cur = { copyLen: 0, oldPos: 0, litLen: 0 };
        ops.push(cur);
      }
      cur.litLen += g.len;
    } else if (g.hist !== undefined) {
      if (cur && cur.litLen === 0 && cur.hist === g.hist) {
        cur.copyLen += g.len;
        continue;
      }
      cur = { copyLen: g.len, oldPos: 0, litLen: 0, hist: g.hist };
      ops.push(cur);
    } else if (cur && cur.litLen === 0 && cur.copyLen > 0 && cur.hist === undefined && cur.oldPos + cur.copyLen === g.src) {
      cur.copyLen += g.len;
    } else {
      cur = { copyLen: g.len, oldPos: g.src, litLen: 0, src: snap, srcAt: g.at };
      ops.push(cur);
    }
  }
  return ops;
}

/**
 * An in-memory region (host side, tests): `bytes` starts as the base image padded to whole sectors;
 * `writes` counts sector writes.
 */
export class MemoryRegion implements InPlaceRegion {
  readonly bytes: Uint8Array;
  writes = 0;
  doneSteps = 0;
  constructor(base: Uint8Array, readonly sectorSize: number, size: number) {
    this.bytes = new Uint8Array(Math.ceil(Math.max(size, base.length) / sectorSize) * sectorSize).fill(0xff);
    this.bytes.set(base);
  }
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > this.bytes.length) throw new RangeError(`read(${offset}, ${length}) outside the region`);
    return this.bytes.subarray(offset, offset + length);
  }
  writeSector(index: number, data: Uint8Array): void {
    const S = this.sectorSize;
    this.bytes.fill(0xff, index * S, (index + 1) * S);
    this.bytes.set(data, index * S);
    this.writes++;
  }
}
