// The `fota` and `app_fota` modules of the virtual module: Python shims (python.ts) plus the
// handlers that answer them on the main thread, registered through the emulator's HostModule seam
// (src/emulator/host.ts).
//
// What a session owner provides in ctx.extras:
//   device: Device        the module's device engine (required by `fota`)
//   fetch?: FetchOptions  transport overrides (timeouts, retries...) for fota and app_fota downloads
// The model comes from ctx.identity.model (its profile in profiles.ts). Downloads honour the
// session's link throttle and `--net off`, and stop when the module loses power (ctx.signal).

import { TransportError, UsageError } from "../errors.js";
import type { Device } from "../device/device.js";
import { PyException, registerHostModule, type HostContext, type HostModule } from "../emulator/host.js";
import { DEFAULT_FETCHERS, type FetchOptions, type Fetcher } from "../transport/index.js";
import type { PyArg } from "./args.js";
import { AppFota, installStagedFiles, parseBulkInfo } from "./app_fota.js";
import { FotaClient } from "./client.js";
import { deviceEngine } from "./engine.js";
import { QuecFota, type FotaCallback, type ModuleHost } from "./fota.js";
import { requireProfile, type FotaCall } from "./profiles.js";
import { APP_FOTA_PY, FOTA_PY } from "./python.js";

/** Virtual time between an automatic restart request and the restart (the module's reset delay). */
export const RESTART_DELAY_MS = 250;

const FOTA_CALLS: readonly FotaCall[] = ["httpDownload", "apn_set", "download_cancel", "write", "flush", "verify"];

/** Largest piece a throttled download receives at once (one TCP segment). */
const LINK_SEGMENT_BYTES = 1460;

/** Wraps fetchers so downloads follow the module's link: throttled, and failing when the net is off. */
export function moduleFetchers(ctx: Pick<HostContext, "networkUp" | "throttle">, base: readonly Fetcher[] = DEFAULT_FETCHERS): Fetcher[] {
  return base.map((f) => ({
    schemes: f.schemes,
    async open(req) {
      if (!ctx.networkUp) {
        // No data connection: a host name cannot be resolved (the lookup times out); an IP address
        // cannot be connected to.
        const literal = /^[\d.]+$|^\[.*\]$/.test(req.url.hostname);
        if (literal) throw new TransportError("connect-failed", `no network (the module is not registered): cannot connect to ${req.url.host}`);
        throw new TransportError("dns-timeout", `no network (the module is not registered): cannot resolve ${req.url.hostname}`);
      }
      const resp = await f.open(req);
      const body = resp.body;
      return {
        ...resp,
        body: (async function* () {
          // A radio link delivers data in segments: throttle (and so report progress) per segment.
          for await (const chunk of body) {
            for (let p = 0; p < chunk.length; p += LINK_SEGMENT_BYTES) {
              const seg = chunk.subarray(p, p + LINK_SEGMENT_BYTES);
              await ctx.throttle(seg.length, req.signal);
              yield seg;
            }
          }
        })(),
      };
    },
  }));
}

/** Transport options of a session: its extras.fetch, the module's link, its power. */
export function moduleFetchOptions(ctx: Pick<HostContext, "networkUp" | "throttle" | "signal" | "extras">): FetchOptions {
  const extra = (ctx.extras.fetch ?? {}) as FetchOptions;
  return { ...extra, signal: ctx.signal, fetchers: [...(extra.fetchers ?? []), ...moduleFetchers(ctx)] };
}

interface FotaSession {
  host: ModuleHost;
  /** Callback deliveries not yet run by the script. */
  pending: Set<Promise<void>>;
}

function fotaSession(ctx: HostContext): FotaSession {
  const existing = ctx.state.get("quecpython.fota") as FotaSession | undefined;
  if (existing) return existing;
  const device = ctx.extras.device as Device | undefined;
  if (!device) throw new UsageError("bad-argument", "the fota module needs the session's device (ctx.extras.device)");
  const profile = requireProfile(ctx.identity.model);
  const client = new FotaClient({ engine: deviceEngine(device), fetch: moduleFetchOptions(ctx) });
  const session: FotaSession = {
    pending: new Set(),
    host: {
      profile,
      client,
      log: (line) => ctx.print(line, 2),
      setApn: (apn) => ctx.state.set("quecpython.apn", apn),
      requestRestart: (reason) => {
        // Let the callbacks already sent run in the script first (status 2 before the reboot).
        const delivered = Promise.all([...session.pending]);
        const note = reason === "fota" ? "fota: restarting to install the update" : "mini FOTA: restarting into the recovery system";
        void ctx
          .hold(
            delivered
              .then(() => ctx.clock.sleep(RESTART_DELAY_MS, ctx.signal))
              .then(() => ctx.restart("engine", note)),
          )
          .catch(() => undefined);
      },
    },
  };
  ctx.state.set("quecpython.fota", session);
  return session;
}

