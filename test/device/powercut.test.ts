// Power-cut sweeps: for each strategy and package kind, cut power at EVERY flash operation of a clean
// update (and separately tear that operation), reboot from the flash bytes alone, check that a whole
// image (old, new, or the recovery system) boots, and that the update then completes.
import { describe, expect, it } from "vitest";
import type { Device } from "../../src/device/index.js";
import { Rng } from "../../src/device/index.js";
import { chunks, deltaPackage, fullPackage, makeRig, mutate } from "./helpers.js";
import { randomCuts, sweep, type Scenario } from "./sweep.js";

const IMAGE = 24 * 1024;

/** A new image with blocks moved around and edits (so an in-place delta has read/write cycles). */
function shuffleBlocks(img: Uint8Array, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = mutate(img, seed);
  for (let k = 0; k < 4; k++) {
    const len = 1024 + rng.below(2048);
    const from = rng.below(img.length - len);
    const to = rng.below(img.length - len);
    out.set(img.subarray(from, from + len), to);
  }
  return out;
}

function localArm(pkg: Uint8Array) {
  return (d: Device, rng: Rng) => {
    const lu = d.localUpgrade();
    const sizes = [1, 3, 100, 256, 1000, 4096, 65536];
    for (const c of chunks(pkg, () => sizes[rng.below(sizes.length)]!)) lu.write(c, pkg.length);
    lu.flush();
    lu.verify();
  };
}

function scenarios(): Scenario[] {
  const out: Scenario[] = [];
  for (const strategy of ["ab", "inplace"] as const) {
    const rig = makeRig(strategy, IMAGE);
    const neu = mutate(rig.old, 7);
    const pkg = fullPackage(neu, { securityCounter: 2 });
    out.push({ name: `${strategy}/full`, rig, neu, arm: (d) => d.install(chunks(pkg, 1000)) });
    out.push({ name: `${strategy}/local-upgrade`, rig, neu, arm: localArm(pkg) });
    // a delta: streamed against the active slot (ab), or the in-place form through the scratch sector
    const moved = shuffleBlocks(neu, 11);
    const delta = deltaPackage(rig.old, moved, { inPlace: strategy === "inplace" });
    out.push({ name: `${strategy}/delta`, rig, neu: moved, arm: (d) => d.install(chunks(delta, 999)) });
    if (strategy === "inplace") {
      // two scratch sectors used in turn (one journal entry per step)
      const rig2 = makeRig(strategy, IMAGE, { scratchSectors: 2 });
      out.push({ name: "inplace/delta-2-scratch", rig: rig2, neu: moved, arm: (d) => d.install(chunks(delta, 999)) });
    }
  }
  {
    // a flash whose smallest program unit is 16 bytes (package tails and journal entries padded)
    const rig = makeRig("inplace", IMAGE);
    rig.geometry = { ...rig.geometry, writeAlign: 16 };
    const neu = mutate(rig.old, 13);
    const pkg = fullPackage(neu, { securityCounter: 2 });
    out.push({ name: "inplace/local-upgrade-16B-unit", rig, neu, arm: localArm(pkg) });
  }
  {
    const rig = makeRig("two-stage", IMAGE);
    const neu = mutate(rig.old, 9);
    // stage one installs a new recovery system; either recovery image may boot
    const rec2 = mutate(rig.recovery!, 3);
    const stage1 = fullPackage(rec2, { securityCounter: 1, version: "rec-2" });
    const stage2 = fullPackage(neu, { securityCounter: 2 });
    out.push({
      name: "two-stage/full",
      rig,
      recoveries: [rig.recovery!, rec2],
      neu,
      arm: (d) => d.install(chunks(stage1, 1000), { stageTwo: "http://example.invalid/stage2.fota" }),
      stageTwo: stage2,
    });
  }
  return out;
}

describe("power-cut sweep", () => {
  for (const sc of scenarios()) {
    it(`${sc.name}: every operation cut and torn`, async () => {
      const r = await sweep(sc);
      console.log(`[device sweep] ${sc.name}: ${r.ops} flash ops per update, ${r.cuts} cuts tried (plain + torn); first boot after the cut: ${JSON.stringify(r.firstBoots)}`);
      expect(r.cuts).toBe(2 * r.ops);
      expect(r.ops).toBeGreaterThan(10);
    });
    it(`${sc.name}: random runs with several cuts each`, async () => {
      const seed = process.env.FOTA_SEED ? Number(process.env.FOTA_SEED) : (Date.now() ^ 0x5eed) >>> 0;
      console.log(`[device random cuts] ${sc.name}: seed ${seed} (replay with FOTA_SEED=${seed})`);
      const n = await randomCuts(sc, seed, 8, 4);
      console.log(`[device random cuts] ${sc.name}: ${n} cuts landed`);
    });
  }
});

describe("power-cut sweep of a rollback", () => {
  it("ab: cut at every operation of install + unconfirmed reboots; the device ends on the old image, never on anything else", async () => {
    const { SimFlash, isPowerCut } = await import("../../src/device/index.js");
    const { bootedSha, device, provision, sha } = await import("./helpers.js");
    const rig = makeRig("ab", IMAGE, { maxAttempts: 2 });
    const neu = mutate(rig.old, 61);
    const pkg = fullPackage(neu, { securityCounter: 2 });
    const base = provision(rig).snapshot();
    // install, then keep resetting without confirming until the old image is back
    const run = async (flash: InstanceType<typeof SimFlash>, installed: { done: boolean }) => {
      for (let round = 0; round < 8; round++) {
        const d = device(rig, flash);
        const b = d.boot();
        const h = bootedSha(rig, flash, b);
        expect([sha(rig.old), sha(neu)]).toContain(h);
        if (h === sha(rig.old)) {
          if (installed.done && d.status().state === "rolled-back") return "rolled-back";
          if (!installed.done) {
            await d.install(chunks(pkg, 2000));
            installed.done = true;
          }
        }
      }
      return "stuck";
    };
    const probe = new SimFlash(rig.geometry, base);
    const start = probe.opCount;
    expect(await run(probe, { done: false })).toBe("rolled-back");
    const ops = probe.opCount - start;
    let cuts = 0;
    for (let i = 0; i < ops; i++) {
      for (const tear of [false, true]) {
        const flash = new SimFlash(rig.geometry, base);
        const installed = { done: false };
        flash.schedulePowerCut({ afterOps: i, tear, seed: 100 + i });
        try {
          await run(flash, installed);
        } catch (e) {
          if (!isPowerCut(e)) throw e;
        }
        flash.powerOn();
        cuts++;
        // whatever state the cut left: no more cuts; the device converges (rolls back or reinstalls)
        const end = await run(flash, installed);
        expect(end, `cut at op ${i}${tear ? " (torn)" : ""}`).toBe("rolled-back");
      }
    }
    console.log(`[device sweep] ab/rollback (2 trial attempts): ${ops} flash ops, ${cuts} cuts tried (plain + torn)`);
  });
});
