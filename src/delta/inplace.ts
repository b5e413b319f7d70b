// In-place deltas for single-slot devices: the new image is written over the base image in the same
// flash region, one sector at a time (through the device's scratch sector). The patch lists sectors in
// an order where no old sector is overwritten while a later sector still copies from it; where the
// reads form a cycle, the copies that close it become literals. Resuming after a power cut needs only
// the number of completed steps: the applier re-decodes the patch, replaying done sectors from the
// region itself (they already hold their new bytes), and continues writing from the next step.

import { diffOps, OldIndex } from "./diff.js";
import { filterImage } from "./filters.js";
import { RangeEncoder } from "./rangecoder.js";
import { encodeHeader, END_MARK, INPLACE_MAGIC, OpEncoder, type Op, type Prediction } from "./stream.js";
import { buildPrediction, copiesOf, mappedBase } from "./create.js";
import { AddressMap, mapReferences } from "./predict.js";
import type { InPlaceSink } from "./decode.js";
import type { RandomAccessReader } from "./types.js";

/** The device-side view of the region an in-place patch rewrites. */
export interface InPlaceRegion extends RandomAccessReader, InPlaceSink {}

interface Seg {
  newStart: number;
  len: number;
  /** -1 for literal bytes */
  oldPos: number;
  /** Copies from an already rewritten part of the region (new bytes) instead of the base. */
  fromNew?: boolean;
}

export interface InPlaceStats {
  steps: number;
  /** Copy bytes turned into literals to break read/write cycles. */
  brokenBytes: number;
  /** Of those, bytes copied from already rewritten sectors instead. */
  rescuedBytes: number;
}

