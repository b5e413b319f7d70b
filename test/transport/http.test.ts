// HTTP fetcher against real servers on 127.0.0.1 (our `fota serve` as a child process, and Debian's
// nginx), with a fault-injecting proxy in front. Every case ends in the exact bytes or a typed error
// with the right QuecPython code.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError } from "../../src/errors.js";
import { fetchTo, fetchToBuffer, MemorySink, type FetchEvent, type FetchOptions } from "../../src/transport/index.js";
import { expectReason } from "./helpers/expect.js";
import { FaultProxy } from "./helpers/fault-proxy.js";
import { findBinary, freePort, pseudoRandomBytes, sha256, startFotaServe, startNginx, tempDir, type ExternalServer, type FotaServe } from "./helpers/servers.js";

const NGINX = findBinary("nginx");
if (!NGINX) {
  if (process.env.CI) throw new Error("nginx is missing on CI: .ci/run must install nginx-light");
  console.warn("test/transport/http.test.ts: nginx not installed: the nginx cases are skipped (apt-get install nginx-light)");
}

const SIZE = 300_000;
const FAST: FetchOptions = { backoffBaseMs: 5, backoffMaxMs: 20, timeouts: { connectMs: 2000, headersMs: 3000, readMs: 3000 } };

let dir: string;
let data: Buffer;
let serve: FotaServe;
let nginx: ExternalServer | undefined;

beforeAll(async () => {
  dir = tempDir("http");
  data = pseudoRandomBytes(SIZE, 7);
  fs.writeFileSync(path.join(dir, "fw.bin"), data);
  fs.chmodSync(path.join(dir, "fw.bin"), 0o644);
  [serve, nginx] = await Promise.all([startFotaServe(dir), NGINX ? startNginx(dir) : Promise.resolve(undefined)]);
});

