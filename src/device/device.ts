// The device: one object over a flash device and a layout, holding nothing that matters outside the
// flash (drop it at any moment, make a new one over the same flash, call boot()). Updates arrive as
// a stream of package bytes (install), through the local-upgrade calls (write/flush/verify), or, on
// two-stage layouts, as stage two fetched by the recovery system. The bootloader model is boot().

import { createHash } from "node:crypto";
import { DEFAULT_CONFIG } from "../config.js";
import { CancelledError, StateError, FotaError, LWM2M_RESULT, type Reason, isFotaError } from "../errors.js";
import { isPowerCut, type Flash, type FlashCounters } from "./flash.js";
import { LWM2M_STATE_OF, findTransition, nextUpdate, type UpdateEvent, type UpdateState } from "./flow.js";
import { hashArea } from "./io.js";
import { openAreas, type Areas, type Layout, type StrategyName } from "./layout.js";
import type { PackageFacts, PackageOpener } from "./package.js";
import { BootStore, dropUpdateWork, type BootState, type ImageInfo, type SlotRecord } from "./state.js";
import * as ab from "./strategies/ab.js";
import * as inplace from "./strategies/inplace.js";
import * as twoStage from "./strategies/two-stage.js";
import { LocalUpgrade } from "./local.js";
import { PackageDownload } from "./download.js";

/** A package as a stream of byte chunks of any size. */
export type ByteSource = Iterable<Uint8Array> | AsyncIterable<Uint8Array>;

export interface Progress {
  phase: "download" | "verify" | "install" | "stage-two";
  /** Bytes done in this phase (package bytes for download, image bytes otherwise). */
  done: number;
  /** Total when known. */
  total?: number;
}

export interface InstallOptions {
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Two-stage: where the recovery system fetches stage two from (e.g. url2). Required there. */
  stageTwo?: string;
  /**
   * The package's size in bytes when the caller knows it up front (e.g. Content-Length): a package
   * that cannot fit the package area is then refused before the first byte is read.
   */
  size?: number;
}

export interface DeviceOptions {
  flash: Flash;
  layout: Layout;
  /** This device's model name (packages name the models they are for). */
  model: string;
  /** Turns raw package bytes into verified image bytes (FORMAT + DELTA; see formatPipe.ts). */
  openPackage: PackageOpener;
  /** Trial boots a new image gets before it is rolled back (default config.device.maxAttempts = 1). */
  maxAttempts?: number;
  /** Full-image inplace installs journal their progress every N sectors (default config.device.journalEvery). */
  journalEvery?: number;
  /** Clock for expiry checks (ms since epoch). */
  now?: () => number;
}

export interface BootResult {
  /** The area booted: "slot0", "slot1" or "recovery". */
  area: string;
  kind: "app" | "recovery";
  image: ImageInfo;
  /** A new image on trial (confirm() it, or it is rolled back where a previous image is kept). */
  trial: boolean;
  /** An install ran during this boot (inplace). */
  installed: boolean;
  /** This boot rolled back an unconfirmed image. */
  rolledBack: boolean;
}

export interface DeviceStatus {
  strategy: StrategyName;
  state: UpdateState;
  /** LwM2M Update Result (5/0/5) of the last update or refusal. */
  result: number;
  reason?: string;
  lwm2m: { state: number; result: number };
  securityCounter: number;
  active: number;
  slots: SlotRecord[];
  recovery?: SlotRecord;
  booted?: BootResult;
  /** Version of the image armed or being installed, if any. */
  target?: ImageInfo;
  stageTwo?: string;
  boots: number;
  /** Flash operation counters of this device object's flash since it was opened (wear). */
  flash: FlashCounters;
}

export interface ProvisionOptions extends Omit<DeviceOptions, "openPackage"> {
  openPackage?: PackageOpener;
  image: Uint8Array;
  version: string;
  securityCounter?: number;
  /** Two-stage: an initial recovery system image. */
  recoveryImage?: { image: Uint8Array; version: string };
}

const IN_DOWNLOAD: UpdateState[] = ["downloading", "downloaded", "verifying"];

export class Device {
  readonly flash: Flash;
  readonly layout: Layout;
  readonly model: string;
  readonly areas: Areas;
  readonly store: BootStore;
  readonly maxAttempts: number;
  readonly journalEvery: number;
  readonly openPackage: PackageOpener;
  readonly now: () => number;
  private _state: BootState;
  private _booted: BootResult | undefined;
  /** A refusal or failure that was not persisted (e.g. refused before any flash write). */
  private ramResult: { result: number; reason: string } | undefined;
  private busy = false;
  /** @internal Progress callback of the boot in progress (installs at boot report through it). */
  bootProgress: ((p: Progress) => void) | undefined;

