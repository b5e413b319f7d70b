// The module's boot sequence (bootloader, mini FOTA stage two, app_fota install) and power cuts
// through the QuecPython face: a cut anywhere in an httpDownload or an install leaves a module that
// boots a whole image (old or new), and the same download then completes.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isPowerCut, type SimFlash } from "../../src/device/flash.js";
import { bootSequence } from "../../src/quecpython/boot.js";
import { openModule } from "../../src/quecpython/engine.js";
import { openFota } from "../../src/quecpython/fota.js";
import { AppFota } from "../../src/quecpython/app_fota.js";
import { PROFILES, type ModelProfile } from "../../src/quecpython/profiles.js";
import type { StrategyName } from "../../src/quecpython/profiles.js";
import { FAST_FETCH, KEY, V1, V2, firmware, fullPackage, hostFor, makeModule, sha256Hex, type TestModule } from "./fixtures.js";
import { TestServer } from "./server.js";

let server: TestServer;
let usr: string;
beforeAll(async () => {
  server = await new TestServer().start();
  for (const model of ["EC600U", "EC600N", "BG95"]) server.files.set(`/${model}.fota`, fullPackage({ models: [model] }));
  server.files.set("/mini1.fota", fullPackage({ models: ["EC600N"], image: firmware("recovery-v2", 8 * 1024), version: "r2" }));
  server.files.set("/app/main.py", new TextEncoder().encode("print('v2 app')\n"));
});
afterAll(async () => server.stop());
beforeEach(() => {
  usr = mkdtempSync(join(tmpdir(), "quec-boot-"));
  mkdirSync(join(usr, "lib"));
});
afterEach(() => rmSync(usr, { recursive: true, force: true }));

describe("bootSequence", () => {
  it("mini FOTA: stage one, restart, recovery fetches stage two, restart into the new firmware", async () => {
    const m = makeModule(PROFILES.EC600N!, { strategy: "two-stage" });
    const fota = openFota(m);
    expect(await fota.httpDownload({ url1: server.url("/mini1.fota"), url2: server.url("/EC600N.fota") })).toBe(0);
    await fota.idle();
    expect(m.restarts).toEqual(["mini-fota"]);
    const r = await bootSequence({ device: m.device, usrDir: usr, fetch: FAST_FETCH });
    expect(r.stageTwo).toBe(true);
    expect(r.boots.map((b) => b.kind)).toEqual(["recovery", "app"]);
    expect(r.booted.image.sha256).toBe(sha256Hex(V2));
  });

  it("confirms a new firmware by default (QuecPython has no confirm call); manual leaves it to roll back", async () => {
    for (const confirm of ["auto", "manual"] as const) {
      const m = makeModule(PROFILES.EC600U!);
      expect(await openFota(m).httpDownload({ url1: server.url("/EC600U.fota") })).toBe(0);
      const first = await bootSequence({ device: m.device, usrDir: usr, confirm });
      expect(first.booted.image.version).toBe("2.0.0");
      expect(first.confirmed).toBe(confirm === "auto");
      const second = await bootSequence({ device: m.device, usrDir: usr, confirm });
      expect(second.booted.image.version).toBe(confirm === "auto" ? "2.0.0" : "1.0.0");
    }
  });

  it("installs staged app_fota files only when flagged", async () => {
    const m = makeModule(PROFILES.EC600U!);
    writeFileSync(join(usr, "main.py"), "print('v1 app')\n");
    const app = new AppFota({ usrDir: usr, fetch: FAST_FETCH });
    expect(await app.download(server.url("/app/main.py"), "/usr/main.py")).toBe(0);
    expect((await bootSequence({ device: m.device, usrDir: usr })).appFota.state).toBe("idle");
    expect(readFileSync(join(usr, "main.py"), "utf8")).toBe("print('v1 app')\n");
    app.setUpdateFlag();
    expect((await bootSequence({ device: m.device, usrDir: usr })).appFota.installed).toEqual(["/usr/main.py"]);
    expect(readFileSync(join(usr, "main.py"), "utf8")).toBe("print('v2 app')\n");
  });
});

