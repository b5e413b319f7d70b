// Full-image payload codecs: block-compressed brotli/deflate and stored, pushed in any split,
// bounded, resumable from saved state, corrupt blocks refused with a typed error.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { withConfig } from "../../src/config.js";
import { FormatError, FotaError, IntegrityError } from "../../src/errors.js";
import { compressImage, createFullImageDecoder, type Encoding, type PayloadDecoder } from "../../src/format/index.js";
import { encodeVarint } from "../../src/format/bytes.js";
import { makeImage, pieces } from "./helpers.js";

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
const enc = (compression: string): Encoding => ({ compression, filter: "none" });
const small = withConfig({ format: { compressBlockBytes: 4096, brotliQuality: 5 } });

function decodeAll(d: PayloadDecoder, payload: Uint8Array, sizes: number[]): Uint8Array {
  const out: Uint8Array[] = [];
  const sink = (b: Uint8Array) => out.push(b.slice());
  for (const p of pieces(payload, sizes)) d.push(p, sink);
  d.finish(sink);
  return new Uint8Array(Buffer.concat(out));
}

describe("full-image payload codecs", () => {
  for (const c of ["none", "brotli", "deflate"] as const) {
    it(`${c}: round trip for any image and any push split`, () => {
      fc.assert(
        fc.property(fc.nat({ max: 20_000 }), fc.nat(), fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }), (size, seed, sizes) => {
          const image = makeImage(size, seed);
          const payload = compressImage(image, c, small);
          expect(same(decodeAll(createFullImageDecoder(enc(c), { config: small, targetSize: size }), payload, sizes), image)).toBe(true);
        }),
        { numRuns: 25 },
      );
    });
  }

  it("compression shrinks firmware-like images and stores incompressible blocks", () => {
    const image = makeImage(30_000, 5);
    expect(compressImage(image, "brotli", small).length).toBeLessThan(image.length * 0.8);
    const noise = Uint8Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 24);
    const packed = compressImage(noise, "brotli", small);
    // two blocks (4096 + 904); a stored block is marked by compLen 0
    expect(packed.length).toBeLessThanOrEqual(noise.length + 8);
    expect(decodeAll(createFullImageDecoder(enc("brotli"), { config: small }), packed, [100])).toEqual(noise);
  });

  it("resumes from saveState() at any push boundary", () => {
    const image = makeImage(20_000, 9);
    const payload = compressImage(image, "brotli", small);
    for (const cut of [0, 1, 50, Math.floor(payload.length / 2), payload.length - 1]) {
      const out: Uint8Array[] = [];
      const sink = (b: Uint8Array) => out.push(b.slice());
      const d1 = createFullImageDecoder(enc("brotli"), { config: small });
      d1.push(payload.subarray(0, cut), sink);
      const state = d1.saveState!();
      const d2 = createFullImageDecoder(enc("brotli"), { config: small, state });
      d2.push(payload.subarray(cut), sink);
      d2.finish(sink);
      expect(same(Buffer.concat(out), image)).toBe(true);
    }
  });

  it("refuses corrupt, truncated, oversize and over-long payloads with typed errors", () => {
    const image = makeImage(10_000, 2);
    const payload = compressImage(image, "deflate", small);
    const flipped = payload.slice();
    flipped[10] ^= 0xff;
    const e1 = (() => {
      try {
        decodeAll(createFullImageDecoder(enc("deflate"), { config: small }), flipped, [999]);
      } catch (e) {
        return e;
      }
    })();
    expect(e1).toBeInstanceOf(FotaError);
    expect(() => decodeAll(createFullImageDecoder(enc("deflate"), { config: small }), payload.subarray(0, payload.length - 3), [999])).toThrow(
      expect.objectContaining({ reason: "truncated" }),
    );
    const huge = Uint8Array.from([...encodeVarint(64 * 1024 * 1024), ...encodeVarint(10), 1, 2, 3]);
    expect(() => decodeAll(createFullImageDecoder(enc("brotli"), { config: small }), huge, [5])).toThrow(expect.objectContaining({ reason: "limit-exceeded" }));
    expect(() => decodeAll(createFullImageDecoder(enc("brotli"), { config: small, targetSize: 5000 }), compressImage(image, "brotli", small), [4096])).toThrow(IntegrityError);
    expect(() => createFullImageDecoder(enc("zstd"))).toThrow(expect.objectContaining({ reason: "unsupported-encoding" }));
    expect(() => createFullImageDecoder({ compression: "none", filter: "thumb" })).toThrow(FormatError);
  });

  it("only FotaErrors escape the block decoder on random input", () => {
    fc.assert(
      fc.property(fc.constantFrom("brotli", "deflate"), fc.uint8Array({ maxLength: 400 }), (c, bytes) => {
        try {
          decodeAll(createFullImageDecoder(enc(c), { config: small, targetSize: 100_000 }), bytes, [37]);
        } catch (e) {
          expect(e).toBeInstanceOf(FotaError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
