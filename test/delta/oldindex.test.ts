import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { agreeing, ChainIndex, diffOps, fewEdits, OldIndex, SearchCache } from "../../src/delta/diff.js";
import { firstPassCopies } from "../../src/delta/create.js";
import { createDelta, createDeltaDecoder, bytesReader } from "../../src/delta/index.js";
import { HISTORY_BYTES } from "../../src/delta/stream.js";
import { link, makeProgram, rng, sha } from "./helpers.js";

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

describe("ChainIndex (a few local edits)", () => {
  it("finds a longest match of 4 bytes or more where 4-byte strings are rare (random bytes), and none shorter", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 2000 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 80 })), { minLength: 1, maxLength: 6 }), fc.uint8Array({ maxLength: 40 }), (old, slices, fresh) => {
        // the new image: slices of the old one, then bytes of its own
        const nw = Buffer.concat([...slices.map(([at, n]) => old.subarray(at % old.length, (at % old.length) + n)), fresh]);
        const index = new ChainIndex(old);
        const out = new Int32Array(2);
        for (let at = 0; at < nw.length; at++) {
          index.search(nw, at, out);
          const [pos, len] = [out[0]!, out[1]!];
          const want = longest(old, nw, at);
          expect(len).toBe(want >= 4 ? want : 0);
          expect(Buffer.compare(Buffer.from(old.subarray(pos, pos + len)), Buffer.from(nw.subarray(at, at + len)))).toBe(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("takes no match under 4 bytes from a chain entry whose hash only collides (fast-check's counterexample)", () => {
    // [234, 31, 62, 60] and the old [234, 46, 1, 171] share a chain here: their first byte agrees, no more
    const old = Uint8Array.from([0, 0, 0, 0, 0, 234, 46, 1, 171, 0]);
    const nw = Buffer.concat([old.subarray(0, 6), Uint8Array.from([31, 62, 60])]);
    const out = new Int32Array(2);
    new ChainIndex(old).search(nw, 5, out);
    expect(out[1]).toBe(0);
  });

  it("nearest: the occurrence whose displacement is closest to rep0 or the predicted one, as the suffix array's", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 200 }), fc.integer({ min: 2, max: 4 }), fc.nat(), fc.integer({ min: 4, max: 8 }), fc.integer({ min: -300, max: 300 }), fc.option(fc.integer({ min: -300, max: 300 })), (raw, alpha, from, len, rep0, pred) => {
        // few symbols: a pattern occurs many times
        const old = raw.map((x) => x % alpha);
        const at = from % (old.length - len + 1);
        const nw = old.slice(at, at + len);
        const p = pred ?? NaN;
        const cost = (x: number): number => Math.min(Math.abs(x - rep0), Number.isNaN(p) ? Infinity : Math.abs(x - p));
        const got = new ChainIndex(old).nearest(nw, 0, len, at, rep0, p);
        expect(Buffer.compare(Buffer.from(old.subarray(got, got + len)), Buffer.from(nw))).toBe(0);
        expect(cost(got)).toBe(cost(new OldIndex(old).nearest(nw, 0, len, at, rep0, p)));
      }),
      { numRuns: 300 },
    );
  });

  it("a bug fix in a linked program: fewEdits says so, the chains give the suffix array's operations, and the patch applies exactly", () => {
    for (const seed of [3, 17, 29]) {
      const old = link(makeProgram(seed, 60, 260));
      const nw = old.slice();
      const r = rng(seed);
      for (let k = 0; k < 3; k++) nw[Math.floor(r() * nw.length)] ^= 0x41;
      expect(fewEdits(firstPassCopies(old, nw), nw.length), `seed ${seed}`).toBe(true);
      expect(diffOps(new ChainIndex(old), nw, { history: true })).toEqual(diffOps(new OldIndex(old), nw, { history: true }));
      const d = createDelta(old, nw);
      const dec = createDeltaDecoder(d.encoding, bytesReader(old), { targetSha256: sha(nw) });
      const parts: Uint8Array[] = [];
      dec.push(d.payload, (b) => parts.push(b));
      dec.finish((b) => parts.push(b));
      expect(sha(Buffer.concat(parts))).toBe(sha(nw));
    }
  });

  it("fewEdits: not for many copies (content moved in many places), nor for a new image the copies cover little of", () => {
    const old = link(makeProgram(5, 60, 260));
    // a byte inserted every 400 bytes: every insertion moves what follows, a copy each
    const parts: Uint8Array[] = [];
    for (let i = 0; i < old.length; i += 400) parts.push(old.subarray(i, i + 400), Uint8Array.of(0x5a));
    const many = Buffer.concat(parts);
    expect(firstPassCopies(old, many).length).toBeGreaterThan(16);
    expect(fewEdits(firstPassCopies(old, many), many.length)).toBe(false);
    // bytes changed in place, however many, move nothing: one copy (its differences ride along)
    const scattered = old.slice();
    for (let i = 100; i < scattered.length; i += 200) scattered[i] ^= 0x41;
    expect(fewEdits(firstPassCopies(old, scattered), scattered.length)).toBe(true);
    // a new image mostly of new bytes: few copies, little covered
    const r = rng(9);
    const fresh = Uint8Array.from({ length: old.length }, () => Math.floor(r() * 256));
    fresh.set(old.subarray(0, 500), 1000);
    const first = firstPassCopies(old, fresh);
    expect(first.length).toBeLessThanOrEqual(16);
    expect(fewEdits(first, fresh.length)).toBe(false);
  });
});

