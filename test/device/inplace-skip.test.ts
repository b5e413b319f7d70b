// An in-place delta that changes a few sectors rewrites those sectors only: a step whose sector
// already holds what it writes is skipped (no staging, no journal entry, no erase). With two scratch
// sectors used in turn, a skipped step between two staged ones can put the next staging on the
// scratch sector the journal points at; the skipped step is then staged first. Both are swept with a
// power cut at every flash operation, plain and torn.
import { describe, expect, it } from "vitest";
import { SimFlash, type FlashOpEvent } from "../../src/device/index.js";
import { bootedSha, chunks, deltaPackage, device, makeImage, makeRig, provision, SECTOR, sha } from "./helpers.js";
import { sweep } from "./sweep.js";

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
