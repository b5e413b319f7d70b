// download_cancel from another task, local upgrade, mini FOTA, and the singleton.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODELS, PROFILES } from "../../src/quecpython/profiles.js";
import { openFota, pythonErrorOf } from "../../src/quecpython/fota.js";
import { runStageTwo } from "../../src/quecpython/engine.js";
import { QUEC_CODE } from "../../src/errors.js";
import { TestServer } from "./server.js";
import { FAST_FETCH, V1, V2, deltaPackage, firmware, fullPackage, makeModule, sha256Hex } from "./fixtures.js";

type Cb = [number, number];
let server: TestServer;
beforeAll(async () => {
  server = await new TestServer().start();
  for (const model of MODELS) server.files.set(`/${model}.fota`, fullPackage({ models: [model] }));
  server.files.set("/slow.fota", fullPackage({ models: ["BG95"], image: firmware("big", 200 * 1024), compression: "none" }));
});
afterAll(async () => server.stop());

describe("download_cancel (BG95) from another task while httpDownload blocks", () => {
  it("stops promptly, leaves nothing armed, and a later httpDownload works", async () => {
    const m = makeModule(PROFILES.BG95!);
    const fota = openFota(m);
    server.faults.set("/slow.fota", { paceBytes: 1024, paceMs: 10 });
    const calls: Cb[] = [];
    let cancelRet: number | undefined;
    const running = fota.httpDownload({
      url1: server.url("/slow.fota"),
      callback: (a) => {
        calls.push(a);
        // the "other thread": once the download is under way, cancel it
        if (a[0] === 1 && a[1] >= 5 && cancelRet === undefined) {
          setTimeout(() => {
            cancelRet = fota.download_cancel();
          }, 0);
        }
      },
    });
    const ret = await running;
    expect(cancelRet).toBe(0);
    expect(ret).toBe(-1);
    // it stopped well before the end of the (paced) body
    const lastProgress = calls.filter((c) => c[0] === 1).at(-1)![1];
    expect(lastProgress).toBeLessThan(50);
    expect(calls.at(-1)).toEqual([-1, QUEC_CODE.NOT_INPROGRESS]);
    expect(calls.some((c) => c[0] === 0 || c[0] === 2)).toBe(false);
    expect(m.device.status().state).not.toBe("pending");
    expect(m.restarts).toEqual([]);
    expect(fota.download_cancel()).toBe(-1); // nothing running any more
    server.faults.delete("/slow.fota");
    const again: Cb[] = [];
    expect(await fota.httpDownload({ url1: server.url("/BG95.fota"), callback: (a) => again.push(a) })).toBe(0);
    expect(again.slice(-2)).toEqual([
      [0, 100],
      [2, 100],
    ]);
    expect(m.restarts).toEqual(["fota"]);
    expect(m.device.boot().image.version).toBe("2.0.0");
  });
});

