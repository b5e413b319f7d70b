import { describe, expect, it } from "vitest";
import { chunks, device, fullPackage, makeRig, mutate, provision, sha, bootedSha } from "./helpers.js";

describe("device smoke", () => {
  for (const strategy of ["ab", "inplace"] as const) {
    it(`${strategy}: full package installs, boots as trial, confirms`, async () => {
      const rig = makeRig(strategy, 32 * 1024);
      const flash = provision(rig);
      const neu = mutate(rig.old, 5);
      const pkg = fullPackage(neu, { securityCounter: 2 });
      let d = device(rig, flash);
      expect(bootedSha(rig, flash, d.boot())).toBe(sha(rig.old));
      await d.install(chunks(pkg, 1000));
      expect(d.status().state).toBe("pending");
      d = device(rig, flash);
      const b = d.boot();
      expect(b.trial).toBe(true);
      expect(bootedSha(rig, flash, b)).toBe(sha(neu));
      d.confirm();
      expect(d.status()).toMatchObject({ state: "confirmed", result: 1, securityCounter: 2, lwm2m: { state: 0, result: 1 } });
      d = device(rig, flash);
      expect(bootedSha(rig, flash, d.boot())).toBe(sha(neu));
    });
  }
});

describe("device on other flash backends and faults", () => {
  it("FileFlash: provision into an image file, update, reopen the file, boot the new image", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { FileFlash, Device, formatPackageOpener } = await import("../../src/device/index.js");
    const { key, MODEL } = await import("./helpers.js");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fota-ff-"));
    try {
      const rig = makeRig("ab", 16 * 1024);
      const file = path.join(dir, "flash.img");
      const open = () => new FileFlash(file, { ...rig.geometry, create: true });
      let flash = open();
      Device.provision({ flash, layout: rig.layout, model: MODEL, image: rig.old, version: "1.0", securityCounter: 1 });
      const neu = mutate(rig.old, 41);
      const opener = formatPackageOpener({ trustedKeys: [key()] });
      let d = new Device({ flash, layout: rig.layout, model: MODEL, openPackage: opener });
      d.boot();
      await d.install(chunks(fullPackage(neu), 3000));
      flash.close();
      flash = open();
      d = new Device({ flash, layout: rig.layout, model: MODEL, openPackage: opener });
      const b = d.boot();
      expect(sha(flash.read(rig.layout.slots[1]!.offset, neu.length))).toBe(sha(neu));
      expect(b.area).toBe("slot1");
      d.confirm();
      flash.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a failing sector in the target slot fails the update (result 8) and the old image still boots", async () => {
    const { StorageError } = await import("../../src/errors.js");
    const rig = makeRig("ab", 16 * 1024);
    const flash = provision(rig);
    flash.failSector(rig.layout.slots[1]!.offset + 4096, { erase: true });
    const d = device(rig, flash);
    d.boot();
    await expect(d.install(chunks(fullPackage(mutate(rig.old, 42)), 1000))).rejects.toBeInstanceOf(StorageError);
    expect(d.status()).toMatchObject({ state: "failed", reason: "flash-failed", result: 8 });
    const b = device(rig, flash).boot();
    expect(bootedSha(rig, flash, b)).toBe(sha(rig.old));
  });
});

describe("progress", () => {
  it("install reports package bytes against the package size; an inplace boot reports the install", async () => {
    const rig = makeRig("inplace", 32 * 1024);
    const flash = provision(rig);
    const neu = mutate(rig.old, 43);
    const pkg = fullPackage(neu, { compression: "none" });
    const d = device(rig, flash);
    d.boot();
    const seen: Array<{ phase: string; done: number; total?: number }> = [];
    await d.install(chunks(pkg, 2048), { onProgress: (p) => seen.push(p) });
    const dl = seen.filter((p) => p.phase === "download");
    expect(dl.at(-1)).toEqual({ phase: "download", done: pkg.length, total: pkg.length });
    expect(dl.every((p, i) => i === 0 || p.done > dl[i - 1]!.done)).toBe(true);
    const inst: number[] = [];
    device(rig, flash).boot({ onProgress: (p) => p.phase === "install" && inst.push(p.done) });
    expect(inst.at(-1)).toBe(neu.length);
    expect(inst.length).toBe(neu.length / 4096);
  });
});
