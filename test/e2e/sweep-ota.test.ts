// Power cuts at every flash operation of the OTA flow on a single-slot module (EC600N, ASR: the
// download is stored, the bootloader rewrites the image in place at the restart), with
// examples/ota_auto_restart.py pulling an in-place delta from a local server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fixture, sweepAllCuts, type Fixture } from "./sweep.js";

let f: Fixture;
beforeAll(async () => {
  f = await fixture(["EC600N"]);
}, 60_000);
afterAll(() => f?.close());

describe("power-cut sweep of the OTA flow (examples/ota_auto_restart.py) on EC600N, in-place delta", () => {
  it("after every cut, a whole image boots, and running the script again completes the upgrade", async () => {
    const template = f.module("template", "EC600N");
    const script = f.example("ota_auto_restart.py", { PACKAGE_URL: f.url("delta-inplace.fota") });
    const r = await sweepAllCuts({ label: "OTA EC600N inplace", template, work: f.dir, script, v1: f.v1, v2: f.v2 });
    expect(r.cuts).toBe(r.total);
    // the range covers both halves of the flow: the download and the bootloader's in-place install
    expect(r.duringBoot).toBeGreaterThan(0);
    expect(r.duringBoot).toBeLessThan(r.cuts);
    expect(r.bootedNew).toBeGreaterThan(0);
    expect(r.bootedOld).toBeGreaterThan(0);
  }, 240_000);
});