  constructor(opts: DeviceOptions) {
    this.flash = opts.flash;
    this.layout = opts.layout;
    this.model = opts.model;
    this.openPackage = opts.openPackage;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? DEFAULT_CONFIG.device.maxAttempts);
    this.journalEvery = Math.max(1, opts.journalEvery ?? DEFAULT_CONFIG.device.journalEvery);
    this.now = opts.now ?? Date.now;
    this.areas = openAreas(opts.flash, opts.layout);
    this.store = new BootStore(this.areas.state);
    const loaded = this.store.load();
    if (!loaded) throw new StateError("no-image", "this flash holds no boot state: provision the device first (Device.provision / fota device create)");
    this._state = loaded.state;
  }

  /** Write a factory image (confirmed) and a fresh boot state; returns the device (not booted). */
  static provision(opts: ProvisionOptions): Device {
    const areas = openAreas(opts.flash, opts.layout);
    const slot = areas.slots[0]!;
    writeWhole(slot, opts.image);
    const image: ImageInfo = { size: opts.image.length, sha256: sha256Hex(opts.image), version: opts.version, securityCounter: opts.securityCounter ?? 0 };
    const state: BootState = {
      format: 1,
      securityCounter: opts.securityCounter ?? 0,
      active: 0,
      slots: opts.layout.slots.map((_, i) => (i === 0 ? { state: "confirmed", image } : { state: "empty" })),
      update: { state: "idle", result: LWM2M_RESULT.INITIAL },
      boots: 0,
    };
    if (areas.recovery) {
      if (opts.recoveryImage) {
        writeWhole(areas.recovery, opts.recoveryImage.image);
        const r = opts.recoveryImage;
        state.recovery = { state: "confirmed", image: { size: r.image.length, sha256: sha256Hex(r.image), version: r.version, securityCounter: 0 } };
      } else state.recovery = { state: "empty" };
    }
    const store = new BootStore(areas.state);
    store.load();
    store.save(state);
    const openPackage = opts.openPackage ?? (() => {
      throw new StateError("bad-transition", "no package opener configured for this device");
    });
    return new Device({ ...opts, openPackage });
  }

  // ----------------------------------------------------------------------------------- status

  /** Persisted state (a copy). */
  get state(): BootState {
    return structuredClone(this._state);
  }
  get booted(): BootResult | undefined {
    return this._booted;
  }

  status(): DeviceStatus {
    const s = this._state;
    const result = this.ramResult?.result ?? s.update.result;
    const reason = this.ramResult?.reason ?? s.update.reason;
    const st: DeviceStatus = {
      strategy: this.layout.strategy,
      state: s.update.state,
      result,
      lwm2m: { state: LWM2M_STATE_OF[s.update.state], result },
      securityCounter: s.securityCounter,
      active: s.active,
      slots: structuredClone(s.slots),
      boots: s.boots,
      flash: { ...this.flash.counters },
    };
    if (reason !== undefined) st.reason = reason;
    if (s.recovery) st.recovery = structuredClone(s.recovery);
    if (this._booted) st.booted = structuredClone(this._booted);
    if (s.update.target) st.target = structuredClone(s.update.target);
    if (s.stageTwo) st.stageTwo = s.stageTwo.locator;
    return st;
  }

  // ----------------------------------------------------------------------------------- updates

  /**
   * Take a package as a stream of chunks and arm it: afterwards the update is pending and the next
   * boot() installs/boots it. Everything is checked before the first flash write.
   */
  async install(source: ByteSource, opts: InstallOptions = {}): Promise<void> {
    await this.guard(async () => {
      this.assertCanStart();
      switch (this.layout.strategy) {
        case "ab":
          return ab.install(this, source, opts);
        case "inplace":
          return inplace.install(this, source, opts);
        case "two-stage":
          return twoStage.install(this, source, opts);
      }
    });
  }

  /**
   * A resumable download into the package area: `sink` and `journal` have the shapes of TRANSPORT's
   * ByteSink and DownloadJournal (pass them to fetchTo); after a power cut, a new Device's download()
   * continues from the last journaled chunk. finish() verifies and arms.
   */
  download(): PackageDownload {
    return new PackageDownload(this);
  }

  /** Local upgrade: write(bytes, totalSize) in any chunk sizes, flush(), verify(). */
  localUpgrade(): LocalUpgrade {
    return new LocalUpgrade(this);
  }

  /**
   * The bootloader: read the state, finish or resume a pending install, handle trial boots and
   * rollback, verify the image (size + SHA-256) and "boot" it.
   */
  boot(opts: { onProgress?: (p: Progress) => void } = {}): BootResult {
    this.bootProgress = opts.onProgress;
    this._booted = undefined;
    this.ramResult = undefined;
    let r: BootResult;
    switch (this.layout.strategy) {
      case "ab":
        r = ab.boot(this);
        break;
      case "inplace":
        r = inplace.boot(this);
        break;
      case "two-stage":
        r = twoStage.boot(this);
        break;
    }
    this._booted = r;
    return r;
  }

  /** Two-stage: run the recovery system (booted by boot()) to fetch and write stage two. */
  async runRecovery(fetch: (locator: string) => ByteSource, opts: Omit<InstallOptions, "stageTwo"> = {}): Promise<void> {
    if (this.layout.strategy !== "two-stage") throw new StateError("bad-transition", "only two-stage layouts have a recovery system");
    await this.guard(() => twoStage.runRecovery(this, fetch, opts), false);
  }

  /** Confirm the running trial image: it becomes the good image; the security counter is raised. */
  confirm(): void {
    const b = this._booted;
    if (!b || !b.trial || b.kind !== "app") throw new StateError("bad-transition", "nothing to confirm: the running image is not on trial");
    const idx = Number(b.area.slice(4));
    this.commit((s) => {
      const slot = s.slots[idx]!;
      slot.state = "confirmed";
      delete slot.attemptsLeft;
      s.active = idx;
      s.securityCounter = Math.max(s.securityCounter, slot.image!.securityCounter);
      this.step(s, "confirm");
      delete s.update.target;
    });
    this._booted = { ...b, trial: false };
  }

  /** Acknowledge the last result (LwM2M: Package URI written empty): back to idle. */
  clearResult(): void {
    this.ramResult = undefined;
    if (["confirmed", "failed", "rolled-back"].includes(this._state.update.state)) this.commit((s) => this.step(s, "clear"));
  }

  // ----------------------------------------------------------------------------------- internals (strategies)

  /** @internal Apply a mutation to a copy of the state and persist it as one fresh copy. */
  commit(mutate: (s: BootState) => void): void {
    const next = structuredClone(this._state);
    mutate(next);
    this.store.save(next);
    this._state = next;
  }

  /** @internal Persist a whole new state (one fresh copy). */
  save(next: BootState): void {
    this.store.save(next);
    this._state = structuredClone(next);
  }

  /** @internal Append journal progress (one small program). */
  progress(step: number, bytesDone: number, aux = 0): void {
    this.store.appendProgress(step, aux);
    if (this._state.journal) {
      this._state.journal.step = step;
      this._state.journal.aux = aux;
      this._state.journal.bytesDone = bytesDone;
    }
  }

  /** @internal One row of the transition table applied to `s`. */
  step(s: BootState, event: UpdateEvent, reason?: Reason): void {
    const n = nextUpdate(s.update, event, reason);
    s.update.state = n.state;
    s.update.result = n.result;
    if (reason) s.update.reason = reason;
    else if (event === "start" || event === "clear") delete s.update.reason;
  }

  /**
   * @internal A bootloader step: applied when the table allows it from the current state, skipped
   * otherwise (the bootloader must boot something whatever the bookkeeping says).
   */
  bootStep(s: BootState, event: UpdateEvent, reason?: Reason): void {
    if (findTransition(s.update.state, event)) this.step(s, event, reason);
  }

  /** @internal Start an update in `s`: supersede an armed one, close a stale download. */
  begin(s: BootState, target: ImageInfo): void {
    if (s.update.state === "pending") this.step(s, "cancel");
    else if (IN_DOWNLOAD.includes(s.update.state)) this.step(s, "interrupted");
    this.step(s, "start");
    s.update.target = target;
    delete s.journal;
    delete s.download;
  }

  /** @internal Refuse to start while an install or a trial is under way. */
  assertCanStart(): void {
    const st = this._state.update.state;
    if (st === "installing" || st === "trial") {
      throw new StateError("busy", `cannot start an update while the device is ${st === "trial" ? "running a trial image (confirm it first)" : "installing"}`);
    }
  }

  /** @internal Verify an area holds `image` (size + SHA-256). */
  holds(area: Flash, image: ImageInfo | undefined): boolean {
    if (!image || image.size > area.geometry.size) return false;
    return hashArea(area, image.size) === image.sha256;
  }

  /** @internal The persisted state itself (read-only by convention; change it through commit/save). */
  get raw(): BootState {
    return this._state;
  }

  /** @internal Feed a byte source to a push function, honouring the abort signal. */
  async pump(
    source: ByteSource,
    push: (b: Uint8Array) => void,
    opts: { signal?: AbortSignal; onProgress?: (p: Progress) => void; total?: number | (() => number | undefined); phase?: Progress["phase"] },
  ): Promise<number> {
    let done = 0;
    const check = () => {
      if (opts.signal?.aborted) throw new CancelledError("cancelled", "update cancelled");
    };
    check();
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      check();
      push(chunk);
      done += chunk.length;
      if (opts.onProgress) {
        const total = typeof opts.total === "function" ? opts.total() : opts.total;
        opts.onProgress({ phase: opts.phase ?? "download", done, ...(total !== undefined ? { total } : {}) });
      }
    }
    check();
    return done;
  }

  /**
   * @internal Run an update step; on failure persist "failed"/"cancelled" if the update had started
   * (and reset the area it was writing), else keep the result in RAM only (nothing was written).
   * Power cuts pass straight through.
   */
  async guard<T>(f: () => Promise<T> | T, exclusive = true): Promise<T> {
    if (exclusive && this.busy) throw new StateError("busy", "an update is already in progress on this device");
    if (exclusive) this.busy = true;
    this.ramResult = undefined;
    try {
      return await f();
    } catch (e) {
      if (isPowerCut(e)) throw e;
      this.recordFailure(e);
      throw e;
    } finally {
      if (exclusive) this.busy = false;
    }
  }

  /** @internal The synchronous guard (local upgrade calls). */
  guardSync<T>(f: () => T): T {
    this.ramResult = undefined;
    try {
      return f();
    } catch (e) {
      if (isPowerCut(e)) throw e;
      this.recordFailure(e);
      throw e;
    }
  }

  /** @internal */
  recordFailure(e: unknown): void {
    const reason: Reason = isFotaError(e) ? e.reason : "flash-failed";
    const cancelled = e instanceof CancelledError;
    const st = this._state.update.state;
    if (IN_DOWNLOAD.includes(st)) {
      try {
        this.commit((s) => {
          this.step(s, cancelled ? "cancel" : "fail", cancelled ? undefined : reason);
          dropUpdateWork(s);
        });
        return;
      } catch (e2) {
        if (isPowerCut(e2)) throw e2;
      }
    }
    this.ramResult = { result: cancelled ? LWM2M_RESULT.CANCELLED : (e instanceof FotaError ? e.lwm2mResult : LWM2M_RESULT.UPDATE_FAILED), reason };
  }

  /** @internal A BootResult for an app slot. */
  bootSlot(idx: number, extra: Partial<BootResult> = {}): BootResult {
    const slot = this._state.slots[idx]!;
    return { area: `slot${idx}`, kind: "app", image: structuredClone(slot.image!), trial: slot.state === "trial", installed: false, rolledBack: false, ...extra };
  }

  /** @internal Count a boot (kept in RAM; persisted with the next commit). */
  countBoot(): void {
    this._state.boots++;
  }

  /** @internal Facts check context for a target area. */
  checkContext(capacity: number, base?: ImageInfo) {
    const ctx: { model: string; securityCounter: number; capacity: number; now: number; base?: ImageInfo } = {
      model: this.model,
      securityCounter: this._state.securityCounter,
      capacity,
      now: this.now(),
    };
    if (base) ctx.base = base;
    return ctx;
  }
}

export function sha256Hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function writeWhole(area: Flash, image: Uint8Array): void {
  const ss = area.geometry.sectorSize;
  if (image.length > area.geometry.size) throw new StateError("no-image", `factory image of ${image.length} bytes does not fit its ${area.geometry.size}-byte area`);
  const wa = area.geometry.writeAlign;
  for (let off = 0; off < image.length; off += ss) {
    area.eraseSector(off);
    const part = image.subarray(off, Math.min(off + ss, image.length));
    const len = Math.ceil(part.length / wa) * wa;
    const data = new Uint8Array(len).fill(0xff);
    data.set(part);
    area.program(off, data);
  }
}

export type { PackageFacts };
