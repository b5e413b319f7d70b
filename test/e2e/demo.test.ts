// `fota demo`, run as the README's quick start runs it: the real CLI, built-in defaults, offline.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFota } from "../helpers/cli.js";
import type { DemoSummary } from "../../src/demo/run.js";
import { deviceInfo } from "./helpers.js";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "fota-e2e-demo-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A private TMPDIR, so the test can see that the demo's temporary folder is gone afterwards. */
function privateTmp(name: string): string {
  const t = join(dir, name);
  mkdirSync(t);
  return t;
}

describe("fota demo", () => {
  it("runs the whole flow on its defaults: OTA 1.0 -> 2.0 by delta, power cut recovered, bad image rolled back; cleans up", async () => {
    const tmp = privateTmp("tmp-plain");
    const r = await runFota(["demo"], { cwd: dir, timeoutMs: 120_000, env: { TMPDIR: tmp } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const out = r.stdout;
    // the story, in order
    const steps = ["1. Keys, firmware and packages", "2. A local package server", "3. Over the air: 1.0 -> 2.0", "4. Power cut in the middle", "5. A bad image: 2.1", "Summary"];
    const at = steps.map((s) => out.indexOf(s));
    expect(at.every((p) => p >= 0), out).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // stdout is not a terminal here: the progress bar falls back to plain lines
    expect(out).toMatch(/ {2}download {2}50% {2}[\d.]+ KiB \/ [\d.]+ KiB, 100 kbit\/s/);
    expect(out).toContain("examples/ota_auto_restart.py, unchanged but for PACKAGE_URL = \"http://127.0.0.1:");
    expect(out).toMatch(/fota: EC600U restarted and booted firmware 2\.0 .*new image confirmed; 1\.0 -> 2\.0; update result 1/);
    expect(out).toMatch(/fota: power cut after \d+ flash operations \(the next one torn\)/);
    expect(out).toMatch(/recovered: 2\.0 firmware booted, sha256 matches the 2\.0 build/);
    expect(out).toMatch(/firmware 2\.1 failed its self test/);
    expect(out).toMatch(/OTA, delta over HTTP +EC600U ab +1\.0 -> 2\.0 +[\d.]+ KiB \(\d+\.\d%\)/);
    expect(out).toMatch(/bad image, rolled back +EC600U ab +2\.0 -> 2\.1 -> 2\.0/);
    expect(out).toMatch(/Power cut after \d+ of \d+ flash operations \(during the install\): the next power-on finished the install and booted 2\.0\./);
    // the temporary folder and everything in it are gone; the server is closed (the process exited)
    expect(readdirSync(tmp)).toEqual([]);
  }, 150_000);

  it("--json --keep DIR: the summary as JSON, and the folder kept for `fota device info`", async () => {
    const keep = join(dir, "kept");
    const r = await runFota(["demo", "--json", "--keep", keep], { cwd: dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("Summary"); // the story goes to stderr with --json
    const s = JSON.parse(r.stdout) as DemoSummary & { kept: boolean };
    expect(s.kept).toBe(true);
    expect(s.model).toBe("EC600U");
    expect(s.firmware.map((f) => f.version)).toEqual(["1.0", "2.0", "2.1"]);
    const byName = Object.fromEntries(s.scenes.map((c) => [c.name, c]));

    const ota = byName.ota!;
    expect(ota).toMatchObject({ before: "1.0", after: "2.0", layout: "ab", imageVerified: true, lwm2mResult: 1 });
    const delta = s.packages.find((p) => p.file === ota.package)!;
    expect(delta).toMatchObject({ kind: "delta", from: "1.0", to: "2.0" });
    expect(ota.airBytes).toBe(delta.bytes); // exactly the package went over the air, once
    expect(ota.airBytes * 5).toBeLessThan(ota.fullPackageBytes); // the point of a delta
    expect(ota.fullPackageBytes).toBeLessThan(ota.rawImageBytes);
    expect(ota.rawImageBytes).toBeGreaterThan(256 * 1024);
    expect(ota.wear.erases).toBeGreaterThan(0);
    expect(ota.wear.bytesProgrammed).toBeGreaterThanOrEqual(ota.rawImageBytes);

    const cut = byName["power-cut"]!;
    expect(cut).toMatchObject({ before: "1.0", after: "2.0", layout: "inplace", cutDuring: "install", recovered: true, imageVerified: true });
    expect(cut.cutAfterOps).toBeGreaterThan(0);
    expect(cut.cutAfterOps).toBeLessThan(cut.flowOps!);

    const rb = byName.rollback!;
    expect(rb).toMatchObject({ before: "2.0", rejected: "2.1", after: "2.0", rolledBack: true, imageVerified: true });
    expect(s.totalSeconds).toBeGreaterThan(0);

    // what the demo left behind is real: the modules answer `fota device info`
    const a = await deviceInfo(join(keep, "modules", "ota"), dir);
    expect(a.firmware).toMatchObject({ version: "2.0", sha256: s.firmware[1]!.sha256 });
    expect(a.update.lwm2mResult).toBe(rb.lwm2mResult);
    const b = await deviceInfo(join(keep, "modules", "powercut"), dir);
    expect(b.firmware).toMatchObject({ version: "2.0", sha256: s.firmware[1]!.sha256 });
    expect(readdirSync(join(keep, "www")).sort()).toEqual(s.packages.map((p) => p.file).sort());
  }, 150_000);

  it("refuses bad options with one line, and removes its temporary folder when it fails", async () => {
    const tmp = privateTmp("tmp-fail");
    const big = await runFota(["demo", "--size-kib", "4096"], { cwd: dir, env: { TMPDIR: tmp } });
    expect(big.code).toBe(2);
    expect(big.stderr).toMatch(/image size must be between 32 KiB and \d+ KiB for EC600U/);
    expect(readdirSync(tmp)).toEqual([]);
    const model = await runFota(["demo", "--model", "NOPE1"], { cwd: dir, env: { TMPDIR: tmp } });
    expect(model.code).toBe(2);
    expect(model.stderr.trim().split("\n")).toHaveLength(1);
    const full = join(dir, "full");
    mkdirSync(full);
    writeFileSync(join(full, "x"), "");
    const keep = await runFota(["demo", "--keep", full], { cwd: dir });
    expect(keep.code).toBe(2);
    expect(keep.stderr).toContain("not empty");
  });
});
