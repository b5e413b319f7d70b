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
