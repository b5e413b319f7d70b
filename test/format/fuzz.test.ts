// Fuzz target (fast-check driven) for the package reader and the apply pipeline: random bytes and
// mutated valid packages, fed in random piece sizes. Only FotaError subclasses may escape, and an
// accepted package must have handed out exactly the payload its signed manifest describes.
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withConfig } from "../../src/config.js";
import { FotaError } from "../../src/errors.js";
import {
  FORMAT,
  PackageApplier,
  PackageReader,
  buildFullPackage,
  bufferReader,
  concatBytes,
  decodeTlv,
  encodeHeader,
  encodeSignatureBlock,
  parsePackagePrefix,
  sha256,
  signManifest,
  type RawField,
  type VerifiedChunk,
} from "../../src/format/index.js";
import { encodeVarint } from "../../src/format/bytes.js";
import { buildGoldenDelta, fixture, goldenImages, makeImage, pieces, testKey, testPub } from "./helpers.js";

const key = testKey();
const pub = testPub();
const small = withConfig({ format: { compressBlockBytes: 700, brotliQuality: 4 } });
const image = makeImage(3000, 11);
const seeds: Uint8Array[] = [
  buildFullPackage({ image, models: ["EC600N"], version: "1", created: 1, chunkSize: 512, compression: "none", keys: [key] }).bytes,
  buildFullPackage({ image, models: ["EC600N"], version: "1", created: 1, chunkSize: 256, compression: "brotli", keys: [key], config: small }).bytes,
  buildFullPackage({ image, models: ["EC600N", "BG95"], version: "1", created: 1, expires: 2, compression: "deflate", keys: [key], config: small }).bytes,
  buildGoldenDelta(key).bytes,
];
const prefixOf = (b: Uint8Array) => {
  const v = new DataView(b.buffer, b.byteOffset);
  return b.slice(0, FORMAT.headerBytes + v.getUint16(6) + v.getUint32(8) + 16);
};
const golden = ["full-brotli.fota", "unknown-optional.fota", "unknown-critical.fota"].map((n) => new Uint8Array(readFileSync(fixture(n))));

const prefixes = [...seeds, ...golden].map(prefixOf);

/** One mutation of a package: byte flips, inserts, deletes, truncation, or an interesting header value. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), n: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("header" as const), field: fc.constantFrom(4, 5, 6, 8), value: fc.constantFrom(0, 1, 2, 0xff, 0xffff, 0x7fffffff, 0xffffffff) }),
  // a plausible small length change: the parse lands in the wrong place
  fc.record({ kind: fc.constant("nudge" as const), field: fc.constantFrom(6, 8), delta: fc.integer({ min: -3, max: 3 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(src: Uint8Array, muts: Mutation[]): Uint8Array {
  let b = src.slice();
  for (const m of muts) {
    const at = b.length ? (("at" in m ? m.at : 0) % b.length) : 0;
    switch (m.kind) {
      case "flip":
        if (b.length) b[at] ^= m.mask;
        break;
      case "insert":
        b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
        break;
      case "delete":
        b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.n)]);
        break;
      case "truncate":
        b = b.slice(0, at);
        break;
      case "header":
      case "nudge": {
        if (b.length < FORMAT.headerBytes) break;
        const v = new DataView(b.buffer, b.byteOffset);
        const width = m.field < 6 ? 1 : m.field === 6 ? 2 : 4;
        const max = 2 ** (8 * width) - 1;
        const cur = width === 1 ? v.getUint8(m.field) : width === 2 ? v.getUint16(m.field) : v.getUint32(m.field);
        const next = m.kind === "header" ? Math.min(m.value, max) : Math.max(0, Math.min(max, cur + m.delta));
        if (width === 1) v.setUint8(m.field, next);
        else if (width === 2) v.setUint16(m.field, next);
        else v.setUint32(m.field, next);
        break;
      }
    }
  }
  return b;
}

/** Feeds bytes through a reader; returns the chunks or the error (asserting the error is typed). */
function runReader(bytes: Uint8Array, sizes: number[]): { ok: boolean; chunks: VerifiedChunk[]; reader: PackageReader } {
  const chunks: VerifiedChunk[] = [];
  const reader = new PackageReader({ trustedKeys: [pub] });
  try {
    for (const p of pieces(bytes, sizes)) reader.push(p, (c) => chunks.push(c));
    reader.finish();
    return { ok: true, chunks, reader };
  } catch (e) {
    if (!(e instanceof FotaError)) throw new Error(`an untyped error escaped the reader: ${String(e)}`, { cause: e });
    return { ok: false, chunks, reader };
  }
}

