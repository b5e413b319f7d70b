// The virtual module's power cycle in-process: self test and rollback, power-on reasons, timeouts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, publicKeyPem, buildFullPackage } from "../../src/format/index.js";
import { EXIT_POWER_CUT, EXIT_TIMEOUT, emulate } from "../../src/emulator/emulate.js";
import { SELFTEST_FAIL_MARKER, VirtualModule, moduleInfo } from "../../src/emulator/module.js";
import { serve, type RunningServer } from "../../src/server/index.js";
import { mkdirSync } from "node:fs";

let dir: string;
let pub: string;
let key: ReturnType<typeof generateSigningKey>;
const fw1 = new Uint8Array(20 * 1024).map((_, i) => (i * 7) & 0xff);

const LOCAL = `
import fota, uos
from misc import Power
f = fota()
size = uos.stat("/usr/FotaFile.bin")[6]
with open("/usr/FotaFile.bin", "rb") as fh:
    while 1:
        c = fh.read(4096)
        if not c:
            break
        f.write(c, size)
print(f.flush(), f.verify())
Power.powerRestart()
`;

function image(tag: string): Uint8Array {
  const b = new Uint8Array(24 * 1024).map((_, i) => (i * 11) & 0xff);
  b.set(new TextEncoder().encode(tag), 100);
  return b;
}

function module(name: string, pkgImage?: Uint8Array, model = "EC600U"): string {
  const state = join(dir, name);
  VirtualModule.create({ stateDir: state, model, firmware: fw1, version: "1.0", trust: [pub] });
  if (pkgImage) writeFileSync(join(state, "usr", "FotaFile.bin"), buildFullPackage({ keys: [key], image: pkgImage, version: "2.0", models: ["EC600U"] }).bytes);
  return state;
}

async function run(state: string, source: string, extra: { powerCutAfterOps?: number; timeoutS?: number; netOff?: boolean; linkKbps?: number } = {}) {
  const script = join(dir, `s${Math.random().toString(36).slice(2)}.py`);
  writeFileSync(script, source);
  const lines: string[] = [];
  let stdout = "";
  const r = await emulate({ stateDir: state, scriptPath: script, clockSpeed: 1000, onLine: (l) => lines.push(l), stdout: (t) => (stdout += t), stderr: (t) => lines.push(t), ...extra });
  return { r, lines, stdout };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "fota-module-"));
  key = generateSigningKey();
  pub = publicKeyPem(key);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OTA = (url: string) => `
import fota, utime, log
log.basicConfig(level=log.INFO)
def result(args):
    print("status", args[0], args[1])
f = fota()
print("httpDownload ->", f.httpDownload(url1="${url}", callback=result))
utime.sleep(2)
print("still running")
`;

