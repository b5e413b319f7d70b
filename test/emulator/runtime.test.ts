// The virtual module's Python runtime on the real MicroPython (wasm) interpreter: shims, the blocking
// bridge, callbacks, cooperative threads, the /usr mount and the virtual clock.
import { createHash } from "node:crypto";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync, gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/emulator/clock.js";
import { HostReply, PyException, type HostModule } from "../../src/emulator/host.js";
import { runPython, type RuntimeOptions } from "../../src/emulator/runtime.js";

let dir: string;
let usr: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "fota-emu-"));
  usr = join(dir, "usr");
  mkdirSync(usr);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const identity = { model: "EC600U", firmwareVersion: "EC600U_V1.0", imei: "860000000000001", serial: "SN1", powerOnReason: 1 };

/** stderr without the runtime's timing-dependent starvation warnings (see docs/emulator.md). */
function errors(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => !l.startsWith("fota emulate: warning:"))
    .join("\n")
    .trim();
}

async function run(source: string, extra: Partial<RuntimeOptions> = {}) {
  let stdout = "";
  let stderr = "";
  const end = await runPython({
    script: { name: "main.py", source },
    usrDir: usr,
    identity,
    clock: new VirtualClock(100),
    modules: [],
    // A hang would show as { kind: "timeout" } instead of a stalled test.
    timeoutMs: 30 * 60_000,
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    ...extra,
  });
  return { end, stdout, stderr, lines: stdout.trim().split("\n") };
}

describe("shims on real MicroPython", () => {
  it("runs a script using utime, _thread, uos and log", async () => {
    const r = await run(`
import utime, _thread, uos, log
log.basicConfig(level=log.INFO)
lg = log.getLogger("app")
lg.debug("hidden")
lg.info("start %s", "ok")
lg.warning("careful")
t0 = utime.ticks_ms()
utime.sleep(1)
print("elapsed_ok", utime.ticks_diff(utime.ticks_ms(), t0) >= 1000)
done = []
def worker(n):
    utime.sleep_ms(50)
    done.append(n * 2)
_thread.start_new_thread(worker, (21,))
utime.sleep(1)
print("thread", done)
f = open("/usr/hello.txt", "w")
f.write("hi there")
f.close()
print("size", uos.stat("/usr/hello.txt")[6], "files", uos.listdir("/usr"))
`);
    expect(r.end).toEqual({ kind: "ended", status: 0 });
    expect(r.lines).toEqual(["elapsed_ok True", "thread [42]", "size 8 files ['hello.txt']"]);
    expect(r.stderr).toContain("INFO:app:start ok");
    expect(r.stderr).toContain("WARN:app:careful");
    expect(r.stderr).not.toContain("hidden");
    expect(readFileSync(join(usr, "hello.txt"), "utf8")).toBe("hi there");
  });

  it("fails an unknown module with MicroPython's ImportError text, and hides the wasm-only modules", async () => {
    const r = await run(`
for name in ("socket", "machine", "js", "no_such_mod"):
    try:
        __import__(name)
        print(name, "imported")
    except ImportError as e:
        print(e)
import request
`);
    expect(r.lines).toEqual(["no module named 'socket'", "no module named 'machine'", "no module named 'js'", "no module named 'no_such_mod'"]);
    expect(r.end).toEqual({ kind: "ended", status: 1 });
    expect(r.stderr).toMatch(/File "main.py", line 8.*\n.*ImportError: no module named 'request'/s);
  });

  it("offers u-prefixed names and the same objects under both names", async () => {
    const r = await run(`
import utime, time, uos, os, ujson, ubinascii, uhashlib, usys
print(utime is time, uos is os, ujson.dumps([1]), ubinascii.hexlify(uhashlib.sha256(b"a").digest())[:8])
`);
    expect(r.lines).toEqual(["True True [1] b'ca978112'"]);
  });

  it("ends with the script's status: sys.exit code, 1 with a traceback for an uncaught exception", async () => {
    const a = await run("import sys\nprint('x')\nsys.exit(3)\n");
    expect(a.end).toEqual({ kind: "ended", status: 3 });
    const b = await run("def f():\n    return 1 // 0\nf()\n");
    expect(b.end).toEqual({ kind: "ended", status: 1 });
    expect(b.stderr).toContain('File "main.py", line 2, in f');
    expect(b.stderr).toContain("ZeroDivisionError");
  });

  it("decompresses zlib, gzip and raw deflate through the uzlib shim", async () => {
    const text = "firmware ".repeat(500);
    writeFileSync(join(usr, "z.bin"), deflateSync(text));
    writeFileSync(join(usr, "g.bin"), gzipSync(text));
    const r = await run(`
import uzlib
z = open("/usr/z.bin", "rb").read()
g = open("/usr/g.bin", "rb").read()
print(len(uzlib.decompress(z)), len(uzlib.decompress(g, 31)))
s = uzlib.DecompIO(open("/usr/z.bin", "rb"), 15)
print(s.read(9))
`);
    expect(r.lines).toEqual([`${text.length} ${text.length}`, "b'firmware '"]);
  });

  it("reports the module identity through modem and misc", async () => {
    const r = await run(`
import modem
from misc import Power
print(modem.getDevFwVersion(), modem.getDevImei(), modem.getDevModel(), Power.powerOnReason())
`);
    expect(r.lines).toEqual(["EC600U_V1.0 860000000000001 EC600U 1"]);
  });
});

