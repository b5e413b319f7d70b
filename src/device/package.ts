// The device's view of a package: the facts it checks before writing anything, and a push pipe that
// turns raw package bytes into verified image bytes. The real pipe is FORMAT's PackageReader
// (signature first, payload chunks hashed as they stream) feeding DELTA's openPayloadDecoder; see
// formatPipe.ts. The engine only depends on this narrow interface.

import { CompatibilityError, IntegrityError, RollbackError } from "../errors.js";
import { fromHex } from "../format/bytes.js";
import { checkManifest } from "../format/checks.js";
import type { Manifest } from "../format/manifest.js";
import type { RandomAccessReader } from "./io.js";
import type { ImageInfo } from "./state.js";

/** What the device reads from a verified manifest. */
export interface PackageFacts {
  kind: "full" | "delta";
  models: string[];
  version: string;
  securityCounter: number;
  target: { size: number; sha256: string };
  base?: { size: number; sha256: string };
  /** Expiry (ms since epoch), if the manifest has one. */
  expiresAt?: number;
  /** Total package size in bytes, if known from the header. */
  packageSize?: number;
  /** The payload is an in-place delta (rewrites its base in the same area). */
  inPlace?: boolean;
  /** The verified manifest itself (FORMAT's Manifest), when the opener is FORMAT's reader. */
  manifest?: Manifest;
}

/** The region an in-place delta rewrites (same shape as DELTA's InPlaceRegion). */
export interface InPlaceTarget extends RandomAccessReader {
  readonly sectorSize: number;
  /** Replace sector `index` with `data`, power-safely; `step` counts the patch's steps from 0. */
  writeSector(index: number, data: Uint8Array, step: number): void;
  /** Steps completed before an interruption (replayed without writing). */
  readonly doneSteps?: number;
}

export interface PackageHooks {
  /**
   * Called once, after the signature verified and before any payload byte is handed out. Throw to
   * refuse the package (nothing has been written yet). Return the base image for delta payloads.
   */
  onManifest(facts: PackageFacts): RandomAccessReader | undefined;
  /**
   * For in-place deltas applied on the device (inplace bootloader): the region to rewrite. Without
   * it, an in-place delta is decoded like any payload (verification passes).
   */
  inPlaceRegion?(facts: PackageFacts): InPlaceTarget;
  /**
   * For in-place deltas only verified here (stored, applied by the bootloader later): the size of the
   * region they will rewrite (or that size for the package's facts); a patch that needs more (spare
   * sectors for its stashes) is refused.
   */
  regionBytes?: number | ((facts: PackageFacts) => number);
}

/** Raw package bytes in, verified image bytes out (in order). */
export interface PackagePipe {
  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void;
  finish(out: (image: Uint8Array) => void): void;
}

export type PackageOpener = (hooks: PackageHooks) => PackagePipe;

export function imageInfoOf(f: PackageFacts): ImageInfo {
  return { size: f.target.size, sha256: f.target.sha256, version: f.version, securityCounter: f.securityCounter };
}

export interface DeviceCheckContext {
  model: string;
  securityCounter: number;
  /** The image a delta would apply to (the running/active image). */
  base?: ImageInfo;
  /** Largest image the target area holds. */
  capacity: number;
  now?: number;
}

/**
 * The device-side acceptance checks, in the order a device must run them before its first flash
 * write: model, anti-rollback counter, expiry, size, base image.
 */
export function checkPackageFacts(f: PackageFacts, ctx: DeviceCheckContext): void {
  if (f.manifest) {
    // FORMAT's policy checks on the verified manifest (expiry, model, security counter, base, size)
    checkManifest(f.manifest, {
      model: ctx.model,
      securityCounter: ctx.securityCounter,
      ...(ctx.now !== undefined ? { now: ctx.now } : {}),
      capacity: ctx.capacity,
      ...(ctx.base && f.kind === "delta" ? { base: { size: ctx.base.size, sha256: fromHex(ctx.base.sha256) } } : {}),
    });
    return;
  }
  if (f.models.length > 0 && !f.models.includes(ctx.model)) {
    throw new CompatibilityError("wrong-model", `package is for ${f.models.join(", ")}; this device is ${ctx.model}`, { details: { models: f.models, model: ctx.model } });
  }
  if (f.securityCounter < ctx.securityCounter) {
    throw new RollbackError("security-counter", `package security counter ${f.securityCounter} is below the device's ${ctx.securityCounter}; refusing a downgrade`, {
      details: { package: f.securityCounter, device: ctx.securityCounter },
    });
  }
  if (f.expiresAt !== undefined && (ctx.now ?? Date.now()) >= f.expiresAt) {
    throw new CompatibilityError("expired", `package expired at ${new Date(f.expiresAt).toISOString()}`);
  }
  if (f.target.size > ctx.capacity) {
    throw new CompatibilityError("too-large", `image of ${f.target.size} bytes does not fit its ${ctx.capacity}-byte area`, { details: { size: f.target.size, capacity: ctx.capacity } });
  }
  if (f.kind === "delta") {
    if (!f.base) throw new CompatibilityError("wrong-base", "delta package names no base image");
    if (!ctx.base || ctx.base.sha256 !== f.base.sha256 || ctx.base.size !== f.base.size) {
      throw new CompatibilityError("wrong-base", `delta applies to base ${f.base.sha256.slice(0, 16)}… (${f.base.size} bytes); this device runs ${ctx.base ? `${ctx.base.sha256.slice(0, 16)}… (${ctx.base.size} bytes)` : "no known image"}`, {
        details: { want: f.base.sha256, have: ctx.base?.sha256 },
      });
    }
  }
}

/** Compare a computed digest with the expected one; IntegrityError when they differ. */
export function expectDigest(what: string, expected: { size: number; sha256: string }, actual: { size: number; sha256: string }): void {
  if (expected.size !== actual.size) {
    throw new IntegrityError("size-mismatch", `${what} is ${actual.size} bytes; expected ${expected.size}`, { details: { expected: expected.size, actual: actual.size } });
  }
  if (expected.sha256 !== actual.sha256) {
    throw new IntegrityError("digest-mismatch", `${what} SHA-256 ${actual.sha256.slice(0, 16)}… does not match the expected ${expected.sha256.slice(0, 16)}…`, {
      details: { expected: expected.sha256, actual: actual.sha256 },
    });
  }
}
