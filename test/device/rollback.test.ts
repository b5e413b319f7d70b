// Trial boots, confirmation, rollback and anti-rollback.
import { describe, expect, it } from "vitest";
import { CompatibilityError, IntegrityError, RollbackError, LWM2M_RESULT, CancelledError } from "../../src/errors.js";
import type { SimFlash } from "../../src/device/index.js";
import { bootedSha, chunks, device, fullPackage, makeRig, mutate, provision, sha, type Rig } from "./helpers.js";

const IMAGE = 16 * 1024;

async function installAndBoot(rig: Rig, flash: SimFlash, image: Uint8Array, counter: number) {
  const d = device(rig, flash);
  d.boot();
  await d.install(chunks(fullPackage(image, { securityCounter: counter }), 4096));
  const d2 = device(rig, flash);
  return { d: d2, b: d2.boot() };
}

const writes = (f: SimFlash) => f.counters.erases + f.counters.programs;

describe("ab rollback", () => {
  it("a new image that is never confirmed rolls back on the next reset", async () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const neu = mutate(rig.old, 11);
    const { d, b } = await installAndBoot(rig, flash, neu, 2);
    expect(b.trial).toBe(true);
    expect(bootedSha(rig, flash, b)).toBe(sha(neu));
    expect(d.status().lwm2m.state).toBe(3);
    // reset without confirm
    const d2 = device(rig, flash);
    const b2 = d2.boot();
    expect(b2.rolledBack).toBe(true);
    expect(bootedSha(rig, flash, b2)).toBe(sha(rig.old));
    expect(d2.status()).toMatchObject({ state: "rolled-back", result: LWM2M_RESULT.UPDATE_FAILED, securityCounter: 1 });
    expect(d2.status().slots[1]!.state).toBe("bad");
    // and it stays on the old image
    expect(bootedSha(rig, flash, device(rig, flash).boot())).toBe(sha(rig.old));
  });

  it("trial attempts count down; exhausted attempts roll back", async () => {
    const rig = makeRig("ab", IMAGE, { maxAttempts: 3 });
    const flash = provision(rig);
    const neu = mutate(rig.old, 12);
    const { b } = await installAndBoot(rig, flash, neu, 2);
    expect(bootedSha(rig, flash, b)).toBe(sha(neu));
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const x = device(rig, flash).boot();
      seen.push(`${bootedSha(rig, flash, x) === sha(neu) ? "new" : "old"}${x.trial ? "/trial" : ""}${x.rolledBack ? "/rolled-back" : ""}`);
    }
    expect(seen).toEqual(["new/trial", "new/trial", "old/rolled-back"]);
  });

  it("confirmation keeps the new image and only then raises the security counter", async () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const neu = mutate(rig.old, 13);
    const { d } = await installAndBoot(rig, flash, neu, 5);
    expect(d.status().securityCounter).toBe(1);
    d.confirm();
    expect(d.status().securityCounter).toBe(5);
    const again = device(rig, flash);
    const b = again.boot();
    expect(b.trial).toBe(false);
    expect(bootedSha(rig, flash, b)).toBe(sha(neu));
    expect(() => again.confirm()).toThrow(/not on trial/);
  });

  it("a package with an older security counter is refused before any flash write", async () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const { d } = await installAndBoot(rig, flash, mutate(rig.old, 14), 5);
    d.confirm();
    const before = writes(flash);
    const d2 = device(rig, flash);
    d2.boot();
    await expect(d2.install(chunks(fullPackage(rig.old, { securityCounter: 3, version: "1.0" }), 4096))).rejects.toBeInstanceOf(RollbackError);
    expect(writes(flash) - before).toBe(0);
    expect(d2.status()).toMatchObject({ state: "confirmed", reason: "security-counter", result: LWM2M_RESULT.UPDATE_FAILED });
    // the same through the local upgrade calls
    const lu = d2.localUpgrade();
    const pkg = fullPackage(rig.old, { securityCounter: 3 });
    expect(() => {
      for (const c of chunks(pkg, 512)) lu.write(c, pkg.length);
    }).toThrow(RollbackError);
    expect(writes(flash) - before).toBe(0);
  });
});

