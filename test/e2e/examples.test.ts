// Every script in examples/ on the virtual module, for the models it is written for, against a real
// `fota serve`, through the real CLI (`fota device create`, `fota emulate`, `fota device info`), with
// only the scripts' URL / file-name constants changed.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFota } from "../helpers/cli.js";
import { demoFirmware } from "../../src/demo/firmware.js";
import { deviceInfo, exampleTo, startServe, type Served } from "./helpers.js";

let dir: string;
let server: Served;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const v1 = demoFirmware({ version: "1.0", revision: 1, size: 48 * 1024 });
const v2 = demoFirmware({ version: "2.0", revision: 2, size: 48 * 1024 });
const recovery1 = demoFirmware({ version: "r1", revision: 1, size: 24 * 1024, seed: 76 });
const recovery = demoFirmware({ version: "r2", revision: 1, size: 24 * 1024, seed: 77 });
const APP_FILES = { "main.py": "import utime\nprint('app 2.0')\n", "config.json": '{"interval": 60, "server": "mqtt.example"}\n' };
const CLOCK = ["--clock-speed", "20"];

const fota = (args: string[]) => runFota(args, { cwd: dir, timeoutMs: 90_000 });
const url = (file: string) => new URL(file, server.url).href;

async function pack(args: string[]): Promise<void> {
  const r = await fota(["pack", "--key", "rel.key", "--version", "2.0", ...args]);
  expect(r.code, r.stderr).toBe(0);
}

