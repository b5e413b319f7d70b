// The streaming PackageReader: signatures first, chunks handed out only after their digest matched,
// any push sizes, resume from saved state, and one distinct error per kind of damage.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { withConfig } from "../../src/config.js";
import { CompatibilityError, FormatError, IntegrityError, SignatureError } from "../../src/errors.js";
import {
  FORMAT,
  PackageReader,
  buildFullPackage,
  bufferReader,
  checkModel,
  generateSigningKey,
  loadTrustedKey,
  sha256,
  type BuiltPackage,
  type VerifiedChunk,
} from "../../src/format/index.js";
import { fixture, goldenImages, makeImage, pieces, testKey, testPub } from "./helpers.js";

const key = testKey();
const image = makeImage(50_000, 3);

function pkg(opts: Partial<Parameters<typeof buildFullPackage>[0]> = {}): BuiltPackage {
  return buildFullPackage({ image, models: ["EC600N"], version: "2.0", created: 1_800_000_000, chunkSize: 4096, compression: "none", keys: [key], ...opts });
}

function readAll(bytes: Uint8Array, sizes: number[], reader = new PackageReader({ trustedKeys: [testPub()] })) {
  const chunks: VerifiedChunk[] = [];
  for (const p of pieces(bytes, sizes)) reader.push(p, (c) => chunks.push(c));
  const result = reader.finish();
  return { chunks, result, reader };
}

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error("expected an error");
}

