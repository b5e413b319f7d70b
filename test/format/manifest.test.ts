// The manifest codec: canonical TLV, unknown fields kept, critical fields refused, limits checked.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withConfig } from "../../src/config.js";
import { FotaError, FormatError, UsageError } from "../../src/errors.js";
import { MANIFEST_FIELDS, chunkCount, decodeManifest, decodeTlv, encodeManifest, encodeTlv, type Manifest, type RawField, type UnknownField } from "../../src/format/index.js";
import { encodeVarint } from "../../src/format/bytes.js";

const digest = fc.uint8Array({ minLength: 32, maxLength: 32 });
const name = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 });
const unknownFields = (minId: number, allowCritical = false) =>
  fc
    .array(fc.record({ id: fc.integer({ min: minId, max: 100_000 }), critical: allowCritical ? fc.boolean() : fc.constant(false), value: fc.uint8Array({ maxLength: 24 }) }), { maxLength: 4 })
    .map((us) => [...us].sort((a, b) => a.id - b.id) as UnknownField[]);

export const manifestArb: fc.Arbitrary<Manifest> = fc
  .record({
    kind: fc.constantFrom("full" as const, "delta" as const),
    models: fc.array(name, { minLength: 1, maxLength: 4 }),
    version: fc.string({ unit: "grapheme", maxLength: 16 }),
    securityCounter: fc.maxSafeNat(),
    created: fc.nat({ max: 2 ** 40 }),
    expires: fc.option(fc.nat({ max: 2 ** 40 }), { nil: undefined }),
    targetSize: fc.nat({ max: 1 << 24 }),
    targetSha: digest,
    baseSize: fc.nat({ max: 1 << 24 }),
    baseSha: digest,
    compression: fc.constantFrom("none", "brotli", "deflate", "zstd-future"),
    deltaName: fc.constantFrom("fdelta1", "bsdiff-like"),
    filter: fc.constantFrom("none", "thumb", "arm64"),
    params: fc.option(fc.uint8Array({ maxLength: 16 }), { nil: undefined }),
    encUnknown: unknownFields(5),
    chunkSize: fc.integer({ min: 1, max: 4096 }),
    chunks: fc.nat({ max: 6 }),
    tail: fc.nat({ max: 4095 }),
    payloadSha: digest,
    chunkDigests: fc.array(digest, { minLength: 6, maxLength: 6 }),
    keyIds: fc.uniqueArray(fc.uint8Array({ minLength: 8, maxLength: 8 }), { minLength: 1, maxLength: 3, selector: (k) => Buffer.from(k).toString("hex") }),
    unknown: unknownFields(18),
  })
  .map((r) => {
    const size = r.chunks === 0 ? 0 : (r.chunks - 1) * r.chunkSize + 1 + (r.tail % r.chunkSize);
    const n = chunkCount(size, r.chunkSize);
    const m: Manifest = {
      formatVersion: 1,
      kind: r.kind,
      models: r.models,
      version: r.version,
      securityCounter: r.securityCounter,
      created: r.created,
      target: { size: r.targetSize, sha256: r.targetSha },
      encoding: { compression: r.compression, filter: r.filter },
      payload: { size, sha256: r.payloadSha, chunkSize: r.chunkSize, chunkDigests: n === 1 ? [r.payloadSha] : r.chunkDigests.slice(0, n) },
      keyIds: r.keyIds,
      unknown: r.unknown,
    };
    if (r.expires !== undefined) m.expires = r.expires;
    if (r.params !== undefined) m.encoding.params = r.params;
    if (r.encUnknown.length) m.encoding.unknown = r.encUnknown;
    if (r.kind === "delta") {
      m.base = { size: r.baseSize, sha256: r.baseSha };
      m.encoding.delta = r.deltaName;
    } else if (m.encoding.compression === "none" && m.encoding.filter === "none") {
      m.target.size = size;
    }
    return m;
  });

function sample(): Manifest {
  return fc.sample(manifestArb, { numRuns: 1, seed: 42 })[0]!;
}

function withFields(m: Manifest, edit: (fields: RawField[]) => RawField[]): Uint8Array {
  return encodeTlv(edit(decodeTlv(encodeManifest(m), "test", { maxFields: 10_000, maxStringBytes: 10_000 })));
}

function expectFormat(f: () => unknown, reason: string) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    expect((e as FormatError).reason).toBe(reason);
    return;
  }
  throw new Error(`expected FormatError ${reason}, but nothing was thrown`);
}

