// FTP fetcher against our `fota serve --ftp-port` (ftp-srv, with a user) and Debian's vsftpd
// (anonymous), and the file:// fetcher. Resume uses REST; a changed file restarts from 0.
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CancelledError } from "../../src/errors.js";
import { fetchTo, fetchToBuffer, ftpFetcher, MemoryJournal, MemorySink, type FetchOptions, type Fetcher } from "../../src/transport/index.js";
import { transportError } from "../../src/transport/errors.js";
import { expectReason } from "./helpers/expect.js";
import { findBinary, freePort, pseudoRandomBytes, sha256, startFotaServe, startVsftpd, tempDir, type ExternalServer, type FotaServe } from "./helpers/servers.js";

const VSFTPD = findBinary("vsftpd");
if (!VSFTPD) {
  if (process.env.CI) throw new Error("vsftpd is missing on CI: .ci/run must install vsftpd");
  console.warn("test/transport/ftp-file.test.ts: vsftpd not installed: the vsftpd cases are skipped (apt-get install vsftpd)");
}

const SIZE = 250_000;
const CHUNK = 16 * 1024;
const FAST: FetchOptions = { backoffBaseMs: 5, backoffMaxMs: 20, chunkBytes: CHUNK, timeouts: { connectMs: 3000, headersMs: 3000, readMs: 3000 } };

let dir: string;
let vdir: string;
let data: Buffer;
let serve: FotaServe;
let vsftpd: ExternalServer | undefined;

beforeAll(async () => {
  dir = tempDir("ftp");
  vdir = tempDir("ftp-vs");
  data = pseudoRandomBytes(SIZE, 5);
  for (const d of [dir, vdir]) {
    fs.writeFileSync(path.join(d, "fw.bin"), data);
    fs.chmodSync(path.join(d, "fw.bin"), 0o644);
  }
  [serve, vsftpd] = await Promise.all([
    startFotaServe(dir, ["--ftp-port", "0", "--ftp-user", "fw", "--ftp-password", "s3cret", "--pasv-range", "46000-46999"]),
    VSFTPD ? startVsftpd(vdir) : Promise.resolve(undefined),
  ]);
});

afterAll(async () => {
  await Promise.all([serve?.stop(), vsftpd?.stop()]);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(vdir, { recursive: true, force: true });
});

/** Wraps the real FTP fetcher: the first `cuts.length` bodies are cut after N bytes (the real connection is closed). */
function cuttingFtp(cuts: number[]): Fetcher & { starts: number[] } {
  const starts: number[] = [];
  return {
    schemes: ["ftp"],
    starts,
    async open(req) {
      const resp = await ftpFetcher.open(req);
      starts.push(resp.start);
      const n = cuts.shift();
      if (n === undefined) return resp;
      return {
        ...resp,
        body: (async function* () {
          let sent = 0;
          for await (const c of resp.body) {
            if (sent + c.length >= n) {
              yield c.subarray(0, n - sent);
              await resp.close();
              throw transportError("connection-lost", "test cut");
            }
            sent += c.length;
            yield c;
          }
        })(),
      };
    },
  };
}

const ftpServers = [
  { name: "fota serve (ftp-srv)", url: () => `ftp://fw:s3cret@127.0.0.1:${serve.ftpPort}/fw.bin`, skip: false },
  { name: "vsftpd", url: () => `${vsftpd!.url}fw.bin`, skip: !VSFTPD },
];

