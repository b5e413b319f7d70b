// The boot sequence of a QuecPython virtual module, in the order the module's `_boot.py` runs it
// (../shared/spec §3): the bootloader (install or resume a pending firmware update, or roll back),
// the recovery system's mini FOTA stage two when one is pending, then the app_fota install of
// staged application files, and only then the application.

import type { BootResult, Device, Progress } from "../device/device.js";
import type { FetchOptions } from "../transport/index.js";
import { installStagedFiles, type InstallOps, type InstallReport } from "./app_fota.js";
import { runStageTwo } from "./engine.js";

export interface BootSequenceOptions {
  device: Device;
  /** Host directory of the module's /usr. */
  usrDir: string;
  /** Transport options of the recovery system's stage-two download (link, power signal...). */
  fetch?: FetchOptions;
  /**
   * QuecPython has no confirmation call, so by default a new firmware that the bootloader verified
   * and booted is confirmed at once ("auto"). "manual" leaves it on trial (it is rolled back at the
   * next reset unless the caller confirms it), for rollback demonstrations.
   */
  confirm?: "auto" | "manual";
  /** File operations of the app_fota install (tests inject power cuts here). */
  ops?: InstallOps;
  log?: (line: string) => void;
  /** The bootloader's install progress (image bytes durable in the slot, also after a resume). */
  onInstallProgress?: (p: Progress) => void;
}

export interface BootSequenceReport {
  /** Every bootloader run of this power-on (two with mini FOTA stage two: recovery, then app). */
  boots: BootResult[];
  /** The firmware the application runs on. */
  booted: BootResult;
  /** Mini FOTA stage two ran in this boot. */
  stageTwo: boolean;
  /** The new firmware was confirmed in this boot. */
  confirmed: boolean;
  appFota: InstallReport;
}

/** Powers the module on: bootloader, recovery stage two if pending, app_fota install. */
export async function bootSequence(opts: BootSequenceOptions): Promise<BootSequenceReport> {
  const log = opts.log ?? (() => {});
  const boots: BootResult[] = [];
  let booted = opts.device.boot(opts.onInstallProgress ? { onProgress: opts.onInstallProgress } : {});
  boots.push(booted);
  let stageTwo = false;
  if (booted.kind === "recovery") {
    log(`[boot] recovery system ${booted.image.version}: fetching mini FOTA stage two`);
    await runStageTwo(opts.device, opts.fetch ?? {});
    stageTwo = true;
    booted = opts.device.boot(opts.onInstallProgress ? { onProgress: opts.onInstallProgress } : {});
    boots.push(booted);
  }
  let confirmed = false;
  if (booted.kind === "app" && booted.trial && (opts.confirm ?? "auto") === "auto") {
    opts.device.confirm();
    booted = { ...booted, trial: false };
    confirmed = true;
  }
  if (booted.installed || stageTwo) log(`[boot] firmware ${booted.image.version} installed and booted`);
  const appFota = installStagedFiles(opts.usrDir, { ...(opts.ops ? { ops: opts.ops } : {}), log });
  return { boots, booted, stageTwo, confirmed, appFota };
}
