// Power cuts at every flash operation of the local upgrade (examples/local_upgrade.py: the package
// is in /usr, fed to fota.write in pieces, flush, verify, Power.powerRestart) on EC600N, whose
// bootloader installs in place. test/emulator/sweep.test.ts samples this range; this one covers
// every N.
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, sweepAllCuts, type Fixture } from "./sweep.js";

let f: Fixture;
beforeAll(async () => {
  f = await fixture(["EC600N"]);
}, 60_000);
afterAll(() => f?.close());

describe("power-cut sweep of the local upgrade (examples/local_upgrade.py) on EC600N, full package", () => {
  it("after every cut, a whole image boots, and running the script again completes the upgrade", async () => {
    const template = f.module("template", "EC600N");
    copyFileSync(join(f.server.root, "full.fota"), join(template, "usr", "fw-2.0.fota"));
    const script = f.example("local_upgrade.py", { PACKAGE_FILE: "/usr/fw-2.0.fota" });
    const r = await sweepAllCuts({ label: "local upgrade EC600N inplace", template, work: f.dir, script, v1: f.v1, v2: f.v2 });
    expect(r.cuts).toBe(r.total);
    expect(r.duringBoot).toBeGreaterThan(0);
    expect(r.bootedOld).toBeGreaterThan(0);
    expect(r.bootedNew).toBeGreaterThan(0);
  }, 240_000);
});
