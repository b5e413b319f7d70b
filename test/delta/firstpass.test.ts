import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstPassCopies } from "../../src/delta/create.js";
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
