// Shared fixtures of the format tests: the checked-in test key, deterministic firmware-like images,
// and the specs of the golden packages (so the golden test and the regenerator build them the same way).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { buildPackage, loadSigningKey, loadTrustedKey, sha256, type BuiltPackage, type SigningKey, type TrustedKey } from "../../src/format/index.js";

export const FIXTURES = fileURLToPath(new URL("../fixtures/format/", import.meta.url));
export const fixture = (name: string) => FIXTURES + name;

/** The checked-in test signing key (never use it for anything real). */
export function testKey(): SigningKey {
  return loadSigningKey(readFileSync(fixture("test.key"), "utf8"), "test.key");
}
export function testPub(): TrustedKey {
  return loadTrustedKey(readFileSync(fixture("test.key.pub"), "utf8"));
}

/** A deterministic pseudo-firmware image: code-like repeats, strings and noise, so compressors have work. */
export function makeImage(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  const rnd = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
  const words = ["fota", "update", "image", "flash", "sector", "boot", "EC600N", "ok", "error ", "\0\0\0\0"];
  let o = 0;
  while (o < size) {
    const r = rnd() % 10;
    if (r < 4) {
      // "instructions": 4-byte words from a small set
      const w = rnd() % 64;
      for (let i = 0; i < 4 && o < size; i++) out[o++] = (w * 37 + i * 11) & 0xff;
    } else if (r < 6) {
      const s = words[rnd() % words.length]!;
      for (let i = 0; i < s.length && o < size; i++) out[o++] = s.charCodeAt(i);
    } else if (r < 8 && o > 64) {
      // copy of earlier bytes
      const from = o - 1 - (rnd() % Math.min(o - 1, 4096));
      const n = 4 + (rnd() % 24);
      for (let i = 0; i < n && o < size; i++) out[o++] = out[from + i]!;
    } else {
      out[o++] = rnd() & 0xff;
    }
  }
  return out;
}

export const GOLDEN_CREATED = "2026-01-01T00:00:00Z";
export const GOLDEN_CREATED_S = Date.parse(GOLDEN_CREATED) / 1000;
export const V1_SIZE = 40_000;
export const V2_SIZE = 41_234;

/** Golden images: old (v1) and new (v2) firmware. */
export function goldenImages(): { v1: Uint8Array; v2: Uint8Array } {
  const v1 = makeImage(V1_SIZE, 1);
  const v2 = makeImage(V2_SIZE, 1);
  v2.set(makeImage(3000, 7), 12_000); // a changed region
  return { v1, v2 };
}

/**
 * The golden delta-kind package: its payload is opaque bytes (the format does not interpret delta
 * payloads), so it tests the base binding without the delta engine.
 */
export function buildGoldenDelta(key: SigningKey): BuiltPackage {
  const { v1, v2 } = goldenImages();
  const payload = makeImage(1500, 99);
  return buildPackage({
    kind: "delta",
    models: ["EC600N"],
    version: "1.1-delta",
    securityCounter: 2,
    created: GOLDEN_CREATED_S,
    target: { size: v2.length, sha256: sha256(v2) },
    base: { size: v1.length, sha256: sha256(v1) },
    encoding: { delta: "opaque-test", params: Uint8Array.of(1, 2, 3) },
    payload,
    keys: [key],
  });
}

/** The golden package with an unknown critical manifest field (id 200): readers must refuse it. */
export function buildGoldenUnknownCritical(key: SigningKey): BuiltPackage {
  const { v2 } = goldenImages();
  return buildPackage({
    kind: "full",
    models: ["EC600N"],
    version: "9.9-future",
    created: GOLDEN_CREATED_S,
    target: { size: v2.length, sha256: sha256(v2) },
    encoding: {},
    payload: v2,
    chunkSize: 4096,
    keys: [key],
    unknown: [{ id: 200, critical: true, value: Uint8Array.of(0xca, 0xfe) }],
  });
}

/** The golden package with an unknown non-critical field (id 201): readers keep it and go on. */
export function buildGoldenUnknownOptional(key: SigningKey): BuiltPackage {
  const { v2 } = goldenImages();
  return buildPackage({
    kind: "full",
    models: ["EC600N"],
    version: "1.1-ext",
    created: GOLDEN_CREATED_S,
    target: { size: v2.length, sha256: sha256(v2) },
    encoding: { unknown: [{ id: 50, critical: false, value: Uint8Array.of(7) }] },
    payload: v2,
    chunkSize: 4096,
    keys: [key],
    unknown: [{ id: 201, critical: false, value: new TextEncoder().encode("a future note") }],
  });
}

/** Splits bytes into pieces of the given sizes (cycled). */
export function* pieces(bytes: Uint8Array, sizes: number[]): Generator<Uint8Array> {
  let o = 0;
  let i = 0;
  while (o < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    yield bytes.subarray(o, o + n);
    o += n;
  }
}
