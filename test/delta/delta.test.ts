import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CompatibilityError, FormatError, IntegrityError, isFotaError, StorageError, UsageError } from "../../src/errors.js";
import {
  applyDelta,
  applyFilter,
  bytesReader,
  createDelta,
  createDeltaDecoder,
  createInPlaceApplier,
  DeltaDecoder,
  FILTER_NAMES,
  filterImage,
  peekDeltaHeader,
  FILTERS,
  MemoryRegion,
  suffixArray,
  type DeltaResult,
} from "../../src/delta/index.js";
import { withConfig } from "../../src/config.js";
import { aarch64Image, applyWithCuts, armImage, chunks, ehElf, link, linkArm32, linkArm64, makeProgram, mipsImage, resumeRoundTrip, rng, s390Image, sha, sleb128, uleb128, wasmModule, thumbMovwImage, wordImage, x86Image, xtensaImage, type WordArch } from "./helpers.js";
import { firstDataSegment, wasmAddressing, type WasmAddressing } from "../../src/delta/wasm.js";
import { AddressMap, mapMargin, mapReferences, PRED, predFilterOk, type EhTables } from "../../src/delta/predict.js";
import { archHints, createRawDelta, elfEhTables, firstPassCopies, is32BitExecutable, THUMB_SHARE_MIN } from "../../src/delta/create.js";
import { CODING_LANES } from "../../src/delta/stream.js";
import { createInPlacePatch } from "../../src/delta/inplace.js";

function applyChunked(old: Uint8Array, d: DeltaResult, sizes: number[], nw: Uint8Array): Uint8Array {
  const dec = createDeltaDecoder(d.encoding, bytesReader(old), { baseSha256: sha(old), targetSha256: sha(nw), targetSize: nw.length });
  const parts: Uint8Array[] = [];
  const out = (b: Uint8Array): void => void parts.push(new Uint8Array(b));
  for (const c of chunks(d.payload, sizes)) dec.push(c, out);
  dec.finish(out);
  return Buffer.concat(parts);
}

/**
 * Applies `d` through a decoder whose base window holds 64 bytes (many slices, each read with the
 * margins its map needs), saved and restored half-way through the payload.
 */
function applySmallWindowResumed(old: Uint8Array, d: DeltaResult): Uint8Array {
  const parts: Uint8Array[] = [];
  const out = (b: Uint8Array): void => void parts.push(new Uint8Array(b));
  const first = new DeltaDecoder(bytesReader(old), { baseWindowBytes: 64 });
  first.push(d.payload.subarray(0, d.payload.length >> 1), out);
  const resumed = DeltaDecoder.restore(first.saveState(), bytesReader(old), { baseWindowBytes: 64 });
  resumed.push(d.payload.subarray(d.payload.length >> 1), out);
  resumed.finish(out);
  return Buffer.concat(parts);
}

/** An image edited the way firmware changes: bytes inserted, deleted, blocks moved, values patched. */
const editArb = fc.record({
  kind: fc.constantFrom("insert", "delete", "move", "patch"),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  to: fc.double({ min: 0, max: 1, noNaN: true }),
  len: fc.integer({ min: 1, max: 200 }),
  seed: fc.integer({ min: 1, max: 1e9 }),
});

function edit(img: Uint8Array, e: { kind: string; at: number; to: number; len: number; seed: number }): Uint8Array {
  const r = rng(e.seed);
  const at = Math.floor(e.at * img.length);
  const len = Math.min(e.len, img.length - at);
  const rand = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
  const b = Buffer.from(img);
  switch (e.kind) {
    case "insert":
      return Buffer.concat([b.subarray(0, at), rand(e.len), b.subarray(at)]);
    case "delete":
      return Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
    case "move": {
      const block = b.subarray(at, at + len);
      const rest = Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
      const to = Math.floor(e.to * rest.length);
      return Buffer.concat([rest.subarray(0, to), block, rest.subarray(to)]);
    }
    default: {
      const out = new Uint8Array(b);
      for (let i = 0; i < len; i += 1 + Math.floor(r() * 16)) out[at + i] = Math.floor(r() * 256);
      return out;
    }
  }
}

/** Grow some function bodies by whole instructions, relink (every call and pointer after them shifts),
 * and check the delta from the old link to the new one applies back to the exact new image. */
/**
 * A slice [a, b) of `img` (picked by x and y) mapped on its own, with mapMargin(flags) bytes of margin
 * on each side (what the decoder reads around a slice of the base), gives the bytes `whole` (all of
 * img mapped) has there.
 */
function expectSliceLikeWhole(img: Uint8Array, whole: Uint8Array, flags: number, map: AddressMap, base: number, x: number, y: number, oldSize = img.length, wasm?: WasmAddressing, eh?: EhTables): void {
  const a = x % img.length;
  const b = a + (y % (img.length - a + 1));
  const lo = Math.max(0, a - mapMargin(flags));
  const hi = Math.min(img.length, b + mapMargin(flags));
  const w = new Uint8Array(img.subarray(lo, hi));
  mapReferences(flags, w, lo, map, oldSize, base, 0, w.length, wasm, eh);
  expect(Buffer.compare(w.subarray(a - lo, b - lo), whole.subarray(a, b))).toBe(0);
}

/** Maps the whole image, then checks the slice that x and y pick against it (see expectSliceLikeWhole). */
function expectSlicesMapLikeWhole(img: Uint8Array, flags: number, map: AddressMap, base: number, x: number, y: number, oldSize = img.length, wasm?: WasmAddressing, eh?: EhTables): void {
  const whole = new Uint8Array(img);
  mapReferences(flags, whole, 0, map, oldSize, base, 0, whole.length, wasm, eh);
  expectSliceLikeWhole(img, whole, flags, map, base, x, y, oldSize, wasm, eh);
}

function relinkRoundTrip(p: ReturnType<typeof makeProgram>, linker: (p: ReturnType<typeof makeProgram>) => Uint8Array, grows: Array<[number, number]>, insnBytes: number): void {
  const old = linker(p);
  for (const [i, n] of grows) {
    const f = i % p.bodies.length;
    const nb = new Uint8Array(p.bodies[f]!.length + n * insnBytes);
    nb.set(p.bodies[f]!);
    p.bodies[f] = nb;
  }
  const nw = linker(p);
  const d = createDelta(old, nw);
  expect(sha(applyDelta(old, d.payload, d.encoding))).toBe(sha(nw));
}

describe("suffix array", () => {
  it("matches a naive sort on random and repetitive strings", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 4 }), (raw, alpha) => {
        const s = raw.map((x) => x % (alpha === 4 ? 256 : alpha + 1));
        const sa = Array.from(suffixArray(s));
        const naive = Array.from(s.keys()).sort((a, b) => Buffer.compare(Buffer.from(s.subarray(a)), Buffer.from(s.subarray(b))));
        expect(sa).toEqual(naive);
      }),
      { numRuns: 200 },
    );
  });
});

describe("filters", () => {
  it("are reversible and give the same bytes on any slice as on the whole image", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 400 }), fc.constantFrom(...FILTER_NAMES), fc.nat(), fc.nat(), (img, name, x, y) => {
        // bias towards branch patterns
        for (let i = 1; i < img.length; i += 7) if (img[i]! % 3 === 0) img[i] = 0xf0 | (img[i]! & 7);
        const id = FILTERS[name];
        const f = filterImage(id, img);
        expect(Buffer.compare(filterImage(id, f, false), img)).toBe(0);
        const a = x % img.length;
        const b = a + (y % (img.length - a + 1));
        const lo = Math.max(0, a - 8);
        const hi = Math.min(img.length, b + 8);
        const w = new Uint8Array(img.subarray(lo, hi));
        applyFilter(id, w, lo, true);
        expect(Buffer.compare(w.subarray(a - lo, b - lo), f.subarray(a, b))).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it("the thumb filter makes every call to one function the same bytes (absolute targets)", () => {
    const p = makeProgram(7);
    const img = link(p);
    const f = filterImage(FILTERS.thumb, img);
    const starts: number[] = [];
    let at = 0;
    for (const b of p.bodies) {
      starts.push(at);
      at += b.length;
    }
    const seen = new Map<number, string>();
    let raw = new Set<string>();
    let calls = 0;
    p.calls.forEach((list, i) => {
      for (const [off, callee] of list) {
        if (off + 4 > p.bodies[i]!.length || callee !== 0) continue;
        const pc = starts[i]! + off;
        const key = Buffer.from(f.subarray(pc, pc + 4)).toString("hex");
        raw.add(Buffer.from(img.subarray(pc, pc + 4)).toString("hex"));
        if (seen.size) expect(key).toBe([...seen.values()][0]);
        seen.set(pc, key);
        calls++;
      }
    });
    expect(calls).toBeGreaterThan(1);
    expect(raw.size).toBeGreaterThan(1); // relative encodings differ; absolute ones do not
    raw = new Set();
  });
});

