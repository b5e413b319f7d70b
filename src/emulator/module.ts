// A virtual module on disk: its state directory holds everything that survives power off.
//
//   DIR/module.json   model, layout choice, identity, trusted keys (PEM), power history, wear
//   DIR/flash.bin     the raw flash (SimFlash contents; the bootloader's state lives in it)
//   DIR/usr/          the module's /usr file system, shared with the host
//
// The flash is a SimFlash loaded at power on and written back at power off, also after a simulated
// power cut (then it stays exactly as the cut left it).

import * as fs from "node:fs";
import * as path from "node:path";
import { StateError, StorageError, UsageError } from "../errors.js";
import { openPayloadDecoder } from "../delta/index.js";
import type { Device, BootResult, DeviceStatus, Progress } from "../device/device.js";
import { SimFlash, type FlashCounters, type FlashOpEvent } from "../device/flash.js";
import type { FetchOptions } from "../transport/index.js";
import { loadTrustedKey } from "../format/keys.js";
import { provisionModule, openModule } from "../quecpython/engine.js";
import { requireProfile, makeImei, type ModelProfile, type StrategyName } from "../quecpython/profiles.js";
import { bootSequence } from "../quecpython/boot.js";
import type { ModuleIdentity } from "./host.js";

export const MODULE_FILE = "module.json";
export const FLASH_FILE = "flash.bin";
export const USR_DIR = "usr";

/** Marker a firmware image may carry to fail its first-boot self test (to show rollback). */
export const SELFTEST_FAIL_MARKER = "FOTA-SELFTEST-FAIL";

export type PowerOff = "none" | "restart" | "power-down" | "power-cut";

export interface ModuleRecord {
  format: 1;
  model: string;
  strategy: StrategyName;
  serial: number;
  imei: string;
  /** Trusted public keys (PEM or the key file's text). */
  trust: string[];
  created: string;
  /** How the module last lost power (sets misc.Power.powerOnReason()). */
  lastPowerOff: PowerOff;
  powerOns: number;
  /** Flash operations over the module's life. */
  wear: FlashCounters & { maxSectorErases: number };
  /** Erase count of every sector. */
  sectorErases: number[];
}

export interface CreateOptions {
  stateDir: string;
  model: string;
  firmware: Uint8Array;
  version: string;
  trust: string[];
  strategy?: StrategyName;
  securityCounter?: number;
  recovery?: { image: Uint8Array; version: string };
  force?: boolean;
}

export interface PowerOnOptions {
  /** Cut the power after this many flash operations (erase/program) from power on. */
  powerCutAfterOps?: number;
  torn?: boolean;
  /** Progress lines of the bootloader (install) on this sink. */
  onBootProgress?: (line: string) => void;
}

export interface BootReport {
  boot: BootResult;
  /** The firmware was new and passed its self test (confirmed), or failed it (rolled back). */
  confirmed: boolean;
  rolledBack: boolean;
  /** Mini FOTA stage two ran in the recovery system during this boot. */
  stageTwo: boolean;
  appFota: string[];
}

function zeroWear(): ModuleRecord["wear"] {
  return { erases: 0, programs: 0, reads: 0, bytesErased: 0, bytesProgrammed: 0, bytesRead: 0, maxSectorErases: 0 };
}

/** Reads a state directory's module record (StateError when there is none). */
export function readRecord(stateDir: string): ModuleRecord {
  const file = path.join(stateDir, MODULE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new StateError("no-image", `${stateDir} holds no virtual module (no ${MODULE_FILE}); create one with \`fota device create --state ${stateDir} ...\``);
  }
  try {
    const r = JSON.parse(text) as ModuleRecord;
    if (r.format !== 1 || typeof r.model !== "string") throw new Error("unknown format");
    return r;
  } catch (e) {
    throw new StorageError("io-failed", `${file} is damaged: ${(e as Error).message}`);
  }
}

