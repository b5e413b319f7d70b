// Policy checks on a verified manifest, as pure functions that throw the typed errors. A device runs
// them (from PackageReader's onManifest) before it writes anything.
import { CompatibilityError, RollbackError, UsageError } from "../errors.js";
import { bytesEqual, toHex } from "./bytes.js";
import type { ImageRef, Manifest } from "./manifest.js";
import { createHash } from "node:crypto";
import type { RandomAccessReader } from "./payload.js";

/** Refuses a package that does not list `model`. */
export function checkModel(manifest: Manifest, model: string): void {
  if (!manifest.models.includes(model)) {
    throw new CompatibilityError("wrong-model", `package is for ${manifest.models.join(", ")}, not ${model}`, { details: { models: manifest.models, model } });
  }
}

/** Anti-rollback: refuses a package whose security counter is below the device's stored counter. */
export function checkSecurityCounter(manifest: Manifest, deviceCounter: number): void {
  if (!Number.isSafeInteger(deviceCounter) || deviceCounter < 0) throw new UsageError("bad-argument", `device security counter ${deviceCounter} is not a non-negative integer`);
  if (manifest.securityCounter < deviceCounter) {
    throw new RollbackError("security-counter", `package security counter ${manifest.securityCounter} is below the device's ${deviceCounter} (a rollback)`, {
      details: { package: manifest.securityCounter, device: deviceCounter },
    });
  }
}

/** Refuses a delta package whose base is not exactly `base` (size and SHA-256). Full packages pass. */
export function checkBase(manifest: Manifest, base: ImageRef | undefined): void {
  if (manifest.kind !== "delta") return;
  const want = manifest.base!;
  if (!base) {
    throw new CompatibilityError("wrong-base", `delta package needs the base image ${toHex(want.sha256).slice(0, 16)}… (${want.size} bytes); none given`, {
      details: { expectedSize: want.size, expectedSha256: toHex(want.sha256) },
    });
  }
  if (base.size !== want.size || !bytesEqual(base.sha256, want.sha256)) {
    throw new CompatibilityError(
      "wrong-base",
      `delta applies to base ${toHex(want.sha256).slice(0, 16)}… (${want.size} bytes); this image is ${toHex(base.sha256).slice(0, 16)}… (${base.size} bytes)`,
      { details: { expectedSize: want.size, expectedSha256: toHex(want.sha256), actualSize: base.size, actualSha256: toHex(base.sha256) } },
    );
  }
}

/** Refuses an expired package. `now` is in milliseconds since the epoch (inject a clock in tests). */
export function checkExpiry(manifest: Manifest, now: number = Date.now()): void {
  if (manifest.expires === undefined) return;
  const nowS = Math.floor(now / 1000);
  if (nowS >= manifest.expires) {
    throw new CompatibilityError("expired", `package expired at ${new Date(manifest.expires * 1000).toISOString()} (now ${new Date(now).toISOString()})`, {
      details: { expires: manifest.expires, now: nowS },
    });
  }
}

/** Refuses a package whose target image does not fit in `capacity` bytes. */
export function checkFits(manifest: Manifest, capacity: number): void {
  if (manifest.target.size > capacity) {
    throw new CompatibilityError("too-large", `image is ${manifest.target.size} bytes; the slot holds ${capacity}`, { details: { size: manifest.target.size, capacity } });
  }
}

export interface ManifestPolicy {
  model?: string;
  securityCounter?: number;
  base?: ImageRef;
  /** Milliseconds since the epoch (default Date.now()). */
  now?: number;
  capacity?: number;
}

/** Runs every check the policy asks for: expiry always, the others when given (the base check only for delta packages). */
export function checkManifest(manifest: Manifest, policy: ManifestPolicy = {}): void {
  checkExpiry(manifest, policy.now);
  if (policy.model !== undefined) checkModel(manifest, policy.model);
  if (policy.securityCounter !== undefined) checkSecurityCounter(manifest, policy.securityCounter);
  if (policy.base) checkBase(manifest, policy.base);
  if (policy.capacity !== undefined) checkFits(manifest, policy.capacity);
}

/** Size and SHA-256 of an image behind a RandomAccessReader (read in 64 KiB steps). */
export function imageRefOf(reader: RandomAccessReader, step = 64 * 1024): ImageRef {
  const h = createHash("sha256");
  for (let o = 0; o < reader.size; o += step) h.update(reader.read(o, Math.min(step, reader.size - o)));
  return { size: reader.size, sha256: new Uint8Array(h.digest()) };
}