describe("createDelta / decoder", () => {
  it("round-trips mutated firmware-like images with every filter, fed in random chunk sizes", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1e6 }),
        fc.array(editArb, { minLength: 0, maxLength: 4 }),
        fc.constantFrom<"auto" | (typeof FILTER_NAMES)[number]>("auto", ...FILTER_NAMES),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
        (seed, edits, filter, sizes) => {
          const old = link(makeProgram(seed, 12, 200));
          let nw: Uint8Array = old;
          for (const e of edits) nw = edit(nw, e);
          const d = createDelta(old, nw, { filter });
          expect(sha(applyChunked(old, d, sizes, nw))).toBe(sha(nw));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("round-trips relinked programs (functions grown, so every call and pointer shifts)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 2, max: 80 })), { maxLength: 5 }), (seed, grows) => {
        relinkRoundTrip(makeProgram(seed, 20, 300), link, grows, 2);
      }),
      { numRuns: 25 },
    );
  });

  it("AArch64 code: relinked programs round-trip", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 4 }), (seed, grows) => {
        relinkRoundTrip(makeProgram(seed, 24, 400), linkArm64, grows, 4);
      }),
      { numRuns: 15 },
    );
  });

  it("reference mapping gives the same bytes on any slice as on the whole image", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 400 }), fc.constantFrom(PRED.thumb | PRED.abs32 | PRED.thumbLdr, PRED.thumb | PRED.abs32 | PRED.thumbLdr | PRED.thumbRel, PRED.thumb | PRED.thumbRel, PRED.arm64rel | PRED.abs32, PRED.arm64 | PRED.abs32, PRED.armCall | PRED.abs32, PRED.armCall | PRED.armRel | PRED.abs32), fc.nat(), fc.nat(), (img, flags, x, y) => {
        // opcode bytes of every form a map rewrites: BL/B.W, LDR.W literal, AArch64 BL, LDR/ADR, pointers, B<c>, B, CBZ, ARM BL, B, LDR literal
        for (let i = 1; i < img.length; i += 3) if (img[i]! % 2 === 0) img[i] = [0xf0, 0xf8, 0x94, 0x48, 0x08, 0xd3, 0xe2, 0xb1, 0x5f, 0xdf, 0xeb, 0xea, 0xe5, 0x9f][img[i]! % 14]!;
        const map = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 300), Int32Array.of(8, -12, 40));
        expectSlicesMapLikeWhole(img, flags, map, 0x08000000, x, y, img.length);
      }),
      { numRuns: 2000 },
    );
  });

  it("AArch64 page references (ADRP + ADD/LDR) and 64-bit pointers follow their targets: smaller, and round-trip", () => {
    const grow = new Map([[3, 5], [40, 2], [90, 9]]);
    const old = aarch64Image(7, 160);
    const nw = aarch64Image(7, 160, grow);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    const branches = size(PRED.arm64rel | PRED.abs32);
    const pages = size(PRED.arm64rel | PRED.arm64page | PRED.abs32);
    const all = size(PRED.arm64rel | PRED.arm64page | PRED.abs32 | PRED.ptr64);
    // each moved page reference costs difference bytes without the page map, each pointer without ptr64
    expect(pages).toBeLessThan(branches - 100);
    expect(all).toBeLessThan(pages - 100);
    const d = createDelta(old, nw);
    expect(d.payload.length).toBeLessThanOrEqual(all + 16);
    expect(sha(applyChunked(old, d, [1, 7, 300], nw))).toBe(sha(nw));
    // in place, sector by sector (page pairs across a sector boundary stay unmapped): smaller too, and safe against a cut at every step
    const S = 512;
    const ipSize = (predict: number) => createInPlacePatch(old, nw, FILTERS.none, S, { predFlags: predict, rangeSectors: 4 }).patch.length;
    expect(ipSize(PRED.arm64rel | PRED.arm64page | PRED.abs32 | PRED.ptr64)).toBeLessThan(ipSize(PRED.arm64rel | PRED.abs32) - 100);
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: S } }), S, 53);
    // the flags need their companions: a stream claiming them alone is refused
    expect(predFilterOk(PRED.arm64page, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.ptr64, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.arm64rel | PRED.arm64page, FILTERS.arm64)).toBe(false);
  });

  it("32-bit ARM calls follow their targets (map flag 256): smaller, and round-trip", () => {
    const p = makeProgram(21, 60, 400);
    const old = linkArm32(p);
    for (const f of [4, 19, 33]) p.bodies[f] = Buffer.concat([p.bodies[f]!, new Uint8Array(36)]);
    const nw = linkArm32(p);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "arm", predict }).patch.length;
    // without the map every call across a grown function is a changed word
    expect(size(PRED.armCall)).toBeLessThan(size(0) - 100);
    const d = createDelta(old, nw, { filter: "arm" });
    expect(sha(applyChunked(old, d, [5, 64], nw))).toBe(sha(nw));
    // in place too (each sector mapped alone), safe against a cut at every step
    applyWithCuts(old, nw, createDelta(old, nw, { filter: "arm", inPlace: { sectorSize: 512 } }), 512, 41);
  });

  it("32-bit ARM branches and literal loads follow caller and target (map flag 512): smaller, and round-trip", () => {
    const old = armImage(5, 120);
    const nw = armImage(5, 120, new Map(Array.from({ length: 24 }, (_, k) => [5 * k + 2, 1 + (k % 5)])));
    const size = (predict: number) => createRawDelta(old, nw, { filter: "arm", predict }).patch.length;
    // without it, every B and LDR across a grown block is a changed word
    expect(size(PRED.armCall | PRED.armRel)).toBeLessThan(size(PRED.armCall) - 30);
    const d = createDelta(old, nw, { filter: "arm" });
    expect(d.payload.length).toBeLessThanOrEqual(size(PRED.armCall | PRED.armRel) + 8);
    expect(sha(applyChunked(old, d, [3, 90], nw))).toBe(sha(nw));
  });

  it("auto tells 32-bit ARM code from Thumb code, also when the ARM code holds Thumb-like patterns", () => {
    const armLike = (seed: number, grow: number): Uint8Array => {
      const p = makeProgram(seed, 60, 400);
      const r = rng(seed);
      for (const b of p.bodies) {
        for (let k = 3; k < b.length; k += 4) b[k] = 0xe0 + [0, 1, 2, 3, 5, 8, 9, 10, 12, 13][Math.floor(r() * 10)]!; // condition "always", no BL
        // Thumb BL-like halfword pairs in a few percent of the words (data, literal pools)
        for (let k = 0; k + 4 <= b.length; k += 4) if (r() < 0.03) [b[k + 1], b[k + 3]] = [0xf0, 0xf8];
      }
      p.bodies[7] = Buffer.concat([p.bodies[7]!, new Uint8Array(grow)]);
      return linkArm32(p);
    };
    const old = armLike(8, 0);
    const nw = armLike(8, 40);
    const d = createDelta(old, nw);
    expect(d.filter).toBe("arm");
    expect(sha(applyChunked(old, d, [100], nw))).toBe(sha(nw));
    // Thumb code stays Thumb
    const t = makeProgram(9, 40, 300);
    expect(createDelta(link(t), link(t)).filter).toBe("thumb");
  });

  it("x86-64 calls, jumps and RIP-relative operands follow caller and target (map flag 4096): smaller, picked by auto, and round-trip, ordinary and in place", () => {
    const grow = new Map([[2, 7], [30, 1], [61, 40], [90, 3]]);
    const old = x86Image(4, 120);
    const nw = x86Image(4, 120, grow);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    const pointers = size(PRED.abs32 | PRED.ptr64);
    const all = size(PRED.x86rel | PRED.abs32 | PRED.ptr64);
    // without it, every call, jump and RIP-relative operand across a grown function is a changed word
    expect(all).toBeLessThan(pointers - 150);
    const d = createDelta(old, nw);
    expect(d.filter).toBe("none");
    expect(peekDeltaHeader(d.payload).flags & PRED.x86rel).toBe(PRED.x86rel);
    expect(d.payload.length).toBeLessThanOrEqual(all + 16);
    expect(sha(applyChunked(old, d, [1, 5, 333], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    // in place, each sector mapped alone (windows across a sector boundary see zeros): smaller too, and safe against a cut at every step
    const S = 512;
    const ipSize = (predict: number) => createInPlacePatch(old, nw, FILTERS.none, S, { predFlags: predict, rangeSectors: 4 }).patch.length;
    expect(ipSize(PRED.x86rel | PRED.abs32 | PRED.ptr64)).toBeLessThan(ipSize(PRED.abs32 | PRED.ptr64) - 150);
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: S } }), S, 47);
    // only without a filter, and never with the ARM maps
    expect(predFilterOk(PRED.x86rel, FILTERS.none)).toBe(true);
    expect(predFilterOk(PRED.x86rel, FILTERS.thumb)).toBe(false);
    expect(predFilterOk(PRED.x86rel | PRED.arm64rel, FILTERS.none)).toBe(false);
  });

  it("32-bit x86 absolute operands follow their targets (map flag 2097152 with x86rel and abs32): smaller, picked by auto for an ELF32, and round-trip, ordinary and in place", () => {
    const grow = new Map([[2, 7], [30, 1], [61, 40], [90, 3]]);
    const old = x86Image(4, 120, new Map(), true);
    const nw = x86Image(4, 120, grow, true);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    // without it, every LEA and MOV operand whose field is not word-aligned (the pointer pass maps those) is a changed word
    expect(size(PRED.x86rel | PRED.x86abs | PRED.abs32)).toBeLessThan(size(PRED.x86rel | PRED.abs32) - 100);
    const d = createDelta(old, nw);
    expect(peekDeltaHeader(d.payload).flags & ~CODING_LANES).toBe(PRED.x86rel | PRED.x86abs | PRED.abs32);
    expect(sha(applyChunked(old, d, [1, 5, 333], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 512 } }), 512, 43);
    // x86-64 code keeps its RIP-relative reading
    expect(peekDeltaHeader(createDelta(x86Image(4, 120), x86Image(4, 120, grow)).payload).flags & PRED.x86abs).toBe(0);
    // an operand is moved once, whether its field is word-aligned (the pointer pass) or not (the x86 map):
    // LEA eax, [0x8049000] and MOV eax, [0x8049010] (A1 moffs) with everything from 0x1000 on moved by 0x40
    const map = new AddressMap(Int32Array.of(0, 0x1000), Int32Array.of(0x1000, 0x10000), Int32Array.of(0, 0x40));
    for (const at of [0x100, 0x101, 0x102, 0x103]) {
      const b = new Uint8Array(0x200).fill(0x90);
      b.set([0x8d, 0x05, 0x00, 0x90, 0x04, 0x08, 0x90, 0x90, 0xa1, 0x10, 0x90, 0x04, 0x08], at);
      mapReferences(PRED.x86rel | PRED.x86abs | PRED.abs32, b, 0, map, 0x10000, 0x8048000);
      expect([...b.subarray(at, at + 13)], `at ${at}`).toEqual([0x8d, 0x05, 0x40, 0x90, 0x04, 0x08, 0x90, 0x90, 0xa1, 0x50, 0x90, 0x04, 0x08]);
    }
    // 32-bit executables: ELF class 1, or PE with the PE32 optional header (0x10b), not PE32+ (0x20b)
    const pe = (magic: number): Uint8Array => {
      const b = new Uint8Array(0x100);
      b.set([0x4d, 0x5a]);
      b[0x3c] = 0x80;
      b.set([0x50, 0x45, 0, 0], 0x80);
      b[0x98] = magic & 0xff;
      b[0x99] = magic >> 8;
      return b;
    };
    const elf = (cls: number): Uint8Array => Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, cls, 1, 1, 0]);
    expect([elf(1), elf(2), pe(0x10b), pe(0x20b), new Uint8Array(64), pe(0x10b).subarray(0, 0x90)].map(is32BitExecutable)).toEqual([true, false, true, false, false, false]);
    // with abs32 (the load address) and without 64-bit pointers only
    expect(predFilterOk(PRED.x86rel | PRED.x86abs, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.x86rel | PRED.x86abs | PRED.abs32 | PRED.ptr64, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.x86abs | PRED.abs32, FILTERS.none)).toBe(false);
  });

  it("x86-64 mapping with 64-bit pointers, and 32-bit x86 with absolute operands and 32-bit pointers, give the same bytes on any slice as on the whole image (windows next to each other, and across pointers)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 500 }), fc.nat(), fc.nat(), fc.boolean(), (img, x, y, bits32) => {
        // the bytes every window form starts with, and rel32 fields small enough to land in the image
        // (32-bit: the ModRM and moffs forms hold absolute addresses, some with an immediate after them)
        const forms = [[0xe8], [0xe9], [0x0f, 0x84], [0x48, 0x8d, 0x05], [0x8b, 0x15], [0x0f, 0x10, 0x05], [0xff, 0x25], [0x00], [0xa1], [0xc7, 0x05], [0x83, 0x3d]];
        for (let i = 0; i + 8 < img.length; i += 1 + (img[i]! % 6)) {
          const f = forms[img[i + 1]! % forms.length]!;
          img.set(f, i);
          const j = i + f.length;
          if (img[j]! & 1) img.set([img[j]! % 64, img[j + 1]! % 4, img[j + 2]! % 16, 0], j); // forward
          else if (img[j]! & 2) img.set([256 - (img[j]! % 64), 0xff, 0xff, 0xff], j); // backward, near
        }
        // 64-bit pointers at some 8-aligned words. The image stands for the start of a 16 MiB one (oldSize),
        // load address 0: pointer bytes and rel32 fields of all sizes then also read as each other's opcodes
        for (let i = 0; i + 8 <= img.length; i += 8) if (img[i]! % 3 === 0) img.set([img[i + 1]!, img[i + 2]!, img[i + 3]! % 16, 0, 0, 0, 0, 0], i);
        const map = new AddressMap(Int32Array.of(0, 100, 220, 0x10000, 0x800000), Int32Array.of(90, 200, 400, 0x20000, 0x900000), Int32Array.of(8, -12, 40, 0x1f0, -0x30005));
        const flags = bits32 ? PRED.x86rel | PRED.x86abs | PRED.abs32 : PRED.x86rel | PRED.abs32 | PRED.ptr64;
        expectSlicesMapLikeWhole(img, flags, map, 0, x, y, 1 << 24);
      }),
      { numRuns: 3000 },
    );
  });

  it("WebAssembly data addresses follow their data and call indices their functions (map flag 8192): smaller, picked by auto, and round-trip, ordinary and in place", () => {
    const old = wasmModule(6, 60, 80);
    // code grows (the data moves in the file, not in memory) and data items grow (addresses after them move)
    const nw = wasmModule(6, 60, 80, new Map([[5, 9], [40, 30]]), new Map([[10, 12], [50, 40]]), true, new Map([[20, 2], [45, 1]]));
    expect(wasmAddressing(old, nw, () => 0)).toMatchObject({ base: 1024 - firstDataSegment(old)!.offset, delta: firstDataSegment(old)!.offset - firstDataSegment(nw)!.offset, dataStart: firstDataSegment(old)!.offset });
    // functions 0-19 keep their indices, 20-44 gain 2 (two inserted before 20), 45-59 gain 3
    const first = AddressMap.fromCopies(firstPassCopies(old, nw), 10000);
    expect([...wasmAddressing(old, nw, (x) => first.shift(x))!.calls]).toEqual([20, 0, 25, 2, 15, 3]);
    // a call of function 25 (padded) and of 50 (not) become calls of 27 and 53; one of 70 (past the runs) and one before the code stay
    const calls = Uint8Array.from([0x10, ...uleb128(25), 0x10, ...uleb128(25, 5), 0x10, ...uleb128(50), 0x10, ...uleb128(70), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    mapReferences(PRED.wasmAddr, calls, 100, new AddressMap(Int32Array.of(0), Int32Array.of(1000), Int32Array.of(0)), 1000, 0, 0, calls.length, { base: 0, delta: 0, dataStart: 900, codeStart: 102, calls: Int32Array.of(20, 0, 25, 2, 15, 3) });
    expect([...calls.subarray(0, 12)]).toEqual([0x10, ...uleb128(25), 0x10, ...uleb128(27, 5), 0x10, ...uleb128(53), 0x10, ...uleb128(70)]);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    // without it, every i32.const and pointer to data past a grown item, and every call past an inserted function, is a changed field
    expect(size(PRED.wasmAddr)).toBeLessThan(size(0) - 300);
    const d = createDelta(old, nw);
    expect(d.filter).toBe("none");
    expect(peekDeltaHeader(d.payload).flags & ~CODING_LANES).toBe(PRED.wasmAddr);
    expect(sha(applyChunked(old, d, [2, 7, 250], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    // the memory the patch reports holds the decoder's call runs (8 bytes each, counted two to a map segment) as well as its map
    const dec = createDeltaDecoder(d.encoding, bytesReader(old));
    dec.push(d.payload, () => {});
    dec.finish(() => {});
    expect(dec.memoryBytes).toBeLessThanOrEqual(d.decoderMemoryBytes);
    expect(d.decoderMemoryBytes - dec.memoryBytes).toBeLessThan(16);
    // in place, sector by sector, safe against a cut at every step
    const S = 256;
    const ipSize = (predict: number) => createInPlacePatch(old, nw, FILTERS.none, S, { predFlags: predict, rangeSectors: 4 }).patch.length;
    expect(ipSize(PRED.wasmAddr)).toBeLessThan(ipSize(0) - 150);
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: S } }), S, 31);
    // alone, and only without a filter
    expect(predFilterOk(PRED.wasmAddr, FILTERS.none)).toBe(true);
    expect(predFilterOk(PRED.wasmAddr | PRED.abs32, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.wasmAddr, FILTERS.arm)).toBe(false);
  });

  it("a module without data, or bytes that only start like one, get no WebAssembly map (never an exception)", () => {
    const m = wasmModule(2, 5, 4);
    expect(firstDataSegment(m)).not.toBeNull();
    fc.assert(
      fc.property(fc.nat(), fc.uint8Array({ maxLength: 64 }), (cut, junk) => {
        const broken = Buffer.concat([m.subarray(0, cut % m.length), junk]);
        const seg = firstDataSegment(broken);
        if (seg) expect(seg.offset).toBeLessThanOrEqual(broken.length);
      }),
      { numRuns: 500 },
    );
    // modules without a data section: no map, and the patch applies
    const noData = wasmModule(2, 5, 4, new Map(), new Map(), false);
    const noData2 = wasmModule(2, 5, 4, new Map([[1, 9]]), new Map(), false);
    expect(firstDataSegment(noData)).toBeNull();
    expect(wasmAddressing(noData, m, () => 0)).toBeNull();
    const dw = createDelta(noData, noData2);
    expect(peekDeltaHeader(dw.payload).flags & PRED.wasmAddr).toBe(0);
    expect(sha(applyDelta(noData, dw.payload, dw.encoding))).toBe(sha(noData2));
    const d = createDelta(link(makeProgram(3, 10, 100)), link(makeProgram(4, 10, 100)));
    expect(peekDeltaHeader(d.payload).flags & PRED.wasmAddr).toBe(0);
  });

  it("WebAssembly address mapping gives the same bytes on any slice as on the whole image (consts next to each other, padded or not)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 60, maxLength: 500 }), fc.nat(), fc.nat(), fc.nat(), (img, x, y, z) => {
        const dataStart = 20 + (z % (img.length - 20));
        // function indices below 300 in three runs, calls mapped from codeStart on
        const wasm = { base: 3000 - dataStart, delta: -40 + (z % 97), dataStart, codeStart: z % dataStart, calls: Int32Array.of(100, 0, 50, 7, 150, -3 - (z % 5)) };
        // i32.const of addresses in and out of the data, and calls, some padded, some overlapping the next
        for (let i = 0; i + 7 < dataStart; i += 1 + (img[i]! % 5)) {
          const a = 3000 + ((img[i + 1]! * 7) % (img.length - dataStart + 40)) - 20;
          const pad = img[i + 2]! & 1 ? 5 : 0;
          img.set((img[i + 3]! & 1 ? [0x41, ...sleb128(a, pad)] : [0x10, ...uleb128(img[i + 1]! + (img[i + 4]! & 63), pad)]).slice(0, 7), i);
        }
        // pointers to the data
        const dv = new DataView(img.buffer, img.byteOffset, img.length);
        for (let i = dataStart; i + 4 <= img.length; i += 4) if (img[i]! % 3 === 0) dv.setUint32(i, 3000 + (img[i + 1]! % (img.length - dataStart)), true);
        const map = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 500), Int32Array.of(8, -12, 40));
        expectSlicesMapLikeWhole(img, PRED.wasmAddr, map, 0, x, y, img.length, wasm);
      }),
      { numRuns: 3000 },
    );
  });

  it("s390x relative-long forms follow caller and target (map flag 16384), and MIPS calls their targets (32768): smaller, picked by auto, and round-trip, ordinary and in place", () => {
    const grow = new Map([[3, 5], [40, 11], [77, 2]]);
    const old = s390Image(8, 100);
    const nw = s390Image(8, 100, grow);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    // without the map, every call and address across a grown function is a changed field
    expect(size(PRED.s390rel)).toBeLessThan(size(0) - 120);
    expect(peekDeltaHeader(createDelta(old, nw).payload).flags & ~CODING_LANES).toBe(PRED.s390rel);
    // a JAL to a function that moved by 20 bytes (load address 0x10000) is rewritten to call it there
    const jal = (target: number) => Uint8Array.from(new Uint8Array(Uint32Array.of((0x0c000000 | (target >>> 2)) >>> 0).buffer));
    const w = Uint8Array.from([...jal(0x10000 + 0x400), ...jal(0x10000 + 0x80)]);
    mapReferences(PRED.mipsCall | PRED.abs32, w, 0x100, new AddressMap(Int32Array.of(0, 0x200), Int32Array.of(0x200, 0x1000), Int32Array.of(0, 20)), 0x1000, 0x10000);
    expect([...w]).toEqual([...jal(0x10000 + 0x400 + 20), ...jal(0x10000 + 0x80)]);
    const cases: Array<[string, Uint8Array, Uint8Array, number]> = [
      ["s390x", old, nw, PRED.s390rel],
      ["MIPS", mipsImage(9, 100), mipsImage(9, 100, grow), 0],
    ];
    for (const [name, old, nw, flags] of cases) {
      const d = createDelta(old, nw);
      expect(d.filter, name).toBe("none");
      expect(peekDeltaHeader(d.payload).flags & flags, name).toBe(flags);
      expect(sha(applyChunked(old, d, [3, 17, 500], nw)), name).toBe(sha(nw));
      expect(sha(applySmallWindowResumed(old, d)), name).toBe(sha(nw));
      applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 37);
    }
    // s390x alone (big-endian: no little-endian pointers), JAL with the load address it needs
    expect(predFilterOk(PRED.s390rel | PRED.abs32, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.mipsCall, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.mipsCall | PRED.abs32, FILTERS.thumb)).toBe(false);
  });

  it("s390x and MIPS mapping give the same bytes on any slice as on the whole image", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 500 }), fc.boolean(), fc.nat(), fc.nat(), (img, s390, x, y) => {
        for (let i = 0; i + 6 < img.length; i += 2 + 2 * (img[i]! % 3)) {
          if (s390) img.set([[0xc0, 0xc4, 0xc6][img[i + 1]! % 3]!, img[i + 2]! & 0x1f, img[i + 3]! & 1 ? 0 : 0xff, img[i + 3]! & 1 ? 0 : 0xff], i);
          else if ((i & 3) === 0) img.set([img[i + 1]!, img[i + 2]! & 1, 0, 0x0c], i); // JAL into the first 512 KiB
        }
        const map = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 40));
        const flags = s390 ? PRED.s390rel : PRED.mipsCall | PRED.abs32;
        expectSlicesMapLikeWhole(img, flags, map, 0, x, y, 1 << 20);
      }),
      { numRuns: 3000 },
    );
  });

  it("RISC-V, LoongArch, POWER and MIPS address pairs follow caller and target (map flags 65536, 131072, 262144, 524288): smaller, picked by auto, and round-trip, ordinary and in place", () => {
    const grow = new Map([[3, 5], [40, 11], [77, 2]]);
    const cases: Array<[WordArch, number]> = [["riscv", PRED.riscv], ["riscvc", PRED.riscv | PRED.riscvC], ["loong", PRED.loong], ["power", PRED.power], ["mips", PRED.mipsAddr]];
    for (const [arch, flag] of cases) {
      const old = wordImage(arch, 10, 100);
      const nw = wordImage(arch, 10, 100, grow);
      const d = createDelta(old, nw);
      const flags = peekDeltaHeader(d.payload).flags & ~CODING_LANES;
      expect(d.filter, arch).toBe("none");
      expect(flags & flag, arch).toBe(flag);
      // without this map (the others kept), every call and address across a grown function is a changed field;
      // compressed code mapped on words only misses those between words
      const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
      expect(size(flags), arch).toBeLessThan(size(flags & ~flag) - 100);
      if (flag & PRED.riscvC) expect(size(flags), arch).toBeLessThan(size(flags & ~PRED.riscvC) - 50);
      else expect(predFilterOk(flags | PRED.riscvC, FILTERS.none), arch).toBe(arch === "riscv");
      expect(sha(applyChunked(old, d, [3, 17, 500], nw)), arch).toBe(sha(nw));
      expect(sha(applySmallWindowResumed(old, d)), arch).toBe(sha(nw));
      applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 41);
    }
    // RISC-V firmware for RV32 (few AUIPC: its addresses are LUI pairs) is found by its calls, and mapped
    // with 32-bit pointers and its LUI pairs (map flag 4194304)
    const [rvOld, rvNew] = [wordImage("rv32c", 10, 100), wordImage("rv32c", 10, 100, grow)];
    const rv32 = createDelta(rvOld, rvNew);
    const rvFlags = peekDeltaHeader(rv32.payload).flags & ~CODING_LANES;
    expect(rvFlags & (PRED.riscv | PRED.riscvC | PRED.riscvAbs | PRED.abs32)).toBe(PRED.riscv | PRED.riscvC | PRED.riscvAbs | PRED.abs32);
    const rvSize = (predict: number) => createRawDelta(rvOld, rvNew, { filter: "none", predict }).patch.length;
    expect(rvSize(rvFlags)).toBeLessThan(rvSize(rvFlags & ~PRED.riscvAbs) - 100);
    expect(sha(applySmallWindowResumed(rvOld, rv32))).toBe(sha(rvNew));
    applyWithCuts(rvOld, rvNew, createDelta(rvOld, rvNew, { inPlace: { sectorSize: 256 } }), 256, 41);
    // POWER and MIPS pairs are absolute: they need the load address; RISC-V and LoongArch are relative
    expect(predFilterOk(PRED.power, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.mipsAddr | PRED.mipsCall, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.riscv, FILTERS.none)).toBe(true);
    expect(predFilterOk(PRED.riscv | PRED.loong, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.riscvC, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.loong | PRED.thumb, FILTERS.thumb)).toBe(false);
  });

  it("RISC-V, LoongArch, POWER and MIPS maps rewrite the instructions of esbuild's builds as their ISAs define them", () => {
    // callers below 256 KiB stay, targets above move by 0x100; words taken from objdump of esbuild 0.24.1
    // (RISC-V at 0x11728 and 0x1107c, POWER at 0x11014 and 0x1102c, MIPS at 0x11034: file offset = address
    // - 0x10000), LoongArch's built by hand (binutils 2.40 has no LoongArch disassembler)
    const map = new AddressMap(Int32Array.of(0, 0x40000), Int32Array.of(0x40000, 0x1000000), Int32Array.of(0, 0x100));
    const mapped = (flags: number, at: number, words: number[]): string[] => {
      const b = new Uint8Array(Uint32Array.from(words).buffer);
      mapReferences(flags, b, at, map, 0x1000000, 0x10000);
      return [...new Uint32Array(b.buffer)].map((w) => w.toString(16).padStart(8, "0"));
    };
    // AUIPC a0, 0x4c5; ADDI a0, a0, 2040 (-> 0x4d6f20) becomes AUIPC a0, 0x4c6; ADDI a0, a0, -1800
    expect(mapped(PRED.riscv, 0x1728, [0x004c5517, 0x7f850513])).toEqual(["004c6517", "8f850513"]);
    // JAL ra, 0x812d8 becomes JAL ra, 0x813d8
    expect(mapped(PRED.riscv, 0x107c, [0x25c700ef])).toEqual(["35c700ef"]);
    // BL 0x8d1b0 becomes BL 0x8d2b0; LIS r6, 150; ADDI r6, r6, -18944 (0x95b600) becomes ... -18688 (0x95b700)
    expect(mapped(PRED.power | PRED.abs32, 0x1014, [0x4807c19d])).toEqual(["4807c29d"]);
    expect(mapped(PRED.power | PRED.abs32, 0x102c, [0x3cc00096, 0x38c6b600])).toEqual(["3cc00096", "38c6b700"]);
    // LUI s7, 0xa7; DADDU s7, s7, gp; LD a0, -18168(s7) (0xa6b908) becomes LD a0, -17912(s7)
    expect(mapped(PRED.mipsAddr | PRED.abs32, 0x1034, [0x3c1700a7, 0x02fcb82d, 0xdee4b908])).toEqual(["3c1700a7", "02fcb82d", "dee4ba08"]);
    // RISC-V LUI pairs of SQLite built for RV32IMC (load address 0x20000000, from riscv64-unknown-elf-objdump):
    // LUI a5, 0x2006e; ADDI a5, a5, -1552 (0x2006d9f0) becomes ... -1296; LUI a5, 0x2006e; C.ADD a0, a0, a3;
    // ADDI a5, a5, -1024 (0x2006dc00) becomes ... -768, between words (compressed code) and on them
    const rvAbs = (flags: number, at: number, bytes: number[]): string => {
      const b = Uint8Array.from(bytes);
      mapReferences(flags | PRED.riscv | PRED.riscvAbs | PRED.abs32, b, at, map, 0x1000000, 0x20000000);
      return Buffer.from(b).toString("hex");
    };
    const le = (...ws: number[]): number[] => ws.flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24]);
    expect(rvAbs(PRED.riscvC, 0x26e, le(0x2006e7b7, 0x9f078793))).toBe(Buffer.from(le(0x2006e7b7, 0xaf078793)).toString("hex"));
    expect(rvAbs(PRED.riscvC, 0x5d6, [...le(0x2006e7b7), 0x36, 0x95, ...le(0xc0078793)])).toBe(Buffer.from([...le(0x2006e7b7), 0x36, 0x95, ...le(0xd0078793)]).toString("hex"));
    expect(rvAbs(0, 0x270, le(0x2006e7b7, 0x9f078793))).toBe(Buffer.from(le(0x2006e7b7, 0xaf078793)).toString("hex"));
    // an instruction between that sets a5 (ADDI a5, a0, 1) ends the search: the pair is left alone
    expect(rvAbs(PRED.riscvC, 0x26e, le(0x2006e7b7, 0x00150793, 0x9f078793))).toBe(Buffer.from(le(0x2006e7b7, 0x00150793, 0x9f078793)).toString("hex"));
    // (a LUI read as a pointer by the 32-bit pointer pass is left to its pair)
    expect(rvAbs(0, 0x270, le(0x2006e7b7, 0x00150793))).toBe(Buffer.from(le(0x2006e7b7, 0x00150793)).toString("hex"));
    // LoongArch BL +0x200000 becomes +0x200100; PCALAU12I a0 (+0x200 pages); ADDI.D a0, a0, 0x234 becomes ... 0x334
    expect(mapped(PRED.loong, 0x1000, [0x54000008])).toEqual(["54010008"]);
    expect(mapped(PRED.loong, 0x1000, [0x1a004004, 0x02c8d084])).toEqual(["1a004004", "02ccd084"]);
    // a pair across a sector boundary (in place) is left alone
    const b = new Uint8Array(Uint32Array.of(0x004c5517, 0x7f850513).buffer);
    mapReferences(PRED.riscv, b, 0xffc, map, 0x1000000, 0, 0x1000);
    expect([...new Uint32Array(b.buffer)]).toEqual([0x004c5517, 0x7f850513]);
  });

  it("RISC-V compressed code: windows on halfwords that overlap another are left alone, and every slice maps like the whole image", () => {
    // C.NOP filler; targets at 0x8000 and above move by 0x1234, code below stays
    const img = new Uint8Array(0x400);
    for (let i = 0; i < img.length; i += 2) img.set([0x01, 0x00], i);
    const dv = new DataView(img.buffer);
    const jalWord = (at: number, t: number): number => {
      const d = t - at;
      return ((((d >> 20) & 1) << 31) | (((d >> 1) & 0x3ff) << 21) | (((d >> 11) & 1) << 20) | (((d >> 12) & 0xff) << 12) | 0x0ef) >>> 0;
    };
    const jal = (at: number, t: number): void => dv.setUint32(at, jalWord(at, t), true);
    const pair = (at: number, t: number): void => {
      const hi = (t - at + 0x800) >> 12;
      dv.setUint32(at, ((hi << 12) | 0x517) >>> 0, true); // AUIPC a0
      dv.setUint32(at + 4, (((t - at - hi * 4096) << 20) | 0x50513) >>> 0, true); // ADDI a0, a0
    };
    // a JAL whose upper halfword starts a window too (a JAL ra, or an AUIPC a0 whose ADDI follows)
    const jalHiding = (at: number, ok: (upper: number) => boolean): void => {
      let t = 0x8000;
      while (!ok(jalWord(at, t) >>> 16)) t += 2;
      jal(at, t);
    };
    jal(0x102, 0x9000); // alone, between words
    pair(0x10a, 0x9876); // alone, between words
    jalHiding(0x200, (u) => (u & 0x7f) === 0x6f && ((u >>> 7) & 31) === 1); // two JAL windows 2 bytes apart: neither is rewritten
    jalHiding(0x300, (u) => (u & 0x7f) === 0x17 && ((u >>> 7) & 31) === 10); // a JAL and an AUIPC pair inside it: neither
    dv.setUint32(0x306, 0x00050513, true); // (the pair's ADDI a0, a0)
    // a JAL ra at 0x380 whose upper half starts LUI a5, 0x20013 (load address 0x20000000), the ADDI a5, a5
    // of its low part three instructions on (two stores between): 16 bytes; neither counts. A slice
    // from 0x38f sees the ADDI's top byte and, with 16 bytes of margin, not the JAL: LUI windows need 32
    dv.setUint32(0x380, 0x37b700ef, true);
    dv.setUint16(0x384, 0x2001, true);
    dv.setUint32(0x386, 0x00012023, true); // SW zero, 0(sp)
    dv.setUint32(0x38a, 0x00012023, true);
    dv.setUint32(0x38e, 0x12378793, true); // ADDI a5, a5, 0x123
    const map = new AddressMap(Int32Array.of(0, 0x8000), Int32Array.of(0x8000, 0x100000), Int32Array.of(0, 0x1234));
    const flags = PRED.riscv | PRED.riscvC | PRED.riscvAbs | PRED.abs32;
    const base = 0x20000000;
    const whole = new Uint8Array(img);
    mapReferences(flags, whole, 0, map, 0x100000, base);
    const changed = (lo: number, hi: number): boolean => Buffer.compare(whole.subarray(lo, hi), img.subarray(lo, hi)) !== 0;
    expect([changed(0x102, 0x106), changed(0x10a, 0x112)]).toEqual([true, true]);
    expect([changed(0x200, 0x208), changed(0x300, 0x30a), changed(0x380, 0x392)]).toEqual([false, false, false]);
    // the hidden windows alone are rewritten (the JALs around them are, on words: see below)
    for (const [at, len] of [[0x202, 4], [0x302, 8], [0x382, 16]] as const) {
      const one = new Uint8Array(img.length).fill(0);
      for (let i = 0; i < one.length; i += 2) one.set([0x01, 0x00], i);
      one.set(img.subarray(at, at + len), at);
      const m = new Uint8Array(one);
      mapReferences(flags, m, 0, map, 0x100000, base);
      expect(Buffer.compare(m, one), `window at ${at}`).not.toBe(0);
    }
    // words mapped on words only: the halfword windows are not seen
    const words = new Uint8Array(img);
    mapReferences(PRED.riscv, words, 0, map, 0x100000, 0);
    const wordsChanged = (lo: number, hi: number): boolean => Buffer.compare(words.subarray(lo, hi), img.subarray(lo, hi)) !== 0;
    expect([wordsChanged(0x102, 0x112), wordsChanged(0x200, 0x204), wordsChanged(0x300, 0x304)]).toEqual([false, true, true]);
    // every slice near the windows, with mapMargin() on each side, maps like the whole image
    for (let a = 0xf0; a < 0x3a0; a++) for (const len of [1, 3, 8, 40]) expectSliceLikeWhole(img, whole, flags, map, base, a, len, 0x100000);
  });

  it("Thumb-2 MOVW/MOVT address pairs follow their targets (map flag 16777216 with thumb and abs32): smaller, picked by auto for LLVM-like code, and round-trip, ordinary and in place; any slice maps like the whole image", () => {
    const grow = new Map([[3, 5], [40, 11], [77, 2]]);
    const old = thumbMovwImage(14, 100);
    const nw = thumbMovwImage(14, 100, grow);
    const d = createDelta(old, nw);
    const flags = peekDeltaHeader(d.payload).flags & ~CODING_LANES;
    expect(d.filter).toBe("thumb");
    expect(flags & (PRED.thumbMovw | PRED.abs32)).toBe(PRED.thumbMovw | PRED.abs32);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "thumb", predict }).patch.length;
    expect(size(flags)).toBeLessThan(size(flags & ~PRED.thumbMovw) - 100);
    expect(sha(applyChunked(old, d, [3, 17, 500], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 41);
    // GCC-like Thumb code (no pairs) keeps its flags: the Pybricks corpus' patches do not change
    expect(peekDeltaHeader(createDelta(wordImage("riscv", 1, 4), wordImage("riscv", 1, 4)).payload).flags & PRED.thumbMovw).toBe(0);
    // MOVW r0, #2690; MOVT r0, #2056 (0x08080a82, from llvm-objdump of SQLite built by clang; load address
    // 0x08000000), its target moved by 0x100: MOVW r0, #2946
    const map = new AddressMap(Int32Array.of(0, 0x40000), Int32Array.of(0x40000, 0x1000000), Int32Array.of(0, 0x100));
    const b = Uint8Array.from([0x40, 0xf6, 0x82, 0x20, 0xc0, 0xf6, 0x08, 0x00]);
    mapReferences(PRED.thumb | PRED.abs32 | PRED.thumbMovw, b, 0xe, map, 0x1000000, 0x08000000);
    expect([...b]).toEqual([0x40, 0xf6, 0x82, 0x30, 0xc0, 0xf6, 0x08, 0x00]);
    expect(predFilterOk(PRED.thumb | PRED.thumbMovw, FILTERS.thumb)).toBe(false);
    // interleaved pairs (MOVW r1, MOVW r2, MOVT r1, MOVT r2) are both mapped; a pair 16 bytes apart (three
    // 32-bit LDR.W between, the shift carrying into its high half) too, and every slice around them maps
    // like the whole image
    const movs = (top: number, rd: number, v: number): number[] => {
      const hw1 = top | (((v >> 11) & 1) << 10) | ((v >> 12) & 15);
      const hw2 = (((v >> 8) & 7) << 12) | (rd << 8) | (v & 0xff);
      return [hw1 & 0xff, hw1 >> 8, hw2 & 0xff, hw2 >> 8];
    };
    const ldrw = [0xd1, 0xf8, 0x00, 0x00];
    const code = Uint8Array.from([
      ...[0x00, 0xbf], // NOP (the pairs start between words)
      ...movs(0xf240, 1, 0x1000), ...movs(0xf240, 2, 0x2000), ...movs(0xf2c0, 1, 0x0805), ...movs(0xf2c0, 2, 0x0805),
      ...movs(0xf240, 3, 0xff80), ...ldrw, ...ldrw, ...ldrw, ...movs(0xf2c0, 3, 0x0805),
      ...new Array<number>(80).fill(0),
    ]);
    const moved = new Uint8Array(code);
    mapReferences(PRED.thumb | PRED.abs32 | PRED.thumbMovw, moved, 0, map, 0x1000000, 0x08000000);
    expect(Buffer.from(moved.subarray(0, 38)).toString("hex")).toBe(
      Buffer.from([0x00, 0xbf, ...movs(0xf240, 1, 0x1100), ...movs(0xf240, 2, 0x2100), ...movs(0xf2c0, 1, 0x0805), ...movs(0xf2c0, 2, 0x0805), ...movs(0xf240, 3, 0x0080), ...ldrw, ...ldrw, ...ldrw, ...movs(0xf2c0, 3, 0x0806)]).toString("hex"),
    );
    for (let a = 0; a < 48; a++) for (const len of [1, 4]) expectSliceLikeWhole(code, moved, PRED.thumb | PRED.abs32 | PRED.thumbMovw, map, 0x08000000, a, len, 0x1000000);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 400 }), fc.nat(), fc.nat(), (img, x, y) => {
        // MOVW and MOVT of r3 (addresses below 1 MiB), 32-bit and 16-bit instructions between, at random halfwords
        const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
        for (let i = 0; i + 4 <= img.length; i += 2 + 2 * (img[i]! & 1)) {
          const k = img[i + 1]! % 5;
          if (k === 0) {
            dv.setUint16(i, 0xf240 | (img[i]! & 0x40 ? 0x400 : 0) | (img[i]! & 15), true); // MOVW r3, any
            dv.setUint16(i + 2, ((img[i + 3]! & 0x70) << 8) | 0x0300 | img[i + 2]!, true);
          } else if (k === 1) {
            dv.setUint16(i, 0xf2c0, true); // MOVT r3, below 16
            dv.setUint16(i + 2, 0x0300 | (img[i + 2]! & 15), true);
          }
        }
        const m = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 0x1234));
        const f = PRED.thumb | PRED.abs32 | PRED.thumbMovw;
        expectSlicesMapLikeWhole(img, f, m, 0, x, y, 1 << 20);
      }),
      { numRuns: 3000 },
    );
  });

  it("Xtensa calls follow caller and target (map flag 8388608): smaller, picked by auto, and round-trip, ordinary and in place; any slice maps like the whole image", () => {
    const grow = new Map([[3, 5], [40, 11], [77, 2]]);
    const old = xtensaImage(12, 100);
    const nw = xtensaImage(12, 100, grow);
    const d = createDelta(old, nw);
    const flags = peekDeltaHeader(d.payload).flags & ~CODING_LANES;
    expect(d.filter).toBe("none");
    expect(flags & PRED.xtensa).toBe(PRED.xtensa);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    expect(size(flags)).toBeLessThan(size(flags & ~PRED.xtensa) - 100);
    expect(sha(applyChunked(old, d, [3, 17, 500], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 41);
    // CALL0 at 0x40210019 to 0x40255b1c (from objdump of SQLite built for the ESP8266; bytes 05 b0 45),
    // its target moved by 0x100: 0x40255c1c (bytes 05 c0 45). Its last byte could start a call too
    // (low nibble 5): the bytes after it make that one's target fall before the image
    const map = new AddressMap(Int32Array.of(0, 0x40000), Int32Array.of(0x40000, 0x1000000), Int32Array.of(0, 0x100));
    const b = Uint8Array.from([0x0d, 0x05, 0xb0, 0x45, 0x00, 0x80, 0x0d, 0x0d, 0x0d]);
    mapReferences(PRED.xtensa, b, 0x18, map, 0x1000000, 0);
    expect([...b]).toEqual([0x0d, 0x05, 0xc0, 0x45, 0x00, 0x80, 0x0d, 0x0d, 0x0d]);
    expect(predFilterOk(PRED.xtensa | PRED.ptr64 | PRED.abs32, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.xtensa, FILTERS.thumb)).toBe(false);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 400 }), fc.nat(), fc.nat(), (img, x, y) => {
        // calls at random bytes, with offsets that land in the first 1 MiB
        for (let i = 0; i + 3 <= img.length; i += 1 + (img[i]! % 4)) if (img[i]! % 3 === 0) img.set([(img[i + 1]! & 0xc0) | 0x05, img[i + 2]!, img[i + 1]! & 0x0f], i);
        const m = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 0x1234));
        expectSlicesMapLikeWhole(img, PRED.xtensa | PRED.abs32, m, 0x40000000, x, y, 1 << 20);
      }),
      { numRuns: 3000 },
    );
  });

  it("ELF unwind tables follow their targets (map flag 67108864): smaller, picked by auto, and round-trip, ordinary and in place; any slice maps like the whole image", () => {
    // 8 of 60 functions grew: every initial location after the first of them changes, by 8 amounts
    const grow = new Map(Array.from({ length: 8 }, (_, k) => [3 + k * 7, 5 + ((k * 37) % 61)]));
    const old = ehElf(5, 60);
    const nw = ehElf(5, 60, grow);
    expect(elfEhTables(old)).toMatchObject({ hdrLen: 12 + 8 * 60, ehLen: 20 + 20 * 60 + 4 });
    expect(elfEhTables(old.subarray(0, 0x3f))).toBeUndefined();
    const d = createDelta(old, nw);
    const flags = peekDeltaHeader(d.payload).flags & ~CODING_LANES;
    expect(flags & PRED.elfEh).toBe(PRED.elfEh);
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    expect(size(flags)).toBeLessThan(size(flags & ~PRED.elfEh) * 0.9);
    expect(sha(applyChunked(old, d, [7, 100, 999], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 47);
    // a table entry, an FDE's initial location and two ARM index entries: code at 0x40 and 0x60 moved by 0x10, the tables by 0x30
    const eh: EhTables = { hdr: 0x100, hdrLen: 20, eh: 0x120, ehLen: 16, arm: 0x140, armLen: 16 };
    const map = new AddressMap(Int32Array.of(0, 0x80), Int32Array.of(0x80, 0x1000), Int32Array.of(0x10, 0x30));
    const b = new Uint8Array(0x200);
    const dv = new DataView(b.buffer);
    dv.setInt32(0x10c, 0x40 - 0x100, true); // initial location, from the header's start
    dv.setInt32(0x110, 0x128 - 0x100, true); // its FDE
    dv.setInt32(0x128, 0x40 - 0x128, true); // pc-relative initial location
    dv.setInt32(0x12c, 0x30, true); // its length: left alone (it points past the code)
    dv.setUint32(0x140, (0x40 - 0x140) & 0x7fffffff, true); // prel31 to a function
    dv.setUint32(0x144, 0x80b0b0b0, true); // inline unwind opcodes (bit 31 set): left alone
    dv.setUint32(0x148, (0x60 - 0x148) & 0x7fffffff, true);
    dv.setUint32(0x14c, 1, true); // EXIDX_CANTUNWIND: left alone (it points into the table)
    mapReferences(PRED.elfEh, b, 0, map, 0x200, 0, 0, b.length, undefined, eh);
    expect([dv.getInt32(0x10c, true), dv.getInt32(0x110, true), dv.getInt32(0x128, true), dv.getInt32(0x12c, true)]).toEqual([0x50 - 0x130, 0x28, 0x50 - 0x158, 0x30]);
    expect([0x140, 0x144, 0x148, 0x14c].map((o) => dv.getUint32(o, true))).toEqual([(0x50 - 0x170) & 0x7fffffff, 0x80b0b0b0, (0x70 - 0x178) & 0x7fffffff, 1]);
    expect(predFilterOk(PRED.elfEh | PRED.wasmAddr, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.elfEh | PRED.riscv | PRED.abs32, FILTERS.none)).toBe(true);
    expect(predFilterOk(PRED.elfEh | PRED.thumb | PRED.abs32, FILTERS.thumb)).toBe(true);
    expect(predFilterOk(PRED.elfEh | PRED.xtensa | PRED.ptr64 | PRED.abs32, FILTERS.none)).toBe(false);
    // a header whose tables reach past the base: refused before anything is written
    const vals: number[] = [];
    let p = 1;
    // sizes, flags, [load address], then the tables: .eh_frame_hdr, .eh_frame and ARM's, offset and length each
    while (vals.length < (flags & PRED.abs32 ? 10 : 9)) {
      let v = 0;
      for (let mul = 1; ; mul *= 128) {
        const c = d.payload[p++]!;
        v += (c & 0x7f) * mul;
        if (c < 0x80) break;
      }
      vals.push(v);
    }
    vals[vals.length - 5] = vals[1]!; // .eh_frame_hdr's length: the base's size
    const head = [d.payload[0]!];
    for (let v of vals) {
      for (; v >= 0x80; v = Math.floor(v / 128)) head.push((v % 128) | 0x80);
      head.push(v);
    }
    const bad = Buffer.concat([Uint8Array.from(head), d.payload.subarray(p)]);
    expect(() => applyDelta(old, bad, d.encoding)).toThrow(/unwind tables outside the base image/);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 400 }), fc.nat(), fc.nat(), fc.nat(), (img, x, y, z) => {
        // tables somewhere in the image; their words point back into it now and then
        const t: EhTables = { hdr: z % 120, hdrLen: 12 + 8 * (z % 9), eh: 140 + (z % 7), ehLen: 100 + (z % 50), arm: 300 + (z % 5), armLen: 40 + (z % 60) };
        const v = new DataView(img.buffer);
        for (let p = t.hdr + 12; p + 4 <= Math.min(img.length, t.hdr + t.hdrLen); p += 4) if (img[p]! % 2 === 0) v.setInt32(p, (img[p]! % 200) - t.hdr, true);
        for (let p = t.eh; p + 4 <= Math.min(img.length, t.eh + t.ehLen); p += 4) if (img[p]! % 2 === 0) v.setInt32(p, -(img[p]! % 140) - 1, true);
        for (let p = t.arm; p + 4 <= Math.min(img.length, t.arm + t.armLen); p += 4) if (img[p]! % 2 === 0) v.setUint32(p, (-(img[p]! % 300) - 1) & 0x7fffffff, true);
        const m = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 0x34));
        expectSlicesMapLikeWhole(img, PRED.elfEh | PRED.abs32 | PRED.ptr64, m, 0, x, y, img.length, undefined, t);
      }),
      { numRuns: 3000 },
    );
  });

  it("takes small words for pointers in an ELF image loaded at 0 (a shared library), and only there", () => {
    // (200 functions: 13 KB, most pointers past the first 4 KiB)
    const grow = new Map(Array.from({ length: 8 }, (_, k) => [3 + k * 23, 5 + ((k * 37) % 61)]));
    const [old, nw] = [ehElf(6, 200), ehElf(6, 200, grow)];
    const d = createDelta(old, nw);
    // pointers are file offsets under 1 MiB here: as a shared object the pointer map takes them
    expect(peekDeltaHeader(d.payload).flags & PRED.abs32).toBe(PRED.abs32);
    expect(sha(applyDelta(old, d.payload, d.encoding))).toBe(sha(nw));
    // the same bytes as an executable (type 2, loaded higher): small numbers are not pointers there
    const exec = createDelta(ehElf(6, 200, new Map(), 2), ehElf(6, 200, grow, 2));
    expect(peekDeltaHeader(exec.payload).flags & PRED.abs32).toBe(0);
    expect(d.payload.length).toBeLessThan(exec.payload.length * 0.9);
  });

  it("takes an ARM ELF image with few Thumb calls for Thumb code (Debian's armhf shared libraries), and only an ARM ELF one", () => {
    // Thumb code after a 32-bit little-endian ELF header, then text: BL pairs 0.005-0.03 per 4 bytes
    const p = makeProgram(81, 30, 260);
    const r = rng(82);
    const data = Uint8Array.from({ length: 60000 }, () => 0x20 + Math.floor(r() * 95));
    const elf = (machine: number, code: Uint8Array): Uint8Array => {
      const h = new Uint8Array(52);
      h.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
      h[18] = machine;
      return Buffer.concat([h, code, data]);
    };
    const old = link(p);
    p.bodies[3] = Buffer.concat([p.bodies[3]!, new Uint8Array(40)]);
    const nw = link(p);
    const share = archHints(elf(40, nw)).thumb;
    expect(share).toBeGreaterThan(0.005);
    expect(share).toBeLessThan(THUMB_SHARE_MIN);
    const arm = createDelta(elf(40, old), elf(40, nw));
    expect(arm.filter).toBe("thumb");
    expect(sha(applyDelta(elf(40, old), arm.payload, arm.encoding))).toBe(sha(elf(40, nw)));
    // the same bytes as an x86-64 ELF image: not taken for Thumb code
    expect(createDelta(elf(62, old), elf(62, nw)).filter).not.toBe("thumb");
  });

  it("Xtensa near jumps and literal loads follow caller and target (map flag 33554432 with xtensa): smaller, picked by auto, and round-trip, ordinary and in place; any slice maps like the whole image", () => {
    // 30 functions got 24-34 bytes of new code after their first 19
    const grow = new Map(Array.from({ length: 30 }, (_, k) => [k * 3 + 1, 24 + ((k * 5) % 11)]));
    const old = xtensaImage(13, 100, new Map(), true);
    const nw = xtensaImage(13, 100, grow, true);
    const d = createDelta(old, nw);
    const flags = peekDeltaHeader(d.payload).flags & ~CODING_LANES;
    const size = (predict: number) => createRawDelta(old, nw, { filter: "none", predict }).patch.length;
    expect(flags & (PRED.xtensa | PRED.xtensaNear)).toBe(PRED.xtensa | PRED.xtensaNear);
    expect(size(flags)).toBeLessThan(size(flags & ~PRED.xtensaNear) - 100);
    expect(sha(applyChunked(old, d, [5, 64, 333], nw))).toBe(sha(nw));
    expect(sha(applySmallWindowResumed(old, d))).toBe(sha(nw));
    applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: 256 } }), 256, 43);
    // from xtensa-lx106-elf-as: two words of literals, then L32R a2 and L32R a3 of them (21 fe ff, 31 fe ff)
    // and J 36 bytes on (c6 08 00). The code moved by 4 from the literals, its J's target by 12
    const code = Uint8Array.from([0x78, 0x56, 0x34, 0x12, 0xf0, 0xde, 0xbc, 0x9a, 0x21, 0xfe, 0xff, 0x31, 0xfe, 0xff, 0xc6, 0x08, 0x00, 0, 0, 0, 0, 0]);
    const map = new AddressMap(Int32Array.of(0, 8, 0x35), Int32Array.of(8, 0x35, 0x1000), Int32Array.of(0, 4, 12));
    const b = new Uint8Array(code);
    mapReferences(PRED.xtensa | PRED.xtensaNear, b, 0, map, 0x1000, 0);
    expect([...b.subarray(8, 17)]).toEqual([0x21, 0xfd, 0xff, 0x31, 0xfd, 0xff, 0xc6, 0x0a, 0x00]);
    expect([...b.subarray(0, 8)]).toEqual([...code.subarray(0, 8)]);
    // without the flag (streams of flag 8388608 alone) they stay as they are
    const plain = new Uint8Array(code);
    mapReferences(PRED.xtensa, plain, 0, map, 0x1000, 0);
    expect([...plain]).toEqual([...code]);
    // a jump further than XTENSA_NEAR_JUMP is not read: 8192 bytes on
    const far = Uint8Array.from([0x06, 0x00, 0x08, 0, 0, 0, 0, 0]);
    mapReferences(PRED.xtensa | PRED.xtensaNear, far, 0, map, 0x10000, 0);
    expect([...far]).toEqual([0x06, 0x00, 0x08, 0, 0, 0, 0, 0]);
    expect(predFilterOk(PRED.xtensaNear | PRED.abs32, FILTERS.none)).toBe(false);
    expect(predFilterOk(PRED.xtensa | PRED.xtensaNear | PRED.abs32, FILTERS.none)).toBe(true);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 20, maxLength: 400 }), fc.nat(), fc.nat(), (img, x, y) => {
        // calls, near jumps and near literal loads at random bytes
        for (let i = 0; i + 3 <= img.length; i += 1 + (img[i]! % 4)) {
          const k = img[i]! % 7;
          if (k === 0) img.set([(img[i + 1]! & 0xc0) | 0x05, img[i + 2]!, img[i + 1]! & 0x0f], i);
          else if (k === 1) img.set([(img[i + 1]! & 0xc0) | 0x06, img[i + 2]!, img[i + 1]! & 1 ? 0xff : 0], i);
          else if (k === 2) img.set([(img[i + 1]! & 0xf0) | 0x01, img[i + 2]!, 0xff], i);
        }
        const m = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 0x34));
        expectSlicesMapLikeWhole(img, PRED.xtensa | PRED.xtensaNear | PRED.abs32, m, 0x40000000, x, y, 1 << 20);
      }),
      { numRuns: 3000 },
    );
  });

  it("RISC-V, LoongArch, POWER and MIPS mapping give the same bytes on any slice as on the whole image", () => {
    // the fifth: RISC-V compressed code, the same forms on any halfword
    const flagsOf = [PRED.riscv | PRED.riscvAbs | PRED.abs32, PRED.loong | PRED.abs32 | PRED.ptr64, PRED.power | PRED.abs32 | PRED.ptr64, PRED.mipsAddr | PRED.mipsCall | PRED.abs32 | PRED.ptr64, PRED.riscv | PRED.riscvC | PRED.riscvAbs | PRED.abs32];
    // the forms' fixed bits (opcode, and registers that make pairs and triples), then the bits kept random
    const forms: Array<Array<[number, number]>> = [
      // JAL ra; AUIPC a0 (targets below 1 MiB: the image); ADDI a0, a0; SD x, (a0); LUI a0 (an address below 1 MiB)
      [[0x0ef, 0xfffff000], [0x517, 0x000ff000], [0x50513, 0xfff00000], [0x53023, 0xfff00f80], [0x537, 0x000ff000]],
      // BL; PCALAU12I a0; ADDI.D a0, a0; LD.D x, (a0)
      [[0x54000000, 0x03ffffff], [0x1a000004, 0x01ffffe0], [0x02c00084, 0x003ffc00], [0x28c00080, 0x003ffc1f]],
      // BL; LIS r4 (addresses below 1 MiB: the image); ADDI r4, r4; LD x, (r4)
      [[0x48000001, 0x03fffffc], [0x3c800000, 0x0000000f], [0x38840000, 0x0000ffff], [0xe8040000, 0x03e0ffff]],
      // JAL; LUI s7 (below 1 MiB); DADDU s7, s7, gp; DADDIU x, s7
      [[0x0c000000, 0x03ffffff], [0x3c170000, 0x0000000f], [0x02fcb82d, 0], [0x66e00000, 0x001fffff]],
    ];
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 500 }), fc.nat(4), fc.nat(), fc.nat(), (img, arch, x, y) => {
        const dv = new DataView(img.buffer, img.byteOffset, img.byteLength);
        for (let i = 0; i + 4 <= img.length; i += arch === 4 ? 2 + 2 * (img[i + 1]! & 1) : 4) {
          const r = dv.getUint32(i, true);
          const f = forms[arch % 4]![r % 6];
          if (f !== undefined) dv.setUint32(i, (f[0] | (r & f[1])) >>> 0, true);
        }
        // a large last shift: the high bytes of low halves change too
        const map = new AddressMap(Int32Array.of(0, 100, 220), Int32Array.of(90, 200, 400), Int32Array.of(8, -12, 0x1234));
        const flags = flagsOf[arch]!;
        expectSlicesMapLikeWhole(img, flags, map, 0, x, y, 1 << 20);
      }),
      { numRuns: 3000 },
    );
  });

  it("AArch64 page and 64-bit pointer mapping gives the same bytes on any slice as on the whole image", () => {
    const img = aarch64Image(3, 24);
    const map = new AddressMap(Int32Array.of(0, 400, 2000), Int32Array.of(380, 1900, img.length), Int32Array.of(8, -12, 4096 + 40));
    const flags = PRED.arm64rel | PRED.arm64page | PRED.abs32 | PRED.ptr64;
    const whole = new Uint8Array(img);
    mapReferences(flags, whole, 0, map, img.length, 0x400000);
    expect(Buffer.compare(whole, img)).not.toBe(0);
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (x, y) => expectSliceLikeWhole(img, whole, flags, map, 0x400000, x, y)),
      { numRuns: 1000 },
    );
  });

  it("round-trips random and degenerate images", () => {
    const r = rng(5);
    const rand = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    const cases: Array<[Uint8Array, Uint8Array]> = [
      [new Uint8Array(0), new Uint8Array(0)],
      [new Uint8Array(0), rand(100)],
      [rand(100), new Uint8Array(0)],
      [new Uint8Array(5000).fill(0xff), new Uint8Array(7000).fill(0xff)],
      [rand(3000), rand(3000)],
      [Uint8Array.of(1), Uint8Array.of(2)],
    ];
    for (const [a, b] of cases) {
      const d = createDelta(a, b);
      expect(sha(applyChunked(a, d, [1, 3, 50], b))).toBe(sha(b));
    }
  });

  it("keeps a one-line fix tiny", () => {
    const old = link(makeProgram(42, 40, 400));
    const nw = new Uint8Array(old);
    nw[1234] ^= 0x5a;
    const d = createDelta(old, nw);
    expect(d.payload.length).toBeLessThan(48);
  });

  it("resumes from saveState at any point and gives the same image", () => {
    const p = makeProgram(99, 20, 300);
    const old = link(p);
    p.bodies[3] = new Uint8Array(p.bodies[3]!.length + 40);
    const nw = link(p);
    const d = createDelta(old, nw);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 97 }), fc.integer({ min: 0, max: 100 }), (chunk, cutPct) => {
        resumeRoundTrip(old, nw, d, chunk, cutPct, { baseSha256: sha(old), targetSha256: sha(nw) });
      }),
      { numRuns: 40 },
    );
  });

  it("copies new material that repeats itself from the output history, also across a resume", () => {
    const old = link(makeProgram(5, 80, 900));
    const r = rng(11);
    const fresh = Uint8Array.from({ length: 3000 }, () => Math.floor(r() * 256));
    // new bytes the base never had, repeated 9 KiB and 14 KiB later (inside the 16 KiB window), past the ring's wrap
    const at = [Math.floor(old.length * 0.3), Math.floor(old.length * 0.3) + 9000, Math.floor(old.length * 0.3) + 20000];
    const nw = Buffer.concat([old.subarray(0, at[0]), fresh, old.subarray(at[0], at[1]), fresh, old.subarray(at[1], at[2]), fresh, old.subarray(at[2])]);
    expect(nw.length).toBeGreaterThan(2 * 16384);
    const d = createDelta(old, nw, { filter: "none" }); // (a bare insertion: the branches did not move)
    expect(d.payload.length).toBeLessThan(3000 + 400); // one copy of the new bytes, not three
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 100 }), (chunk, cutPct) => {
        resumeRoundTrip(old, nw, d, chunk, cutPct, { baseSha256: sha(old), targetSha256: sha(nw) });
      }),
      { numRuns: 25 },
    );
  });

  it("refuses the wrong base before writing anything", () => {
    const old = link(makeProgram(1));
    const nw = edit(old, { kind: "insert", at: 0.5, to: 0, len: 10, seed: 3 });
    const d = createDelta(old, nw);
    const other = new Uint8Array(old);
    other[10] ^= 1;
    let wrote = 0;
    const dec = createDeltaDecoder(d.encoding, bytesReader(other), { baseSha256: sha(old) });
    expect(() => {
      dec.push(d.payload, () => wrote++);
      dec.finish(() => wrote++);
    }).toThrow(CompatibilityError);
    expect(wrote).toBe(0);
    const shorter = createDeltaDecoder(d.encoding, bytesReader(old.subarray(1)), {});
    expect(() => shorter.push(d.payload, () => {})).toThrow(CompatibilityError);
  });

  it("reports its working memory and refuses a bound it cannot keep", () => {
    const old = link(makeProgram(1));
    const d = createDelta(old, old);
    expect(d.decoderMemoryBytes).toBeGreaterThan(1024);
    expect(d.decoderMemoryBytes).toBeLessThanOrEqual(withConfig().delta.maxWorkingMemoryBytes);
    const tight = withConfig({ delta: { maxWorkingMemoryBytes: 20_000 } });
    expect(() => createDeltaDecoder(d.encoding, bytesReader(old), { config: tight })).toThrow(StorageError);
  });

  it("a resumed apply re-reads what it had written: the final digest covers those bytes too", () => {
    const old = link(makeProgram(21, 80, 900));
    const nw = new Uint8Array(old);
    const r = rng(9);
    for (let i = 100; i < nw.length; i += 97) nw[i] = (nw[i]! + 1 + Math.floor(r() * 255)) & 0xff; // differences all along: output flows while the payload arrives
    const d = createDelta(old, nw);
    const half = Math.floor(d.payload.length / 2);
    const first: Uint8Array[] = [];
    const config = withConfig({ delta: { outBufferBytes: 512 } }); // output leaves in small pieces
    const a = createDeltaDecoder(d.encoding, bytesReader(old), { targetSha256: sha(nw), config });
    a.push(d.payload.subarray(0, half), (b) => void first.push(new Uint8Array(b)));
    const written = Buffer.concat(first);
    expect(written.length).toBeGreaterThan(100);
    const state = a.saveState();
    const resume = (emitted?: Uint8Array): Uint8Array => {
      const b = createDeltaDecoder(d.encoding, bytesReader(old), { targetSha256: sha(nw), config, state, ...(emitted ? { emitted: bytesReader(emitted) } : {}) });
      const rest: Uint8Array[] = [];
      b.push(d.payload.subarray(half), (x) => void rest.push(new Uint8Array(x)));
      b.finish((x) => void rest.push(new Uint8Array(x)));
      return Buffer.concat([written, ...rest]);
    };
    expect(sha(resume(written))).toBe(sha(nw));
    // flash that lost a bit before the restart: the rest decodes, and the check at the end refuses it
    const damaged = new Uint8Array(written);
    damaged[50] ^= 4;
    expect(() => resume(damaged)).toThrow(IntegrityError);
    expect(() => resume()).toThrow(UsageError);
    expect(() => resume(written.subarray(0, written.length - 1))).toThrow(StorageError);
    // without a target digest nothing needs reading back
    const c = createDeltaDecoder(d.encoding, bytesReader(old), { state, config });
    c.push(d.payload.subarray(half), () => {});
    c.finish(() => {});
    // a state of the earlier layout (which held the digest's own state) is refused, not misread
    const older = new Uint8Array(state);
    new DataView(older.buffer).setUint32(0, 0x66643273);
    expect(() => createDeltaDecoder(d.encoding, bytesReader(old), { state: older, config })).toThrow(FormatError);
  });
});