/** A virtual module powered on: its flash in memory, its Device over it. */
export class VirtualModule {
  readonly profile: ModelProfile;
  readonly flash: SimFlash;
  readonly device: Device;
  private readonly startCounters: FlashCounters;
  private opsThisPowerOn = 0;
  private progressSink: ((op: FlashOpEvent) => void) | undefined;

  private constructor(
    readonly stateDir: string,
    readonly record: ModuleRecord,
    flash: SimFlash,
    device: Device,
  ) {
    this.profile = requireProfile(record.model);
    this.flash = flash;
    this.device = device;
    this.startCounters = { ...flash.counters };
  }

  get usrDir(): string {
    return path.join(this.stateDir, USR_DIR);
  }

  /** Flash operations (erase + program) since this power on. */
  get ops(): number {
    return this.opsThisPowerOn;
  }

  /** Provision a new module in `stateDir` (flash laid out per the model's profile, IMG confirmed). */
  static create(o: CreateOptions): ModuleRecord {
    const profile = requireProfile(o.model);
    const strategy = o.strategy ?? profile.strategies[0]!;
    if (fs.existsSync(path.join(o.stateDir, MODULE_FILE)) && !o.force) {
      throw new UsageError("file-exists", `${o.stateDir} already holds a virtual module; pass --force to replace it`);
    }
    if (o.trust.length === 0) throw new UsageError("bad-argument", "a virtual module needs at least one trusted key (--trust KEYFILE.pub)");
    o.trust.forEach((k, i) => loadTrustedKey(k, `trusted key ${i + 1}`));
    fs.mkdirSync(path.join(o.stateDir, USR_DIR), { recursive: true });
    const serial = Math.floor(Math.random() * 1_000_000);
    const device = provisionModule({
      profile,
      strategy,
      image: o.firmware,
      version: o.version,
      trustedKeys: o.trust,
      openDecoder: (m, base) => openPayloadDecoder(m, base),
      ...(o.securityCounter !== undefined ? { securityCounter: o.securityCounter } : {}),
      ...(o.recovery ? { recoveryImage: o.recovery } : {}),
    });
    const flash = device.flash as SimFlash;
    const record: ModuleRecord = {
      format: 1,
      model: profile.model,
      strategy,
      serial,
      imei: makeImei(profile, serial),
      trust: o.trust,
      created: new Date().toISOString(),
      lastPowerOff: "none",
      powerOns: 0,
      wear: zeroWear(),
      sectorErases: new Array(flash.geometry.size / flash.geometry.sectorSize).fill(0),
    };
    flash.persist(path.join(o.stateDir, FLASH_FILE));
    writeRecord(o.stateDir, record);
    return record;
  }

