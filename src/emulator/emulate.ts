// `fota emulate` and `fota device boot` as library calls: power a virtual module on, boot it, run
// the application script on MicroPython, and on restart boot again (installing the update) before
// powering off. Every power off (restart, end, cut) writes the flash back to the state directory.

import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { DEFAULT_CONFIG } from "../config.js";
import { UsageError } from "../errors.js";
import { isPowerCut } from "../device/flash.js";
import type { FetchOptions } from "../transport/index.js";
import { QUECPYTHON_MODULES, moduleFetchers } from "../quecpython/modules.js";
import { defaultLinkKbps } from "../quecpython/profiles.js";
import { VirtualClock, createLinkThrottle } from "./clock.js";
import { registeredHostModules, type HostModule } from "./host.js";
import { VirtualModule, type BootReport } from "./module.js";
import { PythonSession, type SessionEnd } from "./runtime.js";

export interface PowerOptions {
  stateDir: string;
  /** kbit/s of the module's link (default: the model's link class; 0 = unthrottled). */
  linkKbps?: number;
  clockSpeed?: number;
  powerCutAfterOps?: number;
  torn?: boolean;
  netOff?: boolean;
  /** Bootloader and summary lines (default: stderr). */
  onLine?: (line: string) => void;
}

export interface EmulateOptions extends PowerOptions {
  scriptPath: string;
  /** Stop the module after this much virtual time (seconds). */
  timeoutS?: number;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Host modules besides the built-ins (default: fota, app_fota and every registered module). */
  modules?: HostModule[];
}

export interface EmulateResult {
  exitCode: number;
  /** The one-line summary printed last. */
  summary: string;
  end: SessionEnd["kind"] | "boot-power-cut";
  /** Version booted at power on, and at the end (after a restart). */
  fromVersion?: string;
  toVersion?: string;
  flashOps: number;
}

export const EXIT_POWER_CUT = DEFAULT_CONFIG.emulator.powerCutExitCode;
export const EXIT_TIMEOUT = DEFAULT_CONFIG.emulator.timeoutExitCode;

interface Power {
  clock: VirtualClock;
  linkKbps: number | undefined;
  fetch: FetchOptions;
  say: (line: string) => void;
}

function powerSetup(o: PowerOptions, m: VirtualModule): Power {
  const clock = new VirtualClock(o.clockSpeed ?? 1);
  const kbps = o.linkKbps ?? defaultLinkKbps(m.profile);
  const linkKbps = kbps > 0 ? kbps : undefined;
  const throttle = createLinkThrottle(clock, linkKbps);
  const fetch: FetchOptions = { fetchers: moduleFetchers({ networkUp: !o.netOff, throttle }) };
  return { clock, linkKbps, fetch, say: o.onLine ?? ((l) => process.stderr.write(l + "\n")) };
}

function bootLine(r: BootReport): string {
  const b = r.boot;
  const what = b.kind === "recovery" ? "recovery system" : `firmware ${b.image.version}`;
  const extra = [r.confirmed ? "new image confirmed" : "", r.rolledBack ? "rolled back" : "", r.stageTwo ? "mini FOTA stage two done" : "", r.appFota.length ? `app_fota installed ${r.appFota.length} file(s)` : ""].filter(Boolean);
  return `${what} (sha256 ${b.image.sha256.slice(0, 16)}…, ${b.area})${extra.length ? "; " + extra.join(", ") : ""}`;
}

function cutBudget(o: PowerOptions, used: number): number | undefined {
  return o.powerCutAfterOps === undefined ? undefined : Math.max(0, o.powerCutAfterOps - used);
}

function powerCutResult(o: PowerOptions, m: VirtualModule, usedBefore: number, say: (l: string) => void, end: EmulateResult["end"], from?: string): EmulateResult {
  m.powerOff("power-cut");
  // The cut operation itself was counted as it started; it did not complete.
  const ops = o.powerCutAfterOps ?? usedBefore + m.ops;
  const summary = `fota: power cut after ${ops} flash operations${o.torn ? " (the next one torn)" : ""}; the flash stays as the cut left it (run \`fota device boot\` to power on)`;
  say(summary);
  return { exitCode: EXIT_POWER_CUT, summary, end, ...(from ? { fromVersion: from } : {}), flashOps: ops };
}

/** `fota device boot`: power on, bootloader (recovery, install), self test, app_fota step; power off. */
export async function bootModule(o: PowerOptions): Promise<EmulateResult> {
  const m = VirtualModule.powerOn(o.stateDir, { ...(o.powerCutAfterOps !== undefined ? { powerCutAfterOps: o.powerCutAfterOps, torn: o.torn ?? false } : {}) });
  const p = powerSetup(o, m);
  try {
    const r = await m.boot({ fetch: p.fetch, onProgress: p.say });
    m.powerOff("power-down");
    const summary = `fota: ${m.record.model} booted ${bootLine(r)}; ${m.ops} flash operations`;
    p.say(summary);
    return { exitCode: 0, summary, end: "ended", toVersion: r.boot.image.version, flashOps: m.ops };
  } catch (e) {
    if (isPowerCut(e)) return powerCutResult(o, m, 0, p.say, "boot-power-cut");
    m.powerOff("power-down");
    throw e;
  }
}

