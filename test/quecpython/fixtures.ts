// Shared test material: a signing key, firmware images, real signed packages, a provisioned virtual
// module per model, and a ModuleHost that records restart requests and log lines.
import { createHash } from "node:crypto";
import { buildFullPackage, buildPackage, generateSigningKey, sha256, type SigningKey } from "../../src/format/index.js";
import { createDelta } from "../../src/delta/index.js";
import { FotaClient } from "../../src/quecpython/client.js";
import { deviceEngine, provisionModule } from "../../src/quecpython/engine.js";
import type { ModuleHost, ApnSettings } from "../../src/quecpython/fota.js";
import type { ModelProfile, StrategyName } from "../../src/quecpython/profiles.js";
import type { Device } from "../../src/device/device.js";
import type { FetchOptions } from "../../src/transport/index.js";

export const KEY: SigningKey = generateSigningKey();
export const OTHER_KEY: SigningKey = generateSigningKey();

/** A deterministic pseudo-firmware image (compressible but not trivially). */
export function firmware(tag: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let block = createHash("sha256").update(tag).digest();
  for (let o = 0; o < size; o += 32) {
    out.set(block.subarray(0, Math.min(32, size - o)), o);
    if ((o / 32) % 4 === 3) block = createHash("sha256").update(block).digest();
  }
  return out;
}

export const V1 = firmware("v1", 48 * 1024);
/** V1 with a few changed regions and a new tail: what a real firmware update looks like to a delta. */
export const V2 = (() => {
  const out = new Uint8Array(52 * 1024);
  out.set(V1);
  out.set(firmware("patch-a", 700), 5000);
  out.set(firmware("patch-b", 300), 30_000);
  out.set(firmware("tail", 4 * 1024), V1.length);
  return out;
})();

export function fullPackage(opts: { image?: Uint8Array; version?: string; models: string[]; securityCounter?: number; key?: SigningKey; compression?: "none" }): Uint8Array {
  return buildFullPackage({
    ...(opts.compression ? { compression: opts.compression } : {}),
    image: opts.image ?? V2,
    version: opts.version ?? "2.0.0",
    models: opts.models,
    securityCounter: opts.securityCounter ?? 1,
    keys: [opts.key ?? KEY],
    chunkSize: 4096,
  }).bytes;
}

/** A delta package from `from` to `to` (in-place form for single-slot layouts). */
export function deltaPackage(opts: { from: Uint8Array; to: Uint8Array; models: string[]; inPlace?: boolean; version?: string; securityCounter?: number }): Uint8Array {
  const d = createDelta(opts.from, opts.to, opts.inPlace ? { inPlace: { sectorSize: 4096 } } : {});
  return buildPackage({
    kind: "delta",
    models: opts.models,
    version: opts.version ?? "2.0.0",
    securityCounter: opts.securityCounter ?? 1,
    target: { size: opts.to.length, sha256: sha256(opts.to) },
    base: { size: opts.from.length, sha256: sha256(opts.from) },
    encoding: d.encoding,
    payload: d.payload,
    keys: [KEY],
    ...(process.env.DELTA_CHUNK ? { chunkSize: Number(process.env.DELTA_CHUNK) } : {}),
  }).bytes;
}

export const FAST_FETCH: FetchOptions = { retries: 0, backoffBaseMs: 1, timeouts: { connectMs: 3000, headersMs: 3000, readMs: 3000 } };

export interface TestModule extends ModuleHost {
  device: Device;
  restarts: string[];
  logs: string[];
  apn: ApnSettings | undefined;
}

/** A provisioned module of a model, running V1 (security counter 1), with a recording host. */
export function makeModule(profile: ModelProfile, opts: { strategy?: StrategyName; fetch?: FetchOptions } = {}): TestModule {
  const device = provisionModule({
    profile,
    ...(opts.strategy ? { strategy: opts.strategy } : {}),
    image: V1,
    version: "1.0.0",
    securityCounter: 1,
    trustedKeys: [KEY],
    ...(opts.strategy === "two-stage" ? { recoveryImage: { image: firmware("recovery-v1", 8 * 1024), version: "r1" } } : {}),
  });
  device.boot();
  return hostFor(profile, device, opts.fetch);
}

/** A recording ModuleHost around an existing device (e.g. reopened from flash after a power cut). */
export function hostFor(profile: ModelProfile, device: Device, fetch?: FetchOptions): TestModule {
  const client = new FotaClient({ engine: deviceEngine(device), fetch: fetch ?? FAST_FETCH });
  const m: TestModule = {
    profile,
    client,
    device,
    restarts: [],
    logs: [],
    apn: undefined,
    requestRestart(reason) {
      m.restarts.push(reason);
    },
    log(line) {
      m.logs.push(line);
    },
    setApn(a) {
      m.apn = a;
    },
  };
  return m;
}

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}
