// Regression (EMU-FIX): a module already on 2.0 runs examples/ota_auto_restart.py again; the 1.0->2.0
// delta is refused through the callback ([-1, 1009]) and the script then sleeps 120 x 1 s. One of
// those sleeps used to never return (~1 run in 10 at --clock-speed 1000): the virtual time crossed
// into Python cut to 32 bits whenever it was a whole number of ms (see vnow in src/emulator/worker.ts).
// The deterministic check is in runtime.test.ts ("the virtual clock"); this loop runs the real flow.
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { emulate } from "../../src/emulator/emulate.js";
import { fixture, type Fixture } from "../e2e/sweep.js";

const RUNS = Number(process.env.RERUN_RUNS ?? 30);

let f: Fixture;
beforeAll(async () => {
  f = await fixture(["EC600N"]);
}, 60_000);
afterAll(() => f?.close());

it(`EC600N on 2.0: rerunning ota_auto_restart.py (delta refused) ends normally, ${RUNS} times in a row`, async () => {
  const quiet = { onLine: () => {}, stdout: () => {}, stderr: () => {} };
  const template = f.module("rerun-template", "EC600N");
  const script = f.example("ota_auto_restart.py", { PACKAGE_URL: f.url("delta-inplace.fota") });
  const first = await emulate({ stateDir: template, scriptPath: script, clockSpeed: 1000, linkKbps: 0, ...quiet });
  expect(first.toVersion, first.summary).toBe("2.0");
  const ends: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const state = join(f.dir, `rerun-${i}`);
    cpSync(template, state, { recursive: true });
    let err = "";
    // 3000 virtual s = 3 real s: far beyond the script's 120 s of sleeps, so a stuck sleep shows as a timeout.
    const r = await emulate({ stateDir: state, scriptPath: script, clockSpeed: 1000, linkKbps: 0, timeoutS: 3000, ...quiet, stderr: (t) => (err += t) });
    rmSync(state, { recursive: true, force: true });
    expect(err, `run ${i}`).toContain("ERROR:ota:download failed, error code 1009");
    ends.push(`${r.end}/${r.exitCode}`);
  }
  expect(ends).toEqual(Array.from({ length: RUNS }, () => "ended/0"));
}, 60_000);
