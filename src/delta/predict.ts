// Reference prediction: when code moves, every branch and pointer to moved code changes by the same
// amount as its target. The patch carries a compact address map (old position -> shift, taken from the
// copies) and, inside a copy, every Thumb-2 BL/B.W, AArch64 BL/B and absolute 32-bit pointer found in
// the old bytes is rewritten to point where its target went before the difference is taken. So moved
// references cost nothing; only real changes remain. Like the filters, the rewrite is stateless: it
// decides from the raw old bytes at fixed alignments, so any slice can be predicted on its own.

export const PRED = {
  thumb: 1,
  arm64: 2,
  abs32: 4,
} as const;

/** Margin (bytes) around a slice that prediction needs to be exact. */
export const PRED_MARGIN = 8;

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

  /** Shift of old position x: of the segment holding it, else of the nearer neighbour. */
  shift(x: number): number {
    const s = this.starts;
    const n = s.length;
    if (n === 0) return 0;
    let lo = 0;
    let hi = n - 1;
    if (x < s[0]!) return this.shifts[0]!;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (s[mid]! <= x) lo = mid;
      else hi = mid - 1;
    }
    if (x < this.ends[lo]! || lo === n - 1) return this.shifts[lo]!;
    return x - this.ends[lo]! <= s[lo + 1]! - x ? this.shifts[lo]! : this.shifts[lo + 1]!;
  }

  /** From copy segments (oldPos, newPos, len): merged, non-overlapping, at most `max` segments. */
  static fromCopies(copies: Array<[number, number, number]>, max: number, minLen = 16): AddressMap {
    const segs = copies.filter((c) => c[2] >= minLen).sort((a, b) => a[0] - b[0]);
    const out: Array<[number, number, number]> = []; // start, end, shift
    for (const [o, nw, len] of segs) {
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
      const idx = out.map((_, i) => i).sort((a, b) => out[b]![1] - out[b]![0] - (out[a]![1] - out[a]![0]) || a - b).slice(0, max).sort((a, b) => a - b);
      keep = idx.map((i) => out[i]!);
    }
    return new AddressMap(Int32Array.from(keep, (k) => k[0]), Int32Array.from(keep, (k) => k[1]), Int32Array.from(keep, (k) => k[2]));
  }
}

function isThumbBranch(raw: Uint8Array, i: number): boolean {
  if ((raw[i + 1]! & 0xf8) !== 0xf0) return false;
  const t = raw[i + 3]! & 0xf8;
  return t === 0xf8 || t === 0xb8;
}

/**
 * Writes into `out` (same length as `raw`, already a copy of it) the predicted new bytes of old bytes
 * `raw`, whose byte 0 is at old position `pos0`, for a copy whose new position is old position - c.
 * Only positions whose whole 4-byte window (and its neighbours) lie in [0, raw.length) are touched.
 */
export function predict(flags: number, raw: Uint8Array, out: Uint8Array, pos0: number, c: number, map: AddressMap, oldSize: number, base: number): void {
  const n = raw.length;
  if (flags & PRED.thumb) {
    for (let i = (pos0 & 1); i + 4 <= n; i += 2) {
      if (!isThumbBranch(raw, i)) continue;
      const v = ((raw[i + 1]! & 7) << 19) | (raw[i]! << 11) | ((raw[i + 3]! & 7) << 8) | raw[i + 2]!;
      const off = ((v << 10) >> 10) * 2; // sign-extend 22 bits, halfwords -> bytes
      const p = pos0 + i;
      const t = p + 4 + off;
      if (t < 0 || t >= oldSize) continue;
      const offN = t + map.shift(t) - (p - c + 4);
      if (offN < -(1 << 22) || offN >= 1 << 22) continue;
      const w = (offN >> 1) & 0x3fffff;
      out[i + 1] = 0xf0 | ((w >>> 19) & 7);
      out[i] = (w >>> 11) & 0xff;
      out[i + 3] = (raw[i + 3]! & 0xf8) | ((w >>> 8) & 7);
      out[i + 2] = w & 0xff;
    }
  }
  if (flags & (PRED.arm64 | PRED.abs32)) {
    for (let i = (4 - (pos0 & 3)) & 3; i + 4 <= n; i += 4) {
      const p = pos0 + i;
      const b3 = raw[i + 3]!;
      if (flags & PRED.arm64) {
        const op = b3 & 0xfc;
        if (op === 0x94 || op === 0x14) {
          const v = raw[i]! | (raw[i + 1]! << 8) | (raw[i + 2]! << 16) | ((b3 & 3) << 24);
          const off = ((v << 6) >> 6) * 4;
          const t = p + off;
          if (t < 0 || t >= oldSize) continue;
          const offN = t + map.shift(t) - (p - c);
          if (offN < -(1 << 27) || offN >= 1 << 27) continue;
          const w = (offN >> 2) & 0x3ffffff;
          out[i] = w & 0xff;
          out[i + 1] = (w >>> 8) & 0xff;
          out[i + 2] = (w >>> 16) & 0xff;
          out[i + 3] = op | ((w >>> 24) & 3);
          continue;
        }
      }
      if (flags & PRED.abs32) {
        // not when a Thumb branch window overlaps this word
        if (flags & PRED.thumb && ((i >= 2 && isThumbBranch(raw, i - 2)) || isThumbBranch(raw, i) || (i + 6 <= n && isThumbBranch(raw, i + 2)))) continue;
        if (i < 2 || i + 6 > n) continue;
        const w = (raw[i]! | (raw[i + 1]! << 8) | (raw[i + 2]! << 16) | (b3 << 24)) >>> 0;
        const x = w - base;
        if (x < 0 || x >= oldSize) continue;
        const s = map.shift(x & ~1);
        if (s === 0) continue;
        const wn = (w + s) >>> 0;
        out[i] = wn & 0xff;
        out[i + 1] = (wn >>> 8) & 0xff;
        out[i + 2] = (wn >>> 16) & 0xff;
        out[i + 3] = wn >>> 24;
      }
    }
  }
}
