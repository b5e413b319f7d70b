// The QuecPython `fota` object, model by model: return values, callback sequences and restart
// behaviour in success and in every failure class, on a real SimFlash-backed device, real signed
// packages and a real HTTP server on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODELS, PROFILES, type ModelProfile } from "../../src/quecpython/profiles.js";
import { openFota, pythonErrorOf, type QuecFota } from "../../src/quecpython/fota.js";
import { QUEC_CODE } from "../../src/errors.js";
import { TestServer, closedPort } from "./server.js";
import { OTHER_KEY, V1, V2, fullPackage, makeModule, sha256Hex, type TestModule } from "./fixtures.js";

let server: TestServer;
let refusedPort: number;

beforeAll(async () => {
  server = await new TestServer().start();
  refusedPort = await closedPort();
  for (const model of MODELS) {
    server.files.set(`/${model}.fota`, fullPackage({ models: [model] }));
    const corrupt = fullPackage({ models: [model], version: "2.0.1" });
    corrupt[corrupt.length - 100] ^= 0xff; // a payload byte
    server.files.set(`/${model}-corrupt.fota`, corrupt);
    server.files.set(`/${model}-old.fota`, fullPackage({ models: [model], securityCounter: 0, version: "0.9.0" }));
    server.files.set(`/${model}-unsigned.fota`, fullPackage({ models: [model], key: OTHER_KEY }));
  }
  server.files.set("/other-model.fota", fullPackage({ models: ["XYZ9"] }));
});
afterAll(async () => server.stop());

type Cb = [number, number];

/** Runs httpDownload the way a script sees it: the return value, then (async models) the callbacks. */
async function download(fota: QuecFota, url1: string): Promise<{ ret: number; calls: Cb[]; retBeforeCallbacks: Cb[] }> {
  const calls: Cb[] = [];
  const ret = await fota.httpDownload({ url1, callback: (a) => calls.push(a) });
  const retBeforeCallbacks = [...calls];
  await fota.idle();
  return { ret, calls, retBeforeCallbacks };
}

function expectSuccessSequence(calls: Cb[]): void {
  const statuses = calls.map((c) => c[0]);
  expect(statuses.slice(-2)).toEqual([0, 2]);
  expect(calls.slice(-2)).toEqual([
    [0, 100],
    [2, 100],
  ]);
  const progress = calls.slice(0, -2);
  for (const [s, p] of progress) {
    expect(s).toBe(1);
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThan(100);
  }
  const ps = progress.map((c) => c[1]);
  expect([...ps].sort((a, b) => a - b)).toEqual(ps);
}

function expectNothingArmed(m: TestModule): void {
  expect(m.device.status().state).not.toBe("pending");
  expect(m.restarts).toEqual([]);
  const b = m.device.boot();
  expect(b.image.version).toBe("1.0.0");
  expect(b.image.sha256).toBe(sha256Hex(V1));
}

const failures: Array<{ name: string; url: () => string; code: number }> = [
  { name: "bad URL", url: () => "http://exa mple.com/fw.fota", code: QUEC_CODE.DOMAIN_UNKNOWN },
  { name: "DNS failure", url: () => "http://fota-server.invalid/fw.fota", code: QUEC_CODE.DOMAIN_NOT_EXIST },
  { name: "refused connection", url: () => `http://127.0.0.1:${refusedPort}/fw.fota`, code: QUEC_CODE.SERVER_CONN_FAIL },
  { name: "404", url: () => server.url("/nothing-here.fota"), code: QUEC_CODE.FILE_NOT_EXIST },
  { name: "dropped link", url: () => server.url("/drop.fota"), code: QUEC_CODE.NOT_INPROGRESS },
  { name: "corrupt package", url: () => server.url(`/{model}-corrupt.fota`), code: QUEC_CODE.FILE_CHECK_ERR },
  { name: "untrusted signature", url: () => server.url(`/{model}-unsigned.fota`), code: QUEC_CODE.FILE_CHECK_ERR },
  { name: "wrong model", url: () => server.url("/other-model.fota"), code: QUEC_CODE.FILE_CHECK_ERR },
  { name: "rollback (older security counter)", url: () => server.url(`/{model}-old.fota`), code: QUEC_CODE.FILE_CHECK_ERR },
];

