// Model profiles of the QuecPython-compatible face: ONE table that says, per module model, which
// `fota` calls exist and how they behave, and how the virtual module's flash is laid out.
//
// Everything that differs between models lives here as data; the `fota` / `app_fota` adapters, the
// Python shim and the emulator read this table and never test a model name themselves.
//
// Where a fact comes from (see ../shared/spec/quecpython-fota-details.md for the sources):
//   [D] Quectel's API page, [S] Quectel's published module source (modfota.c), [I] our inference.
// - `apn_set` and `download_cancel` are compiled only for the Qualcomm platform (BG95) [S]; on every
//   other model the attribute does not exist, so a script gets AttributeError ("absent").
// - `write` / `flush` / `verify` are compiled on every platform we model [S] (only the RDA platform
//   leaves them out), but only some models document local upgrade [D]. On the others the call exists
//   and the platform layer refuses: it returns -1 after a log line ("fails") [I].
// - `reset_disable` reaches the platform on Qualcomm, Unisoc, ASR 1803S and Eigen, never on the ASR
//   1603 family [S][D]; there the module restarts after the download whatever the script asked.
// - `httpDownload` returns at once on the ASR 1603 family and BC25 (result via the callback) and
//   blocks until downloaded and verified elsewhere [D][I].
// - FTP URLs only on EC200A [D]; mini FOTA (url2) only on the ASR 1603 family [D].

import { UsageError } from "../errors.js";

/** The chip platform a model is built on (the `PLAT_*` switch of the module source). */
export type Platform = "ASR" | "ASR_1803S" | "Unisoc" | "Qualcomm" | "Eigen";

/** How a `fota` method behaves on a model. */
export type CallSupport =
  /** Implemented. */
  | "present"
  /** Not an attribute of the object on this model: AttributeError in a script, `undefined` in TS. */
  | "absent"
  /** The method exists but the platform refuses: one log line, then it returns -1. */
  | "fails";

export type FotaCall = "httpDownload" | "apn_set" | "download_cancel" | "write" | "flush" | "verify";

/** Update strategies of the device engine (src/device). */
export type StrategyName = "ab" | "inplace" | "two-stage";

/** URL schemes `httpDownload` accepts on a model. `file` is never accepted by the module. */
export type UrlScheme = "http" | "https" | "ftp";

/** Radio link class; sets the default throttle of the virtual module's link. */
export type LinkType = "lte-cat1" | "lte-cat4" | "lte-m" | "nb-iot";

export interface LinkProfile {
  /** Default downlink throttle of the virtual module, in kbit/s (a practical figure, not a peak). */
  readonly kbps: number;
  readonly description: string;
}

/** Practical downlink rates (kbit/s) the emulator throttles to by default [I]. */
export const LINKS: Readonly<Record<LinkType, LinkProfile>> = Object.freeze({
  "lte-cat1": { kbps: 2000, description: "LTE Cat 1 (about 10 Mbit/s peak; a few Mbit/s in practice)" },
  "lte-cat4": { kbps: 8000, description: "LTE Cat 4 (150 Mbit/s peak; tens of Mbit/s in practice)" },
  "lte-m": { kbps: 300, description: "LTE-M / Cat M1 (about 300 kbit/s to 1 Mbit/s)" },
  "nb-iot": { kbps: 25, description: "NB-IoT (a few KB/s)" },
});

/**
 * Flash of a model's virtual module: geometry and area sizes. `layoutFor` (layout.ts) turns it into
 * the device engine's Layout for a strategy (state copies, slots, package area, scratch, recovery).
 */
export interface FlashSpec {
  readonly sectorSize: number;
  readonly pageSize: number;
  /** Smallest program unit (1 = any byte). */
  readonly writeAlign: number;
  /** Size of each application slot. */
  readonly slotSize: number;
  /** Package area (inplace installs, local upgrade); 0 = none. */
  readonly packageSize: number;
  /** Recovery ("minimal") system area of two-stage layouts. */
  readonly recoverySize?: number;
}

