// The QuecPython `fota` object: a thin adapter that turns FotaClient's Promises and events into the
// module's return codes and `[status, progress]` callbacks, model by model (profiles.ts).
//
// Callback statuses: 1 downloading (progress = percent), 0 downloaded (100), 2 update armed and a
// restart is coming, -1 failed (progress = the QuecPython error code 1001-1014 of the error's
// REASONS row). Restart: after an armed download the module restarts by itself, unless
// `fota(reset_disable=1)` on a model that honours it; then the script calls Power.powerRestart().
// A restart is a request to the host (`ModuleHost.requestRestart`), so an emulator really reboots.

import { isFotaError, UsageError, QUEC_CODE } from "../errors.js";
import { isPowerCut } from "../device/flash.js";
import { checkApn, checkAttribute, checkCall, checkDownloadPolicy, describeJs, type PyArg, type PyRaise } from "./args.js";
import type { FotaClient, LocalUpgrade } from "./client.js";
import type { FotaCall, ModelProfile } from "./profiles.js";

/** `callback(args)` with args = [status, progress]. */
export type FotaCallback = (args: [number, number]) => void;

export const STATUS = { DOWNLOADED: 0, DOWNLOADING: 1, ARMED: 2, FAILED: -1 } as const;

export interface ApnSettings {
  apn: string | null;
  ipType: number;
  user: string | null;
  password: string | null;
}

/** What the `fota` object needs from the module that hosts it. */
export interface ModuleHost {
  readonly profile: ModelProfile;
  readonly client: FotaClient;
  /**
   * The module must restart now (bootloader, install, boot). It is a request: the host performs
   * it at its next safe point — after the callbacks already delivered have run and after the
   * module call in progress has returned.
   */
  requestRestart(reason: "fota" | "mini-fota"): void;
  /** One line of the module's own log (what the C layer prints). */
  log(line: string): void;
  /** BG95 `apn_set`: the APN for FOTA downloads. */
  setApn?(apn: ApnSettings): void;
}

/** Outcome of a call made through `invoke` (for bridges: nothing is thrown across). */
export type InvokeResult = { ret: number } | { raise: PyRaise };

/** The QuecPython error code of any failure (1010 INTERNAL_ERR for unexpected errors). */
export function quecCodeOf(err: unknown): number {
  return isFotaError(err) ? err.quecCode : QUEC_CODE.INTERNAL_ERR;
}

/** The Python exception type a UsageError thrown by this adapter stands for, if any. */
export function pythonErrorOf(err: unknown): PyRaise | undefined {
  if (err instanceof UsageError && typeof err.details.python === "string") {
    return { type: err.details.python as PyRaise["type"], message: err.message };
  }
  return undefined;
}

function raise(r: PyRaise): never {
  throw new UsageError("bad-argument", r.message, { details: { python: r.type } });
}

const singletons = new WeakMap<ModuleHost, QuecFota>();

/**
 * `fota(...)`: the module's one fota object. Every call re-initialises it (and sets reset_disable
 * again, to 0 when left out), as the module does; keyword-only arguments.
 */
export function openFota(host: ModuleHost, kwargs: { reset_disable?: unknown; key?: unknown; cert?: unknown; root_cert?: unknown } = {}): QuecFota {
  const r = QuecFota.construct(host, [], describeKw(kwargs));
  if ("raise" in r) raise(r.raise);
  return r.obj;
}

function describeKw(kw: Record<string, unknown>): Record<string, PyArg> {
  const out: Record<string, PyArg> = {};
  for (const [k, v] of Object.entries(kw)) if (v !== undefined) out[k] = describeJs(v);
  return out;
}

export class QuecFota {
  readonly host: ModuleHost;
  private resetDisable = false;
  private callback: FotaCallback | undefined;
  private background: Promise<void> | undefined;
  private local: LocalUpgrade | undefined;
  private deleted = false;
  /** A power cut that hit a background download (re-thrown by idle()). */
  private powerCut: unknown;

  private constructor(host: ModuleHost) {
    this.host = host;
  }