describe("OTA over HTTP on the virtual module", () => {
  let server: RunningServer;
  beforeAll(async () => {
    const www = join(dir, "www");
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, "v2.fota"), buildFullPackage({ keys: [key], image: image("ota 2.0"), version: "2.0", models: ["EC600N", "EC600U"] }).bytes);
    server = await serve({ dir: www, httpPort: 0 });
  });
  afterAll(() => server?.close());

  it("EC600N (async, automatic restart): callbacks in order, restart, install at boot with progress", async () => {
    const state = module("ota-n", undefined, "EC600N");
    const { r, stdout, lines } = await run(state, OTA(new URL("v2.fota", server.httpUrl).href), { linkKbps: 200 });
    expect(r).toMatchObject({ exitCode: 0, end: "restart", fromVersion: "1.0", toVersion: "2.0" });
    const out = stdout.trim().split("\n");
    expect(out[0]).toBe("httpDownload -> 0");
    const statuses = out.filter((l) => l.startsWith("status"));
    expect(statuses.slice(-2)).toEqual(["status 0 100", "status 2 100"]);
    expect(statuses.slice(0, -2).every((l) => l.startsWith("status 1 "))).toBe(true);
    const text = lines.join("\n");
    expect(text).toContain("bootloader: installing 2.0: 100%");
    expect(moduleInfo(state).firmware!.version).toBe("2.0");
  });

  it("throttles the download to --link-kbps in virtual time (EC600U blocks in httpDownload)", async () => {
    const state = module("ota-slow", undefined, "EC600U");
    const size = (await import("node:fs")).statSync(join(dir, "www", "v2.fota")).size;
    const script = `
import fota, utime
f = fota(reset_disable=1)
t = utime.ticks_ms()
r = f.httpDownload(url1="${new URL("v2.fota", server.httpUrl).href}")
print(r, utime.ticks_diff(utime.ticks_ms(), t))
`;
    const { r, stdout } = await run(state, script, { linkKbps: 64 });
    const [ret, ms] = stdout.trim().split(" ").map(Number);
    expect(ret).toBe(0);
    // size bytes at 64 kbit/s take size * 8 / 64 ms of virtual time at least.
    expect(ms).toBeGreaterThanOrEqual(Math.floor((size * 8) / 64) - 50);
    expect(r).toMatchObject({ end: "ended", toVersion: "1.0" });
    expect(moduleInfo(state).update.state).toBe("pending");
  });

  it("with --net off the download cannot connect: -1 and the 1004 code, no restart", async () => {
    const state = module("ota-off", undefined, "EC600U");
    const { r, stdout } = await run(state, "import checkNet\nprint(checkNet.waitNetworkReady(30))\n" + OTA(new URL("v2.fota", server.httpUrl).href), { netOff: true });
    expect(stdout).toContain("(2, 2)");
    expect(stdout).toContain("status -1 1004");
    expect(stdout).toContain("httpDownload -> -1");
    expect(r).toMatchObject({ end: "ended", toVersion: "1.0" });
  });
});

describe("virtual module power cycle", () => {
  it("confirms a new image that passes its self test", async () => {
    const state = module("ok", image("good 2.0"));
    const { r, stdout, lines } = await run(state, LOCAL);
    expect(stdout).toBe("0 0\n");
    expect(r).toMatchObject({ exitCode: 0, end: "restart", fromVersion: "1.0", toVersion: "2.0" });
    expect(lines.join("\n")).toContain("new image confirmed");
    expect(moduleInfo(state).slots.map((s) => `${s.state}:${s.version}`)).toEqual(["confirmed:1.0", "confirmed:2.0"]);
  });

  it("rolls back a new image that fails its self test: the old firmware keeps running", async () => {
    const state = module("bad", image(`broken 2.0 ${SELFTEST_FAIL_MARKER}`));
    const { r, lines } = await run(state, LOCAL);
    expect(r).toMatchObject({ exitCode: 0, end: "restart", fromVersion: "1.0", toVersion: "1.0" });
    const text = lines.join("\n");
    expect(text).toContain("firmware 2.0 failed its self test; resetting");
    expect(text).toMatch(/booted firmware 1\.0 .*rolled back.*still 1\.0/);
    const i = moduleInfo(state);
    expect(i.firmware!.version).toBe("1.0");
    expect(i.update.state).toBe("rolled-back");
  });

  it("reports the power-on reason of the last power off: first power on, restart, power cut", async () => {
    const state = module("reasons", image("reason 2.0"));
    const reason = "from misc import Power\nprint(Power.powerOnReason())\n";
    expect((await run(state, reason)).stdout).toBe("1\n");
    await run(state, "from misc import Power\nPower.powerRestart()\n");
    expect((await run(state, reason)).stdout).toBe("2\n");
    const cut = await run(state, LOCAL, { powerCutAfterOps: 2 });
    expect(cut.r.exitCode).toBe(EXIT_POWER_CUT);
    expect((await run(state, reason)).stdout).toBe("3\n");
  });

  it("stops a script that never ends after --timeout of virtual time", async () => {
    const state = module("forever");
    const { r } = await run(state, "import utime\nwhile True:\n    utime.sleep(10)\n", { timeoutS: 120 });
    expect(r).toMatchObject({ exitCode: EXIT_TIMEOUT, end: "timeout" });
  });
});