export interface ModelProfile {
  /** Model name as `modem.getDevModel()` returns it. */
  readonly model: string;
  /** Family name used in messages and docs. */
  readonly family: "ASR 1603" | "ASR 1803S" | "Unisoc 8910" | "Qualcomm MDM9205" | "NB-IoT";
  readonly platform: Platform;
  /** `uos.uname()` sysname field. */
  readonly sysname: string;
  /** What each `fota` method does on this model. */
  readonly calls: Readonly<Record<FotaCall, CallSupport>>;
  /**
   * "async": httpDownload checks its arguments, starts the work and returns 0 at once; the result
   * arrives only through the callback. "blocking": it returns when the package is downloaded and
   * verified (0) or the download or verification failed (-1), sending progress callbacks meanwhile.
   */
  readonly httpDownload: "async" | "blocking";
  /** Whether `fota(reset_disable=1)` really stops the automatic restart after a download. */
  readonly resetDisableHonoured: boolean;
  /** URL schemes httpDownload accepts; others are refused before any network access. */
  readonly schemes: readonly UrlScheme[];
  /** Mini FOTA: `url2` allowed (two-stage strategy, no callback). */
  readonly miniFota: boolean;
  /** Local upgrade through write / flush / verify. (Same fact as calls.write === "present".) */
  readonly localUpgrade: boolean;
  /**
   * Strategies a virtual module of this model can be created with; the first is the default. A
   * device has one layout: DFOTA and local upgrade need the first, mini FOTA needs "two-stage".
   */
  readonly strategies: readonly StrategyName[];
  /** Flash of the virtual module (sizes are ours, small enough for fast tests). */
  readonly flash: FlashSpec;
  /** First 8 IMEI digits (a Type Allocation Code) of virtual modules of this model [I: invented]. */
  readonly imeiPrefix: string;
  readonly link: LinkType;
}

const KiB = 1024;
const MiB = 1024 * KiB;

const NOR = { sectorSize: 4 * KiB, pageSize: 256, writeAlign: 1 } as const;

// ASR 1603 (EC600N family): the classic small-flash DFOTA module. The downloaded package is stored
// in a FOTA area and applied in place by the bootloader at the next boot ("inplace", resumable after
// a power cut, as [D] A7 describes). The FOTA area is deliberately smaller than the application
// slot: a full package that does not fit is refused (callback -1 with the storage code), which is why
// these modules offer mini FOTA, whose stage two streams a full image straight into the application
// slot from a small recovery system ("two-stage"). The same sizes serve both layouts.
const ASR_1603_FLASH: FlashSpec = { ...NOR, slotSize: 1 * MiB, packageSize: 320 * KiB, recoverySize: 192 * KiB };

// Unisoc 8910 (EC600U family): we model it with two application slots ("ab"). Justification:
// - Its httpDownload blocks and returns 0 only once the package is "downloaded and verified"; with
//   ab that means the whole new image has been written into the inactive slot and read back against
//   its SHA-256 before the script sees 0, which is the strongest reading of the documented return.
// - Local upgrade (write / flush / verify) is documented on this family; a failed verify leaves the
//   running slot untouched [D][I]. (Local upgrade stages the package in the package area.)
// - No boot-time rewrite of the running image means a power cut can never catch the install half
//   done, and an unconfirmed new image rolls back to the previous slot: the family where the
//   virtual module shows rollback. The real modules install in place and reboot several times; the
//   results a script observes (return codes, callbacks, version after the reboot) are the same.
// "inplace" is offered as the second choice for a faithful single-slot 8910.
const UNISOC_8910_FLASH: FlashSpec = { ...NOR, slotSize: 1 * MiB, packageSize: 1 * MiB + 8 * KiB };

// Qualcomm MDM9205 (BG95): DFOTA in place, like the module's RESTORE phase that resumes after a
// power loss at the next power-on (P4 in the spec).
const QUALCOMM_FLASH: FlashSpec = { ...NOR, slotSize: 1 * MiB, packageSize: 512 * KiB };

// ASR 1803S (EC200A, Cat 4): a bigger flash; in-place DFOTA with a roomy package area.
const ASR_1803S_FLASH: FlashSpec = { ...NOR, slotSize: 2 * MiB, packageSize: 1 * MiB };

// BC25 (NB-IoT): tiny flash, in-place DFOTA with a small package area (deltas are what fit).
const NBIOT_FLASH: FlashSpec = { ...NOR, slotSize: 512 * KiB, packageSize: 128 * KiB };

type CallTable = Readonly<Record<FotaCall, CallSupport>>;
const calls = (localUpgrade: boolean, qualcomm: boolean): CallTable =>
  Object.freeze({
    httpDownload: "present",
    apn_set: qualcomm ? "present" : "absent",
    download_cancel: qualcomm ? "present" : "absent",
    write: localUpgrade ? "present" : "fails",
    flush: localUpgrade ? "present" : "fails",
    verify: localUpgrade ? "present" : "fails",
  });

function asr1603(model: string, sysname: string, imeiPrefix: string, localUpgrade: boolean): ModelProfile {
  return {
    model,
    family: "ASR 1603",
    platform: "ASR",
    sysname,
    calls: calls(localUpgrade, false),
    httpDownload: "async",
    resetDisableHonoured: false,
    schemes: ["http", "https"],
    miniFota: true,
    localUpgrade,
    strategies: ["inplace", "two-stage"],
    flash: ASR_1603_FLASH,
    imeiPrefix,
    link: "lte-cat1",
  };
}