describe.each(ftpServers)("FTP from $name", ({ url, skip }) => {
  it.skipIf(skip)("downloads the exact bytes (passive mode, SIZE)", async () => {
    const { bytes, result } = await fetchToBuffer(url(), FAST);
    expect(sha256(bytes)).toBe(sha256(data));
    expect(result.sha256).toBe(sha256(data));
  });

  it.skipIf(skip)("resumes with REST after two cut data connections", async () => {
    const f = cuttingFtp([30_000, 70_000]);
    const { bytes, result } = await fetchToBuffer(url(), { ...FAST, fetchers: [f] });
    expect(sha256(bytes)).toBe(sha256(data));
    expect(f.starts).toEqual([0, 30_000, 100_000]);
    expect(result.bytesFetched).toBe(SIZE);
    expect(result.resumes).toBe(2);
  });

  it.skipIf(skip)("resumes from the journal in a new call (REST at a chunk boundary)", async () => {
    const journal = new MemoryJournal();
    const sink = new MemorySink();
    const ac = new AbortController();
    const err = await fetchTo(url(), sink, {
      ...FAST,
      journal,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.received >= 100_000) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    const f = cuttingFtp([]);
    const r = await fetchTo(url(), sink, { ...FAST, journal, fetchers: [f] });
    expect(r.resumedFrom % CHUNK).toBe(0);
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(f.starts).toEqual([r.resumedFrom]);
    expect(sha256(sink.bytes())).toBe(sha256(data));
    expect(r.sha256).toBe(sha256(data));
  });

  it.skipIf(skip)("maps a missing file to not-found (1006)", async () => {
    await expectReason(fetchToBuffer(url().replace("fw.bin", "nope.bin"), FAST), "not-found", 1006);
  });
});

describe("FTP from fota serve", () => {
  it("refuses a wrong password with auth-failed (1005)", async () => {
    await expectReason(fetchToBuffer(`ftp://fw:wrong@127.0.0.1:${serve.ftpPort}/fw.bin`, FAST), "auth-failed", 1005);
  });

  it("restarts from 0 when the file changed between attempts", async () => {
    const file = path.join(dir, "chg.bin");
    const v1 = pseudoRandomBytes(120_000, 21);
    const v2 = pseudoRandomBytes(90_000, 22);
    fs.writeFileSync(file, v1);
    const journal = new MemoryJournal();
    const sink = new MemorySink();
    const ac = new AbortController();
    const u = `ftp://fw:s3cret@127.0.0.1:${serve.ftpPort}/chg.bin`;
    await fetchTo(u, sink, {
      ...FAST,
      journal,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.received >= 40_000) ac.abort();
      },
    }).catch(() => undefined);
    fs.writeFileSync(file, v2);
    const r = await fetchTo(u, sink, { ...FAST, journal });
    expect(r.restarts).toBe(1);
    expect(sha256(sink.bytes())).toBe(sha256(v2));
  });

  it("cancels an FTP transfer through the AbortSignal", async () => {
    const ac = new AbortController();
    const sink = new MemorySink();
    const err = await fetchTo(`ftp://fw:s3cret@127.0.0.1:${serve.ftpPort}/fw.bin`, sink, {
      ...FAST,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.received >= 50_000) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CancelledError);
    expect(sink.offset()).toBeLessThan(SIZE);
  });

  it("maps a refused connection to connect-failed (1004)", async () => {
    const port = await freePort();
    await expectReason(fetchToBuffer(`ftp://127.0.0.1:${port}/fw.bin`, { ...FAST, retries: 1 }), "connect-failed", 1004);
  });
});

describe("FTP server without REST", () => {
  it("restarts from 0 when REST is refused, and still ends with the exact bytes", async () => {
    const { startFtp } = await import("../../src/server/ftp.js");
    const srv = await startFtp({ realRoot: fs.realpathSync(dir), host: "127.0.0.1", port: 0, pasvMin: 48000, pasvMax: 48499, onDownload: () => undefined, disabledCommands: ["REST"] });
    try {
      const u = `ftp://127.0.0.1:${srv.port}/fw.bin`;
      const journal = new MemoryJournal();
      const sink = new MemorySink();
      const ac = new AbortController();
      await fetchTo(u, sink, { ...FAST, journal, signal: ac.signal, onProgress: (p) => p.received >= 60_000 && ac.abort() }).catch(() => undefined);
      expect(sink.offset()).toBeGreaterThan(0);
      const r = await fetchTo(u, sink, { ...FAST, journal });
      expect(r.restarts).toBe(1);
      expect(r.bytesFetched).toBe(SIZE);
      expect(sha256(sink.bytes())).toBe(sha256(data));
    } finally {
      await srv.close();
    }
  });
});

describe("file://", () => {
  it("copies the exact bytes, resumes from the journal, restarts when the file changed", async () => {
    const work = tempDir("file");
    const src = path.join(work, "fw.bin");
    fs.writeFileSync(src, data);
    const u = pathToFileURL(src).href;
    const { bytes } = await fetchToBuffer(u, FAST);
    expect(sha256(bytes)).toBe(sha256(data));

    const journal = new MemoryJournal();
    const sink = new MemorySink();
    const ac = new AbortController();
    await fetchTo(u, sink, { ...FAST, journal, signal: ac.signal, onProgress: (p) => p.received > 100_000 && ac.abort() }).catch(() => undefined);
    const r = await fetchTo(u, sink, { ...FAST, journal });
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(sha256(sink.bytes())).toBe(sha256(data));

    const sink2 = new MemorySink();
    const j2 = new MemoryJournal();
    const ac2 = new AbortController();
    await fetchTo(u, sink2, { ...FAST, journal: j2, signal: ac2.signal, onProgress: (p) => p.received > 100_000 && ac2.abort() }).catch(() => undefined);
    const v2 = pseudoRandomBytes(SIZE, 99);
    fs.writeFileSync(src, v2);
    const t = new Date(Date.now() + 3000);
    fs.utimesSync(src, t, t);
    const r2 = await fetchTo(u, sink2, { ...FAST, journal: j2 });
    expect(r2.restarts).toBe(1);
    expect(sha256(sink2.bytes())).toBe(sha256(v2));

    await expectReason(fetchToBuffer(pathToFileURL(path.join(work, "missing")).href, FAST), "not-found", 1006);
    fs.rmSync(work, { recursive: true, force: true });
  });
});
