// Local upgrade: write(bytes, totalSize) in any chunk sizes, flush(), verify(); nothing armed unless
// verify passed.
import { describe, expect, it } from "vitest";
import { IntegrityError, LWM2M_RESULT, StateError } from "../../src/errors.js";
import { bootedSha, chunks, device, fullPackage, makeRig, mutate, provision, sha } from "./helpers.js";

const IMAGE = 20 * 1024;

describe("local upgrade", () => {
  for (const size of [1, 255, 4097, 65536]) {
    it(`chunks of ${size} bytes: one page of RAM, each package page programmed once`, () => {
      const rig = makeRig("inplace", IMAGE);
      const flash = provision(rig);
      const neu = mutate(rig.old, 21);
      const pkg = fullPackage(neu, { compression: "none" });
      const d = device(rig, flash);
      d.boot();
      const before = { ...flash.counters };
      const lu = d.localUpgrade();
      for (const c of chunks(pkg, size)) lu.write(c, pkg.length);
      lu.flush();
      // package area: one program per 256-byte page (the tail padded), one erase per sector touched
      const pkgPrograms = Math.ceil(pkg.length / 256);
      const stateWrites = 1; // "started" marker (one program) before the first package byte
      expect(flash.counters.programs - before.programs).toBe(pkgPrograms + stateWrites);
      expect(d.status().state).toBe("downloading");
      lu.verify();
      expect(d.status()).toMatchObject({ state: "pending", lwm2m: { state: 2 } });
      const b = device(rig, flash).boot();
      expect(bootedSha(rig, flash, b)).toBe(sha(neu));
      expect(b.installed).toBe(true);
    });
  }

  it("a corrupt package fails verify (or write) and arms nothing", () => {
    const rig = makeRig("inplace", IMAGE);
    const flash = provision(rig);
    const pkg = fullPackage(mutate(rig.old, 22), { compression: "none" });
    pkg[pkg.length - 10] ^= 1;
    const d = device(rig, flash);
    d.boot();
    const lu = d.localUpgrade();
    expect(() => {
      for (const c of chunks(pkg, 4096)) lu.write(c, pkg.length);
      lu.flush();
      lu.verify();
    }).toThrow(IntegrityError);
    expect(d.status()).toMatchObject({ state: "failed", result: LWM2M_RESULT.INTEGRITY_FAILURE });
    expect(bootedSha(rig, flash, device(rig, flash).boot())).toBe(sha(rig.old));
  });

  it("verify before the last byte is a size mismatch; more bytes than declared are refused", () => {
    const rig = makeRig("inplace", IMAGE);
    const flash = provision(rig);
    const pkg = fullPackage(mutate(rig.old, 23));
    const d = device(rig, flash);
    d.boot();
    const lu = d.localUpgrade();
    lu.write(pkg.subarray(0, pkg.length - 5), pkg.length);
    expect(() => lu.verify()).toThrow(/received .* of/);
    const lu2 = device(rig, flash).localUpgrade();
    expect(() => lu2.write(pkg, pkg.length - 1)).toThrow(IntegrityError);
  });

  it("flush without verify, then a restart: nothing pending, the old image boots", () => {
    const rig = makeRig("inplace", IMAGE);
    const flash = provision(rig);
    const pkg = fullPackage(mutate(rig.old, 24));
    const d = device(rig, flash);
    d.boot();
    const lu = d.localUpgrade();
    for (const c of chunks(pkg, 1000)) lu.write(c, pkg.length);
    lu.flush();
    const d2 = device(rig, flash);
    const b = d2.boot();
    expect(bootedSha(rig, flash, b)).toBe(sha(rig.old));
    expect(d2.status()).toMatchObject({ state: "failed", result: LWM2M_RESULT.CONNECTION_LOST });
    expect(() => d2.localUpgrade().verify()).toThrow(StateError);
  });

  it("works on ab layouts with a package area (installs into the inactive slot at verify)", () => {
    const rig = makeRig("ab", IMAGE);
    const flash = provision(rig);
    const neu = mutate(rig.old, 25);
    const pkg = fullPackage(neu);
    const d = device(rig, flash);
    d.boot();
    const lu = d.localUpgrade();
    for (const c of chunks(pkg, 333)) lu.write(c, pkg.length);
    lu.flush();
    lu.verify();
    const b = device(rig, flash).boot();
    expect(b.area).toBe("slot1");
    expect(bootedSha(rig, flash, b)).toBe(sha(neu));
  });
});

describe("local upgrade limits", () => {
  it("a package larger than the package area is refused at the first write, before any flash write", async () => {
    const { CompatibilityError } = await import("../../src/errors.js");
    const rig = makeRig("inplace", IMAGE);
    const flash = provision(rig);
    const d = device(rig, flash);
    d.boot();
    const ops = flash.opCount;
    expect(() => d.localUpgrade().write(new Uint8Array(10), rig.layout.package!.size + 1)).toThrow(CompatibilityError);
    expect(flash.opCount).toBe(ops);
    expect(d.status()).toMatchObject({ reason: "too-large", result: LWM2M_RESULT.NOT_ENOUGH_FLASH });
  });
});
