// `fota device create|boot|info` and `fota emulate`, driven as a user would (the compiled CLI).
import { createHash } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFota } from "../helpers/cli.js";
import { DEFAULT_CONFIG } from "../../src/config.js";

let dir: string;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let fw1: Buffer;
let fw2: Buffer;

const LOCAL_UPGRADE = `
import fota, utime, log, uos
from misc import Power
log.basicConfig(level=log.INFO)
lg = log.getLogger("Fota")
fota_obj = fota()
file_size = uos.stat("/usr/FotaFile.bin")[6]
with open("/usr/FotaFile.bin", "rb") as f:
    while 1:
        c = f.read(1024)
        if not c:
            break
        fota_obj.write(c, file_size)
print("flush", fota_obj.flush())
print("verify", fota_obj.verify())
utime.sleep(2)
Power.powerRestart()
print("not reached")
`;

async function fota(args: string[], timeoutMs = 120_000) {
  return runFota(args, { cwd: dir, timeoutMs });
}

async function info(state: string) {
  const r = await fota(["device", "info", "--state", state, "--json"]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as {
    model: string;
    firmware: { version: string; sha256: string; slot: string };
    slots: Array<{ state: string; version?: string }>;
    update: { lwm2mState: number; lwm2mResult: number; state: string };
    wear: { erases: number; programs: number };
    powerOns: number;
    securityCounter: number;
  };
}

async function create(state: string, model = "EC600U") {
  const r = await fota(["device", "create", "--state", state, "--model", model, "--firmware", "fw1.bin", "--version", "1.0", "--trust", "rel.key.pub"]);
  expect(r.code, r.stderr).toBe(0);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fota-emucli-"));
  fw1 = Buffer.alloc(96 * 1024);
  for (let i = 0; i < fw1.length; i++) fw1[i] = (i * 31 + (i >> 9)) & 0xff;
  fw2 = Buffer.from(fw1);
  fw2.write("firmware two", 1000);
  fw2 = Buffer.concat([fw2, Buffer.from("tail of 2.0")]);
  writeFileSync(join(dir, "fw1.bin"), fw1);
  writeFileSync(join(dir, "fw2.bin"), fw2);
  writeFileSync(join(dir, "local.py"), LOCAL_UPGRADE);
  expect((await fota(["keygen", "rel.key"])).code).toBe(0);
  const p = await fota(["pack", "--key", "rel.key", "--to", "fw2.bin", "--version", "2.0", "--model", "EC600U", "--model", "EC200A", "-o", "full.fota"]);
  expect(p.code, p.stderr).toBe(0);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fota device", () => {
  it("create lays out a module running the factory image; info reports it; boot powers it on", async () => {
    await create("m1");
    const i = await info("m1");
    expect(i.model).toBe("EC600U");
    expect(i.firmware).toMatchObject({ version: "1.0", sha256: sha(fw1), slot: "slot0" });
    expect(i.slots.map((s) => s.state)).toEqual(["confirmed", "empty"]);
    expect(i.update).toMatchObject({ lwm2mState: 0, lwm2mResult: 0 });
    expect(i.powerOns).toBe(0);
    const b = await fota(["device", "boot", "--state", "m1"]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stderr).toMatch(/booted firmware 1\.0 \(sha256 [0-9a-f]{16}…, slot0\)/);
    expect((await info("m1")).powerOns).toBe(1);
    const human = await fota(["device", "info", "--state", "m1"]);
    expect(human.stdout).toContain(`firmware          1.0  sha256 ${sha(fw1)}`);
    expect(human.stdout).toMatch(/last update\s+idle; LwM2M state 0 \(idle\), result 0 \(initial\)/);
  });

  it("refuses to overwrite a module, an unknown model, and a directory without a module", async () => {
    await create("m2");
    const again = await fota(["device", "create", "--state", "m2", "--model", "EC600U", "--firmware", "fw1.bin", "--version", "1.0", "--trust", "rel.key.pub"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("already holds a virtual module; pass --force");
    const model = await fota(["device", "create", "--state", "m3", "--model", "NOPE1", "--firmware", "fw1.bin", "--version", "1.0", "--trust", "rel.key.pub"]);
    expect(model.code).toBe(2);
    expect(model.stderr).toContain('no profile for model "NOPE1"');
    const none = await fota(["device", "info", "--state", "empty-dir"]);
    expect(none.code).toBe(10);
    expect(none.stderr).toContain("holds no virtual module");
    expect(none.stderr.split("\n").filter(Boolean)).toHaveLength(1);
  });
});

describe("fota emulate", () => {
  it("runs the documented local upgrade: write/flush/verify, powerRestart, bootloader, new firmware booted", async () => {
    await create("m4");
    copyFileSync(join(dir, "full.fota"), join(dir, "m4", "usr", "FotaFile.bin"));
    const r = await fota(["emulate", "--state", "m4", "--clock-speed", "50", "local.py"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("flush 0\nverify 0\n");
    expect(r.stderr).toContain("fota: restart (Power.powerRestart())");
    const last = r.stderr.trim().split("\n").pop()!;
    expect(last).toMatch(/^fota: EC600U restarted and booted firmware 2\.0 .*1\.0 -> 2\.0; update result 1; \d+ flash operations$/);
    const i = await info("m4");
    expect(i.firmware).toMatchObject({ version: "2.0", sha256: sha(fw2) });
    expect(i.update).toMatchObject({ lwm2mState: 0, lwm2mResult: 1 });
    expect(i.wear.erases).toBeGreaterThan(0);
    // modem.getDevFwVersion() reports the booted image after the update.
    writeFileSync(join(dir, "ver.py"), "import modem\nprint(modem.getDevFwVersion(), modem.getDevModel())\n");
    const v = await fota(["emulate", "--state", "m4", "ver.py"]);
    expect(v.stdout).toBe("2.0 EC600U\n");
    expect(v.stderr).toMatch(/script ended, nothing left running; firmware 2\.0 \(no restart\)/);
  });

  it("fails an unknown import with MicroPython's ImportError and exit status 1", async () => {
    await create("m5");
    writeFileSync(join(dir, "imp.py"), "print('start')\nimport socket\n");
    const r = await fota(["emulate", "--state", "m5", "imp.py"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("start\n");
    expect(r.stderr).toContain('File "imp.py", line 2, in <module>');
    expect(r.stderr).toContain("ImportError: no module named 'socket'");
  });

  it("cuts the power after N flash operations: distinct exit code, then boot brings up a whole image", async () => {
    await create("m6");
    copyFileSync(join(dir, "full.fota"), join(dir, "m6", "usr", "FotaFile.bin"));
    const r = await fota(["emulate", "--state", "m6", "--clock-speed", "50", "--power-cut-after-ops", "7", "--torn", "local.py"]);
    expect(r.code, r.stderr).toBe(DEFAULT_CONFIG.emulator.powerCutExitCode);
    expect(r.stderr).toContain("fota: power cut after 7 flash operations");
    expect(r.stdout).not.toContain("verify 0");
    const b = await fota(["device", "boot", "--state", "m6"]);
    expect(b.code, b.stderr).toBe(0);
    const i = await info("m6");
    expect([sha(fw1), sha(fw2)]).toContain(i.firmware.sha256);
    expect(i.firmware.version).toBe(i.firmware.sha256 === sha(fw1) ? "1.0" : "2.0");
    // Running the script again completes the upgrade.
    const again = await fota(["emulate", "--state", "m6", "--clock-speed", "50", "local.py"]);
    expect(again.code, again.stderr).toBe(0);
    expect((await info("m6")).firmware.version).toBe("2.0");
  });

  it("rejects bad options with a one-line usage error", async () => {
    const a = await fota(["emulate", "--state", "m1", "--clock-speed", "0", "local.py"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("--clock-speed");
    const b = await fota(["emulate", "--state", "m1", "--torn", "local.py"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--torn needs --power-cut-after-ops");
    const c = await fota(["emulate", "--state", "m1", "missing.py"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("cannot read script missing.py");
    expect(readFileSync(join(dir, "m1", "module.json"), "utf8")).toContain('"model": "EC600U"');
  });
});