describe("SearchCache", () => {
  it("answers as the index does, also for positions that share a slot or were never stored", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.uint8Array({ minLength: 40, maxLength: 150 }), fc.array(fc.nat(), { maxLength: 80 }), (rawOld, rawNew, order) => {
        const old = rawOld.map((x) => x % 5);
        const nw = rawNew.map((x) => x % 5);
        const index = new OldIndex(old);
        const cache = new SearchCache(12); // 16 slots: most positions collide
        const out = new Int32Array(2);
        const want = new Int32Array(2);
        for (const k of order) {
          const at = k % nw.length;
          index.search(nw, at, out);
          cache.put(at, out[0]!, out[1]!);
        }
        for (let at = 0; at < nw.length; at++) {
          cache.search(index, nw, at, out);
          index.search(nw, at, want);
          expect([out[0], out[1]]).toEqual([want[0], want[1]]);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("diffOps", () => {
  it("covers the new image with operations of one shape: copies inside old, history copies exact and in reach", () => {
    const rnd = (n: number, seed: number): Uint8Array => {
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i++) b[i] = (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
      return b;
    };
    const old = rnd(6000, 7);
    const nw = new Uint8Array(7000);
    nw.set(old.subarray(1000, 4000), 0); // moved
    nw.set(rnd(500, 9), 3000); // new material
    nw.set(nw.subarray(3000, 3400), 3500); // repeated from the new image itself
    nw.set(old.subarray(0, 3100), 3900);
    for (let i = 100; i < 3000; i += 97) nw[i] = nw[i]! ^ 0x5a; // scattered changes inside a copy
    const ops = diffOps(new OldIndex(old), nw, { history: true });
    let pos = 0;
    for (const op of ops) {
      expect(Object.keys(op).sort()).toEqual(["copyLen", "hist", "litLen", "oldPos"]);
      if (op.hist !== undefined) {
        expect(op.hist).toBeGreaterThan(0);
        expect(op.hist).toBeLessThanOrEqual(HISTORY_BYTES);
        expect(Buffer.compare(Buffer.from(nw.subarray(pos - op.hist, pos - op.hist + op.copyLen)), Buffer.from(nw.subarray(pos, pos + op.copyLen)))).toBe(0);
      } else {
        expect(op.oldPos).toBeGreaterThanOrEqual(0);
        expect(op.oldPos + op.copyLen).toBeLessThanOrEqual(old.length);
      }
      pos += op.copyLen + op.litLen;
    }
    expect(pos).toBe(nw.length);
    expect(ops.some((op) => op.hist !== undefined)).toBe(true);
    // most of the image is copied, not literal
    expect(ops.reduce((s, op) => s + op.litLen, 0)).toBeLessThan(1500);
  });
});

describe("agreeing", () => {
  it("counts the bytes of a new range equal to old at a displacement, positions outside old not counted", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.uint8Array({ minLength: 1, maxLength: 80 }), fc.nat(100), fc.nat(100), fc.integer({ min: -120, max: 120 }), (rawOld, rawNew, a, b, offset) => {
        const old = rawOld.map((x) => x % 3);
        const nw = rawNew.map((x) => x % 3);
        const from = a % nw.length;
        const to = Math.min(nw.length, from + b);
        let want = 0;
        for (let y = from; y < to; y++) if (y + offset >= 0 && y + offset < old.length && old[y + offset] === nw[y]) want++;
        expect(agreeing(old, nw, from, to, offset)).toBe(want);
      }),
      { numRuns: 500 },
    );
  });
});
