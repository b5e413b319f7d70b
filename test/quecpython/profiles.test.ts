import { describe, expect, it } from "vitest";
import { LINKS, MODELS, PROFILES, findProfile, makeImei, region, requireProfile } from "../../src/quecpython/profiles.js";
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
      expect(p.miniStrategy).toBe("two-stage");
      expect(region(p.flash, "recovery")).toBeDefined();
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

  it("lays every flash out in aligned, contiguous regions that hold the strategy's areas", () => {
    for (const p of Object.values(PROFILES)) {
      const { flash } = p;
      let end = 0;
      for (const r of flash.regions) {
        expect(r.offset).toBe(end);
        expect(r.size % flash.sectorSize).toBe(0);
        end += r.size;
      }
      expect(end).toBe(flash.size);
      expect(region(flash, "slotA")).toBeDefined();
      expect(region(flash, "bootctl")).toBeDefined();
      if (p.strategy === "ab") expect(region(flash, "slotB")).toBeDefined();
      if (p.strategy === "inplace") {
        expect(region(flash, "package")).toBeDefined();
        expect(region(flash, "scratch")).toBeDefined();
      }
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
