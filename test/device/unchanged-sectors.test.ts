// Updates wear the flash by what they change. An in-place delta that changes a few sectors rewrites
// those sectors only: a step whose sector already holds what it writes is skipped (no staging, no
// journal entry, no erase). With two scratch sectors used in turn, a skipped step between two staged
// ones can put the next staging on the scratch sector the journal points at; the skipped step is then
// staged first. Whole-image writes (A/B slots, full installs) skip sectors that already hold their
// bytes too: an A/B slot keeps the image before last, which a small fix mostly leaves as it was.
// Each is swept with a power cut at every flash operation, plain and torn.
import { describe, expect, it } from "vitest";
import { SimFlash, type FlashOpEvent } from "../../src/device/index.js";
import { bootedSha, chunks, deltaPackage, device, makeImage, makeRig, provision, SECTOR, sha } from "./helpers.js";
import { drive, expectFinal, sweep } from "./sweep.js";
import { isPowerCut, Rng } from "../../src/device/index.js";

const SECTORS = 12;
/** Changed sectors: 3 and 8 lie an even number of steps after the changed sector before them. */
const CHANGED = [1, 3, 4, 8];

function pair(): [Uint8Array, Uint8Array] {
  const old = makeImage(SECTORS * SECTOR, 17);
  const neu = old.slice();
  for (const m of CHANGED) for (let i = 0; i < 6; i++) neu[m * SECTOR + 300 + 97 * i] ^= 0x5a;
  return [old, neu];
}

describe("inplace: sectors the update leaves unchanged are not rewritten", () => {
  it.each([1, 2])("a small fix erases and writes the changed sectors only (%i scratch sectors); every operation cut and torn", async (scratchSectors) => {
    const [old, neu] = pair();
    const rig = makeRig("inplace", old.length, { old, scratchSectors });
    const pkg = deltaPackage(old, neu, { inPlace: true });
    const slot = rig.layout.slots[0]!;
    const scratch = rig.layout.scratch!;
    // a clean install, its erases counted by area
    const erases = { slot: 0, scratch: 0 };
    const flash = new SimFlash({
      ...rig.geometry,
      onOp: (op: FlashOpEvent) => {
        if (op.kind !== "erase") return;
        if (op.offset >= slot.offset && op.offset < slot.offset + slot.size) erases.slot++;
        if (op.offset >= scratch.offset && op.offset < scratch.offset + scratch.size) erases.scratch++;
      },
    }, provision(rig).snapshot());
    await device(rig, flash).install(chunks(pkg, 1000));
    const d = device(rig, flash);
    expect(bootedSha(rig, flash, d.boot())).toBe(sha(neu));
    expect(erases.slot).toBe(CHANGED.length);
    // two scratch sectors: the steps staged again ahead of a staging two steps on (at least one here)
    if (scratchSectors === 2) expect(erases.scratch).toBeGreaterThan(CHANGED.length);
    else expect(erases.scratch).toBe(CHANGED.length);
    const r = await sweep({ name: `inplace/skip-unchanged/scratch${scratchSectors}`, rig, neu, arm: (dv) => dv.install(chunks(pkg, 777)) });
    console.log(`[device sweep] inplace/skip-unchanged (${scratchSectors} scratch sectors): ${r.ops} flash ops per update (slot erases ${erases.slot} of ${SECTORS} sectors), ${r.cuts} cuts tried (plain + torn)`);
    expect(r.cuts).toBe(2 * r.ops);
  });
});

describe("image writes: sectors that already hold the new bytes are not rewritten", () => {
  it("ab: the second of two small fixes rewrites only the sectors where the slot's image before last differs", async () => {
    const [v1, v2] = pair();
    const v3 = v2.slice();
    v3[10 * SECTOR + 5] ^= 1; // a second fix, in one more sector
    const rig = makeRig("ab", v1.length, { old: v1 });
    const slots = rig.layout.slots;
    const erases = [0, 0];
    const flash = new SimFlash({
      ...rig.geometry,
      onOp: (op: FlashOpEvent) => {
        if (op.kind !== "erase") return;
        slots.forEach((a, k) => void (op.offset >= a.offset && op.offset < a.offset + a.size && erases[k]!++));
      },
    }, provision(rig).snapshot());
    for (const [from, to, version] of [[v1, v2, "2"], [v2, v3, "3"]] as const) {
      const d = device(rig, flash);
      d.boot();
      erases.fill(0);
      await d.install(chunks(deltaPackage(from, to, { version, securityCounter: Number(version) }), 1000));
      const dn = device(rig, flash);
      const b = dn.boot();
      expect(bootedSha(rig, flash, b)).toBe(sha(to));
      dn.confirm();
      if (version === "2") expect(erases[1]).toBe(SECTORS); // the other slot held nothing of it
      // slot 0 still holds v1: only the sectors where v3 differs from it are written
      else expect(erases[0]).toBe(CHANGED.length + 1);
    }
  });

  it("ab: that second fix, with a power cut at every flash operation (plain and torn), boots a whole image and completes", async () => {
    const [v1, v2] = pair();
    const v3 = v2.slice();
    v3[10 * SECTOR + 5] ^= 1;
    const rig = makeRig("ab", v1.length, { old: v1 });
    // the device after the first fix: v2 confirmed in slot 1, v1 kept in slot 0
    const flash = provision(rig);
    const d = device(rig, flash);
    d.boot();
    await d.install(chunks(deltaPackage(v1, v2, { version: "2", securityCounter: 2 }), 1000));
    const d2 = device(rig, flash);
    d2.boot();
    d2.confirm();
    const base = flash.snapshot();
    const pkg = deltaPackage(v2, v3, { version: "3", securityCounter: 3 });
    // (the sweep's driver, with v2 as the image that runs before the update)
    const sc = { name: "ab/second-fix", rig: { ...rig, old: v2 }, neu: v3, arm: (dv: ReturnType<typeof device>) => dv.install(chunks(pkg, 700)) };
    const probe = new SimFlash(rig.geometry, base);
    await drive(sc, probe, new Rng(1));
    expectFinal(sc, probe);
    const ops = probe.opCount;
    let cuts = 0;
    for (let i = 0; i < ops; i++) {
      for (const tear of [false, true]) {
        const f = new SimFlash(rig.geometry, base);
        f.schedulePowerCut({ afterOps: i, tear, seed: 2 * i + 1 });
        await drive(sc, f, new Rng(1)).then(
          () => expect.fail(`op ${i} was never reached`),
          (e: unknown) => {
            if (!isPowerCut(e)) throw e;
          },
        );
        f.powerOn();
        await drive(sc, f, new Rng(2));
        expectFinal(sc, f);
        cuts++;
      }
    }
    console.log(`[device sweep] ab/second-fix (slot 0 holds the image before last): ${ops} flash ops per update, ${cuts} cuts tried (plain + torn)`);
    expect(cuts).toBe(2 * ops);
  });
});
