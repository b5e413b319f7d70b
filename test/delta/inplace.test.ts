// In-place deltas: stashes in sectors whose base bytes are no longer needed (any sector not yet
// written, with the header's stash-anywhere flag, sectors past a shrinking image's end, and spare
// sectors of a slot larger than the images or lent by the device past its slot).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompatibilityError, FormatError, isFotaError, UsageError } from "../../src/errors.js";
import { applyDelta, createDelta, createInPlaceApplier, MemoryRegion, peekDeltaHeader } from "../../src/delta/index.js";
import { INPLACE_FLOW, inPlaceFlows, INPLACE_SPARE, INPLACE_STASH_ANYWHERE, INPLACE_STRADDLE, INPLACE_STRAIGHT } from "../../src/delta/stream.js";
import { createRawDelta } from "../../src/delta/create.js";
import { createInPlacePatch } from "../../src/delta/inplace.js";
import { FILTERS } from "../../src/delta/filters.js";
import { inPlaceMemoryBytes } from "../../src/delta/decode.js";
import { DEFAULT_CONFIG, withConfig } from "../../src/config.js";
import { applyWithCuts, link, makeProgram, rangeFieldAt, rangeFieldValue, rng, rotatedCycle, sha, straddlePair } from "./helpers.js";

const S = 256;

/** What applying `payload` in place over `region` throws (undefined when it applies). */
function inPlaceError(encoding: Parameters<typeof createInPlaceApplier>[0], region: MemoryRegion, payload: Uint8Array, targetSha256: string): unknown {
  try {
    const a = createInPlaceApplier(encoding, region, { targetSha256 });
    a.push(payload, () => {});
    a.finish(() => {});
  } catch (e) {
    return e;
  }
  return undefined;
}

/** A shrinking pair whose sectors copy from each other in a cycle: the halves swapped, `drop` bytes of the first half's end removed. */
function shrinkingSwap(seed: number, drop: number): [Uint8Array, Uint8Array] {
  const old = link(makeProgram(seed, 40, 220));
  const h = old.length >> 1;
  const r = rng(seed + 1);
  const patchy = new Uint8Array(old.subarray(h));
  for (let i = 0; i < 12; i++) patchy[Math.floor(r() * patchy.length)] ^= 0x11;
  return [old, Buffer.concat([patchy, old.subarray(0, h - drop)])];
}

describe("in-place stashes in sectors the base no longer needs", () => {
  it("stashes in a shrinking image (no sector past the base), safe against a cut at every step", () => {
    for (const [seed, drop] of [
      [61, 3 * S + 40],
      [62, S + 100],
    ] as const) {
      const [old, nw] = shrinkingSwap(seed, drop);
      expect(nw.length).toBeLessThan(old.length);
      for (const filter of ["none", "thumb"] as const) {
        // (borrowSectors 0: the region is the base's own sectors)
        const d = createDelta(old, nw, { filter, inPlace: { sectorSize: S, borrowSectors: 0 } });
        const nNew = Math.ceil(nw.length / S);
        // steps beyond one final write per sector: stash steps (before, a shrinking image had none)
        expect(d.inPlace!.steps).toBeGreaterThan(nNew);
        // which sectors were written: a sector of both images twice (a stash, then its final write), or one past the new end
        const region = new MemoryRegion(old, S, nw.length);
        const written: number[] = [];
        const real = region.writeSector.bind(region);
        region.writeSector = (i, data) => {
          written.push(i);
          real(i, data);
        };
        const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw) });
        a.push(d.payload, () => {});
        a.finish(() => {});
        const twice = written.filter((i, k) => written.indexOf(i) !== k);
        const pastEnd = written.filter((i) => i >= nNew);
        expect(twice.length).toBeGreaterThan(0);
        expect(pastEnd.length).toBeGreaterThan(0);
        expect(d.payload[rangeFieldAt(d.payload)]! & INPLACE_STASH_ANYWHERE).toBe(INPLACE_STASH_ANYWHERE);
        expect(d.inPlace!.rescuedBytes).toBeGreaterThan(0);
        applyWithCuts(old, nw, d, S, 29);
      }
    }
  });

  it("refuses, before writing anything, a range-limit field with unknown bits or an empty range", () => {
    const [old, nw] = shrinkingSwap(61, 3 * S + 40);
    const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
    const at = rangeFieldAt(d.payload);
    // (64: the straight flag; bit 5 then its direction; anything above 64 + 32 + 16 is unknown)
    for (const v of [64 + 32 + 17, 127, 64, 32, 32 + 17]) {
      const bad = new Uint8Array(d.payload);
      bad[at] = v;
      const region = new MemoryRegion(old, S, nw.length);
      const error = inPlaceError(d.encoding, region, bad, sha(nw));
      expect(error).toBeInstanceOf(FormatError);
      expect((error as FormatError).reason).toBe("corrupt-patch");
      expect(region.writes).toBe(0);
    }
  });

  it("counts the stash bits of a shrinking image's whole region and of spare sectors in the memory estimate", () => {
    const [, nw] = shrinkingSwap(61, 3 * S + 40);
    // bits for the new image's sectors (written) and the region's (stashed)
    const same = inPlaceMemoryBytes(1, S, nw.length, false, 0, 1024);
    expect(inPlaceMemoryBytes(1, S, nw.length, false, 0, 1024, nw.length)).toBe(same);
    const big = 40 * S * 8;
    expect(inPlaceMemoryBytes(1, S, nw.length, false, 0, 1024, big)).toBe(same - Math.ceil(Math.ceil(nw.length / S) / 8) + Math.ceil(big / S / 8));
    // and the spare sectors past both images a patch may keep stashes in
    expect(inPlaceMemoryBytes(1, S, nw.length, false, 0, 1024, big, 16)).toBe(same - Math.ceil(Math.ceil(nw.length / S) / 8) + Math.ceil((big / S + 16) / 8));
  });
});