describe("/usr is the host's DIR/usr", () => {
  it("reads host files, and the host sees what the script wrote, renamed and removed", async () => {
    const pkg = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);
    writeFileSync(join(usr, "FotaFile.bin"), pkg);
    writeFileSync(join(usr, "old.txt"), "old");
    writeFileSync(join(usr, "gone.txt"), "x");
    const r = await run(`
import uos, uhashlib, ubinascii
size = uos.stat("/usr/FotaFile.bin")[6]
h = uhashlib.sha256()
n = 0
with open("/usr/FotaFile.bin", "rb") as f:
    while 1:
        c = f.read(1024)
        if not c:
            break
        n += len(c)
        h.update(c)
print(size, n, ubinascii.hexlify(h.digest()).decode())
uos.mkdir("/usr/sub")
with open("/usr/sub/out.bin", "wb") as f:
    f.write(bytes(range(256)))
with open("/usr/sub/out.bin", "ab") as f:
    f.write(b"tail")
uos.rename("/usr/old.txt", "/usr/new.txt")
uos.remove("/usr/gone.txt")
for line in open("new.txt"):
    print("line", line)
try:
    open("/usr/missing.txt")
except OSError as e:
    print("errno", e.args[0])
try:
    uos.stat("/usr/missing.txt")
except OSError as e:
    print("errno", e.args[0])
print(sorted(uos.listdir("/usr")), uos.getcwd())
`);
    const digest = createHash("sha256").update(pkg).digest("hex");
    expect(errors(r.stderr)).toBe("");
    expect(r.lines).toEqual([`5000 5000 ${digest}`, "line old", "errno 2", "errno 2", "['FotaFile.bin', 'new.txt', 'sub'] /usr"]);
    const out = readFileSync(join(usr, "sub", "out.bin"));
    expect(out.length).toBe(260);
    expect(out.subarray(256).toString()).toBe("tail");
    expect(existsSync(join(usr, "gone.txt"))).toBe(false);
    expect(readFileSync(join(usr, "new.txt"), "utf8")).toBe("old");
  });

  it("imports the application's own modules from /usr", async () => {
    writeFileSync(join(usr, "helper.py"), "def twice(x):\n    return 2 * x\n");
    const r = await run("import helper\nprint(helper.twice(21))\n");
    expect(r.lines).toEqual(["42"]);
  });
});

