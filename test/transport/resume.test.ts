// Resume across process kills: the journal on disk is all that survives. A download is cut 10 times
// at random points (half of them by SIGKILL of the `fota fetch` process mid-body, half by dropped
// connections) and must end with the exact bytes, re-fetching at most one journal chunk per cut.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FOTA_BIN } from "../helpers/cli.js";
import { fetchTo, FileJournal, FileSink, MemoryJournal, MemorySink, type ByteSink, type FetchEvent } from "../../src/transport/index.js";
import { FaultProxy } from "./helpers/fault-proxy.js";
import { prng, pseudoRandomBytes, sha256, startFotaServe, tempDir, type FotaServe } from "./helpers/servers.js";

const SIZE = 400_000;
const CHUNK = 16 * 1024;
let dir: string;
let data: Buffer;
let serve: FotaServe;

beforeAll(async () => {
  dir = tempDir("resume");
  data = pseudoRandomBytes(SIZE, 3);
  fs.writeFileSync(path.join(dir, "fw.bin"), data);
  serve = await startFotaServe(dir);
});
afterAll(async () => {
  await serve?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function spawnFetch(url: string, out: string): ChildProcess {
  return spawn(process.execPath, [FOTA_BIN, "fetch", url, "-o", out, "--chunk", String(CHUNK), "--retries", "20", "--timeout", "5000", "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
}

function waitUntil(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() > end) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

describe("resume across process kills", () => {
  it("survives 10 random cuts (5 SIGKILLs, 5 drops) with at most one chunk re-fetched per cut", async () => {
    const seed = Number(process.env.FOTA_CUT_SEED ?? 20261127);
    const rnd = prng(seed);
    const points = new Set<number>();
    while (points.size < 10) points.add(1 + Math.floor(rnd() * (SIZE - 2)));
    const cuts = [...points].sort((a, b) => a - b).map((at, i) => ({ at, kind: i % 2 === 0 ? ("kill" as const) : ("drop" as const) }));

    const proxy = await new FaultProxy(new URL(serve.httpUrl)).start();
    const work = tempDir("resume-out");
    const out = path.join(work, "fw.bin");
    let next = 0;
    let killAt: number | undefined;
    const starts: number[] = [];
    proxy.plan = ({ range }) => {
      const start = range ? Number(/bytes=(\d+)-/.exec(range)![1]) : 0;
      starts.push(start);
      const cut = cuts[next];
      if (!cut) return { kind: "pass" };
      next++;
      if (cut.kind === "drop") return { kind: "drop", afterBytes: cut.at - start };
      return { kind: "hook", afterBytes: cut.at - start, hook: () => (killAt = cut.at) };
    };
    try {
      let processes = 0;
      for (;;) {
        processes++;
        expect(processes, `seed ${seed}: too many processes`).toBeLessThanOrEqual(7);
        const child = spawnFetch(proxy.url("/fw.bin"), out);
        let stdout = "";
        let stderr = "";
        child.stdout!.on("data", (d) => (stdout += d));
        child.stderr!.on("data", (d) => (stderr += d));
        const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
        let done = false;
        void exited.then(() => (done = true));
        await waitUntil(() => done || killAt !== undefined, "the fetch to end or reach a kill point", 20_000);
        if (killAt !== undefined && !done) {
          // Let the child store every byte it was sent, then cut its power.
          const target = killAt;
          await waitUntil(() => fs.existsSync(out) && fs.statSync(out).size >= target, `the child to store ${target} bytes`);
          child.kill("SIGKILL");
          await exited;
          killAt = undefined;
          expect(fs.existsSync(`${out}.journal`), "the journal survives the kill").toBe(true);
          continue;
        }
        const code = await exited;
        expect(code, `seed ${seed}\n${stdout}\n${stderr}`).toBe(0);
        const doneLine = stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>).find((j) => j.event === "done");
        expect(doneLine?.sha256).toBe(sha256(data));
        break;
      }
      expect(sha256(fs.readFileSync(out))).toBe(sha256(data));
      expect(fs.existsSync(`${out}.journal`), "journal removed after success").toBe(false);
      // Exactly one extra request per cut, and each resume starts where the rules say.
      expect(proxy.log.length, `seed ${seed}`).toBe(cuts.length + 1);
      let refetched = 0;
      cuts.forEach((cut, i) => {
        const resumeAt = starts[i + 1]!;
        if (cut.kind === "drop") expect(resumeAt, `drop ${i} at ${cut.at}`).toBe(cut.at);
        else {
          expect(resumeAt, `kill ${i} at ${cut.at}`).toBe(Math.floor(cut.at / CHUNK) * CHUNK);
          expect(cut.at - resumeAt).toBeLessThan(CHUNK);
        }
        refetched += cut.at - resumeAt;
      });
      expect(proxy.bodyBytes).toBe(SIZE + refetched);
      expect(proxy.bodyBytes).toBeLessThanOrEqual(SIZE + cuts.length * CHUNK);
    } finally {
      await proxy.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe("journal", () => {
  it("ignores a torn append and a damaged header", () => {
    const work = tempDir("journal");
    const f = path.join(work, "j");
    const j = new FileJournal(f);
    expect(j.load()).toBeUndefined();
    j.reset({ url: "http://x/y", size: 100_000, validator: "v", chunkBytes: 1024 });
    j.commit(new Uint8Array(32).fill(1));
    j.commit(new Uint8Array(32).fill(2));
    fs.appendFileSync(f, Buffer.alloc(17, 3)); // a torn third record
    const st = j.load()!;
    expect(st.header).toEqual({ url: "http://x/y", size: 100_000, validator: "v", chunkBytes: 1024 });
    expect(st.digests.map((d) => d[0])).toEqual([1, 2]);
    const raw = fs.readFileSync(f);
    raw[12] ^= 0xff; // inside the header JSON
    fs.writeFileSync(f, raw);
    expect(j.load()).toBeUndefined();
    fs.writeFileSync(f, "garbage");
    expect(j.load()).toBeUndefined();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("re-checks stored chunks on resume and re-fetches from the first corrupted one", async () => {
    const work = tempDir("journal2");
    const out = path.join(work, "fw.bin");
    const journal = new FileJournal(`${out}.journal`);
    const url = `${serve.httpUrl}fw.bin`;
    // First run: cancel after ~150 kB.
    const ac = new AbortController();
    const sink1 = new FileSink(out);
    await fetchTo(url, sink1, {
      journal,
      chunkBytes: CHUNK,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.received > 150_000) ac.abort();
      },
    }).catch(() => undefined);
    sink1.close();
    const held = journal.load()!.digests.length;
    expect(held).toBeGreaterThanOrEqual(8);
    // Flip a byte in chunk 3 of the stored file (storage corruption while powered off).
    const fd = fs.openSync(out, "r+");
    fs.writeSync(fd, Buffer.from([data[3 * CHUNK + 5]! ^ 0x80]), 0, 1, 3 * CHUNK + 5);
    fs.closeSync(fd);
    const events: FetchEvent[] = [];
    const sink2 = new FileSink(out);
    const r = await fetchTo(url, sink2, { journal, chunkBytes: CHUNK, onEvent: (e) => events.push(e) });
    sink2.close();
    expect(events.find((e) => e.type === "verify-stored")).toMatchObject({ badChunk: 3, bytes: 3 * CHUNK });
    expect(r.resumedFrom).toBe(3 * CHUNK);
    expect(r.sha256).toBe(sha256(data));
    expect(sha256(fs.readFileSync(out))).toBe(sha256(data));
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("gives exact bytes but no whole-file digest when the sink cannot read back", async () => {
    const mem = new MemorySink();
    const noRead: ByteSink = { offset: () => mem.offset(), write: (b) => mem.write(b), truncate: (n) => mem.truncate(n) };
    const journal = new MemoryJournal();
    const ac = new AbortController();
    await fetchTo(`${serve.httpUrl}fw.bin`, noRead, {
      journal,
      chunkBytes: CHUNK,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.received > 100_000) ac.abort();
      },
    }).catch(() => undefined);
    const r = await fetchTo(`${serve.httpUrl}fw.bin`, noRead, { journal, chunkBytes: CHUNK });
    expect(r.resumedFrom).toBeGreaterThan(0);
    expect(r.sha256).toBeUndefined();
    expect(sha256(mem.bytes())).toBe(sha256(data));
  });

  it("starts over when the journal belongs to another URL", async () => {
    const journal = new MemoryJournal();
    journal.reset({ url: "http://elsewhere/x", size: SIZE, validator: undefined, chunkBytes: CHUNK });
    journal.commit(new Uint8Array(32));
    const sink = new MemorySink();
    sink.write(new Uint8Array(CHUNK).fill(9));
    const r = await fetchTo(`${serve.httpUrl}fw.bin`, sink, { journal, chunkBytes: CHUNK });
    expect(r.resumedFrom).toBe(0);
    expect(sha256(sink.bytes())).toBe(sha256(data));
    expect(journal.load()!.header.url).toBe(`${serve.httpUrl}fw.bin`);
  });
});
