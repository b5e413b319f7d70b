// The built-in host modules of the virtual module: Python source (python.ts) plus the handlers that
// answer them on the main thread. `fota` and `app_fota` come from src/quecpython through the same
// HostModule seam (see ../host.ts).

import { randomBytes } from "node:crypto";
import { HostReply, type HostContext, type HostModule } from "../host.js";
import { CHECKNET_PY, LOG_PY, MISC_PY, MODEM_PY, OSTIMER_PY, QUEUE_PY, THREAD_PY, UOS_PY, UTIME_PY, UZLIB_PY } from "./python.js";

const utime: HostModule = { name: "utime", aliases: ["time"], source: UTIME_PY };

const log: HostModule = { name: "log", source: LOG_PY };

const misc: HostModule = {
  name: "misc",
  source: MISC_PY,
  handlers: {
    powerRestart: (ctx: HostContext) => ctx.restart("script", "Power.powerRestart()"),
    powerDown: (ctx: HostContext) => ctx.powerDown(),
    powerOnReason: (ctx: HostContext) => ctx.identity.powerOnReason,
  },
};

const uos: HostModule = {
  name: "uos",
  aliases: ["os"],
  source: UOS_PY,
  handlers: {
    urandom: (_ctx, args) => new HostReply(null, randomBytes(Math.max(0, Number(args[0]) | 0))),
    uname: (ctx: HostContext) => [`sysname=${ctx.identity.model}`, `nodename=${ctx.identity.model}`, `release=1.27.0`, `version=${ctx.identity.firmwareVersion}`, `machine=${ctx.identity.model} (fota virtual module)`],
  },
};

const thread: HostModule = { name: "_thread", source: THREAD_PY };

const modem: HostModule = {
  name: "modem",
  source: MODEM_PY,
  handlers: {
    info: (ctx: HostContext) => ({ fw: ctx.identity.firmwareVersion, imei: ctx.identity.imei, model: ctx.identity.model, sn: ctx.identity.serial }),
  },
};

const checkNet: HostModule = {
  name: "checkNet",
  source: CHECKNET_PY,
  handlers: {
    // Ready at once when the network is up; with --net off the wait runs to its timeout and reports
    // stage 2 (network registration), state 2 ("not registered, searching").
    wait: async (ctx: HostContext, args) => {
      if (ctx.networkUp) return [3, 1];
      await ctx.clock.sleep(Number(args[0]) * 1000, ctx.signal);
      return [2, 2];
    },
  },
};

const uzlib: HostModule = { name: "uzlib", source: UZLIB_PY };

const queue: HostModule = { name: "queue", source: QUEUE_PY };

interface TimerState {
  cancel?: () => void;
  release?: () => void;
}

function timers(ctx: HostContext): Map<number, TimerState> {
  let t = ctx.state.get("osTimer") as Map<number, TimerState> | undefined;
  if (!t) ctx.state.set("osTimer", (t = new Map()));
  return t;
}

function stopTimer(t: TimerState | undefined): void {
  t?.cancel?.();
  t?.release?.();
  if (t) {
    delete t.cancel;
    delete t.release;
  }
}

// osTimer: a running timer keeps the module on (as on the module, a periodic timer runs until
// stopped); each expiry calls the Python callback in the script's interpreter.
const osTimer: HostModule = {
  name: "osTimer",
  source: OSTIMER_PY,
  exported: true,
  handlers: {
    create: (ctx) => {
      const all = timers(ctx);
      const id = all.size + 1;
      all.set(id, {});
      return id;
    },
    start: (ctx, args) => {
      const [id, ms, periodic, fn] = args as [number, number, number, number | null];
      const t = timers(ctx).get(id);
      if (!t || !(ms >= 0)) return -1;
      stopTimer(t);
      void ctx.hold(new Promise<void>((resolve) => (t.release = resolve)));
      const arm = () => {
        t.cancel = ctx.clock.setTimer(ms, () => {
          if (periodic) arm();
          else delete t.cancel;
          const fired = fn === null ? Promise.resolve() : ctx.callPython(fn, [id]);
          if (!periodic) void fired.then(() => stopTimer(t));
        });
      };
      arm();
      return 0;
    },
    stop: (ctx, args) => {
      stopTimer(timers(ctx).get(args[0] as number));
      return 0;
    },
  },
};

/** Installed in this order before any other module (later modules may import them). */
export const BUILTIN_MODULES: readonly HostModule[] = [utime, log, uos, thread, misc, modem, checkNet, uzlib, queue, osTimer];
