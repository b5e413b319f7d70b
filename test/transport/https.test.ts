// HTTPS: `fota serve --tls-cert/--tls-key` with a throwaway CA (custom CA option), and a Node HTTPS
// server that demands a client certificate (client cert option).
import * as fs from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchToBuffer, type FetchOptions } from "../../src/transport/index.js";
import { makePki, type TestPki } from "./helpers/certs.js";
import { expectReason } from "./helpers/expect.js";
import { pseudoRandomBytes, sha256, startFotaServe, tempDir, type FotaServe } from "./helpers/servers.js";

const FAST: FetchOptions = { backoffBaseMs: 5, backoffMaxMs: 20, retries: 1, timeouts: { connectMs: 3000, headersMs: 3000, readMs: 3000 } };

let dir: string;
let pki: TestPki | undefined;
let serve: FotaServe | undefined;
let mtls: https.Server | undefined;
let mtlsUrl = "";
const data = pseudoRandomBytes(120_000, 17);

beforeAll(async () => {
  dir = tempDir("https");
  fs.mkdirSync(path.join(dir, "www"));
  fs.writeFileSync(path.join(dir, "www", "fw.bin"), data);
  fs.mkdirSync(path.join(dir, "pki"));
  pki = makePki(path.join(dir, "pki"));
  if (!pki) {
    if (process.env.CI) throw new Error("openssl is missing on CI");
    console.warn("test/transport/https.test.ts: openssl not installed: HTTPS cases skipped");
    return;
  }
  serve = await startFotaServe(path.join(dir, "www"), ["--tls-cert", pki.serverCert, "--tls-key", pki.serverKey]);
  mtls = https.createServer(
    { cert: fs.readFileSync(pki.serverCert), key: fs.readFileSync(pki.serverKey), ca: fs.readFileSync(pki.caCert), requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const sock = req.socket as import("node:tls").TLSSocket;
      if (!sock.authorized) {
        res.writeHead(403);
        return res.end("client certificate required\n");
      }
      res.writeHead(200, { "content-length": String(data.length) });
      res.end(data);
    },
  );
  await new Promise<void>((r) => mtls!.listen(0, "127.0.0.1", r));
  mtlsUrl = `https://127.0.0.1:${(mtls.address() as AddressInfo).port}/fw.bin`;
});

afterAll(async () => {
  await serve?.stop();
  await new Promise((r) => (mtls ? mtls.close(r) : r(undefined)));
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("HTTPS", () => {
  it("downloads from fota serve over TLS when given its CA", async () => {
    if (!pki) return;
    expect(serve!.httpUrl.startsWith("https://")).toBe(true);
    const { bytes } = await fetchToBuffer(`${serve!.httpUrl}fw.bin`, { ...FAST, tls: { ca: fs.readFileSync(pki.caCert) } });
    expect(sha256(bytes)).toBe(sha256(data));
  });

  it("refuses an untrusted server certificate with tls-failed (1005)", async () => {
    if (!pki) return;
    await expectReason(fetchToBuffer(`${serve!.httpUrl}fw.bin`, FAST), "tls-failed", 1005);
    await expectReason(fetchToBuffer(`${serve!.httpUrl}fw.bin`, { ...FAST, tls: { ca: fs.readFileSync(pki.otherCaCert) } }), "tls-failed", 1005);
  });

  it("presents a client certificate when the server asks for one", async () => {
    if (!pki) return;
    const ca = fs.readFileSync(pki.caCert);
    await expectReason(fetchToBuffer(mtlsUrl, { ...FAST, tls: { ca } }), "auth-failed", 1005);
    const { bytes } = await fetchToBuffer(mtlsUrl, { ...FAST, tls: { ca, cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) } });
    expect(sha256(bytes)).toBe(sha256(data));
  });
});
