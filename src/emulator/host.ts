// The registration seam of the virtual module: a host module is a Python module the script can
// import (`utime`, `fota`, ...), made of Python source that runs inside MicroPython plus JS handler
// functions that run on the main thread next to the engine. Python reaches a handler with
//   _fota_rt.call("<module>.<handler>", *json_args, data=b"optional bytes")
// which blocks the calling Python thread until the handler's (possibly async) result arrives.
//
// Other parts add modules without editing the runtime: pass them in `RuntimeOptions.modules`, or
// call registerHostModule() (the CLI's `fota emulate` uses every registered module).

import type { VirtualClock } from "./clock.js";

/** What a handler may return to send bytes back: Python receives `data` (or `(value, data)`). */
export class HostReply {
  constructor(
    readonly value: unknown,
    readonly data: Uint8Array,
  ) {}
}

/** Throw this from a handler to raise a Python exception of that type in the caller. */
export class PyException extends Error {
  constructor(
    readonly type: string,
    readonly args: unknown[] = [],
  ) {
    super(`${type}: ${args.map(String).join(", ")}`);
    this.name = "PyException";
  }
}

/** The module's facts the built-in modules report (modem, misc, ...). */
export interface ModuleIdentity {
  model: string;
  /** Version string of the booted firmware (modem.getDevFwVersion). */
  firmwareVersion: string;
  imei: string;
  serial: string;
  /** misc.Power.powerOnReason() code: 1 PWRKEY, 2 RESET, 3 VBAT, ... */
  powerOnReason: number;
}

export interface HostContext {
  readonly clock: VirtualClock;
  readonly identity: ModuleIdentity;
  /** Host directory that is the module's /usr. */
  readonly usrDir: string;
  /** False with `--net off`: no network registration, every fetch fails to connect. */
  readonly networkUp: boolean;
  /** Link throttle in virtual time (no-op when unthrottled): await it after receiving n bytes. */
  readonly throttle: (bytes: number, signal?: AbortSignal) => Promise<void>;
  /** Configured link rate in kbit/s, if any. */
  readonly linkKbps: number | undefined;
  /** Aborted when the module loses power (restart, power down, power cut). */
  readonly signal: AbortSignal;
  /** Per-session storage for modules (e.g. the `fota` object of the session). */
  readonly state: Map<string, unknown>;
  /** Anything else the session owner attached (e.g. the Device of `fota emulate`). */
  readonly extras: Record<string, unknown>;
  /**
   * Run a Python callable (an id from `_fota_rt.fn_id(f)`) with these JSON-able arguments in the
   * script's interpreter. Resolves once it ran (it runs at the script's next blocking point).
   */
  callPython(fn: number, args: unknown[]): Promise<void>;
  /** Keep the module on until `work` settles (background downloads). A power cut inside ends the session. */
  hold<T>(work: Promise<T>): Promise<T>;
  /** Restart the module now: the script stops, the session ends with `restart`. */
  restart(by: "script" | "engine", note?: string): void;
  /** Power the module down now (no boot follows). */
  powerDown(): void;
  /** Print on the module's console (stdout by default). */
  print(text: string, fd?: 1 | 2): void;
}

export type HostHandler = (ctx: HostContext, args: unknown[], data?: Uint8Array) => unknown;

export interface HostModule {
  /** Import name, e.g. "fota". */
  name: string;
  /** Other import names of the same object, e.g. ["time"] for utime. */
  aliases?: string[];
  /**
   * Python source. It runs as its own module (it may `import _fota_rt`); if it binds `_EXPORT`
   * (and `exported` is true), `import <name>` yields that object, e.g. the `fota` class.
   */
  source: string;
  exported?: boolean;
  /** Handlers by name; Python calls them as "<name>.<key>". */
  handlers?: Record<string, HostHandler>;
  /** Whether this model has the module (default: yes). Absent modules fail with ImportError. */
  available?: (identity: ModuleIdentity) => boolean;
}

const registry = new Map<string, HostModule>();

/** Add (or replace, by name) a host module used by every later session that takes the registry. */
export function registerHostModule(mod: HostModule): void {
  registry.set(mod.name, mod);
}

/** The registered modules, in registration order. */
export function registeredHostModules(): HostModule[] {
  return [...registry.values()];
}
