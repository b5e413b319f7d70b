import { describe, expect, it } from "vitest";
import { LINKS, MODELS, PROFILES, findProfile, makeImei, requireProfile } from "../../src/quecpython/profiles.js";
import { layoutFor, geometryFor } from "../../src/quecpython/layout.js";
import { UsageError } from "../../src/errors.js";

describe("model profiles", () => {
  it("covers the models the issue names", () => {
    for (const m of ["EC600N", "EC800N", "EG912N", "EC600M", "EC800M", "EG810M", "EC600U", "EC200U", "EG915U", "EG912U", "BG95", "EC200A", "BC25"]) {
      expect(MODELS).toContain(m);
    }
  });

  it("keeps documented per-family facts", () => {
    for (const m of ["EC600N", "EC800N", "EG912N", "EC600M", "EC800M", "EG810M"]) {
      const p = PROFILES[m]!;
      expect(p.httpDownload).toBe("async");
      expect(p.resetDisableHonoured).toBe(false);
      expect(p.miniFota).toBe(true);
      expect(p.strategies).toContain("two-stage");
      expect(layoutFor(p, "two-stage").layout.recovery).toBeDefined();
    }
    for (const m of ["EC600U", "EC200U", "EG915U", "EG912U"]) {
      const p = PROFILES[m]!;
      expect(p.httpDownload).toBe("blocking");
      expect(p.localUpgrade).toBe(true);
      expect(p.calls.write).toBe("present");
      expect(p.miniFota).toBe(false);
    }
    expect(PROFILES.BG95!.calls.apn_set).toBe("present");
    expect(PROFILES.BG95!.calls.download_cancel).toBe("present");
    expect(PROFILES.EC600U!.calls.download_cancel).toBe("absent");
    expect(PROFILES.EC200A!.schemes).toContain("ftp");
    expect(PROFILES.EC600U!.schemes).not.toContain("ftp");
    expect(PROFILES.BC25!.httpDownload).toBe("async");
    expect(PROFILES.EC800N!.calls.verify).toBe("fails");
  });

  it("gives every model a device layout for each of its strategies", () => {
    for (const p of Object.values(PROFILES)) {
      for (const strategy of p.strategies) {
        const { layout, flashSize } = layoutFor(p, strategy);
        expect(layout.strategy).toBe(strategy);
        expect(layout.slots).toHaveLength(strategy === "ab" ? 2 : 1);
        if (strategy === "inplace") expect(layout.package && layout.scratch).toBeTruthy();
        if (strategy === "two-stage") expect(layout.recovery).toBeDefined();
        if (p.localUpgrade) expect(layout.package).toBeDefined();
        expect(flashSize % p.flash.sectorSize).toBe(0);
        expect(geometryFor(p, strategy).size).toBe(flashSize);
      }
      expect(() => layoutFor(p, "bogus" as never)).toThrow(UsageError);
      expect(p.localUpgrade).toBe(p.calls.write === "present");
      expect(LINKS[p.link].kbps).toBeGreaterThan(0);
    }
  });

  it("looks models up and refuses unknown ones with a typed error", () => {
    expect(findProfile("ec600u")?.model).toBe("EC600U");
    expect(findProfile("XYZ1")).toBeUndefined();
    expect(() => requireProfile("XYZ1")).toThrow(UsageError);
  });

  it("makes IMEIs with a valid Luhn digit", () => {
    const imei = makeImei(PROFILES.EC600U!, 42);
    expect(imei).toHaveLength(15);
    expect(imei.startsWith("86118620000042")).toBe(true);
    // Luhn check over all 15 digits
    let sum = 0;
    for (let i = 0; i < 15; i++) {
      let d = Number(imei[14 - i]);
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    expect(sum % 10).toBe(0);
  });
});
