// Power cuts at every flash operation of the OTA flow on a two-slot module (EC600U, Unisoc: the
// download is decoded into the other slot, the restart switches slots), with
// examples/ota_manual_restart.py pulling a delta from a local server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, sweepAllCuts, type Fixture } from "./sweep.js";

let f: Fixture;
beforeAll(async () => {
  f = await fixture(["EC600U"]);
}, 60_000);
afterAll(() => f?.close());

describe("power-cut sweep of the OTA flow (examples/ota_manual_restart.py) on EC600U, delta into the other slot", () => {
  it("after every cut, a whole image boots, and running the script again completes the upgrade", async () => {
    const template = f.module("template", "EC600U");
    const script = f.example("ota_manual_restart.py", { PACKAGE_URL: f.url("delta.fota") });
    const r = await sweepAllCuts({ label: "OTA EC600U ab", template, work: f.dir, script, v1: f.v1, v2: f.v2 });
    expect(r.cuts).toBe(r.total);
    expect(r.bootedOld).toBeGreaterThan(0);
  }, 240_000);
});