afterAll(async () => {
  await Promise.all([serve?.stop(), nginx?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const upstreams = [
  { name: "fota serve", url: () => serve.httpUrl, skip: false },
  { name: "nginx", url: () => nginx!.url, skip: !NGINX },
];

describe.each(upstreams)("through a fault proxy to $name", ({ url, skip }) => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    if (skip) return;
    proxy = await new FaultProxy(new URL(url())).start();
  });
  afterAll(async () => {
    await proxy?.close();
  });
  const fresh = () => {
    proxy.log.length = 0;
    proxy.plan = () => ({ kind: "pass" });
  };

  it.skipIf(skip)("downloads the exact bytes in one request", async () => {
    fresh();
    const progress: number[] = [];
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, onProgress: (p) => progress.push(p.percent ?? -1) });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.sha256).toBe(sha256(data));
    expect(result.size).toBe(SIZE);
    expect(proxy.log.length).toBe(1);
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it.skipIf(skip)("resumes with Range + If-Range after three dropped connections, fetching no byte twice", async () => {
    fresh();
    const cuts = [40_000, 123_457, 250_001];
    proxy.plan = ({ index }) => (index < cuts.length ? { kind: "drop", afterBytes: index === 0 ? cuts[0]! : cuts[index]! - cuts[index - 1]! } : { kind: "pass" });
    const events: FetchEvent[] = [];
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, onEvent: (e) => events.push(e) });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.sha256).toBe(sha256(data));
    expect(result.resumes).toBe(3);
    expect(result.bytesFetched).toBe(SIZE);
    expect(proxy.bodyBytes).toBe(SIZE);
    expect(proxy.log.map((r) => r.range)).toEqual([undefined, "bytes=40000-", "bytes=123457-", "bytes=250001-"]);
    expect(proxy.log.slice(1).every((r) => r.status === 206 && r.ifRange)).toBe(true);
    expect(events.filter((e) => e.type === "retry").map((e) => (e as { reason: string }).reason)).toEqual(["connection-lost", "connection-lost", "connection-lost"]);
  });

  it.skipIf(skip)("resumes after a reset (RST) mid-body", async () => {
    fresh();
    proxy.plan = ({ index }) => (index === 0 ? { kind: "reset", afterBytes: 100_000 } : { kind: "pass" });
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), FAST);
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.resumes).toBe(1);
  });

  it.skipIf(skip)("times out a stalled body, then resumes", async () => {
    fresh();
    proxy.plan = ({ index }) => (index === 0 ? { kind: "stall", afterBytes: 70_000 } : { kind: "pass" });
    const events: FetchEvent[] = [];
    const { bytes } = await fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, timeouts: { connectMs: 2000, headersMs: 2000, readMs: 400 }, onEvent: (e) => events.push(e) });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(events.find((e) => e.type === "retry")).toMatchObject({ reason: "timeout", offset: 70_000 });
  });

  it.skipIf(skip)("restarts cleanly from 0 when the server ignores the range", async () => {
    fresh();
    proxy.plan = ({ index }) => (index === 0 ? { kind: "drop", afterBytes: 90_000 } : index === 1 ? { kind: "ignore-range" } : { kind: "pass" });
    const events: FetchEvent[] = [];
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, onEvent: (e) => events.push(e) });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.sha256).toBe(sha256(data));
    expect(result.restarts).toBe(1);
    expect(events.some((e) => e.type === "restart")).toBe(true);
  });

  it.skipIf(skip)("answers a 416 on resume by fetching the whole file again", async () => {
    fresh();
    proxy.plan = ({ index }) => (index === 0 ? { kind: "drop", afterBytes: 5_000 } : index === 1 ? { kind: "status", status: 416, headers: { "content-range": `bytes */${SIZE}` } } : { kind: "pass" });
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), FAST);
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.restarts).toBe(1);
    expect(proxy.log.at(-1)!.range).toBeUndefined();
  });

  it.skipIf(skip)("retries a 500 and succeeds; a lasting 500 is http-error (1008)", async () => {
    fresh();
    proxy.plan = ({ index }) => (index < 2 ? { kind: "status", status: 500 } : { kind: "pass" });
    const { bytes } = await fetchToBuffer(proxy.url("/fw.bin"), FAST);
    expect(sha256(bytes)).toBe(sha256(data));
    expect(proxy.log.length).toBe(3);
    fresh();
    proxy.plan = () => ({ kind: "status", status: 503 });
    await expectReason(fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, retries: 2 }), "http-error", 1008);
    expect(proxy.log.length).toBe(3);
  });

  it.skipIf(skip)("maps 404 to not-found (1006) and 401 to auth-failed (1005) without retrying", async () => {
    fresh();
    await expectReason(fetchToBuffer(proxy.url("/missing.bin"), FAST), "not-found", 1006);
    expect(proxy.log.length).toBe(1);
    fresh();
    proxy.plan = () => ({ kind: "status", status: 401 });
    await expectReason(fetchToBuffer(proxy.url("/fw.bin"), FAST), "auth-failed", 1005);
    expect(proxy.log.length).toBe(1);
  });

  it.skipIf(skip)("never returns a short file: a truncated body with no retries left is connection-lost (1011)", async () => {
    fresh();
    proxy.plan = () => ({ kind: "drop", afterBytes: 1000 });
    const sink = new MemorySink();
    // Each attempt makes progress, so retries are counted per attempt without progress: use 0.
    await expectReason(fetchTo(proxy.url("/fw.bin"), sink, { ...FAST, retries: 0 }), "connection-lost", 1011);
    expect(sink.offset()).toBe(1000);
  });

  it.skipIf(skip)("restarts when the file changes between attempts, and ends with the new file", async () => {
    fresh();
    const file = path.join(dir, "changing.bin");
    const v1 = pseudoRandomBytes(200_000, 11);
    const v2 = pseudoRandomBytes(180_000, 12);
    fs.writeFileSync(file, v1);
    fs.chmodSync(file, 0o644);
    proxy.plan = ({ index }) =>
      index === 0
        ? {
            kind: "hook",
            afterBytes: 50_000,
            hook: () => {
              fs.writeFileSync(file, v2);
              const t = new Date(Date.now() + 5000);
              fs.utimesSync(file, t, t);
            },
          }
        : { kind: "pass" };
    // The hook changes the file and the proxy stalls; the read timeout ends the first attempt.
    const { bytes, result } = await fetchToBuffer(proxy.url("/changing.bin"), { ...FAST, timeouts: { connectMs: 2000, headersMs: 2000, readMs: 400 } });
    expect(sha256(bytes)).toBe(sha256(v2));
    expect(result.restarts).toBe(1);
    expect(result.size).toBe(v2.length);
    fs.rmSync(file);
  });
});

