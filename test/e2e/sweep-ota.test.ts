// Power cuts at every flash operation of the OTA flow on a single-slot module (EC600N, ASR: the
// download is stored, the bootloader rewrites the image in place at the restart), with
// examples/ota_auto_restart.py pulling an in-place delta from a local server.
import { cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulate, EXIT_POWER_CUT } from "../../src/emulator/emulate.js";
import { runFota } from "../helpers/cli.js";
import { deviceInfo } from "./helpers.js";
import { fixture, sha, sweepAllCuts, type Fixture, type SweepReport } from "./sweep.js";

let f: Fixture;
let report: SweepReport | undefined;
beforeAll(async () => {
  f = await fixture(["EC600N"]);
}, 60_000);
afterAll(() => f?.close());

describe("power-cut sweep of the OTA flow (examples/ota_auto_restart.py) on EC600N, in-place delta", () => {
  it("after every cut, a whole image boots, and running the script again completes the upgrade", async () => {
    const template = f.module("template", "EC600N");
    const script = f.example("ota_auto_restart.py", { PACKAGE_URL: f.url("delta-inplace.fota") });
    const r = await sweepAllCuts({ label: "OTA EC600N inplace", template, work: f.dir, script, v1: f.v1, v2: f.v2 });
    report = r;
    expect(r.cuts).toBe(r.total);
    // the range covers both halves of the flow: the download and the bootloader's in-place install
    expect(r.duringBoot).toBeGreaterThan(0);
    expect(r.duringBoot).toBeLessThan(r.cuts);
    expect(r.bootedNew).toBeGreaterThan(0);
    expect(r.bootedOld).toBeGreaterThan(0);
  }, 240_000);

  it("`fota emulate --power-cut-after-ops N --torn` leaves the same flash as the library call, and `fota device boot` recovers", async () => {
    expect(report, "the sweep above ran").toBeDefined();
    const n = report!.total - 7; // in the bootloader's install
    const template = join(f.dir, "template");
    const script = f.example("ota_auto_restart.py", { PACKAGE_URL: f.url("delta-inplace.fota") });
    const lib = join(f.dir, "cli-check-lib");
    const cli = join(f.dir, "cli-check-cli");
    cpSync(template, lib, { recursive: true });
    cpSync(template, cli, { recursive: true });
    const quiet = { onLine: () => {}, stdout: () => {}, stderr: () => {} };
    const a = await emulate({ stateDir: lib, scriptPath: script, clockSpeed: 1000, linkKbps: 0, powerCutAfterOps: n, torn: true, ...quiet });
    expect(a.exitCode).toBe(EXIT_POWER_CUT);
    const b = await runFota(["emulate", "--state", cli, "--clock-speed", "1000", "--link-kbps", "0", "--power-cut-after-ops", String(n), "--torn", script], { timeoutMs: 60_000 });
    expect(b.code, b.stderr).toBe(EXIT_POWER_CUT);
    expect(b.stderr).toContain(`fota: power cut after ${n} flash operations (the next one torn)`);
    expect(sha(readFileSync(join(cli, "flash.bin")))).toBe(sha(readFileSync(join(lib, "flash.bin"))));
    const boot = await runFota(["device", "boot", "--state", cli], { timeoutMs: 60_000 });
    expect(boot.code, boot.stderr).toBe(0);
    expect((await deviceInfo(cli)).firmware).toMatchObject({ version: "2.0", sha256: sha(f.v2) });
  }, 120_000);
});
