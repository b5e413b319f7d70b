// New content that only short runs of the old image match (a library linked into a byte-coded
// image): the matcher's second try with a larger switch bonus (WIDE_SWITCH_BONUS), kept when smaller.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRawDelta } from "../../src/delta/create.js";
import { diffOps, OldIndex, shortCopyFill } from "../../src/delta/diff.js";
import { applyDelta, createDelta, DELTA_ALGORITHMS, DELTA_COMPRESSION } from "../../src/delta/index.js";
import { bytecodePair, codegenPair, link, makeProgram, sha } from "./helpers.js";

const stream = { compression: DELTA_COMPRESSION, delta: DELTA_ALGORITHMS.stream, filter: "none" as const };

describe("matching again with fewer short copies (WIDE_SWITCH_BONUS)", () => {
  it("takes the second matching where new content was filled with short copies, and the patch applies", () => {
    for (const [seed, size, lib] of [
      [1, 60000, 15000],
      [3, 60000, 12000],
    ] as const) {
      const [old, nw] = bytecodePair(seed, size, lib);
      expect(shortCopyFill(diffOps(new OldIndex(old), nw, { history: true }), nw.length), `seed ${seed}`).toBe(true);
      const one = createRawDelta(old, nw, { filter: "none", switchBonus: 5 });
      const both = createRawDelta(old, nw, { filter: "none" });
      expect(both.patch.length, `seed ${seed}`).toBeLessThan(one.patch.length);
      expect(sha(applyDelta(old, both.patch, stream, { targetSha256: sha(nw) }))).toBe(sha(nw));
      // in place too: the same second matching keeps it close to the ordinary patch
      const ip = createDelta(old, nw, { filter: "none", inPlace: { sectorSize: 4096 } });
      expect(ip.payload.length, `seed ${seed}`).toBeLessThanOrEqual(both.patch.length * 1.1);
      expect(sha(applyDelta(old, ip.payload, ip.encoding, { targetSha256: sha(nw) }))).toBe(sha(nw));
    }
  });

  it("property: byte-coded pairs with a library of any size linked in apply back exactly, ordinary and in place", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 4000, max: 20000 }), fc.integer({ min: 500, max: 8000 }), (seed, size, lib) => {
        const [old, nw] = bytecodePair(seed, size, lib);
        const d = createDelta(old, nw);
        expect(sha(applyDelta(old, d.payload, d.encoding, { targetSha256: sha(nw) }))).toBe(sha(nw));
        // never larger than the first matching alone
        expect(d.payload.length).toBeLessThanOrEqual(createRawDelta(old, nw, { filter: d.filter, switchBonus: 5 }).patch.length + 8);
        const ip = createDelta(old, nw, { filter: d.filter, inPlace: { sectorSize: 1024 } });
        expect(sha(applyDelta(old, ip.payload, ip.encoding, { targetSha256: sha(nw) }))).toBe(sha(nw));
      }),
      { numRuns: 12, seed: 4242 },
    );
  });

  it("leaves firmware-like pairs to one matching (the same patch as with the bonus fixed)", () => {
    const p = makeProgram(21, 40, 300);
    const oldT = link(p);
    p.bodies[9] = new Uint8Array(p.bodies[9]!.length + 48);
    const pairs: Array<[Uint8Array, Uint8Array, "none" | "thumb"]> = [[...codegenPair(7), "none"], [oldT, link(p), "thumb"]];
    for (const [old, nw, filter] of pairs) {
      expect(shortCopyFill(diffOps(new OldIndex(old), nw, { history: true }), nw.length)).toBe(false);
      expect(createRawDelta(old, nw, { filter }).patch).toEqual(createRawDelta(old, nw, { filter, switchBonus: 5 }).patch);
    }
  });
});