/** `fota emulate`: run SCRIPT.py as the module's application (see docs/emulator.md). */
export async function emulate(o: EmulateOptions): Promise<EmulateResult> {
  let source: string;
  try {
    source = readFileSync(o.scriptPath, "utf8");
  } catch (e) {
    throw new UsageError("bad-argument", `cannot read script ${o.scriptPath}: ${(e as Error).message}`);
  }
  let m = VirtualModule.powerOn(o.stateDir, { ...(o.powerCutAfterOps !== undefined ? { powerCutAfterOps: o.powerCutAfterOps, torn: o.torn ?? false } : {}) });
  const p = powerSetup(o, m);
  let first: BootReport;
  try {
    first = await m.boot({ fetch: p.fetch, onProgress: p.say });
  } catch (e) {
    if (isPowerCut(e)) return powerCutResult(o, m, 0, p.say, "boot-power-cut");
    m.powerOff("power-down");
    throw e;
  }
  const fromVersion = first.boot.image.version;
  const session = new PythonSession({
    script: { name: basename(o.scriptPath), source },
    usrDir: m.usrDir,
    identity: m.identity(),
    clock: p.clock,
    modules: o.modules ?? [...QUECPYTHON_MODULES, ...registeredHostModules()],
    networkUp: !o.netOff,
    ...(p.linkKbps !== undefined ? { linkKbps: p.linkKbps } : {}),
    extras: { device: m.device, fetch: {} },
    ...(o.stdout ? { stdout: o.stdout } : {}),
    ...(o.stderr ? { stderr: o.stderr } : {}),
    ...(o.timeoutS !== undefined ? { timeoutMs: o.timeoutS * 1000 } : {}),
  });
  // Ctrl-C powers the module down cleanly (the flash is saved as it is between two operations).
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
    session.end({ kind: "power-down" });
  };
  process.once("SIGINT", onInterrupt);
  const end = await session.start().finally(() => process.off("SIGINT", onInterrupt));
  const status = "status" in end && typeof end.status === "number" ? end.status : 0;

  if (end.kind === "power-cut") return powerCutResult(o, m, 0, p.say, "power-cut", fromVersion);
  // Power goes off now: work still under way (a download) can no longer touch the flash.
  m.cut();
  if (end.kind === "crashed") {
    m.powerOff("power-down");
    throw new Error(`the virtual module's interpreter failed: ${end.message}`);
  }
  if (end.kind !== "restart") {
    m.powerOff("power-down");
    const why = interrupted
      ? "powered down (interrupted)"
      : end.kind === "timeout"
        ? `stopped after ${o.timeoutS} s of virtual time`
        : end.kind === "power-down"
          ? "powered down by the script"
          : "script ended, nothing left running";
    const summary = `fota: ${m.record.model} ${why}; firmware ${fromVersion} (no restart); ${m.ops} flash operations`;
    p.say(summary);
    return { exitCode: interrupted ? 130 : end.kind === "timeout" ? EXIT_TIMEOUT : status, summary, end: end.kind, fromVersion, toVersion: fromVersion, flashOps: m.ops };
  }

  // Restart: a fresh power-on over the same flash; the bootloader installs what was armed.
  p.say(`fota: restart (${end.note ?? end.by})`);
  const used = m.ops;
  m.powerOff("restart");
  m = VirtualModule.powerOn(o.stateDir, { ...(o.powerCutAfterOps !== undefined ? { powerCutAfterOps: cutBudget(o, used)!, torn: o.torn ?? false } : {}) });
  let second: BootReport;
  try {
    second = await m.boot({ fetch: p.fetch, onProgress: p.say });
  } catch (e) {
    if (isPowerCut(e)) return powerCutResult(o, m, used, p.say, "boot-power-cut", fromVersion);
    m.powerOff("power-down");
    throw e;
  }
  // The command ends with the module just restarted: the next run sees powerOnReason() 2 (RESET).
  m.powerOff("restart");
  const toVersion = second.boot.image.version;
  const st = m.status();
  const change = toVersion === fromVersion ? `still ${toVersion}` : `${fromVersion} -> ${toVersion}`;
  const summary = `fota: ${m.record.model} restarted and booted ${bootLine(second)}; ${change}; update result ${st.lwm2m.result}; ${used + m.ops} flash operations`;
  p.say(summary);
  return { exitCode: status, summary, end: "restart", fromVersion, toVersion, flashOps: used + m.ops };
}