/** Builds an in-place patch (header + body) with filter `filterId`. */
export function createInPlacePatch(oldImage: Uint8Array, newImage: Uint8Array, filterId: number, sectorSize: number, predFlags = 0, maxMapSegments = 1024): { patch: Uint8Array; stats: InPlaceStats } {
  const S = sectorSize;
  const bits = Math.log2(S);
  if (!Number.isInteger(bits) || bits < 8 || bits > 16) throw new RangeError(`in-place sector size ${S} must be a power of two in 256..65536`);
  const oF = filterImage(filterId, oldImage, true, S);
  const nF = filterImage(filterId, newImage, true, S);
  let ops = diffOps(new OldIndex(oF), nF);
  let base = oF;
  let pred: Prediction | undefined;
  if (predFlags !== 0) {
    pred = buildPrediction(oF, nF, ops, predFlags, maxMapSegments);
    if (pred.flags !== 0) {
      base = mappedBase(oF, pred, S);
      ops = diffOps(new OldIndex(base), nF);
    } else pred = undefined;
  }
  const nNew = Math.ceil(nF.length / S);
  const segs: Seg[][] = Array.from({ length: nNew }, () => []);
  const addSeg = (newStart: number, len: number, oldPos: number): void => {
    while (len > 0) {
      const j = Math.floor(newStart / S);
      const n = Math.min(len, (j + 1) * S - newStart);
      segs[j]!.push({ newStart, len: n, oldPos });
      newStart += n;
      len -= n;
      if (oldPos >= 0) oldPos += n;
    }
  };
  let pos = 0;
  for (const op of ops) {
    addSeg(pos, op.copyLen, op.oldPos);
    pos += op.copyLen;
    addSeg(pos, op.litLen, -1);
    pos += op.litLen;
  }
  // reads[j]: old sector -> bytes that new sector j copies from it (only sectors that get rewritten matter)
  const reads: Map<number, number>[] = segs.map((list, j) => {
    const m = new Map<number, number>();
    for (const g of list) {
      if (g.oldPos < 0) continue;
      for (let a = g.oldPos; a < g.oldPos + g.len; ) {
        const k = Math.floor(a / S);
        const b = Math.min(g.oldPos + g.len, (k + 1) * S);
        if (k !== j && k < nNew) m.set(k, (m.get(k) ?? 0) + (b - a));
        a = b;
      }
    }
    return m;
  });
  const indeg = new Int32Array(nNew);
  const cost = new Float64Array(nNew);
  for (const m of reads) for (const [k, n] of m) {
    indeg[k]!++;
    cost[k]! += n;
  }
  const written = new Uint8Array(nNew);
  const order: number[] = [];
  const ready: number[] = [];
  for (let k = nNew - 1; k >= 0; k--) if (indeg[k] === 0) ready.push(k);
  let brokenBytes = 0;
  let rescuedBytes = 0;
  // Rewritten sectors hold new bytes; the applier filters and maps whatever it reads, sector by sector
  // (the barrier keeps every transform inside its sector), so their view is this image's.
  const newSeen = new Uint8Array(nF);
  if (pred) mapReferences(pred.flags, newSeen, 0, pred.map, oF.length, pred.base, S);
  const shiftMap = AddressMap.fromCopies(copiesOf(ops), 1 << 20);
  const oldLen = oF.length;
  const rescue = (list: Seg[], lo: number, hi: number): Seg[] => {
    const out: Seg[] = [];
    for (const g of list) {
      if (g.oldPos < 0 || g.fromNew || g.oldPos + g.len <= lo || g.oldPos >= hi) {
        out.push(g);
        continue;
      }
      const a = Math.max(lo, g.oldPos) - g.oldPos;
      const b = Math.min(hi, g.oldPos + g.len) - g.oldPos;
      if (a > 0) out.push({ newStart: g.newStart, len: a, oldPos: g.oldPos });
      // where did these old bytes go? if that part of the region is already rewritten, copy from it
      const from = g.oldPos + a;
      const to = from + shiftMap.shift(from);
      const n = b - a;
      let ok = to >= 8 && to + n + 8 <= Math.min(oldLen, nF.length);
      for (let m = Math.floor(to / S); ok && m <= Math.floor((to + n - 1) / S); m++) if (!written[m]) ok = false;
      if (ok) {
        let same = 0;
        for (let k = 0; k < n; k++) if (newSeen[to + k] === nF[g.newStart + a + k]) same++;
        ok = same * 2 > n;
      }
      if (ok) {
        out.push({ newStart: g.newStart + a, len: n, oldPos: to, fromNew: true });
        rescuedBytes += n;
      } else out.push({ newStart: g.newStart + a, len: n, oldPos: -1 });
      if (b < g.len) out.push({ newStart: g.newStart + b, len: g.len - b, oldPos: g.oldPos + b });
    }
    return out;
  };
  const emit = (j: number): void => {
    written[j] = 1;
    order.push(j);
    for (const [k, n] of reads[j]!) {
      cost[k]! -= n;
      if (--indeg[k]! === 0 && !written[k]) ready.push(k);
    }
  };
  while (order.length < nNew) {
    if (ready.length === 0) {
      // a cycle: free the unwritten sector whose remaining readers copy the fewest bytes from it
      let best = -1;
      for (let k = 0; k < nNew; k++) if (!written[k] && (best < 0 || cost[k]! < cost[best]!)) best = k;
      const k = best;
      for (let j = 0; j < nNew; j++) {
        if (written[j] || j === k || !reads[j]!.has(k)) continue;
        brokenBytes += reads[j]!.get(k)!;
        reads[j]!.delete(k);
        segs[j] = rescue(segs[j]!, k * S, (k + 1) * S);
      }
      indeg[k] = 0;
      cost[k] = 0;
      ready.push(k);
    }
    const j = ready.pop()!;
    if (written[j]) continue;
    emit(j);
  }

  const enc = new OpEncoder(new RangeEncoder(), base, nF, pred);
  let prevJ = -1;
  for (const j of order) {
    enc.sector(j, prevJ);
    prevJ = j;
    let newPos = j * S;
    const limit = Math.min(nF.length, (j + 1) * S);
    for (const op of segsToOps(segs[j]!, newSeen)) {
      enc.op(op, newPos, limit, true);
      newPos += op.copyLen + op.litLen;
    }
  }
  if (nF.length > 0) enc.enc.direct(END_MARK, 16);
  const body = enc.enc.finish();
  const head = encodeHeader(INPLACE_MAGIC, filterId, newImage.length, oldImage.length, bits, pred);
  const patch = new Uint8Array(head.length + body.length);
  patch.set(head);
  patch.set(body, head.length);
  return { patch, stats: { steps: nNew, brokenBytes, rescuedBytes } };
}

/** Copy-then-literal operations for one sector's segments. */
function segsToOps(list: Seg[], newSeen: Uint8Array): Op[] {
  const ops: Op[] = [];
  let cur: Op | undefined;
  for (const g of list) {
    if (g.len === 0) continue;
    if (g.oldPos < 0) {
      if (!cur) {
        cur = { copyLen: 0, oldPos: 0, litLen: 0 };
        ops.push(cur);
      }
      cur.litLen += g.len;
    } else if (g.fromNew) {
      cur = { copyLen: g.len, oldPos: g.oldPos, litLen: 0, src: newSeen, srcAt: g.oldPos };
      ops.push(cur);
    } else if (cur && cur.litLen === 0 && cur.copyLen > 0 && !cur.src && cur.oldPos + cur.copyLen === g.oldPos) {
      cur.copyLen += g.len;
    } else {
      cur = { copyLen: g.len, oldPos: g.oldPos, litLen: 0 };
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