describe("local upgrade: write / flush / verify", () => {
  const withLocal = MODELS.filter((m) => PROFILES[m]!.localUpgrade);
  const without = MODELS.filter((m) => !PROFILES[m]!.localUpgrade);

  it.each(withLocal)("%s: any chunk sizes, flush, verify arm it; no automatic restart", (model) => {
    const m = makeModule(PROFILES[model]!);
    const fota = openFota(m);
    const pkg = server.files.get(`/${model}.fota`)!;
    const sizes = [1, 7, 1024, 333, 4096, 65536];
    let off = 0;
    for (let i = 0; off < pkg.length; i++) {
      const n = sizes[i % sizes.length]!;
      expect(fota.write(pkg.subarray(off, off + n), pkg.length)).toBe(0);
      off += n;
    }
    expect(fota.flush()).toBe(0);
    expect(fota.verify()).toBe(0);
    expect(m.restarts).toEqual([]); // the script calls Power.powerRestart()
    expect(m.device.status().state).toBe("pending");
    const b = m.device.boot();
    expect(b.image.sha256).toBe(sha256Hex(V2));
  });

  it.each(withLocal)("%s: a corrupt or foreign package fails (-1) and nothing is armed", (model) => {
    const m = makeModule(PROFILES[model]!);
    const fota = openFota(m);
    const bad = Uint8Array.from(server.files.get(`/${model}.fota`)!);
    bad[bad.length - 50] ^= 1;
    let rets: number[] = [];
    for (let off = 0; off < bad.length; off += 1000) rets.push(fota.write(bad.subarray(off, off + 1000), bad.length));
    rets.push(fota.flush(), fota.verify());
    expect(rets).toContain(-1);
    expect(m.device.status().state).not.toBe("pending");
    // a package for another model is refused as soon as its manifest is in
    const foreign = fullPackage({ models: ["XYZ9"] });
    rets = [];
    for (let off = 0; off < foreign.length; off += 1000) rets.push(fota.write(foreign.subarray(off, off + 1000), foreign.length));
    expect(rets).toContain(-1);
    expect(m.device.boot().image.version).toBe("1.0.0");
  });

  it.each(without)("%s: write / flush / verify exist but fail with -1 and a log line", (model) => {
    const m = makeModule(PROFILES[model]!);
    const fota = openFota(m);
    const pkg = server.files.get(`/${model}.fota`)!;
    expect(fota.write(pkg.subarray(0, 100), pkg.length)).toBe(-1);
    expect(fota.flush()).toBe(-1);
    expect(fota.verify()).toBe(-1);
    expect(m.logs.filter((l) => l.includes("local upgrade is not supported"))).toHaveLength(3);
    expect(m.device.status().state).not.toBe("pending");
  });

  it("argument rules of write: fewer than 2 args -> -1; more -> TypeError; types", () => {
    const m = makeModule(PROFILES.EC600U!);
    const fota = openFota(m);
    expect(fota.write(new Uint8Array(4))).toBe(-1);
    expect(fota.write()).toBe(-1);
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return pythonErrorOf(e);
      }
      return undefined;
    };
    expect(err(() => fota.write(new Uint8Array(1), 10, 3))).toEqual({ type: "TypeError", message: "function expected at most 3 arguments, got 4" });
    expect(err(() => fota.write(new Uint8Array(1), "10"))).toEqual({ type: "TypeError", message: "can't convert str to int" });
    expect(err(() => fota.write(12, 10))).toEqual({ type: "TypeError", message: "object with buffer protocol required" });
  });
});

describe("mini FOTA (ASR: url1 stage one, url2 stage two, two-stage layout, no callback)", () => {
  it("arms stage one, restarts into the recovery system, which fetches stage two; then the new firmware boots", async () => {
    const m = makeModule(PROFILES.EC600N!, { strategy: "two-stage" });
    const recovery = firmware("recovery-v2", 8 * 1024);
    server.files.set("/mini1.fota", fullPackage({ models: ["EC600N"], image: recovery, version: "r2" }));
    server.files.set("/mini2.fota", server.files.get("/EC600N.fota")!);
    const fota = openFota(m);
    const calls: Cb[] = [];
    expect(await fota.httpDownload({ url1: server.url("/mini1.fota"), url2: server.url("/mini2.fota"), callback: (a) => calls.push(a) })).toBe(0);
    await fota.idle();
    expect(calls).toEqual([]);
    expect(m.restarts).toEqual(["mini-fota"]);
    const first = m.device.boot();
    expect(first.kind).toBe("recovery");
    await runStageTwo(m.device, FAST_FETCH);
    const second = m.device.boot();
    expect(second.kind).toBe("app");
    expect(second.image.sha256).toBe(sha256Hex(V2));
  });

  it("a module created with the inplace layout refuses mini FOTA in the background (no callback, no restart)", async () => {
    const m = makeModule(PROFILES.EC600N!);
    const fota = openFota(m);
    expect(await fota.httpDownload({ url1: server.url("/EC600N.fota"), url2: server.url("/EC600N.fota") })).toBe(0);
    await fota.idle();
    expect(m.restarts).toEqual([]);
    expect(m.logs.at(-1)).toMatch(/mini fota stage one failed/);
    expect(m.device.boot().image.version).toBe("1.0.0");
  });
});