describe("corrupt patches", () => {
  it("only typed errors escape, whatever the damage", () => {
    const p = makeProgram(3, 16, 250);
    const old = link(p);
    p.bodies[2] = new Uint8Array(p.bodies[2]!.length + 30);
    const nw = link(p);
    const good = createDelta(old, nw, { filter: "thumb" });
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.option(fc.nat()),
        fc.integer({ min: 1, max: 300 }),
        (flips, cut, chunk) => {
          const bad = new Uint8Array(good.payload);
          for (const [i, v] of flips) bad[i % bad.length] = v;
          const payload = cut === null ? bad : bad.subarray(0, cut % bad.length);
          try {
            const dec = createDeltaDecoder(good.encoding, bytesReader(old), { targetSha256: sha(nw) });
            for (const c of chunks(payload, [chunk])) dec.push(c, () => {});
            dec.finish(() => {});
            // a change may leave the output intact (e.g. in trailing bits): then it must be the right image
          } catch (e) {
            if (!isFotaError(e)) throw e;
            // a damaged size field may also ask for more memory than allowed (refused before use)
            if (e.kind === "storage") expect(e.reason).toBe("out-of-memory");
            else expect(["format", "integrity", "compatibility"]).toContain(e.kind);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a truncated patch is a FormatError", () => {
    const old = link(makeProgram(4));
    const nw = edit(old, { kind: "patch", at: 0.2, to: 0, len: 100, seed: 9 });
    const d = createDelta(old, nw);
    const dec = createDeltaDecoder(d.encoding, bytesReader(old), {});
    dec.push(d.payload.subarray(0, d.payload.length >> 1), () => {});
    expect(() => dec.finish(() => {})).toThrow(FormatError);
  });
});

describe("in-place", () => {
  const S = 256;
  function pair(seed: number): [Uint8Array, Uint8Array] {
    const p = makeProgram(seed, 14, 200);
    const old = link(p);
    // move a function to the front and grow another: copies now read forwards and backwards
    p.bodies.unshift(p.bodies.pop()!);
    p.calls.unshift(p.calls.pop()!);
    for (const c of p.calls) for (const x of c) x[1] = (x[1] + 1) % p.bodies.length;
    p.bodies[5] = new Uint8Array(p.bodies[5]!.length + 60);
    return [old, link(p)];
  }

  it("rewrites the region in place, and resumes after an interruption at every step", () => {
    for (const seed of [11, 12, 13]) {
      const [old, nw] = pair(seed);
      applyWithCuts(old, nw, createDelta(old, nw, { inPlace: { sectorSize: S } }), S, 37);
    }
  });

  it("finds broken reads again in rewritten sectors and in the sector itself (also after a cut)", () => {
    const r = rng(5);
    const old = link(makeProgram(31, 12, 220));
    const block = Uint8Array.from({ length: 400 }, () => Math.floor(r() * 256));
    // new: two halves of the old image swapped (a cycle), the same new block in three places
    const h = old.length >> 1;
    const nw = Buffer.concat([old.subarray(h), block, old.subarray(0, h - 40), block.subarray(0, 200), old.subarray(h - 40, h), block]);
    for (const filter of ["none", "thumb"] as const) {
      const d = createDelta(old, nw, { filter, inPlace: { sectorSize: S } });
      expect(d.inPlace!.brokenBytes).toBeGreaterThan(0);
      expect(d.inPlace!.rescuedBytes).toBeGreaterThan(0);
      applyWithCuts(old, nw, d, S, 37);
    }
  });

  it("keeps bytes a cycle needs in a sector the new image grows into (a stash), safe against a cut at every step", () => {
    const old = link(makeProgram(41, 12, 220));
    const h = old.length >> 1;
    const r = rng(9);
    const tail = Uint8Array.from({ length: 3 * S }, () => Math.floor(r() * 256));
    // the halves swapped (a cycle across every sector) and the image grown by whole sectors
    const nw = Buffer.concat([old.subarray(h), old.subarray(0, h), tail]);
    for (const filter of ["none", "thumb"] as const) {
      const d = createDelta(old, nw, { filter, inPlace: { sectorSize: S } });
      expect(d.inPlace!.steps).toBeGreaterThan(Math.ceil(nw.length / S)); // stash steps were taken
      applyWithCuts(old, nw, d, S, 37);
    }
  });

  it("decodes adjacent sectors as one step range (copies go on across sector boundaries), resumable at every step, within the memory bound", () => {
    const old = link(makeProgram(51, 16, 220));
    const r = rng(52);
    const ins = Uint8Array.from({ length: 12 }, () => Math.floor(r() * 256));
    // 12 bytes inserted near the start (later sectors move up: written from the end down) and 40
    // removed near the end (the sectors after it move down: written upwards)
    const e = old.length - 3 * S;
    const nw = Buffer.concat([old.subarray(0, 300), ins, old.subarray(300, e), old.subarray(e + 40)]);
    const ranged = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S } });
    const single = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S }, config: withConfig({ delta: { inPlaceRangeSectors: 1 } }) });
    expect(ranged.payload.length).toBeLessThan(single.payload.length);
    applyWithCuts(old, nw, ranged, S, 37);
    applyWithCuts(old, nw, single, S, 37);
    // a tighter bound: fewer sectors a range, and the applier's real memory within it
    const bound = ranged.decoderMemoryBytes - 3 * S;
    const tight = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S }, config: withConfig({ delta: { maxWorkingMemoryBytes: bound } }) });
    expect(tight.decoderMemoryBytes).toBeLessThanOrEqual(bound);
    expect(tight.decoderMemoryBytes).toBeGreaterThan(single.decoderMemoryBytes);
    applyWithCuts(old, nw, tight, S, 37);
  });

  it("refuses, before writing anything, a step-range limit out of bounds or a range buffer over the memory bound", () => {
    const [old, nw] = pair(15);
    const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
    // the range limit: the varint after the sizes and the sector-size bits
    let at = 1;
    for (let k = 0; k < 3; k++) while (d.payload[at++]! & 0x80);
    expect(d.payload[at]).toBeGreaterThan(1);
    const run = (payload: Uint8Array, memoryLimitBytes?: number): { error: unknown; writes: number } => {
      const region = new MemoryRegion(old, S, nw.length);
      try {
        const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw), targetSize: nw.length, ...(memoryLimitBytes ? { config: withConfig({ delta: { maxWorkingMemoryBytes: memoryLimitBytes } }) } : {}) });
        a.push(payload, () => {});
        a.finish(() => {});
        return { error: undefined, writes: region.writes };
      } catch (e) {
        return { error: e, writes: region.writes };
      }
    };
    expect(run(d.payload).error).toBeUndefined();
    for (const k of [0, 17]) {
      const bad = new Uint8Array(d.payload);
      bad[at] = k;
      const r = run(bad);
      expect(r.error).toBeInstanceOf(FormatError);
      expect((r.error as FormatError).reason).toBe("corrupt-patch");
      expect(r.writes).toBe(0);
    }
    const tight = run(d.payload, d.decoderMemoryBytes - 1);
    expect(tight.error).toBeInstanceOf(StorageError);
    expect(tight.writes).toBe(0);
  });

  it("rejects an in-place stream that writes a sector twice or copies from outside its sector's history", () => {
    const [old, nw] = pair(14);
    const d = createDelta(old, nw, { inPlace: { sectorSize: S } });
    let typed = 0;
    for (let i = 6; i < d.payload.length; i += 3) {
      const bad = new Uint8Array(d.payload);
      bad[i]! ^= 0x5a;
      const region = new MemoryRegion(old, S, nw.length);
      try {
        const a = createInPlaceApplier(d.encoding, region, { targetSha256: sha(nw), targetSize: nw.length });
        a.push(bad, () => {});
        a.finish(() => {});
      } catch (e) {
        expect(isFotaError(e)).toBe(true);
        typed++;
      }
    }
    expect(typed).toBeGreaterThan(0);
  });

  it("stays close to the size of the ordinary delta", () => {
    const [old, nw] = pair(21);
    const normal = createDelta(old, nw, { filter: "thumb" });
    const ip = createDelta(old, nw, { filter: "thumb", inPlace: { sectorSize: S } });
    // this pair swaps code across sectors on purpose (cycles become literals); the corpus figures are in bench:delta
    expect(ip.payload.length).toBeLessThan(normal.payload.length * 2.5 + 64);
    expect(sha(applyDelta(old, ip.payload, ip.encoding))).toBe(sha(nw));
  });
});
