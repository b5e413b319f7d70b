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

/** A module on 1.0 with the in-place delta to 2.0 written through local upgrade and the restart done: the next boot installs. */
async function stage(name: string): Promise<string> {
  const state = f.module(name, "EC600N");
  const pkg = new Uint8Array(readFileSync(join(f.server.root, "delta-inplace.fota")));
  const m = VirtualModule.powerOn(state);
  await m.boot();
  const lu = m.device.localUpgrade();
  for (let at = 0; at < pkg.length; at += 4096) lu.write(pkg.subarray(at, at + 4096), pkg.length);
  lu.flush();
  lu.verify();
  m.powerOff("restart");
  return state;
}

it("EC600N in-place delta install: 100% is reported only when the last slot sector is written", async () => {
  const state = await stage("progress");

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

it("EC600N in-place delta install cut halfway: after the restart the lines go on from where they stood, up to 100%", async () => {
  const pctsOf = (lines: string[]): number[] => lines.flatMap((l) => {
    const hit = /installing 2\.0: (\d+)%/.exec(l);
    return hit ? [Number(hit[1])] : [];
  });
  // a clean install: how many flash operations the boot that installs takes
  const clean = await stage("progress-clean");
  const m0 = VirtualModule.powerOn(clean);
  await m0.boot();
  const installOps = m0.ops;
  m0.powerOff("power-down");

  const state = await stage("progress-cut");
  const before: string[] = [];
  const m1 = VirtualModule.powerOn(state, { powerCutAfterOps: Math.floor(installOps / 2) });
  await expect(m1.boot({ onProgress: (l) => before.push(l) })).rejects.toThrow();
  m1.powerOff("power-cut");
  const after: string[] = [];
  const m2 = VirtualModule.powerOn(state);
  await m2.boot({ onProgress: (l) => after.push(l) });
  m2.powerOff("power-down");
  expect(moduleInfo(state).firmware).toMatchObject({ version: "2.0", sha256: sha(f.v2) });

  const pb = pctsOf(before);
  const pa = pctsOf(after);
  expect(pb.at(-1), before.join("\n")).toBeGreaterThanOrEqual(30);
  expect(after.join("\n")).toContain("resumed after a power cut");
  // the first line after the restart is where the install stood (within one 10% step), not 0%
  expect(pa[0], after.join("\n")).toBeGreaterThanOrEqual(pb.at(-1)!);
  expect(pa.at(-1)).toBe(100);
  for (let i = 1; i < pa.length; i++) expect(pa[i]).toBeGreaterThan(pa[i - 1]!);
}, 60_000);
