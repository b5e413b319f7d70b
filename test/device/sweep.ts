// The power-cut sweep driver: run an update to completion from whatever state the flash is in,
// checking at every boot that the device boots a whole image (old, new, or the recovery system).
import { expect } from "vitest";
import { Device, Rng, SimFlash, isPowerCut } from "../../src/device/index.js";
import { bootedSha, chunks, device, provision, sha, type Rig } from "./helpers.js";

export interface Scenario {
  name: string;
  rig: Rig;
  neu: Uint8Array;
  /** Start the update on a device that runs the old image (leaves it armed). */
  arm(d: Device, rng: Rng): Promise<void> | void;
  /** Two-stage: the stage-two package the recovery fetches. */
  stageTwo?: Uint8Array;
  /** Recovery images that may legitimately boot (factory and the one stage one installs). */
  recoveries?: Uint8Array[];
}

export interface DriveStats {
  boots: Record<string, number>;
}

const label = (sc: Scenario, h: string) =>
  h === sha(sc.rig.old) ? "old" : h === sha(sc.neu) ? "new" : (sc.recoveries ?? []).some((r) => sha(r) === h) ? "recovery" : `OTHER(${h.slice(0, 12)})`;

/** Boot, run recovery / arm / confirm as needed until the new image runs confirmed. */
export async function drive(sc: Scenario, flash: SimFlash, rng: Rng, stats?: DriveStats, firstOnly?: (what: string) => void): Promise<void> {
  for (let round = 0; round < 10; round++) {
    const d = device(sc.rig, flash);
    const b = d.boot();
    const what = label(sc, bootedSha(sc.rig, flash, b));
    if (round === 0) firstOnly?.(what);
    if (stats) stats.boots[what] = (stats.boots[what] ?? 0) + 1;
    expect(["old", "new", "recovery"], `boot ${round} of ${sc.name} booted ${what} from ${b.area}`).toContain(what);
    if (what === "recovery") {
      expect(b.kind).toBe("recovery");
      await d.runRecovery(() => chunks(sc.stageTwo!, 1500));
      continue;
    }
    if (what === "new") {
      if (b.trial) d.confirm();
      return;
    }
    await sc.arm(d, rng);
  }
  throw new Error(`${sc.name}: the update did not complete in 10 boots`);
}

/** After everything: the device boots the new image, confirmed, from flash alone. */
export function expectFinal(sc: Scenario, flash: SimFlash): void {
  const d = device(sc.rig, flash);
  const b = d.boot();
  expect(bootedSha(sc.rig, flash, b)).toBe(sha(sc.neu));
  expect(b.trial).toBe(false);
  expect(d.status().state).toBe("confirmed");
}

export interface SweepResult {
  ops: number;
  cuts: number;
  firstBoots: Record<string, number>;
}

/** Cut at every operation index of a clean update, plain and torn; recover each time. */
export async function sweep(sc: Scenario, opts: { tear: boolean; stride?: number } = { tear: true }): Promise<SweepResult> {
  const base = provision(sc.rig).snapshot();
  const fresh = () => new SimFlash(sc.rig.geometry, base);
  const clean = fresh();
  const start = clean.opCount;
  await drive(sc, clean, new Rng(1));
  expectFinal(sc, clean);
  const ops = clean.opCount - start;
  const firstBoots: Record<string, number> = {};
  let cuts = 0;
  const stride = opts.stride ?? 1;
  for (let i = 0; i < ops; i += stride) {
    for (const tear of opts.tear ? [false, true] : [false]) {
      const flash = fresh();
      flash.schedulePowerCut({ afterOps: i, tear, seed: i * 2 + 1 });
      let cut = false;
      try {
        await drive(sc, flash, new Rng(1));
      } catch (e) {
        if (!isPowerCut(e)) throw new Error(`${sc.name}: cut at op ${i}${tear ? " (torn)" : ""}: ${(e as Error).message}`, { cause: e });
        cut = true;
      }
      expect(cut, `${sc.name}: op ${i} was never reached`).toBe(true);
      flash.powerOn();
      cuts++;
      try {
        await drive(sc, flash, new Rng(2), undefined, (w) => (firstBoots[w] = (firstBoots[w] ?? 0) + 1));
        expectFinal(sc, flash);
      } catch (e) {
        throw new Error(`${sc.name}: after a cut at op ${i}${tear ? " (torn)" : ""}: ${(e as Error).message}`, { cause: e });
      }
    }
  }
  return { ops, cuts, firstBoots };
}

/** Random runs with several cuts each; the seed is printed so a failure replays. */
export async function randomCuts(sc: Scenario, seed: number, runs: number, maxCuts: number): Promise<number> {
  const base = provision(sc.rig).snapshot();
  const rng = new Rng(seed);
  const probe = new SimFlash(sc.rig.geometry, base);
  await drive(sc, probe, new Rng(1));
  // cut points spread over a little more than one clean update (retries add operations)
  const maxOps = Math.ceil(probe.opCount * 1.2);
  let total = 0;
  for (let r = 0; r < runs; r++) {
    const flash = new SimFlash(sc.rig.geometry, base);
    const cuts = 1 + rng.below(maxCuts);
    for (let c = 0; c < cuts; c++) {
      flash.schedulePowerCut({ afterOps: rng.below(maxOps), tear: rng.below(2) === 1, seed: rng.nextU32() });
      try {
        await drive(sc, flash, rng);
      } catch (e) {
        if (!isPowerCut(e)) throw new Error(`${sc.name} seed ${seed} run ${r} cut ${c}: ${(e as Error).message}`, { cause: e });
        total++;
      }
      flash.powerOn();
    }
    await drive(sc, flash, rng);
    expectFinal(sc, flash);
  }
  return total;
}
