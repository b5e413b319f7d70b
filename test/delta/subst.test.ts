// Predicted difference bytes (CODING_SUBST): a new compiler version rewrites the same byte values the
// same way (a register renamed, an opcode or a frame offset changed), so a difference byte is first
// coded as "the one last seen for this base byte in this lane of the word".
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRawDelta } from "../../src/delta/create.js";
import { applyDelta, bytesReader, createDelta, createDeltaDecoder, peekDeltaHeader } from "../../src/delta/index.js";
import { CODING_SUBST } from "../../src/delta/stream.js";
import { isFotaError } from "../../src/errors.js";
import { applyWithCuts, chunks, codegenPair, resumeRoundTrip, sha } from "./helpers.js";

const decode = (old: Uint8Array, payload: Uint8Array, encoding: Parameters<typeof createDeltaDecoder>[0], nw: Uint8Array, chunk: number): Uint8Array => {
  const parts: Uint8Array[] = [];
  const dec = createDeltaDecoder(encoding, bytesReader(old), { baseSha256: sha(old), targetSha256: sha(nw) });
  for (const c of chunks(payload, [chunk])) dec.push(c, (b) => void parts.push(new Uint8Array(b)));
  dec.finish((b) => void parts.push(new Uint8Array(b)));
  return Buffer.concat(parts);
};

describe("predicted difference bytes (coding flag 0x800)", () => {
  it("code a repeated substitution in about a bit, and round-trip", () => {
    const [old, nw] = codegenPair(1);
    const on = createRawDelta(old, nw, { coding: CODING_SUBST });
    const off = createRawDelta(old, nw, { coding: 0 });
    expect(on.coding).toBe(CODING_SUBST);
    expect(peekDeltaHeader(on.patch).flags & CODING_SUBST).toBe(CODING_SUBST);
    expect(peekDeltaHeader(off.patch).flags & CODING_SUBST).toBe(0);
    // about 1700 changed bytes, most of them the same few substitutions
    expect(on.patch.length).toBeLessThan(off.patch.length * 0.75);
    const d = createDelta(old, nw);
    expect(peekDeltaHeader(d.payload).flags & CODING_SUBST).toBe(CODING_SUBST);
    expect(d.payload.length).toBeLessThanOrEqual(on.patch.length);
    expect(sha(decode(old, d.payload, d.encoding, nw, 113))).toBe(sha(nw));
    expect(sha(decode(old, off.patch, d.encoding, nw, 4096))).toBe(sha(nw));
  });

  it("a small patch is coded without them when that is smaller", () => {
    const [old] = codegenPair(2);
    const nw = new Uint8Array(old);
    nw[1000] ^= 0x40;
    nw[9000] ^= 0x40;
    const d = createRawDelta(old, nw);
    expect(d.coding).toBe(0);
    expect(d.patch.length).toBeLessThanOrEqual(createRawDelta(old, nw, { coding: CODING_SUBST }).patch.length);
  });

  it("round-trip for any pair, also resumed from a saved state at any point", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 100 }), (seed, renames, chunk, cutPct) => {
        const [old, nw] = codegenPair(seed, 1500, renames);
        const d = createDelta(old, nw);
        expect(sha(applyDelta(old, d.payload, d.encoding))).toBe(sha(nw));
        resumeRoundTrip(old, nw, d, chunk, cutPct, { targetSha256: sha(nw) });
      }),
      { numRuns: 25 },
    );
  });

  it("work in place, where replayed sectors no longer hold the base bytes, after a cut at every step", () => {
    const [old, nw] = codegenPair(3, 3000);
    const d = createDelta(old, nw, { inPlace: { sectorSize: 1024 } });
    expect(peekDeltaHeader(d.payload).flags & CODING_SUBST).toBe(CODING_SUBST);
    expect(d.payload.length).toBeLessThan(createDelta(old, nw).payload.length * 1.1);
    applyWithCuts(old, nw, d, 1024, 57);
  });

  it("damaged streams give only typed errors", () => {
    const [old, nw] = codegenPair(4, 1500);
    const good = createDelta(old, nw);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 200 }), (flips, chunk) => {
        const bad = new Uint8Array(good.payload);
        for (const [i, v] of flips) bad[i % bad.length] = v;
        try {
          decode(old, bad, good.encoding, nw, chunk);
        } catch (e) {
          if (!isFotaError(e)) throw e;
          expect(["format", "integrity", "compatibility", "storage"]).toContain(e.kind);
        }
      }),
      { numRuns: 200 },
    );
  });
});