describe("refusals and failures", () => {
  for (const strategy of ["ab", "inplace", "two-stage"] as const) {
    it(`${strategy}: wrong model and older counter cost zero flash writes`, async () => {
      const rig = makeRig(strategy, IMAGE);
      const flash = provision(rig);
      const d = device(rig, flash);
      d.boot();
      const before = writes(flash);
      const opts = strategy === "two-stage" ? { stageTwo: "x" } : {};
      await expect(d.install(chunks(fullPackage(rig.old, { models: ["BG95"] }), 700), opts)).rejects.toBeInstanceOf(CompatibilityError);
      expect(d.status()).toMatchObject({ state: "idle", reason: "wrong-model", result: LWM2M_RESULT.UNSUPPORTED_PACKAGE });
      await expect(d.install(chunks(fullPackage(rig.old, { securityCounter: 0 }), 700), opts)).rejects.toBeInstanceOf(RollbackError);
      expect(writes(flash) - before).toBe(0);
      expect(bootedSha(rig, flash, device(rig, flash).boot())).toBe(sha(rig.old));
    });
  }

  it("a corrupt payload fails with an integrity result and arms nothing", async () => {
    for (const strategy of ["ab", "inplace"] as const) {
      const rig = makeRig(strategy, IMAGE);
      const flash = provision(rig);
      const d = device(rig, flash);
      d.boot();
      const pkg = fullPackage(mutate(rig.old, 15), { compression: "none" });
      pkg[pkg.length - 100] ^= 0x40;
      await expect(d.install(chunks(pkg, 1000))).rejects.toBeInstanceOf(IntegrityError);
      expect(d.status()).toMatchObject({ state: "failed", result: LWM2M_RESULT.INTEGRITY_FAILURE, reason: "digest-mismatch" });
      const b = device(rig, flash).boot();
      expect(bootedSha(rig, flash, b)).toBe(sha(rig.old));
      expect(b.trial).toBe(false);
    }
  });

  it("cancel through an AbortSignal leaves nothing armed", async () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const d = device(rig, flash);
    d.boot();
    const ac = new AbortController();
    const pkg = fullPackage(mutate(rig.old, 16), { compression: "none" });
    let n = 0;
    const src = (function* () {
      for (const c of chunks(pkg, 1024)) {
        if (++n === 8) ac.abort();
        yield c;
      }
    })();
    await expect(d.install(src, { signal: ac.signal })).rejects.toBeInstanceOf(CancelledError);
    expect(d.status()).toMatchObject({ state: "idle", result: LWM2M_RESULT.CANCELLED });
    expect(device(rig, flash).boot().trial).toBe(false);
  });

  it("inplace: an unconfirmed image keeps booting (no previous image is kept)", async () => {
    const rig = makeRig("inplace", IMAGE);
    const flash = provision(rig);
    const neu = mutate(rig.old, 17);
    const { b } = await installAndBoot(rig, flash, neu, 2);
    expect(b.installed).toBe(true);
    const again = device(rig, flash).boot();
    expect(bootedSha(rig, flash, again)).toBe(sha(neu));
    expect(again.rolledBack).toBe(false);
  });

  it("an update cannot start while a trial image runs", async () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const { d } = await installAndBoot(rig, flash, mutate(rig.old, 18), 2);
    await expect(d.install(chunks(fullPackage(mutate(rig.old, 19)), 4096))).rejects.toThrow(/confirm it first/);
  });
});

describe("two-stage", () => {
  it("a stage-two download that fails leaves the recovery in charge; the next boot retries and succeeds", async () => {
    const { TransportError } = await import("../../src/errors.js");
    const rig = makeRig("two-stage", IMAGE);
    const flash = provision(rig);
    const neu = mutate(rig.old, 51);
    const stage1 = fullPackage(mutate(rig.recovery!, 52), { version: "rec-2" });
    const stage2 = fullPackage(neu, { securityCounter: 3 });
    let d = device(rig, flash);
    d.boot();
    await d.install(chunks(stage1, 2048), { stageTwo: "http://127.0.0.1/stage2.fota" });
    d = device(rig, flash);
    expect(d.boot().kind).toBe("recovery");
    const seen: string[] = [];
    const broken = function* (url: string) {
      seen.push(url);
      yield stage2.subarray(0, 5000);
      throw new TransportError("connection-lost", "link dropped");
    };
    await expect(d.runRecovery(broken)).rejects.toBeInstanceOf(TransportError);
    expect(seen).toEqual(["http://127.0.0.1/stage2.fota"]);
    expect(d.status()).toMatchObject({ state: "installing", reason: "connection-lost", lwm2m: { state: 3, result: 4 } });
    d = device(rig, flash);
    expect(d.boot().kind).toBe("recovery");
    await d.runRecovery(() => chunks(stage2, 4096));
    d = device(rig, flash);
    const b = d.boot();
    expect(bootedSha(rig, flash, b)).toBe(sha(neu));
    d.confirm();
    expect(d.status()).toMatchObject({ state: "confirmed", securityCounter: 3 });
  });

  it("a stage-two package refused before touching the application slot gives up and boots the old image", async () => {
    const rig = makeRig("two-stage", IMAGE);
    const flash = provision(rig);
    let d = device(rig, flash);
    d.boot();
    await d.install(chunks(fullPackage(mutate(rig.recovery!, 53)), 2048), { stageTwo: "x" });
    d = device(rig, flash);
    d.boot();
    await expect(d.runRecovery(() => chunks(fullPackage(mutate(rig.old, 54), { models: ["OTHER"] }), 4096))).rejects.toBeInstanceOf(CompatibilityError);
    const b = device(rig, flash).boot();
    expect(b.kind).toBe("app");
    expect(bootedSha(rig, flash, b)).toBe(sha(rig.old));
  });
});
