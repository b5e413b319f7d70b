// Shared test material: a signing key, firmware images, real signed packages, a provisioned virtual
// module per model, and a ModuleHost that records restart requests and log lines.
import { createHash } from "node:crypto";
import { buildFullPackage, generateSigningKey, type SigningKey } from "../../src/format/index.js";
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
export const V2 = firmware("v2", 52 * 1024);

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
  const client = new FotaClient({ engine: deviceEngine(device), fetch: opts.fetch ?? FAST_FETCH });
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
