// The virtual module's power cycle in-process: self test and rollback, power-on reasons, timeouts.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, publicKeyPem, buildFullPackage } from "../../src/format/index.js";
import { EXIT_POWER_CUT, EXIT_TIMEOUT, emulate } from "../../src/emulator/emulate.js";
import { SELFTEST_FAIL_MARKER, VirtualModule, moduleInfo } from "../../src/emulator/module.js";

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

function module(name: string, pkgImage?: Uint8Array): string {
  const state = join(dir, name);
  VirtualModule.create({ stateDir: state, model: "EC600U", firmware: fw1, version: "1.0", trust: [pub] });
  if (pkgImage) writeFileSync(join(state, "usr", "FotaFile.bin"), buildFullPackage({ keys: [key], image: pkgImage, version: "2.0", models: ["EC600U"] }).bytes);
  return state;
}

async function run(state: string, source: string, extra: { powerCutAfterOps?: number; timeoutS?: number } = {}) {
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
