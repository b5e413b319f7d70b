// The in-place region of an inplace device: its slot, then the package area's sectors past the stored
// package. Positions map to the right flash; reads may span the slot's end; the package is outside.
import { describe, expect, it } from "vitest";
import { Device, openAreas, planLayout, SimFlash } from "../../src/device/index.js";
import { inPlaceRegionMap, readRegion, sectorAt } from "../../src/device/strategies/region.js";
import { StorageError } from "../../src/errors.js";
import { device, makeImage, makeRig, provision, SECTOR } from "./helpers.js";

describe("in-place region: the slot, then the package area past the package", () => {
  const rig = makeRig("inplace", 4 * SECTOR, { slotBytes: 4 * SECTOR, packageBytes: 6 * SECTOR, old: makeImage(4 * SECTOR, 3) });
  const flash = provision(rig);
  const dev: Device = device(rig, flash);
  const slot = rig.layout.slots[0]!;
  const pkg = rig.layout.package!;

  it("lends the whole sectors past the stored package, none when the size is unknown", () => {
    for (const [size, lent] of [
      [1, 5],
      [SECTOR, 5],
      [SECTOR + 1, 4],
      [6 * SECTOR, 0],
    ] as const) {
      const m = inPlaceRegionMap(dev, size);
      expect(m.tailSectors, `package of ${size} bytes`).toBe(lent);
      expect(m.size).toBe(slot.size + lent * SECTOR);
    }
    expect(inPlaceRegionMap(dev, undefined)).toMatchObject({ tailSectors: 0, size: slot.size });
  });

  it("maps sectors and reads across the slot's end, and refuses positions past the region", () => {
    const m = inPlaceRegionMap(dev, SECTOR + 10); // the package takes two sectors: four lent
    expect(sectorAt(m, 3)).toMatchObject({ at: 3 * SECTOR });
    expect(sectorAt(m, 3).area.name).toBe("slot0");
    expect(sectorAt(m, 4)).toMatchObject({ at: 2 * SECTOR });
    expect(sectorAt(m, 4).area.name).toBe("package");
    expect(sectorAt(m, 7)).toMatchObject({ at: 5 * SECTOR });
    expect(() => sectorAt(m, 8)).toThrow(StorageError);
    const tail = Uint8Array.from({ length: SECTOR }, (_, i) => (i * 7) & 0xff);
    sectorAt(m, 4).area.eraseSector(2 * SECTOR);
    sectorAt(m, 4).area.program(2 * SECTOR, tail);
    expect(flash.read(pkg.offset + 2 * SECTOR, 16)).toEqual(tail.subarray(0, 16));
    const span = readRegion(m, 4 * SECTOR - 5, 12);
    expect(span.subarray(0, 5)).toEqual(flash.read(slot.offset + 4 * SECTOR - 5, 5));
    expect(span.subarray(5)).toEqual(tail.subarray(0, 7));
    expect(readRegion(m, 4 * SECTOR + 3, 4)).toEqual(tail.subarray(3, 7));
    expect(readRegion(m, 10, 4)).toEqual(flash.read(slot.offset + 10, 4));
    expect(() => readRegion(m, m.size - 2, 4)).toThrow(StorageError);
  });

  it("lends nothing when the package area's sectors differ from the slot's", () => {
    // (all areas of one flash share its sector size; a region map built by hand shows the rule)
    const f = new SimFlash({ size: 64 * SECTOR, sectorSize: SECTOR, pageSize: 256, writeAlign: 4 });
    const { layout } = planLayout("inplace", { sectorSize: SECTOR, slotSize: 2 * SECTOR });
    const areas = openAreas(f, layout);
    const fake = { areas: { ...areas, package: { ...areas.package!, geometry: { ...areas.package!.geometry, sectorSize: SECTOR * 2 } } } } as unknown as Device;
    expect(inPlaceRegionMap(fake, 1)).toMatchObject({ tailSectors: 0, size: 2 * SECTOR });
  });
});