function toPyArgs(raw: unknown): PyArg[] {
  return Array.isArray(raw) ? raw.map((d) => (Array.isArray(d) ? { t: String(d[0]), v: d[1] } : { t: "NoneType", v: null })) : [];
}

function toPyKw(raw: unknown): Record<string, PyArg> {
  const out: Record<string, PyArg> = {};
  if (raw && typeof raw === "object") for (const [k, d] of Object.entries(raw)) out[k] = toPyArgs([d])[0]!;
  return out;
}

function fotaObject(ctx: HostContext): QuecFota {
  const obj = ctx.state.get("quecpython.fotaObj") as QuecFota | undefined;
  if (!obj) throw new PyException("RuntimeError", ["fota object not initialised"]);
  return obj;
}

/** The `fota` module: `import fota; fota(reset_disable=1).httpDownload(url1=..., callback=...)`. */
export const FOTA_MODULE: HostModule = {
  name: "fota",
  source: FOTA_PY,
  exported: true,
  handlers: {
    // The model's methods, for the shim to define exactly those the module has.
    profile: (ctx) => {
      const p = requireProfile(ctx.identity.model);
      return { model: p.model, present: FOTA_CALLS.filter((c) => p.calls[c] !== "absent") };
    },
    init: (ctx, args) => {
      const s = fotaSession(ctx);
      const r = QuecFota.construct(s.host, toPyArgs(args[0]), toPyKw(args[1]));
      if ("raise" in r) throw new PyException(r.raise.type, [r.raise.message]);
      ctx.state.set("quecpython.fotaObj", r.obj);
      return null;
    },
    call: async (ctx, args, data) => {
      const s = fotaSession(ctx);
      const obj = fotaObject(ctx);
      const name = String(args[0]) as FotaCall;
      const positional = toPyArgs(args[1]);
      if (name === "write" && data !== undefined && positional.length > 0) positional[0] = { t: positional[0]!.t, v: data };
      const fn = typeof args[3] === "number" ? args[3] : undefined;
      const forward: FotaCallback | undefined =
        fn === undefined
          ? undefined
          : (a) => {
              const p = ctx.callPython(fn, [a]);
              s.pending.add(p);
              void p.finally(() => s.pending.delete(p));
            };
      const r = await obj.invoke(name, positional, toPyKw(args[2]), forward);
      if ("raise" in r) throw new PyException(r.raise.type, [r.raise.message]);
      // Async models (and mini FOTA) keep working after the call returned: keep the module on.
      if (name === "httpDownload") void ctx.hold(obj.idle()).catch(() => undefined);
      return r.ret;
    },
  },
};

function appFota(ctx: HostContext): AppFota {
  let a = ctx.state.get("quecpython.appFota") as AppFota | undefined;
  if (!a) {
    a = new AppFota({ usrDir: ctx.usrDir, fetch: moduleFetchOptions(ctx), log: (line) => ctx.print(line, 2) });
    ctx.state.set("quecpython.appFota", a);
  }
  return a;
}

/** The `app_fota` module: `app_fota.new()` with download / bulk_download / set_update_flag / update. */
export const APP_FOTA_MODULE: HostModule = {
  name: "app_fota",
  source: APP_FOTA_PY,
  handlers: {
    download: (ctx, args) => appFota(ctx).download(args[0] as string, args[1] as string),
    bulk_download: async (ctx, args) => {
      let info;
      try {
        info = parseBulkInfo(args[0]);
      } catch (e) {
        throw new PyException("TypeError", [(e as Error).message]);
      }
      return appFota(ctx).bulkDownload(info);
    },
    set_update_flag: (ctx) => {
      appFota(ctx).setUpdateFlag();
      return null;
    },
    update: (ctx) => {
      installStagedFiles(ctx.usrDir, { log: (line) => ctx.print(line, 2) });
      return null;
    },
  },
};

/** Both modules, for RuntimeOptions.modules. */
export const QUECPYTHON_MODULES: readonly HostModule[] = [FOTA_MODULE, APP_FOTA_MODULE];

/** Registers `fota` and `app_fota` with the emulator's module registry. */
export function registerQuecPythonModules(): void {
  for (const m of QUECPYTHON_MODULES) registerHostModule(m);
}
