// The bootloader's "installing N%" lines on a one-slot (inplace) module follow the image written into
// the slot: the in-place delta install also writes a scratch copy and journal entries per sector,
// which used to count as progress and made the lines reach 100% about halfway through.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { VirtualModule, moduleInfo } from "../../src/emulator/module.js";
import { fixture, sha, type Fixture } from "../e2e/sweep.js";

let f: Fixture;
beforeAll(async () => {
  f = await fixture(["EC600N"]);
}, 60_000);
afterAll(() => f?.close());

it("EC600N in-place delta install: 100% is reported only when the last slot sector is written", async () => {
  const state = f.module("progress", "EC600N");
  const pkg = new Uint8Array(readFileSync(join(f.server.root, "delta-inplace.fota")));
  const m = VirtualModule.powerOn(state);
  await m.boot();
  const lu = m.device.localUpgrade();
  for (let at = 0; at < pkg.length; at += 4096) lu.write(pkg.subarray(at, at + 4096), pkg.length);
  lu.flush();
  lu.verify();
  m.powerOff("restart");

  const m2 = VirtualModule.powerOn(state);
  const seen: Array<{ pct: number; ops: number }> = [];
  await m2.boot({
    onProgress: (line) => {
      const hit = /installing 2\.0: (\d+)%/.exec(line);
      if (hit) seen.push({ pct: Number(hit[1]), ops: m2.ops });
    },
  });
  const installOps = m2.ops;
  m2.powerOff("power-down");
  expect(moduleInfo(state).firmware).toMatchObject({ version: "2.0", sha256: sha(f.v2) });

  const pcts = seen.map((s) => s.pct);
  expect(pcts.at(-1)).toBe(100);
  for (let i = 1; i < pcts.length; i++) expect(pcts[i]).toBeGreaterThan(pcts[i - 1]!);
  // Flash operations happen at an even pace per sector (scratch, journal, slot), so the share of
  // operations done when a line is printed tracks its percentage; 100% comes with the last slot
  // write, followed only by the last journal entry and the boot state's confirm.
  const at100 = seen.at(-1)!.ops;
  expect(installOps - at100, JSON.stringify({ seen, installOps })).toBeLessThanOrEqual(8);
  for (const s of seen) expect(s.ops / installOps, JSON.stringify({ seen, installOps })).toBeGreaterThan((s.pct / 100) * 0.7);
}, 60_000);