describe.each(MODELS.map((m) => [m, PROFILES[m]!] as [string, ModelProfile]))("%s httpDownload", (model, profile) => {
  const asyncModel = profile.httpDownload === "async";

  it(`success: ${asyncModel ? "returns 0 at once" : "blocks, returns 0"}; callbacks 1..., 0, 2; restarts`, async () => {
    const m = makeModule(profile);
    const fota = openFota(m);
    const r = await download(fota, server.url(`/${model}.fota`));
    expect(r.ret).toBe(0);
    if (asyncModel) expect(r.retBeforeCallbacks).toEqual([]);
    else expect(r.retBeforeCallbacks).toEqual(r.calls);
    expectSuccessSequence(r.calls);
    expect(m.restarts).toEqual(["fota"]);
    expect(m.device.status().state).toBe("pending");
    const b = m.device.boot();
    expect(b.image.version).toBe("2.0.0");
    expect(b.image.sha256).toBe(sha256Hex(V2));
  });

  it(`reset_disable=1: ${profile.resetDisableHonoured ? "no restart; armed until Power.powerRestart()" : "ignored: the module restarts anyway"}`, async () => {
    const m = makeModule(profile);
    const fota = openFota(m, { reset_disable: 1 });
    const r = await download(fota, server.url(`/${model}.fota`));
    expect(r.ret).toBe(0);
    expectSuccessSequence(r.calls);
    if (profile.resetDisableHonoured) {
      expect(m.restarts).toEqual([]);
      expect(fota.restartDisabled).toBe(true);
    } else {
      expect(m.restarts).toEqual(["fota"]);
      expect(m.logs.some((l) => l.includes("reset_disable is not supported"))).toBe(true);
    }
    expect(m.device.status().state).toBe("pending");
    expect(m.device.boot().image.version).toBe("2.0.0"); // the manual (or automatic) restart installs it
  });

  it.each(failures)("$name: callback [-1, $code]", async ({ name, url, code }) => {
    const m = makeModule(profile);
    if (url().endsWith("/drop.fota")) {
      const pkg = server.files.get(`/${model}.fota`)!;
      server.files.set("/drop.fota", pkg);
      server.faults.set("/drop.fota", { dropAfter: Math.floor(pkg.length / 2) });
    }
    const fota = openFota(m);
    const r = await download(fota, url().replace("{model}", model));
    expect(r.ret).toBe(asyncModel ? 0 : -1);
    expect(r.calls.at(-1)).toEqual([-1, code]);
    expect(r.calls.filter((c) => c[0] === -1)).toHaveLength(1);
    expect(r.calls.some((c) => c[0] === 2)).toBe(false);
    expectNothingArmed(m);
    if (url().endsWith("/drop.fota")) server.faults.delete("/drop.fota");
    if (!["404", "wrong model"].includes(name)) return;
    // the object still works afterwards
    const again = await download(openFota(m), server.url(`/${model}.fota`));
    expect(again.ret).toBe(0);
    expect(again.calls.at(-1)).toEqual([2, 100]);
  });

  it("refuses url2 (mini FOTA) and FTP URLs where the model has none; -1 with a log line", async () => {
    const m = makeModule(profile);
    const fota = openFota(m);
    const calls: Cb[] = [];
    if (!profile.miniFota) {
      expect(await fota.httpDownload({ url1: server.url(`/${model}.fota`), url2: server.url(`/${model}.fota`), callback: (a) => calls.push(a) })).toBe(-1);
      expect(m.logs.at(-1)).toMatch(/mini FOTA/);
    }
    if (!profile.schemes.includes("ftp")) {
      expect(await fota.httpDownload({ url1: "ftp://user:pw@127.0.0.1:21/fw.bin", callback: (a) => calls.push(a) })).toBe(-1);
      expect(m.logs.at(-1)).toMatch(/ftp:\/\/ URLs are not supported/);
    }
    expect(await fota.httpDownload({ callback: (a) => calls.push(a) })).toBe(-1);
    expect(calls).toEqual([]);
    expectNothingArmed(m);
  });

  it("keyword-only arguments with the module's type errors", async () => {
    const m = makeModule(profile);
    const fota = openFota(m);
    const typeError = async (p: Promise<unknown>, message: string) => {
      const e = await p.then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(pythonErrorOf(e)).toEqual({ type: "TypeError", message });
    };
    await typeError(fota.httpDownload({ url1: 42 }), "can't convert 'int' object to str implicitly");
    await typeError(fota.httpDownload({ url1: server.url("/x"), bogus: 1 } as never), "extra keyword arguments given");
    const ctorError = (() => {
      try {
        openFota(m, { reset_disable: "1" });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(pythonErrorOf(ctorError)).toEqual({ type: "TypeError", message: "can't convert str to int" });
    const r = await fota.invoke("httpDownload", [{ t: "str", v: "http://x/y" }], {});
    expect(r).toEqual({ raise: { type: "TypeError", message: "extra positional arguments given" } });
    expect(m.device.status().state).not.toBe("pending");
  });

  it(`apn_set / download_cancel are ${profile.calls.apn_set === "present" ? "present" : "absent (AttributeError)"}`, async () => {
    const m = makeModule(profile);
    const fota = openFota(m);
    if (profile.calls.apn_set === "present") {
      expect(await fota.apn_set({ fota_apn: "CMNET", ip_type: 0, fota_user: "abc", fota_password: "123" })).toBe(0);
      expect(m.apn).toEqual({ apn: "CMNET", ipType: 0, user: "abc", password: "123" });
      expect(await fota.apn_set({ fota_apn: "CMNET", ip_type: 7 })).toBe(-1);
      await expect(fota.apn_set({ ip_type: "0" })).rejects.toMatchObject({ details: { python: "TypeError" } });
      expect(fota.download_cancel()).toBe(-1); // nothing to cancel
    } else {
      expect(fota.has("apn_set")).toBe(false);
      expect(fota.has("download_cancel")).toBe(false);
      expect(await fota.invoke("apn_set", [], {})).toEqual({ raise: { type: "AttributeError", message: "'fota' object has no attribute 'apn_set'" } });
      expect(() => fota.download_cancel()).toThrow("'fota' object has no attribute 'download_cancel'");
    }
  });
});
