import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { suffixArray } from "../../src/delta/sais.js";

/** The suffixes of `s` sorted by comparing them byte by byte (a prefix sorts first). */
function naive(s: Uint8Array): number[] {
  const b = Buffer.from(s.buffer, s.byteOffset, s.byteLength);
  return Array.from(s.keys()).sort((x, y) => Buffer.compare(b.subarray(x), b.subarray(y)));
}

/** Texts that make induced sorting recurse: repeats of a short random unit with sparse changes. */
const repetitive = fc
  .record({
    unit: fc.uint8Array({ minLength: 1, maxLength: 7 }),
    reps: fc.integer({ min: 1, max: 400 }),
    alpha: fc.integer({ min: 1, max: 256 }),
    edits: fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }),
  })
  .map(({ unit, reps, alpha, edits }) => {
    const s = new Uint8Array(unit.length * reps);
    for (let i = 0; i < s.length; i++) s[i] = unit[i % unit.length]! % alpha;
    for (const [at, v] of edits) s[at % s.length] = v % alpha;
    return s;
  });

describe("suffixArray (SA-IS)", () => {
  it("sorts random texts over small and full alphabets like a naive sort", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 1, max: 256 }), (raw, alpha) => {
        const s = raw.map((x) => x % alpha);
        expect(Array.from(suffixArray(s))).toEqual(naive(s));
      }),
      { numRuns: 300 },
    );
  });

  it("sorts repetitive texts (deep recursion, equal LMS substrings) like a naive sort", () => {
    fc.assert(
      fc.property(repetitive, (s) => {
        expect(Array.from(suffixArray(s))).toEqual(naive(s));
      }),
      { numRuns: 300 },
    );
  });

  it("handles texts without LMS positions and the smallest texts", () => {
    const cases = [[], [7], [0, 0], [1, 0], [0, 1], [5, 4, 3, 2, 1, 0], [9, 9, 9, 8, 8, 1, 1, 0], Array(100).fill(255)];
    for (const c of cases) {
      const s = Uint8Array.from(c);
      expect(Array.from(suffixArray(s))).toEqual(naive(s));
    }
  });

  it("gives a permutation in order on a larger image-like text", () => {
    // code-like bytes: a few thousand 4-byte words from a small vocabulary, with runs of padding
    let x = 12345;
    const next = (): number => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 16;
    const words = Array.from({ length: 64 }, () => next());
    const s = new Uint8Array(60000);
    for (let i = 0; i < s.length; i += 4) {
      const w = i % 5000 < 300 ? 0xffffffff : words[next() % words.length]!;
      s.set([w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24], i);
    }
    const sa = suffixArray(s);
    const seen = new Uint8Array(s.length);
    for (const p of sa) seen[p] = 1;
    expect(seen.every((v) => v === 1)).toBe(true);
    const b = Buffer.from(s);
    let outOfOrder = 0;
    for (let i = 1; i < sa.length; i++) if (Buffer.compare(b.subarray(sa[i - 1]!), b.subarray(sa[i]!)) !== -1) outOfOrder++;
    expect(outOfOrder).toBe(0);
  });
});
