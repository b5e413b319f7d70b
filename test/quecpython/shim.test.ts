// The `fota` / `app_fota` shims on the real MicroPython (wasm) runtime of the virtual module: scripts
// in the QuecPython style, a real device and a real HTTP server.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { VirtualClock } from "../../src/emulator/clock.js";
import { runPython, type RuntimeOptions } from "../../src/emulator/runtime.js";
import { QUECPYTHON_MODULES } from "../../src/quecpython/modules.js";
import { installStagedFiles } from "../../src/quecpython/app_fota.js";
import { PROFILES } from "../../src/quecpython/profiles.js";
import { FAST_FETCH, V2, firmware, fullPackage, makeModule, sha256Hex, type TestModule } from "./fixtures.js";
import { TestServer } from "./server.js";

let server: TestServer;
let dir: string;
let usr: string;
beforeAll(async () => {
  server = await new TestServer().start();
  for (const model of ["EC600U", "EC600N", "BG95", "EC200A"]) server.files.set(`/${model}.fota`, fullPackage({ models: [model] }));
  server.files.set("/slow.fota", fullPackage({ models: ["BG95"], image: firmware("big", 200 * 1024), compression: "none" }));
  server.files.set("/app/main.py", new TextEncoder().encode("print('app v2')\n"));
});
afterAll(async () => server.stop());
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "quec-shim-"));
  usr = join(dir, "usr");
  mkdirSync(usr);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(m: TestModule, source: string, extra: Partial<RuntimeOptions> = {}) {
  let stdout = "";
  let stderr = "";
  const end = await runPython({
    script: { name: "main.py", source },
    usrDir: usr,
    identity: { model: m.profile.model, firmwareVersion: "1.0.0", imei: "861186200000010", serial: "SN1", powerOnReason: 1 },
    clock: new VirtualClock(50),
    modules: [...QUECPYTHON_MODULES],
    extras: { device: m.device, fetch: FAST_FETCH },
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    ...extra,
  });
  return { end, stdout, stderr, lines: stdout.trim().split("\n") };
}