describe("HTTP edge cases", () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    proxy = await new FaultProxy(new URL(serve.httpUrl)).start();
  });
  afterAll(async () => {
    await proxy.close();
  });

  it("refuses an endless body at the size cap with oversize (1013)", async () => {
    proxy.plan = () => ({ kind: "endless" });
    const sink = new MemorySink();
    await expectReason(fetchTo(proxy.url("/fw.bin"), sink, { ...FAST, maxBytes: 1_000_000 }), "oversize", 1013);
    expect(sink.offset()).toBeLessThanOrEqual(1_000_000);
  });

  it("stops at the declared Content-Length even when the server sends more", async () => {
    proxy.plan = () => ({ kind: "overlong", declared: 1000, send: 50_000 });
    const { bytes, result } = await fetchToBuffer(proxy.url("/x.bin"), FAST);
    expect(result.size).toBe(1000);
    expect(Buffer.from(bytes).equals(Buffer.alloc(1000, 0x41))).toBe(true);
  });

  it("keeps a throttled but moving body alive (no read timeout while bytes arrive)", async () => {
    proxy.plan = () => ({ kind: "throttle", bytesPerSec: 400_000 });
    const progress: number[] = [];
    const { bytes, result } = await fetchToBuffer(proxy.url("/fw.bin"), {
      ...FAST,
      timeouts: { connectMs: 2000, headersMs: 2000, readMs: 500 },
      onProgress: (p) => progress.push(p.received),
    });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.attempts).toBe(1);
    expect(progress.length).toBeGreaterThanOrEqual(4);
  });

  it("fails with bad-length (1007) when the declared size is not the expected one", async () => {
    proxy.plan = () => ({ kind: "pass" });
    await expectReason(fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, expectedSize: SIZE + 1 }), "bad-length", 1007);
  });

  it("follows a bounded number of redirects", async () => {
    proxy.plan = ({ path: p }) => (p === "/old.bin" ? { kind: "redirect", location: "/fw.bin" } : { kind: "pass" });
    const events: FetchEvent[] = [];
    const { bytes } = await fetchToBuffer(proxy.url("/old.bin"), { ...FAST, onEvent: (e) => events.push(e) });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(events.some((e) => e.type === "redirect")).toBe(true);
    proxy.plan = () => ({ kind: "redirect", location: "/loop.bin" });
    proxy.log.length = 0;
    await expectReason(fetchToBuffer(proxy.url("/loop.bin"), { ...FAST, maxRedirects: 3 }), "http-error", 1008);
    expect(proxy.log.length).toBe(4);
  });

  it("cancels through the AbortSignal (CancelledError, 1011) without waiting for the stall", async () => {
    proxy.plan = () => ({ kind: "stall", afterBytes: 10_000 });
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 200);
    const err = await fetchToBuffer(proxy.url("/fw.bin"), { ...FAST, timeouts: { connectMs: 5000, headersMs: 5000, readMs: 30_000 }, signal: ac.signal }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect((err as CancelledError).quecCode).toBe(1011);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it("maps a name under .invalid to dns-not-found (1001)", async () => {
    await expectReason(fetchToBuffer("http://fota-test.invalid/fw.bin", FAST), "dns-not-found", 1001);
  });

  it("maps a refused connection to connect-failed (1004) after its retries", async () => {
    const port = await freePort();
    await expectReason(fetchToBuffer(`http://127.0.0.1:${port}/fw.bin`, { ...FAST, retries: 1 }), "connect-failed", 1004);
  });

  it("maps a malformed URL to bad-url (1003) and an unknown scheme to unsupported-protocol", async () => {
    await expectReason(fetchToBuffer("http//no-colon", FAST), "bad-url", 1003);
    await expectReason(fetchToBuffer("gopher://127.0.0.1/x", FAST), "unsupported-protocol", 1003);
  });
});