function unisoc(model: string, sysname: string, imeiPrefix: string): ModelProfile {
  return {
    model,
    family: "Unisoc 8910",
    platform: "Unisoc",
    sysname,
    calls: calls(true, false),
    httpDownload: "blocking",
    resetDisableHonoured: true,
    schemes: ["http", "https"],
    miniFota: false,
    localUpgrade: true,
    strategies: ["ab", "inplace"],
    flash: UNISOC_8910_FLASH,
    imeiPrefix,
    link: "lte-cat1",
  };
}

const PROFILE_LIST: readonly ModelProfile[] = [
  // ASR 1603: local upgrade is documented for the EC600N CNLC/CNLF variants (the ones we model
  // under EC600N) and for EG912N; not for EC800N or the M series.
  asr1603("EC600N", "EC600N-CNLC", "86118606", true),
  asr1603("EC800N", "EC800N-CNLA", "86118607", false),
  asr1603("EG912N", "EG912N-ENAA", "86118608", true),
  asr1603("EC600M", "EC600M-CNLA", "86118609", false),
  asr1603("EC800M", "EC800M-CNGA", "86118610", false),
  asr1603("EG810M", "EG810M-EUAA", "86118611", false),
  unisoc("EC600U", "EC600U-CNLB", "86118620"),
  unisoc("EC200U", "EC200U-EUAB", "86118621"),
  unisoc("EG915U", "EG915U-EUAB", "86118622"),
  unisoc("EG912U", "EG912U-GLAA", "86118623"),
  {
    model: "BG95",
    family: "Qualcomm MDM9205",
    platform: "Qualcomm",
    sysname: "BG95-M3",
    calls: calls(false, true),
    httpDownload: "blocking",
    resetDisableHonoured: true,
    schemes: ["http", "https"],
    miniFota: false,
    localUpgrade: false,
    strategies: ["inplace"],
    flash: QUALCOMM_FLASH,
    imeiPrefix: "86118630",
    link: "lte-m",
  },
  {
    model: "EC200A",
    family: "ASR 1803S",
    platform: "ASR_1803S",
    sysname: "EC200A-CNDA",
    calls: calls(false, false),
    httpDownload: "blocking",
    resetDisableHonoured: true,
    schemes: ["http", "https", "ftp"],
    miniFota: false,
    localUpgrade: false,
    strategies: ["inplace"],
    flash: ASR_1803S_FLASH,
    imeiPrefix: "86118640",
    link: "lte-cat4",
  },
  {
    // The page groups BC25 with the modules whose return value only reports that the call was
    // accepted [D]; the platform passes reset_disable through (Eigen branch of the source) [S][I].
    model: "BC25",
    family: "NB-IoT",
    platform: "Eigen",
    sysname: "BC25-PA",
    calls: calls(false, false),
    httpDownload: "async",
    resetDisableHonoured: true,
    schemes: ["http", "https"],
    miniFota: false,
    localUpgrade: false,
    strategies: ["inplace"],
    flash: NBIOT_FLASH,
    imeiPrefix: "86118650",
    link: "nb-iot",
  },
];

/** Every profile, keyed by model name (upper case). */
export const PROFILES: Readonly<Record<string, ModelProfile>> = Object.freeze(
  Object.fromEntries(PROFILE_LIST.map((p) => [p.model, Object.freeze(p)])),
);

/** Model names in table order. */
export const MODELS: readonly string[] = Object.freeze(PROFILE_LIST.map((p) => p.model));

/** Looks a model up (case-insensitive); undefined when we have no profile for it. */
export function findProfile(model: string): ModelProfile | undefined {
  return PROFILES[model.trim().toUpperCase()];
}

/** Like findProfile, but an unknown model is a UsageError naming the models we have. */
export function requireProfile(model: string): ModelProfile {
  const p = findProfile(model);
  if (!p) throw new UsageError("not-supported", `no profile for model "${model}"; known models: ${MODELS.join(", ")}`);
  return p;
}

/** Default link throttle of a model's virtual module, in kbit/s. */
export function defaultLinkKbps(profile: ModelProfile): number {
  return LINKS[profile.link].kbps;
}

/** A 15-digit IMEI for a virtual module: TAC prefix, 6-digit serial, Luhn check digit. */
export function makeImei(profile: ModelProfile, serial: number): string {
  if (!Number.isInteger(serial) || serial < 0 || serial > 999_999) throw new RangeError(`IMEI serial ${serial} is not in 0..999999`);
  const body = profile.imeiPrefix + String(serial).padStart(6, "0");
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return body + String((10 - (sum % 10)) % 10);
}
