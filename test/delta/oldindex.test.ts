import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OldIndex } from "../../src/delta/diff.js";

/** Length of the longest prefix of nw[at..] found anywhere in old (brute force). */
function longest(old: Uint8Array, nw: Uint8Array, at: number): number {
  let best = 0;
  for (let x = 0; x < old.length; x++) {
    let k = 0;
    while (x + k < old.length && at + k < nw.length && old[x + k] === nw[at + k]) k++;
    if (k > best) best = k;
  }
  return best;
}

describe("OldIndex.search", () => {
  it("finds a longest match at every position (small alphabets, both ends, one-byte texts)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.uint8Array({ minLength: 1, maxLength: 120 }), fc.integer({ min: 1, max: 256 }), (rawOld, rawNew, alpha) => {
        const old = rawOld.map((x) => x % alpha);
        const nw = rawNew.map((x) => x % alpha);
        const index = new OldIndex(old);
        const out = new Int32Array(2);
        for (let at = 0; at < nw.length; at++) {
          index.search(nw, at, out);
          const [pos, len] = [out[0]!, out[1]!];
          expect(len).toBe(longest(old, nw, at));
          expect(Buffer.compare(Buffer.from(old.subarray(pos, pos + len)), Buffer.from(nw.subarray(at, at + len)))).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});
