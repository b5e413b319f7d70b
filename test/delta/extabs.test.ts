// Pointers past the image (PRED.extAbs): on a microcontroller, literal pools hold RAM addresses of
// globals, and a version that adds a global moves every one after it. The stream then carries
// segments for those addresses after the address map's.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createRawDelta, firstPassCopies, mappedBase, predictionFromCopies } from "../../src/delta/create.js";
import { filterImage, FILTERS } from "../../src/delta/filters.js";
import { bytesReader, createDelta, createDeltaDecoder } from "../../src/delta/index.js";
import { AddressMap, PRED } from "../../src/delta/predict.js";
import { isFotaError } from "../../src/errors.js";
import { applyWithCuts, chunks, link, makeProgram, resumeRoundTrip, rng, sha, type Program } from "./helpers.js";

const RAM = 0x20000000;

/**
 * Thumb code with calls (helpers.link), then, 4-aligned as a compiler lays out literal pools, a table
 * of the functions' addresses and a pool of RAM addresses: global g lives at 8 * g, and `inserted`
 * globals of 16 bytes at global index `at` move every later one.
 */
function firmware(seed: number, p: Program, pool: number, globals: number, at = globals, inserted = 0): Uint8Array {
  const code = link(p);
  const r = rng(seed);
  const words: number[] = [];
  let start = 0;
  for (const b of p.bodies) {
    words.push(0x08000000 + start + 1);
    start += b.length;
  }
  for (let i = 0; i < pool; i++) {
    const g = Math.floor(r() * globals);
    words.push(RAM + 8 * g + (g >= at ? 16 * inserted : 0) + 4 * Math.floor(r() * 2));
  }
  const at4 = (code.length + 3) & ~3;
  const out = new Uint8Array(at4 + 4 * words.length);
  out.set(code);
  const dv = new DataView(out.buffer);
  words.forEach((w, i) => dv.setUint32(at4 + 4 * i, w, true));
  return out;
}

/** Old and new firmware: one function grew (calls and function pointers move) and one global was added at `at`. */
function pair(seed: number, at: number): [Uint8Array, Uint8Array] {
  const p = makeProgram(seed, 60, 200);
  const old = firmware(seed, p, 300, 120);
  p.bodies[4] = new Uint8Array(p.bodies[4]!.length + 24);
  return [old, firmware(seed, p, 300, 120, at, 1)];
}

const FLAGS = PRED.thumb | PRED.abs32 | PRED.thumbLdr;

describe("pointers past the image (map flag 1024)", () => {
  it("follow segments of their own: the stream is smaller, carries the flag, and round-trips", () => {
    const [old, nw] = pair(7, 30);
    const withExt = createRawDelta(old, nw, { filter: "thumb", predict: FLAGS | PRED.extAbs });
    const without = createRawDelta(old, nw, { filter: "thumb", predict: FLAGS });
    expect(withExt.predict & PRED.extAbs).toBe(PRED.extAbs);
    expect(without.predict & PRED.extAbs).toBe(0);
    // about 220 moved pointers, each a difference byte or two without the segments
    expect(withExt.patch.length).toBeLessThan(without.patch.length - 100);
    const d = createDelta(old, nw);
    expect(d.payload.length).toBeLessThanOrEqual(withExt.patch.length);
    const parts: Uint8Array[] = [];
    const dec = createDeltaDecoder(d.encoding, bytesReader(old), { baseSha256: sha(old), targetSha256: sha(nw) });
    for (const c of chunks(d.payload, [97])) dec.push(c, (b) => void parts.push(new Uint8Array(b)));
    dec.finish((b) => void parts.push(new Uint8Array(b)));
    expect(sha(Buffer.concat(parts))).toBe(sha(nw));
  });

  it("leave pointers that did not move alone, and round-trip for any insertion point", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.integer({ min: 0, max: 130 }), (seed, at) => {
        const [old, nw] = pair(seed, at);
        // the base as the decoder maps it: a RAM pointer to a global before the insertion keeps its value
        const oF = filterImage(FILTERS.thumb, old);
        const nF = filterImage(FILTERS.thumb, nw);
        const pred = predictionFromCopies(oF, nF, firstPassCopies(oF, nF), FLAGS | PRED.extAbs);
        const mapped = mappedBase(oF, pred);
        const dv = new DataView(oF.buffer, oF.byteOffset);
        const mv = new DataView(mapped.buffer, mapped.byteOffset);
        let moved = 0;
        for (let a = 0; a + 4 <= oF.length; a += 4) {
          const w = dv.getUint32(a, true);
          if (w >>> 24 !== RAM >>> 24) continue;
          if ((w - RAM) >> 3 < at) expect(mv.getUint32(a, true)).toBe(w);
          else if (mv.getUint32(a, true) === w + 16) moved++;
        }
        if (at < 100) expect(moved).toBeGreaterThan(0);
        const d = createDelta(old, nw);
        const dec = createDeltaDecoder(d.encoding, bytesReader(old), { targetSha256: sha(nw) });
        const parts: Uint8Array[] = [];
        dec.push(d.payload, (b) => void parts.push(new Uint8Array(b)));
        dec.finish((b) => void parts.push(new Uint8Array(b)));
        expect(sha(Buffer.concat(parts))).toBe(sha(nw));
      }),
      { numRuns: 12 },
    );
  });

  it("survive a saved and restored decoder state at any point", () => {
    const [old, nw] = pair(11, 50);
    const d = createDelta(old, nw);
    expect(createRawDelta(old, nw).predict & PRED.extAbs).toBe(PRED.extAbs);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 97 }), fc.integer({ min: 0, max: 100 }), (chunk, cutPct) => {
        resumeRoundTrip(old, nw, d, chunk, cutPct, { targetSha256: sha(nw) });
      }),
      { numRuns: 30 },
    );
  });

  it("work in place, resumable after a cut at every step", () => {
    const [old, nw] = pair(5, 40);
    const d = createDelta(old, nw, { inPlace: { sectorSize: 1024 } });
    const ordinary = createDelta(old, nw);
    const withoutSegments = createRawDelta(old, nw, { filter: "thumb", predict: FLAGS });
    expect(d.payload.length).toBeLessThan(ordinary.payload.length * 1.1);
    // the in-place stream carries the segments too (without them it is as large as this)
    expect(d.payload.length).toBeLessThan(withoutSegments.patch.length - 50);
    applyWithCuts(old, nw, d, 1024, 61);
  });

  it("damaged streams give only typed errors", () => {
    const [old, nw] = pair(3, 20);
    const good = createDelta(old, nw);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 200 }), (flips, chunk) => {
        const bad = new Uint8Array(good.payload);
        // damage near the start, where the map and its segments past the image are coded
        for (const [i, v] of flips) bad[i % Math.min(bad.length, 120)] = v;
        try {
          const dec = createDeltaDecoder(good.encoding, bytesReader(old), { targetSha256: sha(nw) });
          for (const c of chunks(bad, [chunk])) dec.push(c, () => {});
          dec.finish(() => {});
        } catch (e) {
          if (!isFotaError(e)) throw e;
          expect(["format", "integrity", "compatibility", "storage"]).toContain(e.kind);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("AddressMap.holdingShift answers only inside a segment", () => {
    const m = new AddressMap(Int32Array.of(100, 300), Int32Array.of(200, 301), Int32Array.of(8, -4));
    expect([99, 100, 199, 200, 299, 300, 301].map((x) => m.holdingShift(x))).toEqual([NaN, 8, 8, NaN, NaN, -4, NaN]);
  });
});