describe("the fota object", () => {
  it("is one object per module; each fota() call sets reset_disable again", async () => {
    const m = makeModule(PROFILES.EC200U!);
    const a = openFota(m, { reset_disable: 1 });
    expect(a.restartDisabled).toBe(true);
    const b = openFota(m);
    expect(b).toBe(a);
    expect(a.restartDisabled).toBe(false);
    a.del();
    const c = openFota(m);
    expect(c).not.toBe(a);
    // a callback given once stays registered for later downloads (as in the module's C code)
    const calls: Cb[] = [];
    openFota(makeModule(PROFILES.EC200U!));
    expect(await c.httpDownload({ url1: server.url("/nothing.fota"), callback: (x) => calls.push(x) })).toBe(-1);
    expect(await c.httpDownload({ url1: server.url("/nothing.fota") })).toBe(-1);
    expect(calls).toEqual([
      [-1, QUEC_CODE.FILE_NOT_EXIST],
      [-1, QUEC_CODE.FILE_NOT_EXIST],
    ]);
  });

  it("refuses a second download while one runs (async model)", async () => {
    const m = makeModule(PROFILES.EC800N!);
    const fota = openFota(m);
    server.faults.set("/EC800N.fota", { paceBytes: 4096, paceMs: 20 });
    expect(await fota.httpDownload({ url1: server.url("/EC800N.fota") })).toBe(0);
    expect(await fota.httpDownload({ url1: server.url("/EC800N.fota") })).toBe(-1);
    await fota.idle();
    server.faults.delete("/EC800N.fota");
    expect(m.restarts).toEqual(["fota"]);
  });
});

describe("DFOTA with delta packages", () => {
  const cases: Array<[string, boolean]> = [
    ["EC600U", false], // ab: stream delta into the inactive slot
    ["EC600N", true], // inplace: in-place delta applied at boot through the scratch sector
    ["BG95", true],
    ["EC200A", true],
    ["BC25", true],
  ];
  it.each(cases)("%s: a delta package downloads, arms and installs", async (model, inPlace) => {
    const m = makeModule(PROFILES[model]!);
    const to = V2;
    const pkg = deltaPackage({ from: V1, to, models: [model], inPlace });
    expect(pkg.length).toBeLessThan(to.length / 4);
    server.files.set(`/${model}-delta.fota`, pkg);
    const fota = openFota(m);
    const calls: Cb[] = [];
    const ret = await fota.httpDownload({ url1: server.url(`/${model}-delta.fota`), callback: (a) => calls.push(a) });
    expect(ret, m.logs.join("\n")).toBe(0);
    await fota.idle();
    expect(calls.slice(-2)).toEqual([
      [0, 100],
      [2, 100],
    ]);
    expect(m.device.boot().image.sha256).toBe(sha256Hex(to));
  });

  it("a delta for another base image fails with [-1, 1009] before anything is written", async () => {
    const m = makeModule(PROFILES.EC600U!);
    server.files.set("/wrong-base.fota", deltaPackage({ from: firmware("other", 48 * 1024), to: V2, models: ["EC600U"] }));
    const fota = openFota(m);
    const calls: Cb[] = [];
    expect(await fota.httpDownload({ url1: server.url("/wrong-base.fota"), callback: (a) => calls.push(a) })).toBe(-1);
    expect(calls.at(-1)).toEqual([-1, QUEC_CODE.FILE_CHECK_ERR]);
    expect(m.device.boot().image.version).toBe("1.0.0");
  });
});

describe("ASR: why mini FOTA exists", () => {
  const big = firmware("big-v2", 400 * 1024);
  it("a full package larger than the FOTA area fails (-1, storage code) and nothing is armed", async () => {
    server.files.set("/big.fota", fullPackage({ models: ["EC600N"], image: big, compression: "none" }));
    const m = makeModule(PROFILES.EC600N!);
    const fota = openFota(m);
    const calls: Cb[] = [];
    expect(await fota.httpDownload({ url1: server.url("/big.fota"), callback: (a) => calls.push(a) })).toBe(0);
    await fota.idle();
    const last = calls.at(-1)!;
    expect(last[0]).toBe(-1);
    expect([QUEC_CODE.NO_MEMORY, QUEC_CODE.FILE_SIZE_TOO_LARGE]).toContain(last[1]);
    expect(m.restarts).toEqual([]);
    expect(m.device.boot().image.version).toBe("1.0.0");
  });

  it("the same image as mini FOTA stage two streams straight into the application slot", async () => {
    server.files.set("/big.fota", fullPackage({ models: ["EC600N"], image: big, compression: "none" }));
    server.files.set("/rec.fota", fullPackage({ models: ["EC600N"], image: firmware("recovery-v3", 8 * 1024), version: "r3" }));
    const m = makeModule(PROFILES.EC600N!, { strategy: "two-stage" });
    const fota = openFota(m);
    expect(await fota.httpDownload({ url1: server.url("/rec.fota"), url2: server.url("/big.fota") })).toBe(0);
    await fota.idle();
    expect(m.device.boot().kind).toBe("recovery");
    await runStageTwo(m.device, FAST_FETCH);
    expect(m.device.boot().image.sha256).toBe(sha256Hex(big));
  });
});
