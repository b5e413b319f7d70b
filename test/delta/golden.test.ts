// Streams written by an earlier encoder (commit d1401a5, before the coding flags) must decode to the
// same images forever: devices in the field receive packages built by older hosts. The images come
// from the deterministic generators in helpers.ts; the payloads are files.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { applyDelta, DELTA_ALGORITHMS, DELTA_COMPRESSION, peekDeltaHeader, type FilterName } from "../../src/delta/index.js";
import { CODING_LANES } from "../../src/delta/stream.js";
import { codegenPair, link, makeProgram, sha } from "./helpers.js";

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
