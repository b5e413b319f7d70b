// The main-thread side of a virtual module's Python runtime: starts the MicroPython worker, answers
// its blocking calls with the host modules' handlers (sync or async), delivers callbacks into the
// script, notices when nothing can happen any more, and ends the session on restart, power down,
// power cut or when the script and all background work are done.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";
import { DEFAULT_CONFIG } from "../config.js";
import { isFotaError } from "../errors.js";
import { isPowerCut } from "../device/flash.js";
import { VirtualClock, createLinkThrottle } from "./clock.js";
import { HostReply, PyException, registeredHostModules, type HostContext, type HostHandler, type HostModule, type ModuleIdentity } from "./host.js";
import type { MainToWorker, WorkerInit, WorkerModule, WorkerToMain } from "./protocol.js";
import { BUILTIN_MODULES } from "./shims/index.js";

export interface RuntimeOptions {
  /** The application script: a display name (tracebacks) and its source. */
  script: { name: string; source: string };
  /** Host directory mounted as the module's /usr (must exist). */
  usrDir: string;
  identity: ModuleIdentity;
  clock?: VirtualClock;
  /** Extra host modules (e.g. fota, app_fota). Default: every registered module. Built-ins always come first. */
  modules?: HostModule[];
  networkUp?: boolean;
  linkKbps?: number;
  /** Passed to handlers as ctx.extras (e.g. { device }). */
  extras?: Record<string, unknown>;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Power the module down after this much virtual time (ms); the session ends with `timeout`. */
  timeoutMs?: number;
  heapBytes?: number;
  pystackWords?: number;
}

export type SessionEnd =
  /** The script ended and nothing was left that could ever run (status: 0, 1 for an uncaught exception, or sys.exit's code). */
  | { kind: "ended"; status: number }
  | { kind: "restart"; by: "script" | "engine"; note?: string; status?: number }
  | { kind: "power-down"; status?: number }
  | { kind: "power-cut"; error: Error; status?: number }
  | { kind: "timeout"; status?: number }
  | { kind: "crashed"; message: string };

/** Where the compiled worker is (the CLI runs from dist/; tests that import the sources use dist/ too). */
export function workerFile(): URL {
  const here = new URL("./worker.js", import.meta.url);
  if (existsSync(fileURLToPath(here))) return here;
  const built = new URL("../../dist/src/emulator/worker.js", import.meta.url);
  if (existsSync(fileURLToPath(built))) return built;
  throw new Error("the emulator worker is not built (dist/src/emulator/worker.js); run `npm run build`");
}

export class PythonSession {
  readonly clock: VirtualClock;
  readonly context: HostContext;
  /** Settles once, with how the session ended. */
  readonly ended: Promise<SessionEnd>;
  /** Exit status of the script once it has ended (undefined while it runs). */
  scriptStatus: number | undefined;

  private worker: Worker | undefined;
  private port: MessagePort | undefined;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly handlers = new Map<string, HostHandler>();
  private readonly workerModules: WorkerModule[] = [];
  private readonly power = new AbortController();
  private busy = 0;
  private waitingSeq: number | undefined;
  private cbSeq = 0;
  private readonly cbs = new Map<number, () => void>();
  private done = false;
  private finish!: (e: SessionEnd) => void;
  private cancelTimeout: (() => void) | undefined;

  constructor(private readonly opts: RuntimeOptions) {
    this.clock = opts.clock ?? new VirtualClock(1);
    this.ended = new Promise((resolve) => (this.finish = resolve));
    const mods = [...BUILTIN_MODULES, ...(opts.modules ?? registeredHostModules())];
    const seen = new Set<string>();
    for (const m of mods) {
      if (seen.has(m.name)) continue;
      seen.add(m.name);
      if (m.available && !m.available(opts.identity)) continue;
      this.workerModules.push({ name: m.name, aliases: m.aliases ?? [], source: m.source, exported: m.exported ?? false });
      for (const [k, h] of Object.entries(m.handlers ?? {})) this.handlers.set(`${m.name}.${k}`, h);
    }
    const out = opts.stdout ?? ((t: string) => process.stdout.write(t));
    const err = opts.stderr ?? ((t: string) => process.stderr.write(t));
    this.context = {
      clock: this.clock,
      identity: opts.identity,
      usrDir: opts.usrDir,
      networkUp: opts.networkUp ?? true,
      linkKbps: opts.linkKbps,
      throttle: createLinkThrottle(this.clock, opts.linkKbps),
      signal: this.power.signal,
      state: new Map(),
      extras: opts.extras ?? {},
      callPython: (fn, args) => this.callPython(fn, args),
      hold: (work) => this.hold(work),
      restart: (by, note) => this.end(note === undefined ? { kind: "restart", by } : { kind: "restart", by, note }),
      powerDown: () => this.end({ kind: "power-down" }),
      print: (text, fd = 1) => (fd === 2 ? err : out)(text.endsWith("\n") ? text : text + "\n"),
    };
    this.out = out;
    this.err = err;
  }

  private readonly out: (t: string) => void;
  private readonly err: (t: string) => void;

