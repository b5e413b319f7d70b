// Golden packages: checked-in bytes that the writer must reproduce exactly (Ed25519 signatures are
// deterministic and the created time is fixed) and that the reader must accept.
// Regenerate after a deliberate format change: FOTA_UPDATE_GOLDEN=1 npx vitest run test/format/golden.test.ts
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FormatError } from "../../src/errors.js";
import { applyPackage, buildFullPackage, bufferReader, parsePackagePrefix, toHex, type BuiltPackage } from "../../src/format/index.js";
import { runFota } from "../helpers/cli.js";
import {
  GOLDEN_CREATED,
  GOLDEN_CREATED_S,
  buildGoldenDelta,
  buildGoldenUnknownCritical,
  buildGoldenUnknownOptional,
  fixture,
  goldenImages,
  testKey,
  testPub,
} from "./helpers.js";

function buildGoldenFull(compression: "none" | "brotli"): BuiltPackage {
  const { v2 } = goldenImages();
  return buildFullPackage({
    image: v2,
    models: ["EC600N", "EC800N"],
    version: "1.1",
    securityCounter: 1,
    created: GOLDEN_CREATED_S,
    ...(compression === "brotli" ? { expires: Date.parse("2030-01-01T00:00:00Z") / 1000 } : {}),
    compression,
    chunkSize: 4096,
    keys: [testKey()],
  });
}

const GOLDEN: Record<string, () => Uint8Array> = {
  "full-none.fota": () => buildGoldenFull("none").bytes,
  "full-brotli.fota": () => buildGoldenFull("brotli").bytes,
  "delta-opaque.fota": () => buildGoldenDelta(testKey()).bytes,
  "unknown-critical.fota": () => buildGoldenUnknownCritical(testKey()).bytes,
  "unknown-optional.fota": () => buildGoldenUnknownOptional(testKey()).bytes,
};

if (process.env.FOTA_UPDATE_GOLDEN === "1") {
  const { v1, v2 } = goldenImages();
  writeFileSync(fixture("image-v1.bin"), v1);
  writeFileSync(fixture("image-v2.bin"), v2);
  for (const [name, make] of Object.entries(GOLDEN)) writeFileSync(fixture(name), make());
}

const golden = (name: string) => new Uint8Array(readFileSync(fixture(name)));

describe("golden packages", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "fota-golden-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the checked-in images are the ones the helpers generate", () => {
    const { v1, v2 } = goldenImages();
    expect(golden("image-v1.bin")).toEqual(v1);
    expect(golden("image-v2.bin")).toEqual(v2);
  });

  it("the library re-packs the uncompressed, delta and extension goldens byte for byte", () => {
    for (const name of ["full-none.fota", "delta-opaque.fota", "unknown-critical.fota", "unknown-optional.fota"]) {
      const again = GOLDEN[name]!();
      expect(toHex(again), name).toBe(toHex(golden(name)));
    }
  });

  it("`fota pack` re-packs full-none.fota byte for byte", async () => {
    const out = join(dir, "repack.fota");
    const r = await runFota([
      "pack",
      "--key", fixture("test.key"),
      "--to", fixture("image-v2.bin"),
      "--version", "1.1",
      "--model", "EC600N",
      "--model", "EC800N",
      "--security-counter", "1",
      "--created", GOLDEN_CREATED,
      "--compression", "none",
      "--chunk-size", "4096",
      "-o", out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(toHex(new Uint8Array(readFileSync(out)))).toBe(toHex(golden("full-none.fota")));
  });

  it("reads every accepted golden back to the exact image", () => {
    const { v2 } = goldenImages();
    for (const name of ["full-none.fota", "full-brotli.fota", "unknown-optional.fota"]) {
      const { image, result } = applyPackage(golden(name), { trustedKeys: [testPub()], policy: { now: Date.parse("2029-01-01T00:00:00Z") } });
      expect(image, name).toEqual(v2);
      expect(result.manifest.models[0]).toBe("EC600N");
    }
    const brotli = parsePackagePrefix(golden("full-brotli.fota")).manifest;
    expect(brotli.encoding.compression).toBe("brotli");
    expect(brotli.payload.size).toBeLessThan(v2.length);
    expect(brotli.expires).toBe(Date.parse("2030-01-01T00:00:00Z") / 1000);
  });

  it("keeps the unknown optional fields of the extension golden", () => {
    const m = parsePackagePrefix(golden("unknown-optional.fota")).manifest;
    expect(m.unknown).toEqual([{ id: 201, critical: false, value: new TextEncoder().encode("a future note") }]);
    expect(m.encoding.unknown).toEqual([{ id: 50, critical: false, value: Uint8Array.of(7) }]);
  });

  it("refuses the unknown-critical golden", () => {
    expect(() => applyPackage(golden("unknown-critical.fota"), { trustedKeys: [testPub()] })).toThrow(
      expect.objectContaining({ reason: "unknown-critical", constructor: FormatError }),
    );
  });

  it("binds the delta golden to its base image", () => {
    const { v1, v2 } = goldenImages();
    const m = parsePackagePrefix(golden("delta-opaque.fota")).manifest;
    expect(m.kind).toBe("delta");
    expect(m.base?.size).toBe(v1.length);
    expect(m.encoding).toMatchObject({ delta: "opaque-test", compression: "none", params: Uint8Array.of(1, 2, 3) });
    expect(() => applyPackage(golden("delta-opaque.fota"), { trustedKeys: [testPub()], base: bufferReader(v2) })).toThrow(expect.objectContaining({ reason: "wrong-base" }));
  });

  it("all golden files exist (regenerate with FOTA_UPDATE_GOLDEN=1)", () => {
    for (const name of Object.keys(GOLDEN)) expect(existsSync(fixture(name)), name).toBe(true);
  });
});
