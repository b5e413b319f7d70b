// HTTPS with the constructor's TLS material (root_cert / cert / key) and FTP URLs on EC200A, against
// `fota serve` (src/server) on 127.0.0.1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serve, type RunningServer } from "../../src/server/index.js";
import { openFota } from "../../src/quecpython/fota.js";
import { PROFILES } from "../../src/quecpython/profiles.js";
import { QUEC_CODE } from "../../src/errors.js";
import { makePki, type TestPki } from "../transport/helpers/certs.js";
import { V2, fullPackage, makeModule, sha256Hex } from "./fixtures.js";

type Cb = [number, number];
let dir: string;
let plain: RunningServer;
let secure: RunningServer | undefined;
let pki: TestPki | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "quec-serve-"));
  for (const model of ["EC200A", "EC600U"]) writeFileSync(join(dir, `${model}.fota`), fullPackage({ models: [model] }));
  plain = await serve({ dir, httpPort: 0, ftpPort: 0, ftpUser: "fota", ftpPassword: "s3cret" });
  pki = makePki(mkdtempSync(join(tmpdir(), "quec-pki-")));
  if (pki) secure = await serve({ dir, httpPort: 0, tlsCert: pki.serverCert, tlsKey: pki.serverKey });
});
afterAll(async () => {
  await plain?.close();
  await secure?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("EC200A: FTP URLs", () => {
  it("downloads over ftp://user:password@ip:port/file and installs", async () => {
    const m = makeModule(PROFILES.EC200A!);
    const fota = openFota(m);
    const calls: Cb[] = [];
    const url = `ftp://fota:s3cret@127.0.0.1:${plain.ftpPort}/EC200A.fota`;
    expect(await fota.httpDownload({ url1: url, callback: (a) => calls.push(a) })).toBe(0);
    expect(calls.slice(-2)).toEqual([
      [0, 100],
      [2, 100],
    ]);
    expect(m.restarts).toEqual(["fota"]);
    expect(m.device.boot().image.sha256).toBe(sha256Hex(V2));
  });

  it("a wrong FTP password fails with [-1, 1005] and nothing armed", async () => {
    const m = makeModule(PROFILES.EC200A!);
    const calls: Cb[] = [];
    const url = `ftp://fota:wrong@127.0.0.1:${plain.ftpPort}/EC200A.fota`;
    expect(await openFota(m).httpDownload({ url1: url, callback: (a) => calls.push(a) })).toBe(-1);
    expect(calls).toEqual([[-1, QUEC_CODE.AUTH_FAILED]]);
    expect(m.device.boot().image.version).toBe("1.0.0");
  });
});

describe("HTTPS with fota(root_cert=...)", () => {
  it("trusts the given CA; without it the TLS handshake fails with [-1, 1005]", async (t) => {
    if (!pki || !secure) return t.skip();
    const m = makeModule(PROFILES.EC600U!);
    const url = `${secure.httpUrl.replace(/\/$/, "")}/EC600U.fota`;
    expect(url.startsWith("https://")).toBe(true);
    const calls: Cb[] = [];
    expect(await openFota(m).httpDownload({ url1: url, callback: (a) => calls.push(a) })).toBe(-1);
    expect(calls).toEqual([[-1, QUEC_CODE.AUTH_FAILED]]);
    const fota = openFota(m, { root_cert: readFileSync(pki.caCert, "utf8") });
    calls.length = 0;
    expect(await fota.httpDownload({ url1: url, callback: (a) => calls.push(a) })).toBe(0);
    expect(calls.at(-1)).toEqual([2, 100]);
    // a later fota() without TLS arguments drops the CA again, as the module re-configures TLS
    expect(await openFota(m).httpDownload({ url1: url })).toBe(-1);
    expect(m.device.boot().image.sha256).toBe(sha256Hex(V2));
  });
});