  /** Start the interpreter and the script; returns the `ended` promise. */
  start(): Promise<SessionEnd> {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const cfg = DEFAULT_CONFIG.emulator;
    const init: WorkerInit = {
      port: port2,
      signal: this.signal.buffer as SharedArrayBuffer,
      clock: this.clock.shared,
      usrDir: this.opts.usrDir,
      modules: this.workerModules,
      script: this.opts.script,
      heapBytes: this.opts.heapBytes ?? cfg.heapBytes,
      pystackWords: this.opts.pystackWords ?? cfg.pystackWords,
    };
    const worker = new Worker(workerFile(), { workerData: init, transferList: [port2], stdout: false, stderr: false });
    this.worker = worker;
    worker.on("message", (m: WorkerToMain) => this.onMessage(m));
    worker.on("error", (e) => this.end({ kind: "crashed", message: e.message }));
    worker.on("exit", (code) => {
      if (!this.done) this.end({ kind: "crashed", message: `the interpreter stopped (exit code ${code})` });
    });
    if (this.opts.timeoutMs !== undefined) this.cancelTimeout = this.clock.setTimer(this.opts.timeoutMs, () => this.end({ kind: "timeout" }));
    return this.ended;
  }

  /** Run `fn` (an id from the Python side) with `args` in the script; resolves after it ran. */
  callPython(fn: number, args: unknown[]): Promise<void> {
    if (this.done) return Promise.resolve();
    const seq = ++this.cbSeq;
    this.busy++;
    return new Promise<void>((resolve) => {
      this.cbs.set(seq, () => {
        this.busy--;
        resolve();
        this.checkIdle();
      });
      this.send({ t: "cb", seq, fn, args });
    });
  }

  hold<T>(work: Promise<T>): Promise<T> {
    this.busy++;
    work.then(
      () => {
        this.busy--;
        this.checkIdle();
      },
      (e: unknown) => {
        this.busy--;
        if (isPowerCut(e)) this.end({ kind: "power-cut", error: e as Error });
        else this.checkIdle();
      },
    );
    return work;
  }

  /** Stop the interpreter now and settle `ended` (first reason wins). */
  end(e: SessionEnd): void {
    if (this.done) return;
    this.done = true;
    if (this.scriptStatus !== undefined && e.kind !== "ended" && e.kind !== "crashed") (e as { status?: number }).status = this.scriptStatus;
    this.cancelTimeout?.();
    this.power.abort(new Error(`module ${e.kind}`));
    for (const resolve of this.cbs.values()) resolve();
    this.cbs.clear();
    const w = this.worker;
    this.port?.close();
    void w?.terminate();
    this.finish(e);
  }

  private send(m: MainToWorker): void {
    if (this.done || !this.port) return;
    this.waitingSeq = undefined;
    this.port.postMessage(m);
    Atomics.add(this.signal, 0, 1);
    Atomics.notify(this.signal, 0);
  }

  private checkIdle(): void {
    if (this.done || this.waitingSeq === undefined || this.busy > 0) return;
    this.send({ t: "idle", seq: this.waitingSeq });
  }

  private onMessage(m: WorkerToMain): void {
    if (this.done) return;
    switch (m.t) {
      case "out":
        (m.fd === 2 ? this.err : this.out)(m.text);
        return;
      case "waiting":
        this.waitingSeq = m.seq;
        this.checkIdle();
        return;
      case "call":
        this.dispatch(m.id, m.name, m.args, m.bin);
        return;
      case "note":
        this.note(m.name, m.args, m.bin);
        return;
      case "done":
        this.end({ kind: "ended", status: this.scriptStatus ?? m.status });
        return;
      case "fatal":
        this.end({ kind: "crashed", message: m.message });
        return;
      case "ready":
        return;
    }
  }

  private note(name: string, args: unknown[], bin?: Uint8Array): void {
    if (name === "rt.cbdone") {
      const seq = args[0] as number;
      const done = this.cbs.get(seq);
      this.cbs.delete(seq);
      done?.();
      return;
    }
    if (name === "rt.scriptend") {
      this.scriptStatus = args[0] as number;
      return;
    }
    const h = this.handlers.get(name);
    if (!h) {
      this.err(`fota emulate: no host handler "${name}"\n`);
      return;
    }
    try {
      const r = h(this.context, args, bin);
      if (r instanceof Promise) void this.hold(r).catch((e: unknown) => this.handlerFailed(name, e));
    } catch (e) {
      this.handlerFailed(name, e);
    }
  }

  private handlerFailed(name: string, e: unknown): void {
    if (isPowerCut(e)) this.end({ kind: "power-cut", error: e as Error });
    else if (!this.done) this.err(`fota emulate: host handler ${name} failed: ${(e as Error)?.message ?? e}\n`);
  }

  private dispatch(id: number, name: string, args: unknown[], bin?: Uint8Array): void {
    const h = this.handlers.get(name);
    if (!h) {
      this.send({ t: "r", id, err: { type: "RuntimeError", args: [`no host handler "${name}"`] } });
      return;
    }
    this.busy++;
    const reply = (r: unknown) => {
      this.busy--;
      if (r instanceof HostReply) this.send({ t: "r", id, ok: r.value ?? null, bin: r.data });
      else this.send({ t: "r", id, ok: r === undefined ? null : r });
    };
    const fail = (e: unknown) => {
      this.busy--;
      if (isPowerCut(e)) return this.end({ kind: "power-cut", error: e as Error });
      if (e instanceof PyException) return this.send({ t: "r", id, err: { type: e.type, args: e.args } });
      const msg = isFotaError(e) ? `${e.reason}: ${e.message}` : ((e as Error)?.message ?? String(e));
      this.send({ t: "r", id, err: { type: "RuntimeError", args: [msg] } });
    };
    try {
      const r = h(this.context, args, bin);
      if (r instanceof Promise) r.then(reply, fail);
      else reply(r);
    } catch (e) {
      fail(e);
    }
  }
}

/** Run a script on a fresh interpreter until the session ends. */
export function runPython(opts: RuntimeOptions): Promise<SessionEnd> {
  return new PythonSession(opts).start();
}
