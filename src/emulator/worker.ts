// The MicroPython worker of a virtual module: one interpreter per worker thread. It runs the
// application script and blocks (Atomics.wait) whenever Python calls into the engine, which lives on
// the main thread. Bytes cross between Python and JS through the interpreter's memory
// (uctypes.addressof + Module.getValue/setValue), which is much faster than the proxy objects.

import { parentPort, workerData, receiveMessageOnPort } from "node:worker_threads";
import * as fs from "node:fs";
import * as path from "node:path";
import { virtualNowFrom } from "./clock.js";
import type { MainToWorker, WorkerInit, WorkerToMain } from "./protocol.js";
import { RUNTIME_PY } from "./shims/runtime.js";

interface EmModule {
  getValue(ptr: number, type: string): number;
  setValue(ptr: number, value: number, type: string): void;
  FS: { mkdirTree(p: string): void; writeFile(p: string, data: string | Uint8Array): void };
}
interface MicroPython {
  _module: EmModule;
  registerJsModule(name: string, module: object): void;
  runPython(code: string): unknown;
}
type Loader = (opts: object) => Promise<MicroPython>;

const init = workerData as WorkerInit;
const port = init.port;
const signal = new Int32Array(init.signal);
const clockParams = new Float64Array(init.clock);
const out = parentPort!;

function send(m: WorkerToMain): void {
  out.postMessage(m);
}

// ------------------------------------------------------------------ console output, in order with calls
const pending: Record<1 | 2, number[]> = { 1: [], 2: [] };
const decoder = new TextDecoder();
function flush(fd: 1 | 2): void {
  const buf = pending[fd];
  if (buf.length === 0) return;
  send({ t: "out", fd, text: decoder.decode(new Uint8Array(buf)) });
  pending[fd] = [];
}
function flushAll(): void {
  flush(1);
  flush(2);
}
function sink(fd: 1 | 2) {
  return (chunk: Uint8Array) => {
    for (const c of chunk) {
      pending[fd].push(c);
      if (c === 10 || pending[fd].length >= 4096) flush(fd);
    }
  };
}

// ------------------------------------------------------------------ bytes in and out of the interpreter
let M: EmModule;
function copyOut(addr: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = M.getValue(addr + i, "i8") & 0xff;
  return b;
}
function copyIn(addr: number, data: Uint8Array): void {
  for (let i = 0; i < data.length; i++) M.setValue(addr + i, data[i]!, "i8");
}

// ------------------------------------------------------------------ the bridge
let nextId = 1;
let seen = Atomics.load(signal, 0);
let waitSeq = 0;
const replyBins = new Map<number, Uint8Array>();

function receive(): MainToWorker | undefined {
  const m = receiveMessageOnPort(port);
  return m ? (m.message as MainToWorker) : undefined;
}

/** Next message from main, waiting up to `timeoutMs` real ms (< 0: no deadline). */
function nextMessage(timeoutMs: number): MainToWorker | undefined {
  let m: MainToWorker | undefined;
  // An "idle" already queued answers an earlier wait (the engine answered that wait meanwhile).
  while ((m = receive())) if (m.t !== "idle") return m;
  flushAll();
  const forever = timeoutMs < 0;
  const seq = ++waitSeq;
  if (forever) send({ t: "waiting", seq });
  const end = performance.now() + (forever ? 0 : timeoutMs);
  for (;;) {
    const left = forever ? Infinity : end - performance.now();
    if (!forever && left <= 0) {
      while ((m = receive())) if (m.t !== "idle") return m;
      return undefined;
    }
    Atomics.wait(signal, 0, seen, left);
    seen = Atomics.load(signal, 0);
    while ((m = receive())) {
      if (m.t === "idle" && (!forever || m.seq !== seq)) continue; // stale answer to an earlier wait
      return m;
    }
  }
}

const host = {
  /** Post a call (kind 1: expects a reply; returns its id) or a note (kind 0). */
  post(kind: number, name: string, argsJson: string, addr: number, len: number): number {
    flushAll();
    const args = JSON.parse(argsJson) as unknown[];
    const bin = len > 0 ? copyOut(addr, len) : undefined;
    if (kind === 0) {
      send(bin ? { t: "note", name, args, bin } : { t: "note", name, args });
      return 0;
    }
    const id = nextId++;
    send(bin ? { t: "call", id, name, args, bin } : { t: "call", id, name, args });
    return id;
  },
  /** One message from main as JSON, or null when the timeout passed first. */
  poll(timeoutMs: number): string | null {
    const m = nextMessage(timeoutMs);
    if (!m) return null;
    if (m.t === "r" && m.bin) {
      replyBins.set(m.id, m.bin);
      const { bin, ...rest } = m;
      return JSON.stringify({ ...rest, bin: bin.length });
    }
    return JSON.stringify(m);
  },
  /** Copy the binary part of reply `id` into the Python buffer at `addr`. */
  take(id: number, addr: number): number {
    const b = replyBins.get(id);
    replyBins.delete(id);
    if (!b) return 0;
    copyIn(addr, b);
    return b.length;
  },
  // Numbers cross into Python as text: the wasm build's proxy turns every integer-valued JS number
  // into a 32-bit int, so a virtual time (ms since 1970, ~1.8e12) that happens to be a whole number
  // of ms would arrive truncated to garbage (and a sleep would compute a wait of weeks from it).
  vnow(): string {
    return String(virtualNowFrom(clockParams));
  },
  speed(): string {
    return String(clockParams[2]!);
  },
  script(): string {
    return init.script.source;
  },
};

