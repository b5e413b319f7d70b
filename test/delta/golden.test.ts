// Streams written by an earlier encoder (commit d1401a5, before the coding flags; one in-place stream
// of 2026-11-28 with calls across sector boundaries filtered) must decode to the same images forever:
// devices in the field receive packages built by older hosts. The images come from the deterministic
// generators in helpers.ts; the payloads are files.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { applyDelta, DELTA_ALGORITHMS, DELTA_COMPRESSION, peekDeltaHeader, type FilterName } from "../../src/delta/index.js";
import { CODING_LANES, INPLACE_STRADDLE } from "../../src/delta/stream.js";
import { applyWithCuts, codegenPair, link, makeProgram, rangeFieldValue, sha, straddlePair } from "./helpers.js";

const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../fixtures/delta/${name}`, import.meta.url)));

const pairs: Record<string, () => [Uint8Array, Uint8Array]> = {
  // 4-byte code, no filter
  "codegen-none": () => codegenPair(5, 3000),
  // Thumb code with calls: a function grew and a byte changed (filter, address map)
  "thumb-program": () => {
    const p = makeProgram(8, 40, 300);
    const old = link(p);
    p.bodies[6] = new Uint8Array(p.bodies[6]!.length + 30);
    p.bodies[20]![5] ^= 0x11;
    return [old, link(p)];
  },
};

describe("delta streams of an earlier version (golden files)", () => {
  // (written 2026-11-28 by the encoder that introduced INPLACE_STRADDLE)
  it("thumb-straddle.fd2-inplace (Thumb calls across sector boundaries filtered) still decodes to its image, also after a cut at every step", () => {
    const [old, nw] = straddlePair(11, false, 256);
    const payload = fixture("thumb-straddle.fd2-inplace");
    const h = peekDeltaHeader(payload);
    expect(h).toMatchObject({ filter: "thumb", sectorSize: 256, newSize: nw.length, oldSize: old.length });
    // the header's range-limit field carries INPLACE_STRADDLE
    expect(rangeFieldValue(payload) & INPLACE_STRADDLE).toBe(INPLACE_STRADDLE);
    // and the header's reader (fota inspect) says so in words
    expect(h.plan).toContain("Thumb calls across sector boundaries filtered");
    expect(h.rangeSectors).toBe(rangeFieldValue(payload) & 31);
    const encoding = { compression: DELTA_COMPRESSION, delta: DELTA_ALGORITHMS.inPlace, filter: "thumb" as FilterName };
    expect(sha(applyDelta(old, payload, encoding, { targetSha256: sha(nw) }))).toBe(sha(nw));
    const steps = Math.ceil(nw.length / 256);
    applyWithCuts(old, nw, { payload, encoding, filter: "thumb", decoderMemoryBytes: 0, inPlace: { steps, brokenBytes: 0, rescuedBytes: 0, spareSectors: 0 } }, 256, 29);
  });

  for (const [name, make] of Object.entries(pairs)) {
    for (const form of ["fd2", "fd2-inplace"] as const) {
      it(`${name}.${form} still decodes to its image`, () => {
        const [old, nw] = make();
        const payload = fixture(`${name}.${form}`);
        const h = peekDeltaHeader(payload);
        expect(h.flags & CODING_LANES).toBe(0);
        expect(h.newSize).toBe(nw.length);
        const encoding = { compression: DELTA_COMPRESSION, delta: form === "fd2" ? DELTA_ALGORITHMS.stream : DELTA_ALGORITHMS.inPlace, filter: h.filter as FilterName };
        expect(sha(applyDelta(old, payload, encoding, { targetSha256: sha(nw) }))).toBe(sha(nw));
      });
    }
  }
});
