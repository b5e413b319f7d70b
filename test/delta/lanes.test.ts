// Differences per lane of the code unit (CODING_LANES): a new compiler version rewrites the same byte
// values the same way (a register renamed, an opcode or a frame offset changed), so a difference byte
// is first coded as "the one last seen for this base byte in this lane"; and zero runs, whose low
// bits say in which lane the next change falls, are modelled per lane of their start.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRawDelta } from "../../src/delta/create.js";
import { applyDelta, bytesReader, createDelta, createDeltaDecoder, DELTA_ALGORITHMS, DELTA_COMPRESSION, describeDeltaFlags, peekDeltaHeader } from "../../src/delta/index.js";
import { CODING_LANES } from "../../src/delta/stream.js";
import { PRED, PRED_ALL } from "../../src/delta/predict.js";
import { isFotaError } from "../../src/errors.js";
import { applyWithCuts, chunks, codegenPair, resumeRoundTrip, rng, sha } from "./helpers.js";

const decode = (old: Uint8Array, payload: Uint8Array, encoding: Parameters<typeof createDeltaDecoder>[0], nw: Uint8Array, chunk: number): Uint8Array => {
  const parts: Uint8Array[] = [];
  const dec = createDeltaDecoder(encoding, bytesReader(old), { baseSha256: sha(old), targetSha256: sha(nw) });
  for (const c of chunks(payload, [chunk])) dec.push(c, (b) => void parts.push(new Uint8Array(b)));
  dec.finish((b) => void parts.push(new Uint8Array(b)));
  return Buffer.concat(parts);
};

describe("differences per lane (coding flag 0x800): predicted difference bytes", () => {
  it("code a repeated substitution in about a bit, and round-trip", () => {
    const [old, nw] = codegenPair(1);
    const on = createRawDelta(old, nw, { coding: CODING_LANES });
    const off = createRawDelta(old, nw, { coding: 0 });
    expect(on.coding).toBe(CODING_LANES);
    expect(peekDeltaHeader(on.patch).flags & CODING_LANES).toBe(CODING_LANES);
    expect(peekDeltaHeader(off.patch).flags & CODING_LANES).toBe(0);
    expect(describeDeltaFlags(peekDeltaHeader(on.patch).flags).coding).toEqual(["differences per lane"]);
    expect(describeDeltaFlags(peekDeltaHeader(off.patch).flags).coding).toEqual([]);
    // about 1700 changed bytes, most of them the same few substitutions
    expect(on.patch.length).toBeLessThan(off.patch.length * 0.75);
    const d = createDelta(old, nw);
    expect(peekDeltaHeader(d.payload).flags & CODING_LANES).toBe(CODING_LANES);
    expect(d.payload.length).toBeLessThanOrEqual(on.patch.length);
    expect(sha(decode(old, d.payload, d.encoding, nw, 113))).toBe(sha(nw));
    expect(sha(decode(old, off.patch, d.encoding, nw, 4096))).toBe(sha(nw));
  });

  it("zero runs learn in which lane of the word the next change falls", () => {
    // an offset field across bytes 1 and 2 changed (random values: nothing for the table to predict)
    // every few words: byte 1 always, byte 2 half the time. A run from byte 2 ends 4n - 1 bytes later,
    // a run from byte 3 4n - 2 bytes later: the start's lane tells the low bits of the length
    const [old] = codegenPair(6, 8000, 0);
    const nw = new Uint8Array(old);
    const r = rng(6);
    const bump = (i: number): void => void (nw[i] = (nw[i]! + 1 + Math.floor(r() * 255)) & 0xff);
    for (let w = 3; w < 8000; w += 1 + Math.floor(r() * 6)) {
      bump(4 * w + 1);
      if (r() < 0.5) bump(4 * w + 2);
    }
    const on = createRawDelta(old, nw, { filter: "none", coding: CODING_LANES });
    const off = createRawDelta(old, nw, { filter: "none", coding: 0 });
    // about 2300 runs across the words, each with a low bit one model for all lanes cannot tell
    // (the table's bit, which never hits here, costs the stream with the flag about 40 bytes)
    expect(on.patch.length).toBeLessThan(off.patch.length - 80);
    expect(sha(applyDelta(old, on.patch, { compression: DELTA_COMPRESSION, delta: DELTA_ALGORITHMS.stream, filter: "none" }))).toBe(sha(nw));
  });

  it("a small patch is coded without them when that is smaller", () => {
    const [old] = codegenPair(2);
    const nw = new Uint8Array(old);
    nw[1000] ^= 0x40;
    nw[9000] ^= 0x40;
    const d = createRawDelta(old, nw);
    expect(d.coding).toBe(0);
    expect(d.patch.length).toBeLessThanOrEqual(createRawDelta(old, nw, { coding: CODING_LANES }).patch.length);
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
    expect(peekDeltaHeader(d.payload).flags & CODING_LANES).toBe(CODING_LANES);
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

describe("the header's flags in words (fota inspect)", () => {
  it("names every reference-map flag once, the coding flag apart, and reports bits it does not know", () => {
    const names = new Set<string>();
    for (const bit of Object.values(PRED)) {
      const d = describeDeltaFlags(bit);
      expect(d.map).toHaveLength(1);
      expect(d.coding).toEqual([]);
      expect(d.unknown).toBe(0);
      names.add(d.map[0]!);
    }
    expect(names.size).toBe(Object.keys(PRED).length);
    const all = describeDeltaFlags(PRED_ALL | CODING_LANES | 0x40000000);
    expect(all.map).toHaveLength(Object.keys(PRED).length);
    expect(all.unknown).toBe(0x40000000);
  });
});