/**
 * A Thumb image and three new images for straight patches whose operations flow on across step
 * ranges (INPLACE_FLOW): one byte changed; bytes changed here and there and 700 bytes across the
 * first range's end (8 sectors of 256 bytes: a copy with differences goes on past it); the same with
 * 3000 bytes appended (a literal run across two range ends).
 */
function flowPairs(): [Uint8Array, Uint8Array, Uint8Array, Uint8Array] {
  const old = link(makeProgram(73, 40, 220));
  const r = rng(74);
  const one = new Uint8Array(old);
  one[(old.length >> 1) + 5] ^= 0x41;
  const many = new Uint8Array(old);
  for (let i = 0; i < 40; i++) many[Math.floor(r() * old.length)] ^= 1 + Math.floor(r() * 255);
  for (let i = 1900; i < 2600; i++) many[i] = Math.floor(r() * 256);
  const tail = Buffer.concat([many, Uint8Array.from({ length: 3000 }, () => Math.floor(r() * 256))]);
  return [old, one, many, tail];
}

describe("straight in-place patches (nothing announced per step)", () => {
  it("codes a patch whose sectors all go in one direction without step announcements, safe against a cut at every step", () => {
    const old = link(makeProgram(71, 40, 220));
    // a small fix (any order works), and the image grown by 4 bytes at its start (copies move up: from the last sector down)
    const fix = new Uint8Array(old);
    fix[old.length >> 1] ^= 0x20;
    const grown = Buffer.concat([Uint8Array.of(1, 2, 3, 4), old]);
    for (const [nw, down] of [
      [fix, false],
      [grown, true],
    ] as const) {
      for (const filter of ["none", "thumb"] as const) {
        const d = createDelta(old, nw, { filter, inPlace: { sectorSize: S } });
        const v = d.payload[rangeFieldAt(d.payload)]!;
        expect(v & INPLACE_STRAIGHT).toBe(INPLACE_STRAIGHT);
        if (down) expect(v & INPLACE_STASH_ANYWHERE).toBe(INPLACE_STASH_ANYWHERE);
        expect(d.inPlace!.steps).toBe(Math.ceil(nw.length / S));
        if (!down) expect(d.payload.length).toBeLessThanOrEqual(createDelta(old, nw, { filter }).payload.length + 4);
        applyWithCuts(old, nw, d, S, 29);
      }
    }
  });

  it("lets operations flow on across step ranges (INPLACE_FLOW): a small fix costs in place what it costs ordinarily plus the header's two bytes, safe against a cut at every step", () => {
    const [old, one, many, tail] = flowPairs();
    for (const nw of [one, many, tail]) {
      const ordinary = createDelta(old, nw);
      const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
      const v = rangeFieldValue(d.payload);
      expect(inPlaceFlows(v)).toBe(true);
      expect(v).toBe(INPLACE_STRAIGHT + INPLACE_FLOW + peekDeltaHeader(d.payload).rangeSectors!);
      expect(peekDeltaHeader(d.payload).plan).toContain("operations flow on across step ranges");
      // (the header's sector size and range field: 2 bytes)
      expect(d.payload.length).toBeLessThanOrEqual(nw === one ? ordinary.payload.length + 2 : ordinary.payload.length * 1.1);
      applyWithCuts(old, nw, d, S, 29);
      // the same body read as a straight patch whose operations end with their ranges: a typed error, nothing bootable
      const bad = new Uint8Array(d.payload);
      bad[rangeFieldAt(bad)] = v - INPLACE_FLOW;
      expect(isFotaError(inPlaceError(d.encoding, new MemoryRegion(old, S, nw.length), bad, sha(nw)))).toBe(true);
    }
  });

  it("property: a damaged patch whose operations flow across ranges ends in a typed error or the exact image, never a crash", () => {
    const [old, , , tail] = flowPairs();
    const d = createDelta(old, tail, { inPlace: { sectorSize: S } });
    expect(inPlaceFlows(rangeFieldValue(d.payload))).toBe(true);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const bad = new Uint8Array(d.payload);
        for (const [i, v] of flips) bad[i % bad.length] = v;
        const region = new MemoryRegion(old, S, Math.max(old.length, tail.length));
        try {
          const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(tail) });
          a.push(bad, () => {});
          a.finish(() => {});
          expect(sha(region.bytes.subarray(0, tail.length))).toBe(sha(tail));
        } catch (e) {
          if (!isFotaError(e)) throw e;
        }
      }),
      { numRuns: 300 },
    );
  });

  it("keeps announcing steps when the reads form a cycle", () => {
    const [old, nw] = shrinkingSwap(61, 3 * S + 40);
    const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
    expect(d.payload[rangeFieldAt(d.payload)]! & INPLACE_STRAIGHT).toBe(0);
  });

  it("takes stash room in the padding both images end in (its sectors then read no base), safe against a cut at every step", () => {
    // halves swapped (every sector of one half reads one of the other: cycles), then zero padding to a fixed size
    const [old0, nw0] = shrinkingSwap(71, 0);
    const size = old0.length + 6 * S + 17;
    const pad = (b: Uint8Array) => Buffer.concat([b, new Uint8Array(size - b.length)]);
    const old = pad(old0);
    const nw = pad(nw0);
    const bare = createDelta(old0, nw0, { inPlace: { sectorSize: S } });
    const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
    // the padding's sectors hold what the cycles need: nothing is lost (the bare pair loses reads)
    expect(bare.inPlace!.brokenBytes - bare.inPlace!.rescuedBytes).toBeGreaterThan(200);
    expect(d.inPlace!.brokenBytes - d.inPlace!.rescuedBytes).toBe(0);
    expect(d.payload.length).toBeLessThan(bare.payload.length * 0.6);
    applyWithCuts(old, nw, d, S, 29);
  });
});