// ------------------------------------------------------------------ /usr on the host, synchronous
const ERRNO: Record<string, number> = { ENOENT: 2, EIO: 5, EBADF: 9, EACCES: 13, EPERM: 1, EEXIST: 17, ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENOSPC: 28, ENOTEMPTY: 39 };
const root = path.resolve(init.usrDir);
function hostPath(p: string): string {
  const rel = path.posix.normalize("/" + p).replace(/^\/+/, "");
  const full = path.resolve(root, rel);
  if (full !== root && !full.startsWith(root + path.sep)) throw Object.assign(new Error("outside /usr"), { code: "EACCES" });
  return full;
}
function errno(e: unknown): number {
  const code = (e as { code?: string }).code ?? "EIO";
  return -(ERRNO[code] ?? 5);
}
const files = new Map<number, number>();
let nextFile = 3;
const FLAGS: Record<string, string> = { r: "r", w: "w", a: "a", x: "wx", "r+": "r+", "w+": "w+", "a+": "a+" };

const hostFs = {
  stat(p: string): string | number {
    try {
      const st = fs.statSync(hostPath(p));
      return JSON.stringify([st.isDirectory() ? 0x4000 : 0x8000, st.isDirectory() ? 0 : st.size, Math.floor(st.mtimeMs / 1000)]);
    } catch (e) {
      return errno(e);
    }
  },
  listdir(p: string): string | number {
    try {
      const dir = hostPath(p);
      const entries = fs.readdirSync(dir, { withFileTypes: true }).map((d) => {
        const isDir = d.isDirectory();
        return [d.name, isDir ? "d" : "f", isDir ? 0 : fs.statSync(path.join(dir, d.name)).size];
      });
      return JSON.stringify(entries);
    } catch (e) {
      return errno(e);
    }
  },
  open(p: string, mode: string): number {
    const m = mode.replace(/[bt]/g, "");
    const flag = FLAGS[m];
    if (!flag) return -22;
    try {
      const full = hostPath(p);
      if (fs.existsSync(full) && fs.statSync(full).isDirectory()) return -21;
      const fd = fs.openSync(full, flag);
      const h = nextFile++;
      files.set(h, fd);
      return h;
    } catch (e) {
      return errno(e);
    }
  },
  size(h: number): number {
    const fd = files.get(h);
    return fd === undefined ? -9 : fs.fstatSync(fd).size;
  },
  readinto(h: number, pos: number, addr: number, n: number): number {
    const fd = files.get(h);
    if (fd === undefined) return -9;
    try {
      const b = new Uint8Array(n);
      const got = fs.readSync(fd, b, 0, n, pos);
      copyIn(addr, got === n ? b : b.subarray(0, got));
      return got;
    } catch (e) {
      return errno(e);
    }
  },
  write(h: number, pos: number, addr: number, n: number): number {
    const fd = files.get(h);
    if (fd === undefined) return -9;
    try {
      return fs.writeSync(fd, copyOut(addr, n), 0, n, pos);
    } catch (e) {
      return errno(e);
    }
  },
  close(h: number): number {
    const fd = files.get(h);
    if (fd !== undefined) {
      files.delete(h);
      fs.closeSync(fd);
    }
    return 0;
  },
  remove(p: string): number {
    try {
      const full = hostPath(p);
      if (fs.statSync(full).isDirectory()) return -21;
      fs.unlinkSync(full);
      return 0;
    } catch (e) {
      return errno(e);
    }
  },
  rmdir(p: string): number {
    try {
      fs.rmdirSync(hostPath(p));
      return 0;
    } catch (e) {
      return errno(e);
    }
  },
  mkdir(p: string): number {
    try {
      fs.mkdirSync(hostPath(p));
      return 0;
    } catch (e) {
      return errno(e);
    }
  },
  rename(a: string, b: string): number {
    try {
      fs.renameSync(hostPath(a), hostPath(b));
      return 0;
    } catch (e) {
      return errno(e);
    }
  },
};

// ------------------------------------------------------------------ start
async function main(): Promise<void> {
  const { loadMicroPython } = (await import("@micropython/micropython-webassembly-pyscript" as string)) as { loadMicroPython: Loader };
  const mp = await loadMicroPython({ heapsize: init.heapBytes, pystack: init.pystackWords, linebuffer: false, stdout: sink(1), stderr: sink(2) });
  M = mp._module;
  mp.registerJsModule("_fota_host", host);
  mp.registerJsModule("_fota_fs", hostFs);
  M.FS.mkdirTree("/lib/_qp");
  M.FS.writeFile("/lib/_fota_rt.py", RUNTIME_PY);
  for (const m of init.modules) M.FS.writeFile(`/lib/_qp/_qp_${m.name}.py`, m.source);
  const names = JSON.stringify(init.modules.map((m) => m.name));
  const aliases = JSON.stringify(Object.fromEntries(init.modules.map((m) => [m.name, m.aliases])));
  const exported = JSON.stringify(Object.fromEntries(init.modules.map((m) => [m.name, m.exported])));
  mp.runPython(`import json, _fota_rt\n_fota_rt.mount_usr()\n_fota_rt.install(json.loads(${JSON.stringify(names)}), json.loads(${JSON.stringify(aliases)}), json.loads(${JSON.stringify(exported)}))\n`);
  send({ t: "ready" });
  const status = mp.runPython(`_fota_rt.run_main(${JSON.stringify(init.script.name)})`);
  flushAll();
  send({ t: "done", status: typeof status === "number" ? status : 0 });
}

main().catch((e: unknown) => {
  flushAll();
  const err = e as { type?: string; message?: string };
  send({ t: "fatal", message: err.type ? `${err.type}: ${err.message}` : String(err?.message ?? e) });
});
