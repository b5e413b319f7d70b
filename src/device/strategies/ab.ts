// Strategy "ab": two application slots. An update is written into the inactive slot (a delta reads
// the active slot as its base), read back and verified, then ONE state write marks it pending. The
// bootloader boots a pending image as a trial; an unconfirmed trial that resets with no attempts
// left is rolled back to the previous image, which stays untouched in the other slot.

import { StateError } from "../../errors.js";
import type { BootResult, ByteSource, Device, InstallOptions } from "../device.js";
import { closeInterrupted, imageInfoOf, streamToArea } from "./common.js";

export async function install(dev: Device, source: ByteSource, opts: InstallOptions): Promise<void> {
  const s0 = dev.raw;
  const active = s0.active;
  const target = 1 - active;
  const facts = await streamToArea(dev, source, opts, {
    area: dev.areas.slots[target]!,
    base: s0.slots[active]?.image ? { image: s0.slots[active]!.image!, area: dev.areas.slots[active]! } : undefined,
    allowDelta: true,
    onAccepted: (f) =>
      dev.commit((s) => {
        dev.begin(s, imageInfoOf(f));
        s.slots[target] = { state: "writing" };
      }),
  });
  arm(dev, target, imageInfoOf(facts));
}

/** Mark a verified image in `slot` pending (one state write). */
export function arm(dev: Device, slot: number, image: ReturnType<typeof imageInfoOf>): void {
  dev.commit((s) => {
    dev.step(s, "verify");
    dev.step(s, "verified");
    s.slots[slot] = { state: "pending", image, attemptsLeft: dev.maxAttempts };
  });
}

export function boot(dev: Device): BootResult {
  dev.countBoot();
  const s = structuredClone(dev.raw);
  let dirty = closeInterrupted(dev, s);
  // a pending image boots as a trial
  const p = s.slots.findIndex((x) => x.state === "pending");
  if (p >= 0) {
    const slot = s.slots[p]!;
    if (dev.holds(dev.areas.slots[p]!, slot.image)) {
      slot.state = "trial";
      slot.attemptsLeft = Math.max(0, (slot.attemptsLeft ?? 1) - 1);
      dev.bootStep(s, "installed");
      dev.save(s);
      return dev.bootSlot(p);
    }
    slot.state = "bad";
    dev.bootStep(s, "fail", "digest-mismatch");
    delete s.update.target;
    dirty = true;
  }
  // a trial image: another attempt, or roll back
  const t = s.slots.findIndex((x) => x.state === "trial");
  let rolledBack = false;
  if (t >= 0) {
    const slot = s.slots[t]!;
    if ((slot.attemptsLeft ?? 0) > 0 && dev.holds(dev.areas.slots[t]!, slot.image)) {
      slot.attemptsLeft = slot.attemptsLeft! - 1;
      dev.bootStep(s, "boot-trial");
      dev.save(s);
      return dev.bootSlot(t);
    }
    slot.state = "bad";
    delete slot.attemptsLeft;
    dev.bootStep(s, "rollback");
    delete s.update.target;
    rolledBack = true;
    dirty = true;
  }
  // the active image, or the other confirmed one if the active one fails its check
  const order = [s.active, 1 - s.active];
  for (const i of order) {
    const slot = s.slots[i]!;
    if (slot.state !== "confirmed" || !dev.holds(dev.areas.slots[i]!, slot.image)) continue;
    if (i !== s.active) {
      s.active = i;
      dirty = true;
    }
    if (dirty) dev.save(s);
    return dev.bootSlot(i, { rolledBack });
  }
  if (dirty) dev.save(s);
  throw new StateError("no-image", "no slot holds a verified image to boot");
}
