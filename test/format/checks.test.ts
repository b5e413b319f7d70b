// Policy checks: model, anti-rollback counter, base digest, expiry with an injected clock.
import { describe, expect, it } from "vitest";
import { CompatibilityError, RollbackError } from "../../src/errors.js";
import { buildFullPackage, bufferReader, checkBase, checkExpiry, checkFits, checkManifest, checkModel, checkSecurityCounter, imageRefOf, sha256 } from "../../src/format/index.js";
import { buildGoldenDelta, goldenImages, makeImage, testKey } from "./helpers.js";

const full = buildFullPackage({
  image: makeImage(1000, 1),
  models: ["EC600N", "EC800N"],
  version: "1.0",
  securityCounter: 5,
  created: 1_700_000_000,
  expires: 1_800_000_000,
  keys: [testKey()],
}).manifest;
const delta = buildGoldenDelta(testKey()).manifest;

function reasonOf(f: () => void): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as CompatibilityError).reason;
  }
  return undefined;
}

describe("policy checks", () => {
  it("model", () => {
    expect(() => checkModel(full, "EC800N")).not.toThrow();
    expect(() => checkModel(full, "BG95")).toThrow(CompatibilityError);
    expect(reasonOf(() => checkModel(full, "BG95"))).toBe("wrong-model");
  });

  it("security counter: equal or higher passes, lower is a rollback", () => {
    expect(() => checkSecurityCounter(full, 5)).not.toThrow();
    expect(() => checkSecurityCounter(full, 0)).not.toThrow();
    expect(() => checkSecurityCounter(full, 6)).toThrow(RollbackError);
    expect(reasonOf(() => checkSecurityCounter(full, 6))).toBe("security-counter");
  });

  it("expiry uses the injected clock", () => {
    expect(() => checkExpiry(full, 1_799_999_999_000)).not.toThrow();
    expect(reasonOf(() => checkExpiry(full, 1_800_000_000_000))).toBe("expired");
    expect(() => checkExpiry(delta, 9e15)).not.toThrow(); // no expiry
  });

  it("base: a delta applies only to its exact base (size and digest)", () => {
    const { v1, v2 } = goldenImages();
    expect(() => checkBase(delta, imageRefOf(bufferReader(v1)))).not.toThrow();
    expect(reasonOf(() => checkBase(delta, imageRefOf(bufferReader(v2))))).toBe("wrong-base");
    const sameSizeOtherBytes = v1.slice();
    sameSizeOtherBytes[0] ^= 1;
    expect(reasonOf(() => checkBase(delta, { size: v1.length, sha256: sha256(sameSizeOtherBytes) }))).toBe("wrong-base");
    expect(reasonOf(() => checkBase(delta, undefined))).toBe("wrong-base");
    expect(() => checkBase(full, undefined)).not.toThrow();
  });

  it("fits and the combined check", () => {
    expect(reasonOf(() => checkFits(full, 999))).toBe("too-large");
    expect(() => checkManifest(full, { model: "EC600N", securityCounter: 5, now: 1_700_000_000_000, capacity: 1000 })).not.toThrow();
    expect(reasonOf(() => checkManifest(full, { model: "EC600N", now: 1_900_000_000_000 }))).toBe("expired");
    expect(reasonOf(() => checkManifest(delta, { base: { size: 1, sha256: new Uint8Array(32) } }))).toBe("wrong-base");
  });
});