  /** The constructor as a bridge calls it. */
  static construct(host: ModuleHost, positional: readonly PyArg[], keywords: Readonly<Record<string, PyArg>>): { obj: QuecFota } | { raise: PyRaise } {
    const c = checkCall("fota", positional, keywords);
    if (!c.ok) return "raise" in c ? { raise: c.raise } : { raise: { type: "TypeError", message: c.log } };
    let obj = singletons.get(host);
    if (!obj || obj.deleted) {
      obj = new QuecFota(host);
      singletons.set(host, obj);
    }
    // The module hands key / cert / root_cert to its TLS layer on every construction (S2).
    const pem = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array));
    const ca = pem(c.values.root_cert);
    const cert = pem(c.values.cert);
    const key = pem(c.values.key);
    host.client.setTls(ca === undefined && cert === undefined && key === undefined ? undefined : { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) });
    const flag = (c.values.reset_disable as number) !== 0;
    // The platforms that honour the flag get it on every construction; ASR 1603 ignores it.
    obj.resetDisable = host.profile.resetDisableHonoured ? flag : false;
    if (flag && !host.profile.resetDisableHonoured) {
      host.log(`[fota] reset_disable is not supported on ${host.profile.model}; the module restarts after the download`);
    }
    return { obj };
  }

  get profile(): ModelProfile {
    return this.host.profile;
  }

  /** Whether the automatic restart after a download is off (only where the model honours it). */
  get restartDisabled(): boolean {
    return this.resetDisable;
  }

  /** Whether the object has a method (absent ones raise AttributeError in a script). */
  has(call: FotaCall): boolean {
    return this.profile.calls[call] !== "absent";
  }

  /**
   * Resolves when no background download (async models, mini FOTA) is running. Rejects with the
   * PowerCut when the simulated power failed during that work.
   */
  async idle(): Promise<void> {
    while (this.background) await this.background;
    if (this.powerCut !== undefined) {
      const e = this.powerCut;
      this.powerCut = undefined;
      throw e;
    }
  }

  /** `__del__`: drops the callback; the next `fota()` makes a new object. */
  del(): void {
    this.callback = undefined;
    this.deleted = true;
    singletons.delete(this.host);
  }

  // ---- bridge entry point ----------------------------------------------------------------------

  /**
   * Calls a method by name with Python-described arguments. `callback` is the JS forwarder of the
   * script's callback (when keywords.callback is not None). Never throws.
   */
  async invoke(name: FotaCall, positional: readonly PyArg[], keywords: Readonly<Record<string, PyArg>>, callback?: FotaCallback): Promise<InvokeResult> {
    const missing = checkAttribute(this.profile, name);
    if (missing) return { raise: missing };
    const c = checkCall(name, positional, keywords);
    if (!c.ok) {
      if ("raise" in c) return { raise: c.raise };
      this.host.log(`[fota] ${c.log}`);
      return { ret: c.ret };
    }
    const v = c.values;
    switch (name) {
      case "httpDownload":
        return { ret: await this.download(v.url1 as string | null, v.url2 as string | null, v.callback === null ? undefined : callback) };
      case "apn_set":
        return { ret: this.apnSet(v.fota_apn as string | null, v.ip_type as number, v.fota_user as string | null, v.fota_password as string | null) };
      case "download_cancel":
        return { ret: this.cancel() };
      case "write":
        return { ret: this.writeChunk(v.bytesData as Uint8Array | string, v.file_size as number) };
      case "flush":
        return { ret: this.localStep("flush") };
      case "verify":
        return { ret: this.localStep("verify") };
    }
  }

  private async call(name: FotaCall, positional: unknown[], keywords: Record<string, unknown>, callback?: FotaCallback): Promise<number> {
    const r = await this.invoke(name, positional.map(describeJs), describeKw(keywords), callback);
    if ("raise" in r) raise(r.raise);
    return r.ret;
  }

  private callSync(name: FotaCall, positional: unknown[]): number {
    const missing = checkAttribute(this.profile, name);
    if (missing) raise(missing);
    const c = checkCall(name, positional.map(describeJs), {});
    if (!c.ok) {
      if ("raise" in c) raise(c.raise);
      this.host.log(`[fota] ${c.log}`);
      return c.ret;
    }
    if (name === "write") return this.writeChunk(c.values.bytesData as Uint8Array | string, c.values.file_size as number);
    if (name === "download_cancel") return this.cancel();
    return this.localStep(name as "flush" | "verify");
  }

  // ---- the module's methods, TypeScript spelling -------------------------------------------------

  /**
   * `httpDownload(url1=, url2=, callback=)`. On "async" models it resolves 0 at once when the
   * download started (the result comes through the callback); on "blocking" models it resolves when
   * downloaded and verified (0) or failed (-1). Type errors throw a UsageError whose
   * `details.python` is "TypeError" (see pythonErrorOf).
   */
  httpDownload(kw: { url1?: unknown; url2?: unknown; callback?: FotaCallback | null }): Promise<number> {
    const { callback, ...rest } = kw;
    return this.call("httpDownload", [], { ...rest, ...(callback === undefined ? {} : { callback }) }, callback ?? undefined);
  }

  /** `apn_set(fota_apn=, ip_type=, fota_user=, fota_password=)` (BG95). */
  apn_set(kw: { fota_apn?: unknown; ip_type?: unknown; fota_user?: unknown; fota_password?: unknown }): Promise<number> {
    return this.call("apn_set", [], kw);
  }

  /** `download_cancel()` (BG95). */
  download_cancel(): number {
    return this.callSync("download_cancel", []);
  }

  /** `write(bytesData, file_size)`; fewer than two arguments return -1, as on the module. */
  write(...args: unknown[]): number {
    return this.callSync("write", args);
  }

  flush(): number {
    return this.callSync("flush", []);
  }

  verify(): number {
    return this.callSync("verify", []);
  }

  // ---- behaviour ---------------------------------------------------------------------------------

  private notify(status: number, progress: number): void {
    const cb = this.callback;
    if (!cb) return;
    try {
      cb([status, progress]);
    } catch (err) {
      this.host.log(`[fota] callback raised: ${(err as Error).message ?? String(err)}`);
    }
  }

  private async download(url1: string | null, url2: string | null, callback: FotaCallback | undefined): Promise<number> {
    const refused = checkDownloadPolicy(this.profile, url1, url2);
    if (refused) {
      this.host.log(`[fota] ${refused.log}`);
      return -1;
    }
    // As on the module, a callback given once stays registered for later downloads.
    if (callback) this.callback = callback;
    if (this.host.client.busy || this.background) {
      this.host.log("[fota] *** fota firmware download fail *** (a download is already running)");
      return -1;
    }
    const mini = url2 !== null;
    const work = mini ? this.runMini(url1!, url2) : this.runSingle(url1!);
    if (this.profile.httpDownload === "blocking" && !mini) return work;
    // Async models (and mini FOTA): the call only says the work started.
    const bg: Promise<void> = work.then(
      () => undefined,
      (e: unknown) => {
        this.powerCut = e;
      },
    );
    this.background = bg;
    void bg.finally(() => {
      if (this.background === bg) this.background = undefined;
    });
    return 0;
  }

  /** One package (DFOTA). Resolves 0 when armed, -1 on failure (callbacks sent either way). */
  private async runSingle(url: string): Promise<number> {
    let lastPercent = -1;
    try {
      await this.host.client.download(url, {
        onEvent: (e) => {
          if (e.type === "progress" && e.percent !== undefined && e.percent !== lastPercent && e.percent < 100) {
            lastPercent = e.percent;
            this.notify(STATUS.DOWNLOADING, e.percent);
          } else if (e.type === "downloaded") {
            this.notify(STATUS.DOWNLOADED, 100);
          }
        },
      });
    } catch (err) {
      if (isPowerCut(err)) throw err;
      const code = quecCodeOf(err);
      this.host.log(`[fota] fota download failed (-1)${code}: ${(err as Error).message ?? String(err)}`);
      this.notify(STATUS.FAILED, code);
      return -1;
    }
    this.host.log("[fota] update flag set, will restart to update");
    this.notify(STATUS.ARMED, 100);
    if (!this.resetDisable) this.host.requestRestart("fota");
    return 0;
  }

  /** Mini FOTA stage one (no callbacks); the module always restarts into the recovery system. */
  private async runMini(url1: string, url2: string): Promise<number> {
    try {
      await this.host.client.download(url1, { stageTwo: url2 });
    } catch (err) {
      if (isPowerCut(err)) throw err;
      this.host.log(`[fota] mini fota stage one failed (${quecCodeOf(err)}): ${(err as Error).message ?? String(err)}`);
      return -1;
    }
    this.host.log("[fota] mini fota stage one armed, will restart to update");
    this.host.requestRestart("mini-fota");
    return 0;
  }

  private apnSet(apn: string | null, ipType: number, user: string | null, password: string | null): number {
    const bad = checkApn(ipType);
    if (bad) {
      this.host.log(`[fota] ${bad.log}`);
      return -1;
    }
    this.host.setApn?.({ apn, ipType, user, password });
    return 0;
  }

  private cancel(): number {
    if (!this.host.client.cancel()) {
      this.host.log("[fota] *** fota download cancel fail *** (no download in progress)");
      return -1;
    }
    return 0;
  }

  private unsupported(what: string): number {
    this.host.log(`[fota] *** fota package ${what} fail *** (local upgrade is not supported on ${this.profile.model})`);
    return -1;
  }

  private writeChunk(data: Uint8Array | string, fileSize: number): number {
    if (this.profile.calls.write !== "present") return this.unsupported("write");
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    try {
      this.local ??= this.host.client.local();
      this.local.write(bytes, fileSize);
      return 0;
    } catch (err) {
      if (isPowerCut(err)) throw err;
      this.host.log(`[fota] *** fota package write fail *** (${quecCodeOf(err)}): ${(err as Error).message ?? String(err)}`);
      return -1;
    }
  }

  private localStep(step: "flush" | "verify"): number {
    if (this.profile.calls[step] !== "present") return this.unsupported(step);
    try {
      if (!this.local) throw new UsageError("bad-argument", `${step}() before any write()`);
      if (step === "flush") {
        this.local.flush();
        this.host.log("[fota] fota package write done, verifying ...");
      } else {
        this.local.verify();
        this.local = undefined;
        this.host.log("[fota] fota package verify done, will restart to update ...");
      }
      return 0;
    } catch (err) {
      if (isPowerCut(err)) throw err;
      this.host.log(`[fota] *** fota package ${step} fail *** (${quecCodeOf(err)}): ${(err as Error).message ?? String(err)}`);
      return -1;
    }
  }
}