// A host module for the bridge tests: Python source + handlers on the main thread.
function jobModule(log: string[]): HostModule {
  return {
    name: "job",
    source: `
import _fota_rt as _rt
def echo(x, data):
    return _rt.call("job.echo", x, data=data)
def fail():
    return _rt.call("job.fail")
def run(seconds, cb):
    return _rt.call("job.run", seconds, _rt.fn_id(cb))
def start(seconds, cb):
    return _rt.call("job.start", seconds, _rt.fn_id(cb))
def cancel():
    return _rt.call("job.cancel")
`,
    handlers: {
      echo: async (ctx, args, data) => {
        await ctx.clock.sleep(500);
        const d = data ?? new Uint8Array();
        return new HostReply({ got: args[0], len: d.length, sha: createHash("sha256").update(d).digest("hex") }, Uint8Array.from(d).reverse());
      },
      fail: () => {
        throw new PyException("OSError", [28]);
      },
      // Blocks the caller for `seconds` of virtual time, calling back [1, percent] each 10 %.
      run: async (ctx, args) => {
        const [seconds, fn] = args as [number, number];
        const state = { cancelled: false };
        ctx.state.set("job", state);
        for (let p = 10; p <= 100; p += 10) {
          await ctx.clock.sleep(seconds * 100);
          if (state.cancelled) {
            log.push(`cancelled at ${p - 10}`);
            await ctx.callPython(fn, [[-1, p - 10]]);
            return -1;
          }
          await ctx.callPython(fn, [[1, p]]);
        }
        return 0;
      },
      // Returns at once; the job runs in the background and reports through the callback.
      start: (ctx, args) => {
        const [seconds, fn] = args as [number, number];
        void ctx.hold(
          (async () => {
            await ctx.clock.sleep(seconds * 1000);
            await ctx.callPython(fn, [[0, 100]]);
            log.push("background done");
          })(),
        );
        return 0;
      },
      cancel: (ctx) => {
        const s = ctx.state.get("job") as { cancelled: boolean } | undefined;
        if (!s) return -1;
        s.cancelled = true;
        return 0;
      },
    },
  };
}

describe("the blocking bridge", () => {
  it("blocks Python until an async handler answers, passing JSON values and bytes both ways", async () => {
    const r = await run(
      `
import job, utime, uhashlib, ubinascii
data = bytes(range(256)) * 300
t0 = utime.ticks_ms()
info, back = job.echo({"a": [1, 2]}, data)
print(info["got"], info["len"], info["sha"] == ubinascii.hexlify(uhashlib.sha256(data).digest()).decode())
print(back == bytes(reversed(data)), utime.ticks_diff(utime.ticks_ms(), t0) >= 500)
try:
    job.fail()
except OSError as e:
    print("OSError", e.args[0])
`,
      { modules: [jobModule([])] },
    );
    expect(errors(r.stderr)).toBe("");
    expect(r.lines).toEqual(["{'a': [1, 2]} 76800 True", "True True", "OSError 28"]);
  });

  it("surfaces a handler's PyException as that Python exception", async () => {
    const r = await run("import job\njob.fail()\n", { modules: [jobModule([])] });
    expect(r.end).toEqual({ kind: "ended", status: 1 });
    expect(r.stderr).toContain("OSError: 28");
  });
});

describe("callbacks", () => {
  it("run in the script's interpreter while the caller is blocked, in order, before the call returns", async () => {
    const r = await run(
      `
import job
seen = []
def cb(args):
    seen.append(args[1])
    print("cb", args[0], args[1])
res = job.run(1, cb)
print("returned", res, len(seen))
`,
      { modules: [jobModule([])] },
    );
    const cbs = Array.from({ length: 10 }, (_, i) => `cb 1 ${(i + 1) * 10}`);
    expect(r.lines).toEqual([...cbs, "returned 0 10"]);
  });

  it("are delivered at the next blocking call when the script is busy, and keep the module on after the script ends", async () => {
    const log: string[] = [];
    const r = await run(
      `
import job, utime
def cb(args):
    print("callback", args)
print("start", job.start(5, cb))
x = 0
for i in range(20000):
    x += i
print("busy loop done")
`,
      { modules: [jobModule(log)] },
    );
    expect(r.lines).toEqual(["start 0", "busy loop done", "callback [0, 100]"]);
    expect(log).toEqual(["background done"]);
    expect(r.end).toEqual({ kind: "ended", status: 0 });
  });

  it("print a traceback when a callback raises, and the script goes on", async () => {
    const r = await run(
      `
import job
def cb(args):
    if args[1] == 50:
        raise ValueError("bad progress")
print("returned", job.run(1, cb))
`,
      { modules: [jobModule([])] },
    );
    expect(r.lines).toEqual(["returned 0"]);
    expect(r.stderr).toContain("ValueError: bad progress");
  });
});

