// A single-slot (inplace) device whose slot is larger than its image: the in-place delta built for
// that slot keeps what a read cycle needs in the spare sector past the image. It installs through the
// scratch sector like any other, safe against a power cut at every flash operation. A slot the image
// fills: the device lends the sectors of its package area past the stored package, and the delta
// (by default built to use one such sector) keeps its stash there, as safely. A device with neither
// refuses the package while storing it, and keeps booting its image.
import { describe, expect, it } from "vitest";
import { createDelta } from "../../src/delta/index.js";
import { CompatibilityError } from "../../src/errors.js";
import { rotateSectors, rotatedCycle } from "../delta/helpers.js";
import { bootedSha, chunks, deltaPackage, device, makeRig, provision, SECTOR, sha } from "./helpers.js";
import { sweep } from "./sweep.js";

const IMAGE = 6 * SECTOR;

describe("inplace: stashes in the slot's spare sector, or in a sector the package area lends", () => {
  it("installs a delta that uses the spare sector; every operation cut and torn", async () => {
    const [old, neu] = rotatedCycle(IMAGE, SECTOR, 5);
    const rig = makeRig("inplace", IMAGE, { old });
    const slot = rig.layout.slots[0]!.size;
    expect(slot).toBeGreaterThanOrEqual(IMAGE + SECTOR);
    // built for the slot: one spare sector used, and much smaller than without it
    const spare = createDelta(old, neu, { inPlace: { sectorSize: SECTOR, slotBytes: slot, borrowSectors: 0 } });
    const none = createDelta(old, neu, { inPlace: { sectorSize: SECTOR, borrowSectors: 0 } });
    expect(spare.inPlace!.spareSectors).toBe(1);
    expect(spare.payload.length).toBeLessThan(none.payload.length / 2);
    const pkg = deltaPackage(old, neu, { inPlace: true, slotBytes: slot, borrowSectors: 0 });
    const r = await sweep({ name: "inplace/delta-spare-sector", rig, neu, arm: (d) => d.install(chunks(pkg, 777)) });
    console.log(`[device sweep] inplace/delta-spare-sector: ${r.ops} flash ops per update, ${r.cuts} cuts tried (plain + torn)`);
    expect(r.cuts).toBe(2 * r.ops);
    expect(r.ops).toBeGreaterThan(10);
  });

  it.each([1, 2])("a slot the image fills: the stash goes to the package area past the package (%i scratch sectors); every operation cut and torn", async (scratchSectors) => {
    const [old, neu] = rotatedCycle(IMAGE, SECTOR, 8);
    const rig = makeRig("inplace", IMAGE, { old, slotBytes: IMAGE, scratchSectors });
    const slot = rig.layout.slots[0]!;
    const area = rig.layout.package!;
    expect(slot.size).toBe(IMAGE);
    // built with the defaults: one sector lent past the slot, and much smaller than without it
    const lent = createDelta(old, neu, { inPlace: { sectorSize: SECTOR } });
    const none = createDelta(old, neu, { inPlace: { sectorSize: SECTOR, borrowSectors: 0 } });
    expect(lent.inPlace!.spareSectors).toBe(1);
    expect(lent.payload.length).toBeLessThan(none.payload.length / 2);
    const pkg = deltaPackage(old, neu, { inPlace: true });
    const stored = Math.ceil(pkg.length / SECTOR) * SECTOR;
    expect(area.size).toBeGreaterThanOrEqual(stored + SECTOR);
    const r = await sweep({ name: `inplace/delta-lent-sector/scratch${scratchSectors}`, rig, neu, arm: (d) => d.install(chunks(pkg, 777)) });
    console.log(`[device sweep] inplace/delta-lent-sector (${scratchSectors} scratch sectors): ${r.ops} flash ops per update, ${r.cuts} cuts tried (plain + torn)`);
    expect(r.cuts).toBe(2 * r.ops);
    expect(r.ops).toBeGreaterThan(10);
    // a clean run: the stash sits in the package area's first sector past the package, which the
    // install never wrote over
    const flash = provision(rig);
    await device(rig, flash).install(chunks(pkg, 1000));
    expect(flash.read(area.offset + stored, SECTOR).every((x) => x === 0xff)).toBe(true);
    const d = device(rig, flash);
    expect(bootedSha(rig, flash, d.boot())).toBe(sha(neu));
    expect(flash.read(area.offset + stored, SECTOR).some((x) => x !== 0xff)).toBe(true);
    expect(sha(flash.read(area.offset, pkg.length))).toBe(sha(pkg));
  });

  it("refuses, while storing it, a delta that needs a spare sector neither the slot nor the package area has", async () => {
    // the image fills the slot, and the package fills the package area: no sector past either
    const [old, neu] = rotatedCycle(IMAGE, SECTOR, 6);
    const pkg = deltaPackage(old, neu, { inPlace: true });
    const rig = makeRig("inplace", IMAGE, { old, slotBytes: IMAGE, packageBytes: Math.ceil(pkg.length / SECTOR) * SECTOR });
    const full = rig.layout.slots[0]!.size;
    expect(full).toBe(IMAGE);
    const flash = provision(rig);
    const d = device(rig, flash);
    d.boot();
    const slot = rig.layout.slots[0]!;
    const err = await d.install(chunks(pkg, 1000)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CompatibilityError);
    expect((err as CompatibilityError).reason).toBe("too-large");
    expect((err as Error).message).toMatch(/needs a region of \d+ bytes/);
    // (refused after the update started storing the package: failed, as a package that fails verification)
    expect(d.status()).toMatchObject({ state: "failed", reason: "too-large" });
    // nothing armed: the next boot runs the old image, untouched
    const again = device(rig, flash);
    expect(bootedSha(rig, flash, again.boot())).toBe(sha(old));
    expect(sha(flash.read(slot.offset, old.length))).toBe(sha(old));
    expect(again.status()).toMatchObject({ state: "failed", reason: "too-large" });
  });

  it("a second update built for the slot installs over the stash the first one left in the spare sector", async () => {
    const [v1, v2] = rotatedCycle(IMAGE, SECTOR, 7);
    // 3.0: the cycle turned once more
    const v3 = rotateSectors(v2, SECTOR);
    v3[5] ^= 0x33;
    const rig = makeRig("inplace", IMAGE, { old: v1 });
    const slot = rig.layout.slots[0]!;
    const flash = provision(rig);
    for (const [from, to, counter] of [[v1, v2, 2], [v2, v3, 3]] as const) {
      expect(createDelta(from, to, { inPlace: { sectorSize: SECTOR, slotBytes: slot.size, borrowSectors: 0 } }).inPlace!.spareSectors).toBe(1);
      const pkg = deltaPackage(from, to, { inPlace: true, slotBytes: slot.size, borrowSectors: 0, securityCounter: counter, version: `${counter}.0` });
      await device(rig, flash).install(chunks(pkg, 1000));
      const d = device(rig, flash);
      const b = d.boot();
      expect(bootedSha(rig, flash, b)).toBe(sha(to));
      d.confirm();
    }
    // the spare sector past the image holds the second update's stash, not erased flash
    expect(flash.read(slot.offset + IMAGE, SECTOR).some((x) => x !== 0xff)).toBe(true);
  });
});