async function create(name: string, model: string, extra: string[] = []): Promise<string> {
  const r = await fota(["device", "create", "--state", name, "--model", model, "--firmware", "fw1.bin", "--version", "1.0", "--trust", "rel.key.pub", ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return name;
}

async function emulate(state: string, script: string, extra: string[] = []) {
  return fota(["emulate", "--state", state, ...CLOCK, ...extra, script]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fota-examples-"));
  writeFileSync(join(dir, "fw1.bin"), v1);
  writeFileSync(join(dir, "fw2.bin"), v2);
  writeFileSync(join(dir, "rec1.bin"), recovery1);
  writeFileSync(join(dir, "rec2.bin"), recovery);
  const www = join(dir, "www");
  mkdirSync(join(www, "app"), { recursive: true });
  for (const [name, text] of Object.entries(APP_FILES)) writeFileSync(join(www, "app", name), text);
  expect((await fota(["keygen", "rel.key"])).code).toBe(0);
  await Promise.all([
    // two slots (Unisoc): a streamed delta
    pack(["--from", "fw1.bin", "--to", "fw2.bin", "--kind", "delta", "--model", "EC600U", "-o", "www/delta-ab.fota"]),
    // one slot (ASR, Qualcomm): the in-place form
    pack(["--from", "fw1.bin", "--to", "fw2.bin", "--kind", "delta", "--in-place", "--model", "EC600N", "--model", "BG95", "-o", "www/delta-inplace.fota"]),
    // full packages: local upgrade, mini FOTA stage two, the slow download that gets cancelled
    pack(["--to", "fw2.bin", "--model", "EC600U", "--model", "EC600N", "--model", "BG95", "--compression", "none", "-o", "www/full.fota"]),
    fota(["pack", "--key", "rel.key", "--version", "r2", "--to", "rec2.bin", "--model", "EC600N", "-o", "www/stage1.fota"]).then((r) => expect(r.code, r.stderr).toBe(0)),
  ]);
  server = await startServe(www);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("examples/ota_auto_restart.py", () => {
  it.each([
    ["EC600N", "delta-inplace.fota"],
    ["EC600U", "delta-ab.fota"],
  ])("on %s: downloads %s, the module restarts by itself and boots 2.0", async (model, pkg) => {
    const state = await create(`auto-${model}`, model);
    const script = exampleTo(join(dir, `auto-${model}.py`), "ota_auto_restart.py", { PACKAGE_URL: url(pkg) });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("INFO:ota:downloading:");
    expect(r.stderr).toContain("INFO:ota:update armed, the module restarts now");
    expect(r.stderr).toMatch(new RegExp(`fota: ${model} restarted and booted firmware 2\\.0 .*1\\.0 -> 2\\.0; update result 1;`));
    const i = await deviceInfo(state, dir);
    expect(i.firmware).toMatchObject({ version: "2.0", sha256: sha(v2) });
    expect(i.update).toMatchObject({ state: "confirmed", lwm2mResult: 1 });
  });
});

describe("examples/ota_manual_restart.py", () => {
  it("on EC600U (reset_disable honoured): the script restarts with Power.powerRestart() and 2.0 boots", async () => {
    const state = await create("manual", "EC600U");
    const script = exampleTo(join(dir, "manual.py"), "ota_manual_restart.py", { PACKAGE_URL: url("delta-ab.fota") });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("INFO:ota:httpDownload returned 0");
    expect(r.stderr).toContain("INFO:ota:closing files before the restart");
    expect(r.stderr).toContain("fota: restart (Power.powerRestart())");
    expect((await deviceInfo(state, dir)).firmware).toMatchObject({ version: "2.0", sha256: sha(v2) });
  });
});

describe("examples/mini_fota.py", () => {
  it("on EC600N (two-stage layout): stage one arms the recovery system, which fetches stage two; 2.0 boots", async () => {
    const state = await create("mini", "EC600N", ["--strategy", "two-stage", "--recovery", "rec1.bin", "--recovery-version", "r1"]);
    const script = exampleTo(join(dir, "mini.py"), "mini_fota.py", { STAGE1_URL: url("stage1.fota"), STAGE2_URL: url("full.fota") });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("mini fota started: 0");
    expect(r.stderr).toMatch(/mini FOTA stage two done/);
    const i = await deviceInfo(state, dir);
    expect(i.firmware).toMatchObject({ version: "2.0", sha256: sha(v2) });
    expect(i.recovery?.version).toBe("r2");
  });
});

describe("examples/local_upgrade.py", () => {
  it("on EC600U: feeds the package from /usr in pieces, verifies, restarts into 2.0", async () => {
    const state = await create("local", "EC600U");
    writeFileSync(join(dir, state, "usr", "fw-2.0.fota"), readFileSync(join(dir, "www", "full.fota")));
    const script = exampleTo(join(dir, "local.py"), "local_upgrade.py", { PACKAGE_FILE: "/usr/fw-2.0.fota" });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("INFO:local:verified, restarting into the update");
    expect((await deviceInfo(state, dir)).firmware).toMatchObject({ version: "2.0", sha256: sha(v2) });
  });

  it("on EC600U with a corrupt package: verify fails and the module stays on 1.0", async () => {
    const state = await create("local-bad", "EC600U");
    const bad = new Uint8Array(readFileSync(join(dir, "www", "full.fota")));
    bad[bad.length - 100] ^= 0x40; // one bit in the payload
    writeFileSync(join(dir, state, "usr", "fw-2.0.fota"), bad);
    const script = exampleTo(join(dir, "local-bad.py"), "local_upgrade.py", { PACKAGE_FILE: "/usr/fw-2.0.fota" });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ERROR:local:(write failed|flush failed|package did not verify)/);
    expect(r.stderr).toContain("(no restart)");
    const i = await deviceInfo(state, dir);
    expect(i.firmware).toMatchObject({ version: "1.0", sha256: sha(v1) });
    expect(i.slots.find((s) => s.slot === "slot1")?.state).not.toBe("pending");
  });
});

describe("examples/cancel_download.py and examples/apn_set.py (BG95)", () => {
  it("cancel_download: the watchdog thread cancels the blocking download; the module stays on 1.0", async () => {
    const state = await create("cancel", "BG95");
    const script = exampleTo(join(dir, "cancel.py"), "cancel_download.py", { PACKAGE_URL: url("full.fota") });
    // A slow link (the package takes 25 s), so that the download is still running when the thread
    // cancels it after 5 s; a slower clock so that a loaded machine cannot reach the 5 s before the
    // connection is up.
    const r = await fota(["emulate", "--state", state, "--clock-speed", "4", "--link-kbps", "16", script]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("cancel -> 0");
    expect(r.stdout).toContain("fota status -1 progress 1011");
    expect(r.stdout).toContain("httpDownload returned -1");
    const i = await deviceInfo(state, dir);
    expect(i.firmware).toMatchObject({ version: "1.0", sha256: sha(v1) });
    expect(i.update.state).toBe("idle");
  });

  it("apn_set: sets the APN, then downloads and restarts into 2.0", async () => {
    const state = await create("apn", "BG95");
    const script = exampleTo(join(dir, "apn.py"), "apn_set.py", { PACKAGE_URL: url("delta-inplace.fota") });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("apn_set -> 0");
    expect(r.stdout).toContain("fota status 2 progress 100");
    expect((await deviceInfo(state, dir)).firmware).toMatchObject({ version: "2.0", sha256: sha(v2) });
  });
});

describe("examples/app_fota_bulk.py", () => {
  it("on EC600U: stages the files, restarts; the boot swaps them into /usr; the firmware is unchanged", async () => {
    const state = await create("app", "EC600U");
    writeFileSync(join(dir, state, "usr", "main.py"), "print('app 1.0')\n");
    const script = exampleTo(join(dir, "app.py"), "app_fota_bulk.py", { BASE_URL: url("app/") });
    const r = await emulate(state, script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("all files staged");
    expect(r.stderr).toMatch(/app_fota installed 2 file\(s\)/);
    for (const [name, text] of Object.entries(APP_FILES)) expect(readFileSync(join(dir, state, "usr", name), "utf8")).toBe(text);
    const i = await deviceInfo(state, dir);
    expect(i.firmware).toMatchObject({ version: "1.0", sha256: sha(v1) });
  });
});

describe("a module we do not provide", () => {
  beforeAll(() => create("imports", "EC600U"));
  it.each(["request", "usocket", "machine"])("import %s fails with MicroPython's ImportError, as on the module", async (name) => {
    const state = "imports";
    writeFileSync(join(dir, `imp-${name}.py`), `import utime\nprint("before")\nimport ${name}\nprint("after")\n`);
    const r = await emulate(state, `imp-${name}.py`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("before\n");
    expect(r.stderr).toContain(`File "imp-${name}.py", line 3, in <module>`);
    expect(r.stderr).toContain(`ImportError: no module named '${name}'`);
  });
});
