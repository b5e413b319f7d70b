// Strategy "two-stage" ("mini FOTA"): stage one installs a small recovery system into its own area
// (streamed, read back, verified, armed with one state write) and the device reboots into it. The
// recovery system fetches stage two, a full image, straight into the application slot through a
// fetch callback. A power cut during stage two boots the recovery system again, which restarts stage
// two: the device always has a whole image to boot (the old application, the recovery, or the new
// application).

import { StateError, isFotaError } from "../../errors.js";
import type { BootResult, ByteSource, Device, InstallOptions } from "../device.js";
import { closeInterrupted, imageInfoOf, streamToArea } from "./common.js";
import { bootApp } from "./inplace.js";

export async function install(dev: Device, source: ByteSource, opts: InstallOptions): Promise<void> {
  if (!opts.stageTwo) throw new StateError("bad-transition", "a two-stage update needs the stage-two locator (url2)");
  const locator = opts.stageTwo;
  const rec = dev.areas.recovery!;
  const cur = dev.raw.recovery;
  const facts = await streamToArea(dev, source, opts, {
    area: rec,
    base: cur?.state === "confirmed" && cur.image ? { image: cur.image, area: rec } : undefined,
    // a delta stage one would overwrite its own base; stage one is a full recovery image
    allowDelta: false,
    onAccepted: (f) =>
      dev.commit((s) => {
        dev.begin(s, imageInfoOf(f));
        s.recovery = { state: "writing" };
      }),
  });
  dev.commit((s) => {
    dev.step(s, "verify");
    dev.step(s, "verified");
    s.recovery = { state: "pending", image: imageInfoOf(facts) };
    s.stageTwo = { locator };
  });
}

function bootRecovery(dev: Device): BootResult {
  const r = dev.raw.recovery!;
  return { area: "recovery", kind: "recovery", image: structuredClone(r.image!), trial: false, installed: false, rolledBack: false };
}

export function boot(dev: Device): BootResult {
  dev.countBoot();
  const s = structuredClone(dev.raw);
  if (closeInterrupted(dev, s)) dev.save(s);
  if (s.update.state === "pending" && s.recovery?.state === "pending") {
    if (dev.holds(dev.areas.recovery!, s.recovery.image)) {
      s.recovery.state = "confirmed";
      dev.step(s, "install");
      s.journal = { phase: "stage-two", area: "slot0", step: 0, bytesDone: 0 };
      dev.save(s);
      return bootRecovery(dev);
    }
    s.recovery = { state: "bad" };
    dev.bootStep(s, "fail", "digest-mismatch");
    delete s.stageTwo;
    dev.save(s);
  }
  if (s.update.state === "installing" && s.journal?.phase === "stage-two") {
    if (dev.holds(dev.areas.recovery!, s.recovery?.image)) return bootRecovery(dev);
    throw new StateError("no-image", "stage two is pending but the recovery system does not verify");
  }
  return bootApp(dev);
}

/** The recovery system's job: fetch stage two into the application slot, then arm it. */
export async function runRecovery(dev: Device, fetch: (locator: string) => ByteSource, opts: Omit<InstallOptions, "stageTwo">): Promise<void> {
  const b = dev.booted;
  const s0 = dev.raw;
  if (!b || b.kind !== "recovery" || s0.journal?.phase !== "stage-two" || !s0.stageTwo) {
    throw new StateError("bad-transition", "runRecovery needs a device booted into its recovery system with stage two pending");
  }
  const slot = dev.areas.slots[0]!;
  try {
    const facts = await streamToArea(dev, fetch(s0.stageTwo.locator), opts, {
      area: slot,
      allowDelta: false,
      phase: "stage-two",
      onAccepted: (f) => {
        if (dev.raw.slots[0]?.state !== "writing") {
          dev.commit((s) => {
            s.slots[0] = { state: "writing" };
            s.update.target = imageInfoOf(f);
          });
        }
      },
    });
    dev.commit((s) => {
      s.slots[0] = { state: "pending", image: imageInfoOf(facts), attemptsLeft: dev.maxAttempts };
      delete s.journal;
      delete s.stageTwo;
    });
  } catch (e) {
    // refused before the application slot was touched: give up stage two, the old image still boots
    if (isFotaError(e) && dev.raw.slots[0]?.state !== "writing" && e.kind !== "transport" && e.kind !== "cancelled") {
      dev.commit((s) => {
        dev.step(s, "fail", e.reason);
        delete s.journal;
        delete s.stageTwo;
      });
    }
    throw e;
  }
}
