// The device engine behind the QuecPython face: a virtual module's Device (src/device) laid out as
// its model's profile says, the FotaEngine adapter FotaClient drives, and the recovery system's
// stage-two download of mini FOTA.

import { StateError, UsageError } from "../errors.js";
import { Device } from "../device/device.js";
import { SimFlash, type Flash } from "../device/flash.js";
import { formatPackageOpener, type DecoderFactory } from "../device/formatPipe.js";
import type { PublicKeyInput } from "../format/keys.js";
import type { FetchOptions } from "../transport/index.js";
import { fetchSource, type ArmedImage, type FotaEngine } from "./client.js";
import { geometryFor, layoutFor } from "./layout.js";
import type { ModelProfile, StrategyName } from "./profiles.js";

/** FotaClient's view of a Device. */
export function deviceEngine(device: Device): FotaEngine {
  return {
    get model() {
      return device.model;
    },
    install: (source, opts) => {
      if (opts.stageTwo !== undefined && device.layout.strategy !== "two-stage") {
        return Promise.reject(
          new UsageError("not-supported", `mini FOTA needs the two-stage layout; this module was created with the ${device.layout.strategy} layout`),
        );
      }
      if (opts.stageTwo === undefined && device.layout.strategy === "two-stage") {
        return Promise.reject(new UsageError("not-supported", "this module was created with the two-stage layout: it takes mini FOTA (url1 + url2) only"));
      }
      return device.install(source, opts);
    },
    armedImage: (): ArmedImage | undefined => {
      const s = device.status();
      if (s.state !== "pending" || !s.target) return undefined;
      return { version: s.target.version, size: s.target.size, sha256: s.target.sha256, securityCounter: s.target.securityCounter };
    },
    localUpgrade: () => device.localUpgrade(),
  };
}

export interface ProvisionModuleOptions {
  profile: ModelProfile;
  /** Default: the profile's first strategy. */
  strategy?: StrategyName;
  /** Default: a fresh SimFlash of the layout's size and the profile's geometry. */
  flash?: Flash;
  /** The factory firmware image and its version. */
  image: Uint8Array;
  version: string;
  securityCounter?: number;
  /** Public keys whose packages the module accepts. */
  trustedKeys: readonly PublicKeyInput[];
  /** Payload decoder dispatcher (DELTA's openPayloadDecoder for delta packages); default: full only. */
  openDecoder?: DecoderFactory;
  /** Two-stage layouts: a factory recovery system image. */
  recoveryImage?: { image: Uint8Array; version: string };
  maxAttempts?: number;
  now?: () => number;
}

/** Provisions a virtual module's flash (factory image installed and confirmed) and returns its Device. */
export function provisionModule(opts: ProvisionModuleOptions): Device {
  const strategy = opts.strategy ?? opts.profile.strategies[0]!;
  const { layout } = layoutFor(opts.profile, strategy);
  const flash = opts.flash ?? new SimFlash(geometryFor(opts.profile, strategy));
  return Device.provision({
    flash,
    layout,
    model: opts.profile.model,
    image: opts.image,
    version: opts.version,
    ...(opts.securityCounter !== undefined ? { securityCounter: opts.securityCounter } : {}),
    openPackage: formatPackageOpener({ trustedKeys: opts.trustedKeys, ...(opts.openDecoder ? { openDecoder: opts.openDecoder } : {}) }),
    ...(opts.recoveryImage ? { recoveryImage: opts.recoveryImage } : {}),
    ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}

/** Opens an existing virtual module's Device over its flash (after a reboot). */
export function openModule(opts: Omit<ProvisionModuleOptions, "image" | "version" | "securityCounter" | "recoveryImage"> & { flash: Flash }): Device {
  const strategy = opts.strategy ?? opts.profile.strategies[0]!;
  const { layout } = layoutFor(opts.profile, strategy);
  return new Device({
    flash: opts.flash,
    layout,
    model: opts.profile.model,
    openPackage: formatPackageOpener({ trustedKeys: opts.trustedKeys, ...(opts.openDecoder ? { openDecoder: opts.openDecoder } : {}) }),
    ...(opts.maxAttempts !== undefined ? { maxAttempts: opts.maxAttempts } : {}),
    ...(opts.now ? { now: opts.now } : {}),
  });
}

/**
 * Mini FOTA stage two, as the recovery system runs it: after boot() booted the recovery system,
 * download the stage-two URL (recorded by stage one) straight into the application slot. Resolves
 * when stage two is armed; the caller then restarts the module (boot() boots the new firmware).
 */
export async function runStageTwo(device: Device, fetch: FetchOptions = {}): Promise<void> {
  const locator = device.status().stageTwo;
  if (locator === undefined) throw new StateError("bad-transition", "no mini FOTA stage two is pending on this module");
  await device.runRecovery((url) => fetchSource(url, fetch), fetch.signal ? { signal: fetch.signal } : {});
}