describe("PackageReader", () => {
  it("hands out the exact payload for any split of the input (1 byte .. 64 KiB)", () => {
    const b = pkg().bytes;
    const payload = b.subarray(pkg().layout.payloadOffset);
    for (const sizes of [[1], [7], [3, 4096, 1], [4096], [65536], [b.length]]) {
      const { chunks, result } = readAll(b, sizes);
      expect(Buffer.concat(chunks.map((c) => c.bytes)).equals(Buffer.from(payload)), String(sizes)).toBe(true);
      expect(chunks.map((c) => c.index)).toEqual(chunks.map((_, i) => i));
      expect(chunks.at(-1)!.last).toBe(true);
      expect(result.payloadDigestChecked).toBe(true);
    }
  });

  it("reads a brotli package and reports its layout", () => {
    const built = pkg({ compression: "brotli" });
    const { result, reader } = readAll(built.bytes, [1000]);
    expect(result.manifest.encoding.compression).toBe("brotli");
    expect(result.info.layout).toEqual(built.layout);
    expect(reader.offset).toBe(built.bytes.length);
    expect(reader.resumeOffset).toBe(built.bytes.length);
  });

  it("verifies the signature before it believes or calls back anything", () => {
    const b = pkg().bytes.slice();
    b[FORMAT.headerBytes + 30] ^= 0x01; // inside the manifest
    let called = false;
    const r = new PackageReader({ trustedKeys: [testPub()], onManifest: () => (called = true) });
    const e = errorOf(() => r.push(b));
    expect(e).toBeInstanceOf(SignatureError);
    expect((e as SignatureError).reason).toBe("bad-signature");
    expect(called).toBe(false);
    expect(r.manifest).toBeUndefined();
    expect(r.phase).toBe("failed");
    expect(() => r.push(new Uint8Array(1))).toThrow(SignatureError); // stays failed
  });

  it("never hands out the corrupted chunk or anything after it", () => {
    const built = pkg();
    const b = built.bytes.slice();
    const corruptChunk = 5;
    b[built.layout.payloadOffset + corruptChunk * 4096 + 17] ^= 0x80;
    const chunks: VerifiedChunk[] = [];
    const r = new PackageReader({ trustedKeys: [testPub()] });
    const e = errorOf(() => {
      for (const p of pieces(b, [999])) r.push(p, (c) => chunks.push(c));
    });
    expect(e).toBeInstanceOf(IntegrityError);
    expect((e as IntegrityError).reason).toBe("digest-mismatch");
    expect((e as IntegrityError).details.chunk).toBe(corruptChunk);
    expect(chunks.map((c) => c.index)).toEqual([0, 1, 2, 3, 4]);
    for (const c of chunks) expect(c.bytes).toEqual(image.subarray(c.offset, c.offset + c.bytes.length));
  });

  it("refuses a truncated package at finish(), with the resume point in the details", () => {
    const b = pkg().bytes;
    for (const cut of [0, 5, FORMAT.headerBytes + 3, pkg().layout.payloadOffset, b.length - 1]) {
      const r = new PackageReader({ trustedKeys: [testPub()] });
      r.push(b.subarray(0, cut));
      const e = errorOf(() => r.finish());
      expect(e, `cut at ${cut}`).toBeInstanceOf(FormatError);
      expect((e as FormatError).reason).toBe("truncated");
    }
  });

  it("refuses bytes after the end of the package", () => {
    const b = pkg().bytes;
    const r = new PackageReader({ trustedKeys: [testPub()] });
    const e = errorOf(() => r.push(Uint8Array.from([...b, 0])));
    expect((e as FormatError).reason).toBe("malformed");
  });

  it("refuses a package signed by another key (untrusted-key), and accepts one of several trusted keys", () => {
    const other = loadTrustedKey(readFileSync(fixture("other.key.pub"), "utf8"));
    const e = errorOf(() => new PackageReader({ trustedKeys: [other] }).push(pkg().bytes));
    expect(e).toBeInstanceOf(SignatureError);
    expect((e as SignatureError).reason).toBe("untrusted-key");
    expect(readAll(pkg().bytes, [4096], new PackageReader({ trustedKeys: [other, testPub()] })).result.info.verifiedKeyIds).toEqual([testPub().keyIdHex]);
  });

  it("checks one or more signatures (minSignatures)", () => {
    const second = generateSigningKey();
    const two = pkg({ keys: [key, second] });
    expect(readAll(two.bytes, [4096], new PackageReader({ trustedKeys: [testPub(), second], minSignatures: 2 })).result.info.verifiedKeyIds.sort()).toEqual(
      [testPub().keyIdHex, second.keyIdHex].sort(),
    );
    const e = errorOf(() => new PackageReader({ trustedKeys: [testPub(), second], minSignatures: 2 }).push(pkg().bytes));
    expect((e as SignatureError).reason).toBe("untrusted-key");
    // a damaged second signature is caught even though the first one is fine
    const bad = two.bytes.slice();
    bad[two.layout.payloadOffset - 5] ^= 1;
    expect((errorOf(() => new PackageReader({ trustedKeys: [testPub(), second] }).push(bad)) as SignatureError).reason).toBe("bad-signature");
  });

  it("refuses an unknown format version and oversize header lengths before reading further", () => {
    const b = pkg().bytes.slice();
    b[4] = 2;
    expect((errorOf(() => new PackageReader({ trustedKeys: [testPub()] }).push(b.subarray(0, FORMAT.headerBytes))) as FormatError).reason).toBe("unsupported-version");
    const big = pkg().bytes.slice();
    new DataView(big.buffer).setUint32(8, 0xffffffff);
    expect((errorOf(() => new PackageReader({ trustedKeys: [testPub()] }).push(big.subarray(0, FORMAT.headerBytes))) as FormatError).reason).toBe("limit-exceeded");
    const notFota = new TextEncoder().encode("PK\x03\x04 this is a zip file");
    expect((errorOf(() => new PackageReader({ trustedKeys: [testPub()] }).push(notFota)) as FormatError).reason).toBe("malformed");
  });

  it("enforces the payload limit of the reader's config", () => {
    const e = errorOf(() => new PackageReader({ trustedKeys: [testPub()], config: withConfig({ format: { maxPayloadBytes: 10_000 } }) }).push(pkg().bytes));
    expect((e as FormatError).reason).toBe("limit-exceeded");
  });

  it("lets onManifest refuse the package before any chunk is handed out", () => {
    const chunks: VerifiedChunk[] = [];
    const r = new PackageReader({ trustedKeys: [testPub()], onManifest: (m) => checkModel(m, "BG95") });
    const e = errorOf(() => r.push(pkg().bytes, (c) => chunks.push(c)));
    expect(e).toBeInstanceOf(CompatibilityError);
    expect(chunks).toEqual([]);
  });

  it("resumes from saved state at the last verified chunk after a restart", () => {
    const built = pkg();
    const b = built.bytes;
    for (const cut of [built.layout.payloadOffset, built.layout.payloadOffset + 4096 * 3 + 100, b.length - 10]) {
      const got: VerifiedChunk[] = [];
      const r1 = new PackageReader({ trustedKeys: [testPub()] });
      for (const p of pieces(b.subarray(0, cut), [777])) r1.push(p, (c) => got.push(c));
      const state = r1.saveState();
      const resumeAt = r1.resumeOffset;
      expect((resumeAt - built.layout.payloadOffset) % 4096).toBe(0);
      expect(resumeAt).toBeLessThanOrEqual(cut);
      // "reboot": only the state survives
      const r2 = PackageReader.restore(state, { trustedKeys: [testPub()] });
      expect(r2.resumeOffset).toBe(resumeAt);
      for (const p of pieces(b.subarray(resumeAt), [5000])) r2.push(p, (c) => got.push(c));
      const res = r2.finish();
      expect(res.payloadDigestChecked).toBe(false);
      expect(Buffer.concat(got.map((c) => c.bytes)).equals(Buffer.from(image))).toBe(true);
      // with the verified prefix at hand, the whole-payload digest is checked too
      const r3 = PackageReader.restore(state, { trustedKeys: [testPub()], payloadPrefix: bufferReader(image) });
      r3.push(b.subarray(resumeAt));
      expect(r3.finish().payloadDigestChecked).toBe(true);
    }
  });

  it("after a corrupt chunk, resumes from the start of that chunk with good bytes", () => {
    const built = pkg();
    const bad = built.bytes.slice();
    bad[built.layout.payloadOffset + 4096 * 7 + 5] ^= 0x10;
    const got: VerifiedChunk[] = [];
    const r1 = new PackageReader({ trustedKeys: [testPub()] });
    expect(errorOf(() => r1.push(bad, (c) => got.push(c)))).toBeInstanceOf(IntegrityError);
    expect(r1.resumeOffset).toBe(built.layout.payloadOffset + 4096 * 7);
    const r2 = PackageReader.restore(r1.saveState(), { trustedKeys: [testPub()] });
    r2.push(built.bytes.subarray(r2.resumeOffset), (c) => got.push(c));
    r2.finish();
    expect(Buffer.concat(got.map((c) => c.bytes)).equals(Buffer.from(image))).toBe(true);
  });

  it("re-verifies the signature on restore and refuses damaged state", () => {
    const built = pkg();
    const r1 = new PackageReader({ trustedKeys: [testPub()] });
    r1.push(built.bytes.subarray(0, built.layout.payloadOffset + 9000));
    const state = r1.saveState();
    const other = generateSigningKey();
    expect((errorOf(() => PackageReader.restore(state, { trustedKeys: [other] })) as SignatureError).reason).toBe("untrusted-key");
    const damaged = state.slice();
    damaged[0] ^= 1;
    expect((errorOf(() => PackageReader.restore(damaged, { trustedKeys: [testPub()] })) as FormatError).reason).toBe("malformed");
    // a prefix that does not match the chunk digests is refused
    const wrongPrefix = bufferReader(new Uint8Array(image.length));
    expect((errorOf(() => PackageReader.restore(state, { trustedKeys: [testPub()], payloadPrefix: wrongPrefix })) as IntegrityError).reason).toBe("digest-mismatch");
  });

  it("reads an empty image", () => {
    const built = buildFullPackage({ image: new Uint8Array(0), models: ["M"], version: "0", created: 0, keys: [key] });
    const { chunks, result } = readAll(built.bytes, [3]);
    expect(chunks).toEqual([]);
    expect(result.manifest.target.sha256).toEqual(sha256(new Uint8Array(0)));
  });

  it("binds a delta package to its base (golden delta)", () => {
    const { v1 } = goldenImages();
    const r = new PackageReader({ trustedKeys: [testPub()] });
    r.push(new Uint8Array(readFileSync(fixture("delta-opaque.fota"))));
    const m = r.finish().manifest;
    expect(m.base).toEqual({ size: v1.length, sha256: sha256(v1) });
  });
});