describe("manifest codec (properties)", () => {
  it("decode(encode(m)) = m, unknown fields included", () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        expect(decodeManifest(encodeManifest(m))).toEqual(m);
      }),
      { numRuns: 400 },
    );
  });

  it("encode(decode(b)) = b: one manifest has exactly one encoding", () => {
    fc.assert(
      fc.property(manifestArb, (m) => {
        const b = encodeManifest(m);
        expect(Buffer.from(encodeManifest(decodeManifest(b))).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it("mutated manifests are refused with a FotaError or decode to the one canonical encoding", () => {
    const mutation = fc.record({ at: fc.nat(), kind: fc.constantFrom("flip", "insert", "delete", "truncate"), byte: fc.integer({ min: 0, max: 255 }) });
    fc.assert(
      fc.property(manifestArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (m, muts) => {
        let b = encodeManifest(m);
        for (const mu of muts) {
          const at = b.length ? mu.at % b.length : 0;
          if (mu.kind === "flip" && b.length) b = Uint8Array.from(b, (x, i) => (i === at ? x ^ (mu.byte || 1) : x));
          else if (mu.kind === "insert") b = Uint8Array.from([...b.subarray(0, at), mu.byte, ...b.subarray(at)]);
          else if (mu.kind === "delete") b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + 1)]);
          else b = b.slice(0, at);
        }
        let decoded: Manifest;
        try {
          decoded = decodeManifest(b);
        } catch (e) {
          expect(e).toBeInstanceOf(FotaError);
          return;
        }
        expect(Buffer.from(encodeManifest(decoded)).equals(Buffer.from(b))).toBe(true);
      }),
      { numRuns: 600 },
    );
  });

  it("random bytes are refused with a FotaError (or are a canonical manifest)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        try {
          const m = decodeManifest(b);
          expect(Buffer.from(encodeManifest(m)).equals(Buffer.from(b))).toBe(true);
        } catch (e) {
          expect(e).toBeInstanceOf(FotaError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("an unknown critical field anywhere is refused with unknown-critical", () => {
    fc.assert(
      fc.property(manifestArb, fc.integer({ min: 18, max: 100_000 }), fc.uint8Array({ maxLength: 8 }), (m, id, value) => {
        const withCritical = { ...m, unknown: [...m.unknown, { id, critical: true, value }].sort((a, b) => a.id - b.id) };
        expectFormat(() => decodeManifest(encodeManifest(withCritical)), "unknown-critical");
      }),
      { numRuns: 100 },
    );
  });
});

describe("manifest codec (cases)", () => {
  it("refuses another format version", () => {
    const b = withFields(sample(), (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.formatVersion.id ? { ...f, value: encodeVarint(2) } : f)));
    expectFormat(() => decodeManifest(b), "unsupported-version");
  });

  it("refuses out-of-order, duplicated, non-minimal and mis-flagged fields", () => {
    const m = sample();
    const enc = encodeManifest(m);
    // out of order: swap the first two fields
    const fields = decodeTlv(enc, "t", { maxFields: 999, maxStringBytes: 999 });
    const swapped = [fields[1]!, fields[0]!, ...fields.slice(2)];
    const raw = (fs: RawField[]) => {
      const parts: number[] = [];
      for (const f of fs) parts.push(...encodeVarint(f.id * 2 + (f.critical ? 1 : 0)), ...encodeVarint(f.value.length), ...f.value);
      return Uint8Array.from(parts);
    };
    expectFormat(() => decodeManifest(raw(swapped)), "malformed");
    // duplicated non-repeated field
    expectFormat(() => decodeManifest(raw([fields[0]!, fields[0]!, ...fields.slice(1)])), "malformed");
    // non-minimal varint in a value (created = 0x80 0x00)
    expectFormat(() => decodeManifest(withFields(m, (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.created.id ? { ...f, value: Uint8Array.of(0x80, 0x00) } : f)))), "malformed");
    // the critical flag cleared on a critical known field
    expectFormat(() => decodeManifest(withFields(m, (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.targetSize.id ? { ...f, critical: false } : f)))), "malformed");
    // missing field
    expectFormat(() => decodeManifest(withFields(m, (fs) => fs.filter((f) => f.id !== MANIFEST_FIELDS.targetSha256.id))), "malformed");
  });

  it("checks every length against config.format before use", () => {
    const m = sample();
    const small = withConfig({ format: { maxManifestBytes: 40 } });
    expectFormat(() => decodeManifest(encodeManifest(m), small), "limit-exceeded");
    const models = { ...m, models: Array.from({ length: 5 }, (_, i) => `M${i}`) };
    expectFormat(() => decodeManifest(encodeManifest(models), withConfig({ format: { maxModels: 4 } })), "limit-exceeded");
    const long = { ...m, models: ["x".repeat(300)] };
    expect(() => encodeManifest(long)).toThrow(UsageError);
    const bigPayload = withFields(m, (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.payloadSize.id ? { ...f, value: encodeVarint(2 ** 40) } : f)));
    expectFormat(() => decodeManifest(bigPayload), "limit-exceeded");
    const manyChunks = withFields(m, (fs) =>
      fs.map((f) => (f.id === MANIFEST_FIELDS.payloadSize.id ? { ...f, value: encodeVarint(10_000_000) } : f.id === MANIFEST_FIELDS.chunkSize.id ? { ...f, value: encodeVarint(1) } : f)),
    );
    expectFormat(() => decodeManifest(manyChunks), "limit-exceeded");
    const bigChunk = withFields(m, (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.chunkSize.id ? { ...f, value: encodeVarint(64 * 1024 * 1024) } : f)));
    expectFormat(() => decodeManifest(bigChunk), "limit-exceeded");
    const hugeVarint = withFields(m, (fs) => fs.map((f) => (f.id === MANIFEST_FIELDS.securityCounter.id ? { ...f, value: Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f) } : f)));
    expectFormat(() => decodeManifest(hugeVarint), "limit-exceeded");
    const fields = withConfig({ format: { maxManifestFields: 5 } });
    expectFormat(() => decodeManifest(encodeManifest(m), fields), "limit-exceeded");
  });

  it("refuses a field length that runs past the end", () => {
    const b = encodeManifest(sample());
    const cut = b.slice(0, b.length - 1);
    expectFormat(() => decodeManifest(cut), "malformed");
  });

  it("the writer refuses manifests a reader would refuse", () => {
    const m = sample();
    expect(() => encodeManifest({ ...m, models: [] })).toThrow(UsageError);
    expect(() => encodeManifest({ ...m, kind: "delta", base: undefined })).toThrow(UsageError);
    expect(() => encodeManifest({ ...m, unknown: [{ id: 3, critical: false, value: new Uint8Array(0) }] })).toThrow(UsageError);
    expect(() => encodeManifest({ ...m, keyIds: [] })).toThrow(UsageError);
  });
});