/** Reopens the module over its flash after power comes back. */
function powerCycle(m: TestModule, profile: ModelProfile, strategy?: StrategyName): TestModule {
  const flash = m.device.flash as SimFlash;
  flash.cancelPowerCut();
  flash.powerOn();
  return hostFor(profile, openModule({ profile, flash, trustedKeys: [KEY], ...(strategy ? { strategy } : {}) }));
}

async function downloadAndBoot(m: TestModule): Promise<void> {
  const fota = openFota(m);
  const ret = await fota.httpDownload({ url1: server.url(`/${m.profile.model}.fota`) });
  await fota.idle();
  expect(ret).toBe(0);
  await bootSequence({ device: m.device, usrDir: usr });
}

describe.each([
  ["EC600U", "blocking httpDownload, ab"],
  ["EC600N", "async httpDownload, inplace install at boot"],
  ["BG95", "blocking httpDownload, inplace install at boot"],
])("power cuts through %s (%s)", (model) => {
  const profile = PROFILES[model]!;
  it("every sampled cut (clean and torn) leaves a whole image; the download then completes", async () => {
    // Count the flash operations of a clean download + first boot.
    const probe = makeModule(profile);
    const flash0 = probe.device.flash as SimFlash;
    const before = flash0.opCount;
    await downloadAndBoot(probe);
    const total = flash0.opCount - before;
    expect(total).toBeGreaterThan(10);
    const points = new Set<number>();
    for (let i = 0; i < 12; i++) points.add(Math.floor((i * total) / 12));
    points.add(total - 1);
    let cuts = 0;
    for (const at of points) {
      for (const tear of [false, true]) {
        let m = makeModule(profile);
        (m.device.flash as SimFlash).schedulePowerCut({ afterOps: at, tear, seed: at + 1 });
        let cut = false;
        try {
          await downloadAndBoot(m);
        } catch (e) {
          if (!isPowerCut(e)) throw e;
          cut = true;
        }
        expect(cut).toBe(true);
        cuts++;
        m = powerCycle(m, profile);
        const after = await bootSequence({ device: m.device, usrDir: usr });
        expect([sha256Hex(V1), sha256Hex(V2)]).toContain(after.booted.image.sha256);
        if (after.booted.image.version !== "2.0.0") await downloadAndBoot(m);
        expect(m.device.boot().image.sha256).toBe(sha256Hex(V2));
      }
    }
    expect(cuts).toBe(points.size * 2);
  });
});

describe("power cuts in a local upgrade pass through the fota object untouched", () => {
  it("write / flush / verify raise the PowerCut (never -1); after power returns the old or new image boots", async () => {
    const pkg = fullPackage({ models: ["EC600U"] });
    const probe = makeModule(PROFILES.EC600U!);
    const f0 = probe.device.flash as SimFlash;
    const start = f0.opCount;
    const fp = openFota(probe);
    for (let o = 0; o < pkg.length; o += 777) expect(fp.write(pkg.subarray(o, o + 777), pkg.length)).toBe(0);
    expect(fp.flush()).toBe(0);
    expect(fp.verify()).toBe(0);
    const total = f0.opCount - start;
    for (const at of [0, Math.floor(total / 3), Math.floor((2 * total) / 3), total - 1]) {
      let m = makeModule(PROFILES.EC600U!);
      (m.device.flash as SimFlash).schedulePowerCut({ afterOps: at, tear: true });
      const fota = openFota(m);
      let cut: unknown;
      try {
        for (let o = 0; o < pkg.length; o += 777) expect(fota.write(pkg.subarray(o, o + 777), pkg.length)).toBe(0);
        expect(fota.flush()).toBe(0);
        expect(fota.verify()).toBe(0);
      } catch (e) {
        cut = e;
      }
      expect(isPowerCut(cut)).toBe(true);
      m = powerCycle(m, PROFILES.EC600U!);
      const b = await bootSequence({ device: m.device, usrDir: usr });
      expect([sha256Hex(V1), sha256Hex(V2)]).toContain(b.booted.image.sha256);
    }
  });
});