describe("fota shim on MicroPython", () => {
  it("Unisoc (blocking): callbacks during the call, 0 returned, then the engine restarts the module", async () => {
    const m = makeModule(PROFILES.EC600U!);
    const r = await run(
      m,
      `
import fota
import utime
def cb(args):
    print("cb", args[0], args[1])
f = fota()
print("same", f is fota())
res = f.httpDownload(url1="${server.url("/EC600U.fota")}", callback=cb)
print("ret", res)
utime.sleep(5)
print("not reached")
`,
    );
    expect(r.end).toMatchObject({ kind: "restart", by: "engine" });
    expect(r.lines[0]).toBe("same True");
    const cbs = r.lines.filter((l) => l.startsWith("cb "));
    expect(cbs.slice(-2)).toEqual(["cb 0 100", "cb 2 100"]);
    expect(r.lines.indexOf("ret 0")).toBeGreaterThan(r.lines.indexOf("cb 2 100"));
    expect(r.stdout).not.toContain("not reached");
    expect(m.device.boot().image.sha256).toBe(sha256Hex(V2));
  });

  it("ASR (async): returns 0 at once; the module stays on, delivers 2 and restarts even with reset_disable=1", async () => {
    const m = makeModule(PROFILES.EC600N!);
    const r = await run(
      m,
      `
import fota
def cb(args):
    print("cb", args[0], args[1])
f = fota(reset_disable=1)
print("ret", f.httpDownload(url1="${server.url("/EC600N.fota")}", callback=cb))
print("script end")
`,
    );
    expect(r.end).toMatchObject({ kind: "restart", by: "engine" });
    expect(r.lines.slice(0, 2)).toEqual(["ret 0", "script end"]);
    expect(r.lines.slice(-2)).toEqual(["cb 0 100", "cb 2 100"]);
    expect(m.device.boot().image.version).toBe("2.0.0");
  });

  it("reset_disable=1 on a model that honours it: armed, no restart until Power.powerRestart()", async () => {
    const m = makeModule(PROFILES.EC200A!);
    const r = await run(
      m,
      `
import fota
from misc import Power
f = fota(reset_disable=1)
print("ret", f.httpDownload(url1="${server.url("/EC200A.fota")}"))
Power.powerRestart()
`,
    );
    expect(r.end).toMatchObject({ kind: "restart", by: "script" });
    expect(r.lines).toEqual(["ret 0"]);
    expect(m.device.boot().image.version).toBe("2.0.0");
  });

  it("argument rules: keyword-only, types, absent methods, url2 and FTP refusals", async () => {
    const m = makeModule(PROFILES.EC600U!);
    const r = await run(
      m,
      `
import fota
f = fota()
def show(fn):
    try:
        print("ok", fn())
    except Exception as e:
        print(type(e).__name__, e)
show(lambda: f.httpDownload("${server.url("/EC600U.fota")}"))
show(lambda: f.httpDownload(url1=5))
show(lambda: f.httpDownload(url=1))
show(lambda: f.httpDownload(url1="${server.url("/EC600U.fota")}", url2="${server.url("/EC600U.fota")}"))
show(lambda: f.httpDownload(url1="ftp://u:p@127.0.0.1:2121/fw.bin"))
show(lambda: fota(1))
show(lambda: fota(reset_disable="x"))
show(lambda: f.write(b"abc"))
show(lambda: f.write(b"abc", "3"))
show(lambda: f.write(3, 3))
show(lambda: f.flush(1))
print(hasattr(f, "download_cancel"), hasattr(f, "apn_set"), hasattr(f, "write"))
show(lambda: f.download_cancel())
`,
    );
    expect(r.end).toMatchObject({ kind: "ended", status: 0 });
    expect(r.lines).toEqual([
      "TypeError extra positional arguments given",
      "TypeError can't convert 'int' object to str implicitly",
      "TypeError extra keyword arguments given",
      "ok -1",
      "ok -1",
      "TypeError extra positional arguments given",
      "TypeError can't convert str to int",
      "ok -1",
      "TypeError can't convert str to int",
      "TypeError object with buffer protocol required",
      "TypeError function takes 1 positional arguments but 2 were given",
      "False False True",
      "AttributeError 'fota' object has no attribute 'download_cancel'",
    ]);
    expect(m.device.status().state).not.toBe("pending");
  });

  it("BG95: download_cancel from a _thread stops the blocking httpDownload; a later one works", async () => {
    const m = makeModule(PROFILES.BG95!);
    server.faults.set("/slow.fota", { paceBytes: 2048, paceMs: 10 });
    try {
      const r = await run(
        m,
        `
import fota, _thread, utime
got = []
def cb(args):
    got.append(args)
def th():
    utime.sleep_ms(300)
    print("cancel", f.download_cancel())
f = fota(reset_disable=1)
print("apn", f.apn_set(fota_apn="CMNET", ip_type=0, fota_user="abc", fota_password="123"))
_thread.start_new_thread(th, ())
print("first", f.httpDownload(url1="${server.url("/slow.fota")}", callback=cb))
print("last cb", got[-1])
print("downloaded", [a for a in got if a[0] in (0, 2)])
got.clear()
print("second", f.httpDownload(url1="${server.url("/BG95.fota")}", callback=cb))
print("last cb", got[-1])
`,
      );
      expect(r.end).toMatchObject({ kind: "ended", status: 0 });
      expect(r.lines).toEqual(["apn 0", "cancel 0", "first -1", "last cb [-1, 1011]", "downloaded []", "second 0", "last cb [2, 100]"]);
    } finally {
      server.faults.delete("/slow.fota");
    }
    expect(m.device.boot().image.version).toBe("2.0.0");
  });

  it("local upgrade from a file in /usr (EC600U)", async () => {
    const m = makeModule(PROFILES.EC600U!);
    writeFileSync(join(usr, "FotaFile.bin"), server.files.get("/EC600U.fota")!);
    const r = await run(
      m,
      `
import fota, uos
from misc import Power
f = fota()
size = uos.stat("/usr/FotaFile.bin")[6]
bad = 0
with open("/usr/FotaFile.bin", "rb") as fh:
    while True:
        c = fh.read(1000)
        if not c:
            break
        if f.write(c, size) != 0:
            bad += 1
print("writes failed", bad, "flush", f.flush(), "verify", f.verify())
Power.powerRestart()
`,
    );
    expect(r.lines).toEqual(["writes failed 0 flush 0 verify 0"]);
    expect(r.end).toMatchObject({ kind: "restart", by: "script" });
    expect(m.device.boot().image.version).toBe("2.0.0");
  });
});

describe("app_fota shim on MicroPython", () => {
  it("bulk_download stages files, set_update_flag arms them, the boot installs them", async () => {
    const m = makeModule(PROFILES.EC600U!);
    writeFileSync(join(usr, "main.py"), "print('app v1')\n");
    const r = await run(
      m,
      `
import app_fota
from misc import Power
u = app_fota.new()
print("failed", u.bulk_download([{"url": "${server.url("/app/missing.py")}", "file_name": "/usr/x.py"}]))
print("failed", u.bulk_download([{"url": "${server.url("/app/main.py")}", "file_name": "/usr/main.py"}]))
print("single", u.download("${server.url("/app/main.py")}", "/usr/copy.py"))
u.set_update_flag()
Power.powerRestart()
`,
    );
    expect(r.lines).toHaveLength(3);
    // MicroPython prints dict keys in its own order; check the one failed item's content
    expect(r.lines[0]).toMatch(/^failed \[\{.*\}\]$/);
    expect(r.lines[0]).toContain(`'url': '${server.url("/app/missing.py")}'`);
    expect(r.lines[0]).toContain("'file_name': '/usr/x.py'");
    expect(r.lines.slice(1)).toEqual(["failed None", "single 0"]);
    expect(r.end).toMatchObject({ kind: "restart", by: "script" });
    expect(readFileSync(join(usr, "main.py"), "utf8")).toBe("print('app v1')\n");
    expect(existsSync(join(usr, ".updater/update.flag"))).toBe(true);
    installStagedFiles(usr); // the boot-time step
    expect(readFileSync(join(usr, "main.py"), "utf8")).toBe("print('app v2')\n");
    expect(readFileSync(join(usr, "copy.py"), "utf8")).toBe("print('app v2')\n");
  });
});