describe("in-place stashes in spare sectors of the slot past the images", () => {
  const [old, nw] = rotatedCycle(7 * S - 40, S, 81);
  const images = Math.ceil(old.length / S) * S;

  // (borrowSectors 0: the slot's own sectors only; the sectors a device lends past its slot are below)
  it("keeps what a cycle needs in a spare sector (the header asks for it), safe against a cut at every step", () => {
    const none = createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: 0 } });
    expect(none.inPlace!.spareSectors).toBe(0);
    expect(none.inPlace!.brokenBytes - none.inPlace!.rescuedBytes).toBeGreaterThan(200);
    for (const spare of [1, 3]) {
      const d = createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: 0, slotBytes: images + spare * S + 100 } });
      // one spare sector is all the cycle needs: the header asks for that one only
      expect(d.inPlace!.spareSectors).toBe(1);
      expect(peekDeltaHeader(d.payload).regionBytes).toBe(images + S);
      expect(d.inPlace!.brokenBytes - d.inPlace!.rescuedBytes).toBe(0);
      expect(d.payload.length).toBeLessThan(none.payload.length - 200);
      expect(d.payload[rangeFieldAt(d.payload)]! & INPLACE_SPARE).toBe(INPLACE_SPARE);
      applyWithCuts(old, nw, d, S, 23);
      expect(applyDelta(old, d.payload, d.encoding)).toEqual(nw);
    }
    // a slot with no whole sector past the images: the patch is the one without spare sectors
    expect(createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: 0, slotBytes: images + S - 1 } }).payload).toEqual(none.payload);
  });

  it("by default also uses the sector a device lends past its slot (config.delta.inPlaceBorrowSectors)", () => {
    expect(DEFAULT_CONFIG.delta.inPlaceBorrowSectors).toBe(1);
    const none = createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: 0 } });
    const lent = createDelta(old, nw, { inPlace: { sectorSize: S } });
    expect(lent.inPlace!.spareSectors).toBe(1);
    expect(peekDeltaHeader(lent.payload).regionBytes).toBe(images + S);
    expect(lent.payload.length).toBeLessThan(none.payload.length - 200);
    // the very patch built for a slot one sector larger that lends nothing
    expect(lent.payload).toEqual(createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: 0, slotBytes: images + S } }).payload);
    // a slot with spare sectors of its own and a lent one: still only what the cycle needs
    expect(peekDeltaHeader(createDelta(old, nw, { inPlace: { sectorSize: S, slotBytes: images + 2 * S } }).payload).regionBytes).toBe(images + S);
    // lending switched off in the configuration, and counts that are not whole sectors
    expect(createDelta(old, nw, { inPlace: { sectorSize: S }, config: withConfig({ delta: { inPlaceBorrowSectors: 0 } }) }).payload).toEqual(none.payload);
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => createDelta(old, nw, { inPlace: { sectorSize: S, borrowSectors: bad } })).toThrow(UsageError);
    applyWithCuts(old, nw, lent, S, 19);
  });

  it("refuses, before writing anything, a region without the spare sectors the patch uses", () => {
    const d = createDelta(old, nw, { inPlace: { sectorSize: S, slotBytes: images + 4 * S } });
    const region = new MemoryRegion(old, S, images);
    let error: unknown;
    try {
      const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw) });
      a.push(d.payload, () => {});
      a.finish(() => {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CompatibilityError);
    expect((error as CompatibilityError).reason).toBe("too-large");
    expect((error as CompatibilityError).message).toContain(`needs ${images + S}`);
    expect(region.writes).toBe(0);
    expect(region.bytes.subarray(0, old.length)).toEqual(old);
    // the host-memory applier told the device's region size refuses it as well
    expect(() => applyDelta(old, d.payload, d.encoding, { regionBytes: images })).toThrow(/needs a region of/);
    expect(applyDelta(old, d.payload, d.encoding, { regionBytes: images + S })).toEqual(nw);
  });

  it("refuses a slot smaller than the images, and a spare count out of range in the header", () => {
    expect(() => createDelta(old, nw, { inPlace: { sectorSize: S, slotBytes: old.length - 1 } })).toThrow(UsageError);
    expect(() => createDelta(old, nw, { inPlace: { sectorSize: 1000 } })).toThrow(UsageError);
    // a sector the device's working memory cannot hold (the applier decodes whole sectors): refused before planning
    expect(() => createDelta(old, nw, { inPlace: { sectorSize: 65536 } })).toThrow(/65536-byte sectors needs at least \d+ bytes of device working memory, over the limit of 131072/);
    expect(createDelta(old, nw, { inPlace: { sectorSize: 65536 }, config: withConfig({ delta: { maxWorkingMemoryBytes: 256 * 1024 } }) }).inPlace!.steps).toBeGreaterThan(0);
    const d = createDelta(old, nw, { inPlace: { sectorSize: S, slotBytes: images + 2 * S } });
    const at = rangeFieldAt(d.payload) + 1;
    expect(d.payload[at]).toBe(1);
    for (const bad of [Uint8Array.of(0), Uint8Array.of(0x81, 0x40)]) {
      const p = Buffer.concat([d.payload.subarray(0, at), bad, d.payload.subarray(at + 1)]);
      const region = new MemoryRegion(old, S, images + 64 * S);
      expect(() => {
        const a = createInPlaceApplier(d.encoding, region, {});
        a.push(p, () => {});
        a.finish(() => {});
      }).toThrow(FormatError);
      expect(region.writes).toBe(0);
    }
  });

  it("property: sectors permuted and edited, any number of spare sectors, junk past the image: the exact image, never a larger patch", () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 9 }), fc.integer({ min: 1, max: 1e9 }), fc.integer({ min: 0, max: 3 }), (sectors, seed, k) => {
        const r = rng(seed);
        const old = Uint8Array.from({ length: sectors * S - Math.floor(r() * S) }, () => Math.floor(r() * 256));
        // new: the old sectors in a random order (whole or cut short), a few bytes changed
        const order = Array.from({ length: sectors }, (_, i) => i).sort(() => r() - 0.5);
        const nw = Buffer.concat(order.map((j) => old.subarray(j * S, j * S + S - Math.floor(r() * 8))));
        for (let i = 0; i < 5; i++) nw[Math.floor(r() * nw.length)] ^= 1 + Math.floor(r() * 255);
        const images = Math.ceil(Math.max(old.length, nw.length) / S) * S;
        const none = createDelta(old, nw, { filter: "none", inPlace: { sectorSize: S, borrowSectors: 0 } });
        const d = createDelta(old, nw, { filter: "none", inPlace: { sectorSize: S, borrowSectors: 0, slotBytes: images + k * S } });
        expect(d.inPlace!.spareSectors).toBeLessThanOrEqual(k);
        expect(peekDeltaHeader(d.payload).regionBytes).toBe(d.inPlace!.spareSectors > 0 ? images + d.inPlace!.spareSectors * S : Math.max(old.length, nw.length));
        expect(d.payload.length).toBeLessThanOrEqual(none.payload.length);
        const region = new MemoryRegion(old, S, images + k * S);
        // the slot past the image holds whatever an earlier update left there
        for (let i = old.length; i < region.bytes.length; i++) region.bytes[i] = Math.floor(r() * 256);
        const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw) });
        a.push(d.payload, () => {});
        a.finish(() => {});
        expect(sha(region.bytes.subarray(0, nw.length))).toBe(sha(nw));
      }),
      { numRuns: 40 },
    );
  });

  it("property: a damaged patch that uses a spare sector ends in a typed error or the exact image, never a crash", () => {
    const d = createDelta(old, nw, { inPlace: { sectorSize: S, slotBytes: images + 2 * S } });
    expect(d.inPlace!.spareSectors).toBe(1);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 3 }), (flips, extra) => {
        const bad = new Uint8Array(d.payload);
        for (const [i, v] of flips) bad[i % bad.length] = v;
        const region = new MemoryRegion(old, S, images + extra * S);
        try {
          const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw) });
          a.push(bad, () => {});
          a.finish(() => {});
          expect(sha(region.bytes.subarray(0, nw.length))).toBe(sha(nw));
        } catch (e) {
          if (!isFotaError(e)) throw e;
          if (e.kind === "compatibility") expect(region.writes).toBe(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("progress while a delta is built", () => {
  it("reports each stage as it starts: the filter's matching, then the in-place planning and the rehearsal", () => {
    const [old, nw] = rotatedCycle(6 * S - 40, S, 83);
    const steps: string[] = [];
    const d = createDelta(old, nw, { filter: "none", inPlace: { sectorSize: S }, onProgress: (s) => steps.push(s) });
    expect(steps[0]).toBe("filter none: first pass");
    const matching = steps.findIndex((s) => s.startsWith("filter none: matching"));
    expect(matching).toBeGreaterThan(0);
    const planning = steps.findIndex((s) => s.startsWith("in place: ordering sectors"));
    expect(planning).toBeGreaterThan(matching);
    expect(steps.at(-1)).toBe("in place: checking the patch on a copy of the region");
    // the same patch with and without a listener
    expect(createDelta(old, nw, { filter: "none", inPlace: { sectorSize: S } }).payload).toEqual(d.payload);
  });
});

describe("in-place: Thumb calls across sector boundaries (INPLACE_STRADDLE)", () => {

  for (const shrink of [false, true]) {
    it(`${shrink ? "a sector removed" : "a sector inserted"}: the calls across boundaries cost nothing, and the image is exact after a cut at every step`, () => {
      const [old, nw] = straddlePair(shrink ? 12 : 11, shrink, S);
      const straddlers = Math.floor((Math.min(old.length, nw.length) - 7 * S) / S);
      expect(straddlers).toBeGreaterThan(10);
      const d = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S, borrowSectors: 0 } });
      expect(rangeFieldValue(d.payload) & INPLACE_STRADDLE).toBe(INPLACE_STRADDLE);
      // without filtering them: more bytes for the calls (all alike here: their difference is learnt
      // quickly, so each costs under a byte more; on firmware about three)
      const raw = createRawDelta(old, nw, { filter: "thumb" });
      const plain = createInPlacePatch(old, nw, FILTERS.thumb, S, { predFlags: raw.predict, rangeSectors: 8, coding: raw.coding, straddle: false });
      expect(rangeFieldValue(plain.patch) & INPLACE_STRADDLE).toBe(0);
      expect(d.payload.length).toBeLessThan(plain.patch.length - straddlers / 2);
      applyWithCuts(old, nw, d, S, 13);
    });
  }

  it("a patch flagged for calls across boundaries without the Thumb filter is refused before writing", () => {
    const [old, nw] = straddlePair(13, false, S);
    const d = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S, borrowSectors: 0 } });
    // the same stream under the filter "none": the header names filter 0
    const p = new Uint8Array(d.payload);
    p[0] = (p[0]! & 0xf0) | FILTERS.none;
    const region = new MemoryRegion(old, S, old.length + 2 * S);
    expect(() => {
      const a = createInPlaceApplier({ ...d.encoding, filter: "none" }, region, {});
      a.push(p, () => {});
      a.finish(() => {});
    }).toThrow(FormatError);
    expect(region.writes).toBe(0);
  });
});