describe("cooperative _thread", () => {
  it("runs the documented download_cancel pattern: a thread cancels a blocking call", async () => {
    const log: string[] = [];
    const r = await run(
      `
import job, _thread, utime
def th_func():
    utime.sleep(3.5)
    print("cancel ->", job.cancel())
def result(args):
    print("status", args[0], args[1])
_thread.start_new_thread(th_func, ())
print("run ->", job.run(10, result))
`,
      { modules: [jobModule(log)], clock: new VirtualClock(10) },
    );
    expect(errors(r.stderr)).toBe("");
    // Progress callbacks arrive while httpDownload-like run() blocks; the thread's cancel (at 3.5 s
    // of virtual time) stops it before the end; the failure callback carries the last progress.
    const progress = r.lines.filter((l) => l.startsWith("status 1 ")).map((l) => Number(l.split(" ")[2]));
    expect(progress).toEqual(progress.map((_, i) => (i + 1) * 10));
    const last = progress.length ? progress[progress.length - 1]! : 0;
    expect(last).toBeLessThan(100);
    expect(r.lines.slice(progress.length)).toEqual(["cancel -> 0", `status -1 ${last}`, "run -> -1"]);
    expect(log).toEqual([`cancelled at ${last}`]);
  });

  it("joins threads through a lock; uncontended locks in threads; acquire with timeout; get_ident", async () => {
    const r = await run(`
import _thread, utime
done = _thread.allocate_lock()
shared = _thread.allocate_lock()
order = []
def worker(name, ms):
    with shared:
        order.append(name + ":" + str(_thread.get_ident()))
    utime.sleep_ms(ms)
    order.append(name + ":slept")
    if name == "b":
        done.release()
done.acquire()
_thread.start_new_thread(worker, ("a", 100))
_thread.start_new_thread(worker, ("b", 10))
print("try", done.acquire(0))
print("join", done.acquire())
print(order)
print("timeout", done.acquire(1, 0.2), done.locked())
done.release()
print("free", done.acquire(1, 0.2))
print(_thread.get_ident())
`);
    expect(errors(r.stderr)).toBe("");
    expect(r.lines).toEqual(["try False", "join True", "['a:2', 'b:3', 'b:slept', 'a:slept']", "timeout False True", "free True", "1"]);
  });

  it("detects a wait that can never end instead of hanging", async () => {
    const r = await run(`
import _thread
lock = _thread.allocate_lock()
lock.acquire()
lock.acquire()
print("not reached")
`);
    expect(r.end).toEqual({ kind: "ended", status: 1 });
    expect(r.stderr).toContain("RuntimeError: deadlock: thread 1 waits for a lock held by thread 1");
    expect(r.stderr).toContain('File "main.py", line 5');
    expect(r.stderr).not.toContain("_fota_rt");
    expect(r.stdout).toBe("");
  });

  it("names the limitation when a thread waits for a thread suspended below it", async () => {
    const r = await run(`
import _thread, utime
lock = _thread.allocate_lock()
def worker():
    lock.acquire()
    print("worker got the lock")
lock.acquire()
_thread.start_new_thread(worker, ())
utime.sleep(1)
lock.release()
print("main done")
`);
    expect(r.stderr).toContain("deadlock: thread 2 waits for a lock held by thread 1, and nothing left in the module can end that wait (threads suspended below it: 1;");
    expect(r.lines).toEqual(["main done"]);
  });

  it("stop_thread ends a thread at its next blocking point", async () => {
    const r = await run(`
import _thread, utime
ticks = []
def loop():
    while True:
        ticks.append(1)
        utime.sleep(1)
def stopper(tid):
    print("running", _thread.threadIsRunning(tid))
    _thread.stop_thread(tid)
tid = _thread.start_new_thread(loop, ())
_thread.start_new_thread(stopper, (tid,))
utime.sleep(5)
print("after", _thread.threadIsRunning(tid), len(ticks))
`);
    expect(r.lines).toEqual(["running True", "after False 1"]);
  });
});