  /** Power on: load the flash (arming a power cut if asked). Call boot() next. */
  static powerOn(stateDir: string, opts: PowerOnOptions = {}): VirtualModule {
    const record = readRecord(stateDir);
    const profile = requireProfile(record.model);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(fs.readFileSync(path.join(stateDir, FLASH_FILE)));
    } catch (e) {
      throw new StorageError("io-failed", `cannot read ${path.join(stateDir, FLASH_FILE)}: ${(e as Error).message}`);
    }
    const holder: { m?: VirtualModule } = {};
    const flash = new SimFlash(
      { size: bytes.length, sectorSize: profile.flash.sectorSize, pageSize: profile.flash.pageSize, writeAlign: profile.flash.writeAlign, onOp: (op) => holder.m?.onOp(op) },
      bytes,
    );
    if (opts.powerCutAfterOps !== undefined) flash.schedulePowerCut({ afterOps: opts.powerCutAfterOps, tear: opts.torn ?? false });
    const device = openModule({ profile, strategy: record.strategy, flash, trustedKeys: record.trust, openDecoder: (m, base) => openPayloadDecoder(m, base) });
    const self = new VirtualModule(stateDir, record, flash, device);
    holder.m = self;
    fs.mkdirSync(self.usrDir, { recursive: true });
    return self;
  }

  private onOp(op: FlashOpEvent): void {
    this.opsThisPowerOn++;
    if (op.kind === "erase") {
      const s = Math.floor(op.offset / this.flash.geometry.sectorSize);
      this.record.sectorErases[s] = (this.record.sectorErases[s] ?? 0) + 1;
    }
    this.progressSink?.(op);
  }

  /** The power-on reason misc.Power.powerOnReason() reports after the last power off. */
  powerOnReason(): number {
    return { none: 1, restart: 2, "power-down": 1, "power-cut": 3 }[this.record.lastPowerOff];
  }

  identity(): ModuleIdentity {
    const booted = this.device.booted;
    return {
      model: this.record.model,
      firmwareVersion: booted ? booted.image.version : "unknown",
      imei: this.record.imei,
      serial: String(this.record.serial).padStart(6, "0"),
      powerOnReason: this.powerOnReason(),
    };
  }

  /**
   * The boot ROM + bootloader: finish or resume a pending install (with progress), run mini FOTA's
   * stage two in the recovery system, self-test a new image (confirm it, or reset so the bootloader
   * rolls it back), then the app_fota step of the boot. Power cuts pass through (PowerCut).
   */
  async boot(opts: { fetch?: FetchOptions; onProgress?: (line: string) => void } = {}): Promise<BootReport> {
    const say = opts.onProgress ?? (() => {});
    // The module's boot order is src/quecpython's bootSequence; we add install progress and the
    // first-boot self test of a new image (confirm, or reset so the bootloader rolls it back).
    const seq = await this.withInstallProgress(say, (onInstallProgress) =>
      bootSequence({ device: this.device, usrDir: this.usrDir, confirm: "manual", log: say, onInstallProgress, ...(opts.fetch ? { fetch: opts.fetch } : {}) }),
    );
    const report: BootReport = { boot: seq.booted, confirmed: false, rolledBack: seq.boots.some((b) => b.rolledBack), stageTwo: seq.stageTwo, appFota: seq.appFota.installed };
    const r = seq.booted;
    if (r.trial && r.kind === "app") {
      if (this.selfTestPasses(r)) {
        this.device.confirm();
        report.confirmed = true;
        report.boot = this.device.booted!;
      } else {
        say(`firmware ${r.image.version} failed its self test; resetting`);
        report.boot = this.device.boot();
        report.rolledBack = report.boot.rolledBack || report.rolledBack;
      }
    }
    return report;
  }

  private async withInstallProgress<T>(say: (line: string) => void, run: (onInstallProgress: (p: Progress) => void) => Promise<T>): Promise<T> {
    const st = this.device.status();
    const target = st.target;
    if (!((st.state === "pending" || st.state === "installing") && target !== undefined)) return run(() => {});
    const total = target.size;
    let done = 0;
    let shown = -1;
    // An install that a power cut interrupted resumes ("installing"): nothing is shown until the
    // bootloader reports how much of the image is already in the slot, so the lines go on from there
    // instead of starting again at 0%.
    let known = st.state === "pending";
    const show = (): void => {
      if (!known) return;
      const pct = Math.min(100, Math.floor((done * 100) / Math.max(1, total)));
      if (pct >= shown + 10) {
        shown = pct - (pct % 10);
        say(`bootloader: installing ${target.version}: ${shown}%`);
      }
    };
    // Only bytes programmed into an application slot are the image being installed; the journal in
    // the boot state and the in-place install's scratch copies (as many bytes again) are not progress.
    const slots = this.device.layout.slots;
    const inSlot = (op: FlashOpEvent) => slots.some((r) => op.offset >= r.offset && op.offset < r.offset + r.size);
    say(`bootloader: update to ${target.version} ${known ? "pending" : "resumed after a power cut"} (${this.device.layout.strategy} layout)`);
    this.progressSink = (op) => {
      if (op.kind !== "program" || !inSlot(op)) return;
      done += op.length;
      show();
    };
    // the bootloader's own figure counts what earlier power-ons wrote too
    const onInstallProgress = (p: Progress): void => {
      if (p.phase !== "install") return;
      known = true;
      done = Math.max(done, p.done);
      show();
    };
    try {
      return await run(onInstallProgress);
    } finally {
      this.progressSink = undefined;
    }
  }

  private selfTestPasses(r: BootResult): boolean {
    const area = this.device.areas.slots[Number(r.area.slice(4))];
    if (!area) return true;
    const marker = Buffer.from(SELFTEST_FAIL_MARKER);
    const chunk = 64 * 1024;
    for (let off = 0; off < r.image.size; off += chunk - marker.length) {
      const len = Math.min(chunk, r.image.size - off);
      if (Buffer.from(area.read(off, len)).includes(marker)) return false;
    }
    return true;
  }

  status(): DeviceStatus {
    return this.device.status();
  }

  /** Cut the power now (between flash operations): work still under way can no longer touch the flash. */
  cut(): void {
    try {
      this.flash.cutNow();
    } catch {
      // cutNow always throws the PowerCut it records
    }
  }

  /** Power off: write the flash and the record back (after a cut, exactly as the cut left them). */
  powerOff(how: PowerOff): void {
    const c = this.flash.counters;
    const w = this.record.wear;
    for (const k of ["erases", "programs", "reads", "bytesErased", "bytesProgrammed", "bytesRead"] as const) w[k] += c[k] - this.startCounters[k];
    w.maxSectorErases = Math.max(0, ...this.record.sectorErases);
    this.record.lastPowerOff = how;
    this.record.powerOns++;
    this.flash.persist(path.join(this.stateDir, FLASH_FILE));
    writeRecord(this.stateDir, this.record);
  }
}

