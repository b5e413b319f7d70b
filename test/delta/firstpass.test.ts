import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstPassCopies, mappedBase, predictionFromCopies } from "../../src/delta/create.js";
import { PRED } from "../../src/delta/predict.js";
import { rng } from "./helpers.js";

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

describe("firstPassCopies (hash-chain first pass)", () => {
  it("gives copies inside both images, in new-image order, that mostly agree", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 1, max: 256 }), (a, b, alpha) => {
        const old = a.map((x) => x % alpha);
        const nw = b.map((x) => x % alpha);
        let lastEnd = 0;
        for (const [o, y, len] of firstPassCopies(old, nw)) {
          expect(len).toBeGreaterThan(0);
          expect(o).toBeGreaterThanOrEqual(0);
          expect(o + len).toBeLessThanOrEqual(old.length);
          expect(y).toBeGreaterThanOrEqual(lastEnd);
          expect(y + len).toBeLessThanOrEqual(nw.length);
          let same = 0;
          for (let k = 0; k < len; k++) if (old[o + k] === nw[y + k]) same++;
          expect(same * 2).toBeGreaterThan(len); // grown only while more than half agrees
          lastEnd = y + len;
        }
      }),
      { numRuns: 300 },
    );
  });

  it("finds moved blocks at their displacement, across scattered changed bytes", () => {
    const old = randomBytes(20000, 7);
    // new = old with blocks swapped and every 50th byte of the moved block changed
    const a = old.subarray(0, 8000);
    const b = old.subarray(8000, 14000);
    const c = old.subarray(14000);
    const moved = new Uint8Array(b);
    for (let i = 25; i < moved.length; i += 50) moved[i] ^= 0x5a;
    const nw = new Uint8Array([...c, ...moved, ...a]);
    const copies = firstPassCopies(old, nw);
    const covered = (oldStart: number, newStart: number, len: number): number => {
      let n = 0;
      for (const [o, y, l] of copies) {
        if (o - y !== oldStart - newStart) continue;
        n += Math.max(0, Math.min(y + l, newStart + len) - Math.max(y, newStart));
      }
      return n;
    };
    expect(covered(14000, 0, c.length)).toBeGreaterThan(c.length * 0.95);
    expect(covered(8000, c.length, b.length)).toBeGreaterThan(b.length * 0.95);
    expect(covered(0, c.length + b.length, a.length)).toBeGreaterThan(a.length * 0.95);
  });
});

describe("predictionFromCopies (address map and load address)", () => {
  /** An image of random bytes with 32-bit pointers (load address `base`) every 64 bytes; returns it and the pointer positions. */
  function withPointers(n: number, base: number, seed: number): { img: Uint8Array; at: number[] } {
    const img = randomBytes(n, seed);
    const r = rng(seed + 1);
    const at: number[] = [];
    for (let p = 16; p + 4 <= n; p += 64) {
      // targets keep 2 KiB away from the middle (where the test moves code): changed words alone
      // place the load address only that closely
      const t = Math.floor(r() * (n / 2 - 4096)) * 2;
      const v = base + (t < n / 2 - 4096 ? t : t + 8192);
      img[p] = v & 0xff;
      img[p + 1] = (v >>> 8) & 0xff;
      img[p + 2] = (v >>> 16) & 0xff;
      img[p + 3] = v >>> 24;
      at.push(p);
    }
    return { img, at };
  }

  it("finds the load address and maps the pointers into a moved block", () => {
    const base = 0x08004000;
    const n = 1 << 16;
    const { img: old, at } = withPointers(n, base, 5);
    // 256 bytes inserted in the middle: everything behind them moved, and so did the pointers to it
    const nw = new Uint8Array(n + 256);
    nw.set(old.subarray(0, n / 2), 0);
    nw.set(randomBytes(256, 9), n / 2);
    nw.set(old.subarray(n / 2), n / 2 + 256);
    const moved = (p: number): number => (p < n / 2 ? p : p + 256);
    for (const p of at) {
      const v = (old[p]! | (old[p + 1]! << 8) | (old[p + 2]! << 16) | (old[p + 3]! << 24)) >>> 0;
      const w = v - base >= n / 2 ? v + 256 : v;
      const q = moved(p);
      nw[q] = w & 0xff;
      nw[q + 1] = (w >>> 8) & 0xff;
      nw[q + 2] = (w >>> 16) & 0xff;
      nw[q + 3] = w >>> 24;
    }
    const copies: Array<[number, number, number]> = [
      [0, 0, n / 2],
      [n / 2, n / 2 + 256, n / 2],
    ];
    const pred = predictionFromCopies(old, nw, copies, PRED.abs32);
    expect(pred.flags & PRED.abs32).toBe(PRED.abs32);
    // any load address that puts every changed pointer's target in the right segment explains them
    expect(Math.abs(pred.base - base)).toBeLessThan(2048);
    const mapped = mappedBase(old, pred);
    let wrong = 0;
    for (const p of at) for (let k = 0; k < 4; k++) if (mapped[p + k] !== nw[moved(p) + k]) wrong++;
    expect(wrong).toBe(0);
  });

  it("takes the padding both images end in to stay in place: references into it keep their value", () => {
    // code, a table of pointers (into the code on both sides of its second insertion, which pins the
    // load address, and into the padding, whose addresses do not move), then zero padding; the new
    // image has 2 x 256 bytes more code and as much less padding, and its last copy runs on into the
    // padding with the code's displacement
    const base = 0x08000000;
    const n = 1 << 14;
    const size = n + 512 + 256 + 4096;
    const code = randomBytes(n, 31);
    for (let p = 3; p < n; p += 4) code[p] = code[p]! & 0x7f; // no stray pointers
    const q = (3 * n) / 4;
    const build = (grown: boolean): Uint8Array => {
      const out = new Uint8Array(size);
      const g = grown ? 256 : 0;
      out.set(code.subarray(0, n / 2));
      out.set(code.subarray(n / 2, q), n / 2 + g);
      out.set(code.subarray(q), q + 2 * g);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < 64; i++) {
        // even: code just before or after q (moved by 256 or 512); odd: the padding
        const t = i % 4 === 0 ? q - 4 - 4 * i + g : i % 4 === 2 ? q + 4 * i + 2 * g : n + 512 + 256 + 1024 + 16 * i;
        dv.setUint32(n + 2 * g + 4 * i, base + t, true);
      }
      return out;
    };
    const old = build(false);
    const nw = build(true);
    const copies: Array<[number, number, number]> = [
      [0, 0, n / 2],
      [n / 2, n / 2 + 256, n / 4],
      [q, q + 512, size - q - 512],
    ];
    const pred = predictionFromCopies(old, nw, copies, PRED.abs32);
    expect(pred.flags & PRED.abs32).toBe(PRED.abs32);
    expect(Math.abs(pred.base - base)).toBeLessThan(8);
    const mapped = mappedBase(old, pred);
    // every table word, moved or not, is predicted exactly
    const wrong = Array.from({ length: 64 }, (_, i) => i).filter((i) => Buffer.compare(mapped.subarray(n + 4 * i, n + 4 * i + 4), nw.subarray(n + 512 + 4 * i, n + 512 + 4 * i + 4)) !== 0);
    expect(wrong).toEqual([]);
  });

  it("drops pointer mapping when no load address explains the changed words", () => {
    const n = 1 << 14;
    const old = randomBytes(n, 21);
    const nw = randomBytes(n, 22); // unrelated: changed words agree on no load address
    const pred = predictionFromCopies(old, nw, [[0, 0, n]], PRED.abs32);
    expect(pred.flags & PRED.abs32).toBe(0);
  });
});