describe("queue and osTimer", () => {
  it("passes items between threads through queue.Queue (get blocks until a put)", async () => {
    const r = await run(`
import _thread, utime
from queue import Queue
q = Queue(5)
got = []
def consumer():
    for i in range(3):
        got.append(q.get())
def producer():
    for i in range(3):
        utime.sleep_ms(20)
        q.put(i * 10)
_thread.start_new_thread(producer, ())
utime.sleep(1)
print(q.size(), q.empty())
_thread.start_new_thread(consumer, ())
utime.sleep(1)
print(got, q.empty())
`);
    expect(errors(r.stderr)).toBe("");
    expect(r.lines).toEqual(["3 False", "[0, 10, 20] True"]);
  });

  it("fires osTimer callbacks on the virtual clock, periodic until stopped", async () => {
    const r = await run(`
import osTimer, utime
ticks = []
t = osTimer()
def cb(arg):
    ticks.append(utime.ticks_ms())
print(t.start(100, 1, cb))
utime.sleep_ms(1050)
print(t.stop())
print(2 <= len(ticks) <= 11, ticks == sorted(ticks))
n = len(ticks)
utime.sleep(1)
print("stopped", len(ticks) == n)
once = osTimer()
fired = []
def one(a):
    fired.append(a)
    print("one-shot", len(fired))
once.start(50, 0, one)
`,
      { clock: new VirtualClock(10) },
    );
    expect(errors(r.stderr)).toBe("");
    expect(r.lines).toEqual(["0", "0", "True True", "stopped True", "one-shot 1"]);
    expect(r.end).toEqual({ kind: "ended", status: 0 });
  });
});

describe("the virtual clock", () => {
  it("runs sleeps at --clock-speed: a minute of virtual time in well under a minute", async () => {
    const t0 = Date.now();
    const r = await run(
      `
import utime
a = utime.time()
t = utime.ticks_ms()
utime.sleep(60)
print(utime.time() - a >= 60, utime.ticks_diff(utime.ticks_ms(), t) >= 60000)
`,
      { clock: new VirtualClock(1000) },
    );
    expect(r.lines).toEqual(["True True"]);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("reads a virtual time that is a whole number of ms exactly (not cut to 32 bits on the way into Python)", async () => {
    // The wasm build hands integer-valued JS numbers to Python as 32-bit ints. At 1e-9 virtual ms per
    // real ms the clock stays on its whole-ms start for the whole test (the added part is below the
    // double's resolution at 1.8e12), so every read is such a number; before the fix each read came
    // back as garbage, and a utime.sleep computed a real wait of weeks from it (the hang of issue EMU-FIX).
    const start = Date.UTC(2026, 10, 27, 10, 30, 0);
    const r = await run(
      `
import utime
print(utime.time())
print(utime.time_ns() // 1000000)
print(utime.localtime()[:6])
t = utime.ticks_ms()
print(utime.ticks_diff(utime.ticks_ms(), t))
`,
      { clock: new VirtualClock(1e-9, start), timeoutMs: undefined },
    );
    expect(r.end).toEqual({ kind: "ended", status: 0 });
    expect(r.lines).toEqual([String(start / 1000), String(start), "(2026, 11, 27, 10, 30, 0)", "0"]);
  });

  it("gives localtime/mktime of the virtual clock's date", async () => {
    const start = Date.UTC(2030, 0, 31, 23, 59, 0);
    const r = await run(
      `
import utime
t = utime.localtime()
print(t[:5], t[5] < 50, t[6], t[7])
print(utime.mktime(t) == utime.time() or utime.mktime(t) == utime.time() - 1)
print(utime.localtime(0))
utime.setTimeZone(8)
print(utime.localtime(0)[3])
`,
      { clock: new VirtualClock(1, start) },
    );
    expect(r.lines).toEqual(["(2030, 1, 31, 23, 59) True 3 31", "True", "(1970, 1, 1, 0, 0, 0, 3, 1)", "8"]);
  });
});

describe("power", () => {
  it("Power.powerRestart() ends the script at once with a restart", async () => {
    const r = await run(`
from misc import Power
print("before")
Power.powerRestart()
print("after")
`);
    expect(r.end).toEqual({ kind: "restart", by: "script", note: "Power.powerRestart()" });
    expect(r.lines).toEqual(["before"]);
  });

  it("powerDown() ends the session with power-down", async () => {
    const r = await run("from misc import Power\nPower.powerDown()\n");
    expect(r.end.kind).toBe("power-down");
  });
});