function writeRecord(stateDir: string, r: ModuleRecord): void {
  const file = path.join(stateDir, MODULE_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(r, null, 2) + "\n");
  fs.renameSync(tmp, file);
}

/** Everything `fota device info` shows, from the flash alone (no boot). */
export interface ModuleInfo {
  model: string;
  strategy: StrategyName;
  imei: string;
  firmware: { version: string; sha256: string; size: number; slot: string } | null;
  slots: Array<{ slot: string; state: string; version?: string; sha256?: string; size?: number }>;
  recovery?: { state: string; version?: string };
  securityCounter: number;
  update: { state: string; lwm2mState: number; lwm2mResult: number; reason?: string; target?: string };
  wear: ModuleRecord["wear"] & { sectors: number };
  powerOns: number;
  lastPowerOff: PowerOff;
}

export function moduleInfo(stateDir: string): ModuleInfo {
  const m = VirtualModule.powerOn(stateDir);
  const st = m.status();
  const active = st.slots[st.active];
  const info: ModuleInfo = {
    model: m.record.model,
    strategy: m.record.strategy,
    imei: m.record.imei,
    firmware: active?.image ? { version: active.image.version, sha256: active.image.sha256, size: active.image.size, slot: `slot${st.active}` } : null,
    slots: st.slots.map((s, i) => ({ slot: `slot${i}`, state: s.state, ...(s.image ? { version: s.image.version, sha256: s.image.sha256, size: s.image.size } : {}) })),
    securityCounter: st.securityCounter,
    update: { state: st.state, lwm2mState: st.lwm2m.state, lwm2mResult: st.lwm2m.result, ...(st.reason ? { reason: st.reason } : {}), ...(st.target ? { target: st.target.version } : {}) },
    wear: { ...m.record.wear, sectors: m.record.sectorErases.length },
    powerOns: m.record.powerOns,
    lastPowerOff: m.record.lastPowerOff,
  };
  if (st.recovery) info.recovery = { state: st.recovery.state, ...(st.recovery.image ? { version: st.recovery.image.version } : {}) };
  return info;
}
