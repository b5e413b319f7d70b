// Shared fixtures for the device tests: images, keys, packages, devices over a SimFlash, and the
// "complete the update from whatever state the flash is in" driver the power-cut sweeps use.
import { createHash } from "node:crypto";
import { generateSigningKey, type SigningKey } from "../../src/format/keys.js";
import { buildFullPackage, buildPackage } from "../../src/format/package.js";
import { sha256 as sha256Bytes } from "../../src/format/bytes.js";
import { createDelta } from "../../src/delta/index.js";
import { Device, SimFlash, formatPackageOpener, planLayout, Rng, type Layout, type StrategyName, type BootResult } from "../../src/device/index.js";

export const MODEL = "EC600N";
export const SECTOR = 4096;

export function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A firmware-like image: runs of structure with some noise, deterministic from the seed. */
export function makeImage(size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + (i >> 5)) & 0xff;
  for (let i = 0; i < size / 16; i++) out[rng.below(size)] = rng.nextU32() & 0xff;
  return out;
}

/** A variant of `base` with edits (for "new" images). */
export function mutate(base: Uint8Array, seed: number, size = base.length): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(size);
  out.set(base.subarray(0, Math.min(size, base.length)));
  for (let i = 0; i < size / 64; i++) out[rng.below(size)] = rng.nextU32() & 0xff;
  return out;
}

let cachedKey: SigningKey | undefined;
export function key(): SigningKey {
  cachedKey ??= generateSigningKey();
  return cachedKey;
}

export function fullPackage(image: Uint8Array, opts: { version?: string; securityCounter?: number; models?: string[]; compression?: "none" | "brotli" | "deflate" } = {}): Uint8Array {
  return buildFullPackage({
    image,
    models: opts.models ?? [MODEL],
    version: opts.version ?? "2.0",
    securityCounter: opts.securityCounter ?? 1,
    keys: [key()],
    compression: opts.compression ?? "deflate",
    created: 1_700_000_000,
  }).bytes;
}

/** A delta package from `old` to `neu` (the in-place form for single-slot devices when asked). */
export function deltaPackage(old: Uint8Array, neu: Uint8Array, opts: { inPlace?: boolean; securityCounter?: number; version?: string; slotBytes?: number; borrowSectors?: number } = {}): Uint8Array {
  const ip = { sectorSize: SECTOR, ...(opts.slotBytes !== undefined ? { slotBytes: opts.slotBytes } : {}), ...(opts.borrowSectors !== undefined ? { borrowSectors: opts.borrowSectors } : {}) };
  const d = createDelta(old, neu, opts.inPlace ? { inPlace: ip } : {});
  return buildPackage({
    kind: "delta",
    models: [MODEL],
    version: opts.version ?? "2.0",
    securityCounter: opts.securityCounter ?? 2,
    target: { size: neu.length, sha256: sha256Bytes(neu) },
    base: { size: old.length, sha256: sha256Bytes(old) },
    encoding: d.encoding,
    payload: d.payload,
    keys: [key()],
    created: 1_700_000_000,
  }).bytes;
}

export function* chunks(bytes: Uint8Array, size: number | (() => number)): Generator<Uint8Array> {
  let o = 0;
  while (o < bytes.length) {
    const n = typeof size === "number" ? size : size();
    yield bytes.subarray(o, o + n);
    o += n;
  }
}

export interface Rig {
  strategy: StrategyName;
  layout: Layout;
  geometry: { size: number; sectorSize: number; pageSize: number; writeAlign: number };
  old: Uint8Array;
  recovery?: Uint8Array;
  maxAttempts?: number;
}

export function makeRig(strategy: StrategyName, imageSize: number, extra: Partial<Rig> & { scratchSectors?: number; slotBytes?: number; packageBytes?: number } = {}): Rig {
  const { scratchSectors, slotBytes, packageBytes, ...rest } = extra;
  const { layout, flashSize } = planLayout(strategy, {
    sectorSize: SECTOR,
    slotSize: slotBytes ?? imageSize + SECTOR,
    ...(strategy === "ab" ? { packageSize: imageSize * 2 } : {}),
    ...(packageBytes !== undefined ? { packageSize: packageBytes } : {}),
    ...(scratchSectors ? { scratchSectors } : {}),
  });
  extra = rest;
  const rig: Rig = { strategy, layout, geometry: { size: flashSize, sectorSize: SECTOR, pageSize: 256, writeAlign: 4 }, old: makeImage(imageSize, 1), ...extra };
  if (strategy === "two-stage") rig.recovery ??= makeImage(SECTOR * 2, 99);
  return rig;
}

export function device(rig: Rig, flash: SimFlash): Device {
  return new Device({ flash, layout: rig.layout, model: MODEL, openPackage: formatPackageOpener({ trustedKeys: [key()] }), maxAttempts: rig.maxAttempts ?? 1 });
}

export function provision(rig: Rig): SimFlash {
  const flash = new SimFlash(rig.geometry);
  Device.provision({
    flash,
    layout: rig.layout,
    model: MODEL,
    image: rig.old,
    version: "1.0",
    securityCounter: 1,
    ...(rig.recovery ? { recoveryImage: { image: rig.recovery, version: "rec-1" } } : {}),
  });
  flash.resetCounters();
  return flash;
}

/** SHA-256 of what a boot result says it booted, read from flash (not from the state). */
export function bootedSha(rig: Rig, flash: SimFlash, b: BootResult): string {
  const region = b.area === "recovery" ? rig.layout.recovery! : rig.layout.slots[Number(b.area.slice(4))]!;
  return sha(flash.read(region.offset, b.image.size));
}