function checkVerifiedChunks(chunks: VerifiedChunk[], reader: PackageReader): void {
  const m = reader.manifest;
  if (chunks.length) expect(m).toBeDefined();
  for (const c of chunks) expect(Buffer.from(sha256(c.bytes)).equals(Buffer.from(m!.payload.chunkDigests[c.index]!))).toBe(true);
}

const sizesArb = fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 65536 })), { minLength: 1, maxLength: 4 });

describe("fuzz: package reader", () => {
  it("mutated packages: only typed errors escape; accepted ones hand out exactly the signed payload", () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), sizesArb, (seed, muts, sizes) => {
        const bytes = mutate(seed, muts);
        const { ok, chunks, reader } = runReader(bytes, sizes);
        checkVerifiedChunks(chunks, reader);
        if (ok) {
          const payload = Buffer.concat(chunks.map((c) => c.bytes));
          expect(Buffer.from(sha256(payload)).equals(Buffer.from(reader.manifest!.payload.sha256))).toBe(true);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("random bytes (with and without a valid-looking header): only typed errors escape", () => {
    const header = seeds[0]!.subarray(0, FORMAT.headerBytes);
    fc.assert(
      fc.property(fc.boolean(), fc.uint8Array({ maxLength: 600 }), sizesArb, (withHeader, rest, sizes) => {
        const bytes = withHeader ? Uint8Array.from([...header, ...rest]) : rest;
        const { ok } = runReader(bytes, sizes);
        expect(ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("the whole apply pipeline (reader + decoder + target check) on mutated packages: only typed errors escape", () => {
    const { v1 } = goldenImages();
    fc.assert(
      fc.property(fc.constantFrom(...seeds, ...golden), fc.array(mutationArb, { minLength: 0, maxLength: 3 }), fc.integer({ min: 1, max: 65536 }), (seed, muts, step) => {
        const bytes = mutate(seed, muts);
        const a = new PackageApplier({ trustedKeys: [pub], base: bufferReader(v1), config: small, write: () => {}, policy: { now: 0 } });
        try {
          for (const p of pieces(bytes, [step])) a.push(p);
          a.finish();
        } catch (e) {
          if (!(e instanceof FotaError)) throw new Error(`an untyped error escaped apply: ${String(e)}`, { cause: e });
        }
      }),
      { numRuns: 500 },
    );
  });

  it("the unsigned parse of `fota inspect` (manifest decoder reached by every mutation): only typed errors escape", () => {
    fc.assert(
      fc.property(fc.constantFrom(...prefixes), fc.array(mutationArb, { minLength: 1, maxLength: 4 }), (seed, muts) => {
        try {
          parsePackagePrefix(mutate(seed, muts));
        } catch (e) {
          if (!(e instanceof FotaError)) throw new Error(`an untyped error escaped the parser: ${String(e)}`, { cause: e });
        }
      }),
      { numRuns: 3000 },
    );
  });

  // Structure-aware: mutate the manifest at the field level and RE-SIGN it with the trusted key, so the
  // reader gets past the signature and its manifest validation, limits and payload checks are fuzzed.
  const fieldMutationArb = fc.oneof(
    fc.record({ kind: fc.constant("value" as const), index: fc.nat(), bytes: fc.uint8Array({ maxLength: 40 }) }),
    fc.record({ kind: fc.constant("number" as const), index: fc.nat(), n: fc.constantFrom(0, 1, 2, 31, 32, 33, 255, 4095, 4096, 65536, 2 ** 31, 2 ** 40, 2 ** 53 - 1) }),
    fc.record({ kind: fc.constant("resize" as const), index: fc.nat(), delta: fc.integer({ min: -3, max: 3 }) }),
    fc.record({ kind: fc.constant("drop" as const), index: fc.nat() }),
    fc.record({ kind: fc.constant("dup" as const), index: fc.nat() }),
    fc.record({ kind: fc.constant("flag" as const), index: fc.nat() }),
    fc.record({ kind: fc.constant("swap" as const), index: fc.nat() }),
    fc.record({ kind: fc.constant("add" as const), id: fc.integer({ min: 0, max: 40 }), critical: fc.boolean(), bytes: fc.uint8Array({ maxLength: 12 }) }),
  );
  type FieldMutation = typeof fieldMutationArb extends fc.Arbitrary<infer T> ? T : never;

  function resigned(seed: Uint8Array, muts: FieldMutation[], payloadMuts: Mutation[]): Uint8Array {
    const parsed = parsePackagePrefix(seed);
    const fields: RawField[] = decodeTlv(parsed.manifestBytes, "seed", { maxFields: 9999, maxStringBytes: 9999 }).map((f) => ({ ...f, value: f.value.slice() }));
    for (const m of muts) {
      const i = fields.length ? ("index" in m ? m.index : 0) % fields.length : 0;
      const f = fields[i];
      if (m.kind === "add") {
        fields.splice(i, 0, { id: m.id, critical: m.critical, value: m.bytes });
        continue;
      }
      if (!f) continue;
      if (m.kind === "value") f.value = m.bytes;
      else if (m.kind === "number") f.value = encodeVarint(m.n);
      else if (m.kind === "resize") f.value = m.delta < 0 ? f.value.slice(0, Math.max(0, f.value.length + m.delta)) : concatBytes([f.value, new Uint8Array(m.delta)]);
      else if (m.kind === "drop") fields.splice(i, 1);
      else if (m.kind === "dup") fields.splice(i, 0, { ...f });
      else if (m.kind === "flag") f.critical = !f.critical;
      else if (m.kind === "swap" && i + 1 < fields.length) [fields[i], fields[i + 1]] = [fields[i + 1]!, f];
    }
    // raw encoding in the mutated order (the reader must also catch order violations)
    const manifest = concatBytes(fields.flatMap((f) => [encodeVarint(f.id * 2 + (f.critical ? 1 : 0)), encodeVarint(f.value.length), f.value]));
    const sigs = encodeSignatureBlock(signManifest(manifest, [key]));
    const payload = mutate(seed.subarray(parsed.layout.payloadOffset), payloadMuts);
    return concatBytes([encodeHeader({ version: 1, flags: 0, manifestBytes: manifest.length, signatureBlockBytes: sigs.length }), manifest, sigs, payload]);
  }

  it("re-signed field-level manifest mutations: only typed errors escape, accepted packages are consistent", () => {
    const { v1 } = goldenImages();
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fieldMutationArb, { minLength: 1, maxLength: 3 }),
        fc.array(mutationArb, { maxLength: 1 }),
        sizesArb,
        (seed, muts, payloadMuts, sizes) => {
          const bytes = resigned(seed, muts, payloadMuts);
          const { ok, chunks, reader } = runReader(bytes, sizes);
          checkVerifiedChunks(chunks, reader);
          if (ok) accepted++;
          const a = new PackageApplier({ trustedKeys: [pub], base: bufferReader(v1), config: small, write: () => {}, policy: { now: 0 } });
          try {
            for (const p of pieces(bytes, sizes)) a.push(p);
            a.finish();
          } catch (e) {
            if (!(e instanceof FotaError)) throw new Error(`an untyped error escaped apply: ${String(e)}`, { cause: e });
          }
        },
      ),
      { numRuns: 1500 },
    );
    expect(accepted).toBeGreaterThan(0); // the generator does reach valid packages too
  });
});
