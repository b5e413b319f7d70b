// `fota serve` as a user runs it (the real CLI in a child process): HTTP semantics devices rely on
// (HEAD, Range, If-Range, ETag, 416, Content-Length), FTP (passive, SIZE, REST, read-only), path
// confinement (traversal, symlinks out), the per-download log, graceful stop and usage errors.
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { Writable } from "node:stream";
import { Client } from "basic-ftp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runFota } from "../helpers/cli.js";
import { pseudoRandomBytes, sha256, startFotaServe, tempDir, type FotaServe } from "../transport/helpers/servers.js";

const SIZE = 200_000;
let root: string;
let www: string;
let data: Buffer;
let serve: FotaServe;
/** The same directory served with the memory cache off: every answer from @fastify/static. */
let diskServe: FotaServe;

beforeAll(async () => {
  root = tempDir("serve");
  www = path.join(root, "www");
  fs.mkdirSync(path.join(www, "sub"), { recursive: true });
  data = pseudoRandomBytes(SIZE, 9);
  fs.writeFileSync(path.join(www, "fw.bin"), data);
  fs.writeFileSync(path.join(www, "sub", "small.bin"), "hello");
  fs.writeFileSync(path.join(root, "secret.txt"), "TOP-SECRET");
  fs.symlinkSync(path.join(root, "secret.txt"), path.join(www, "link-out"));
  fs.symlinkSync(root, path.join(www, "dir-out"));
  fs.symlinkSync(path.join(www, "fw.bin"), path.join(www, "link-in.bin"));
  serve = await startFotaServe(www, ["--ftp-port", "0", "--ftp-user", "dev", "--ftp-password", "pw", "--pasv-range", "47000-47999"]);
  diskServe = await startFotaServe(www, ["--cache-mib", "0"]);
  // Fill the memory cache: the first answers for a file come from disk, later ones from memory.
  for (const f of ["fw.bin", "link-in.bin", "sub/small.bin"]) await untilFromMemory(serve, f);
});

afterAll(async () => {
  await serve?.stop();
  await diskServe?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

/** A raw HTTP/1.1 request, so the path goes out exactly as written (no client-side normalising). */
function rawGet(port: number, rawPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let buf = "";
    const t = setTimeout(() => (s.destroy(), reject(new Error("raw request timed out"))), 5000);
    s.on("connect", () => s.write(`GET ${rawPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    s.on("data", (d) => (buf += d.toString("latin1")));
    s.on("error", reject);
    s.on("close", () => {
      clearTimeout(t);
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(buf)?.[1] ?? 0), body: buf.split("\r\n\r\n").slice(1).join("\r\n\r\n") });
    });
  });
}

/** GET `file` until the download log says it came from the memory cache (bounded). */
async function untilFromMemory(s: FotaServe, file: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const tag = `bytes=0-${100_000 + i}`;
    await (await fetch(`${s.httpUrl}${file}`, { headers: { range: tag } })).arrayBuffer();
    const line = await s.waitFor((l) => l.includes('"download"') && l.includes(`"/${file}"`) && l.includes(`"${tag}"`));
    if (line.includes('"source":"memory"')) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`${file} never came from the memory cache`);
}

describe("fota serve over HTTP", () => {
  it("prints what it serves (JSON listening line with ports and files)", () => {
    const j = JSON.parse(serve.lines[0]!) as { event: string; httpPort: number; ftpPort: number; files: Array<{ name: string; size: number }> };
    expect(j.event).toBe("listening");
    expect(j.httpPort).toBeGreaterThan(0);
    expect(j.ftpPort).toBeGreaterThan(0);
    expect(j.files).toEqual([
      { name: "fw.bin", size: SIZE },
      { name: "link-in.bin", size: SIZE },
      { name: "sub/small.bin", size: 5 },
    ]);
  });

});

describe.each([
  ["from the memory cache", () => serve],
  ["from disk (--cache-mib 0)", () => diskServe],
])("fota serve HTTP semantics, %s", (_mode, srv: () => FotaServe) => {
  it("answers HEAD with length, ETag, Last-Modified and Accept-Ranges but no body", async () => {
    const r = await fetch(`${srv().httpUrl}fw.bin`, { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe(String(SIZE));
    expect(r.headers.get("accept-ranges")).toBe("bytes");
    expect(r.headers.get("etag")).toBeTruthy();
    expect(r.headers.get("last-modified")).toBeTruthy();
    expect((await r.arrayBuffer()).byteLength).toBe(0);
  });

  it("serves byte ranges (206 + Content-Range), suffix ranges, and 416 past the end", async () => {
    const r = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: "bytes=1000-1999" } });
    expect(r.status).toBe(206);
    expect(r.headers.get("content-range")).toBe(`bytes 1000-1999/${SIZE}`);
    expect(r.headers.get("content-length")).toBe("1000");
    expect(Buffer.from(await r.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
    const open = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: `bytes=${SIZE - 10}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(data.subarray(SIZE - 10))).toBe(true);
    const suffix = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: "bytes=-100" } });
    expect(suffix.status).toBe(206);
    expect(Buffer.from(await suffix.arrayBuffer()).equals(data.subarray(SIZE - 100))).toBe(true);
    const past = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: `bytes=${SIZE + 5}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${SIZE}`);
    await past.arrayBuffer();
  });

  it("honours If-Range: 206 when the validator matches, the whole file when it does not", async () => {
    const head = await fetch(`${srv().httpUrl}fw.bin`, { method: "HEAD" });
    const lm = head.headers.get("last-modified")!;
    const fresh = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: "bytes=10-19", "if-range": lm } });
    expect(fresh.status).toBe(206);
    expect((await fresh.arrayBuffer()).byteLength).toBe(10);
    const stale = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: "bytes=10-19", "if-range": "Wed, 01 Jan 2020 00:00:00 GMT" } });
    expect(stale.status).toBe(200);
    expect(sha256(Buffer.from(await stale.arrayBuffer()))).toBe(sha256(data));
    const etag = head.headers.get("etag")!;
    const byTag = await fetch(`${srv().httpUrl}fw.bin`, { headers: { range: "bytes=10-19", "if-range": etag } });
    expect(byTag.status).toBe(206);
    await byTag.arrayBuffer();
  });

});

describe("fota serve memory cache", () => {
  it("answers plain and ranged GETs from memory, with the same status, headers and bytes as from disk", async () => {
    const cases: Array<[string, Record<string, string>, string]> = [
      ["fw.bin", {}, "GET"],
      ["fw.bin", {}, "HEAD"],
      ["fw.bin", { range: "bytes=1000-1999" }, "GET"],
      ["fw.bin", { range: `bytes=${SIZE - 10}-` }, "GET"],
      ["fw.bin", { range: "bytes=-100" }, "GET"],
      ["fw.bin", { range: `bytes=100-${SIZE * 2}` }, "GET"],
      ["fw.bin", { range: "bytes=10-19", "if-range": "Wed, 01 Jan 2020 00:00:00 GMT" }, "GET"],
      ["fw.bin", { range: "bytes=10-19", "if-range": '"nope"' }, "GET"],
      ["fw.bin", { range: "bytes=5-1" }, "GET"],
      ["fw.bin", { range: "bytes=0-1,5-6" }, "GET"],
      ["fw.bin", { range: `bytes=${SIZE}-` }, "GET"],
      ["fw.bin", { range: "items=0-5" }, "GET"],
      ["link-in.bin", { range: "bytes=0-99" }, "GET"],
      ["sub/small.bin", {}, "GET"],
      ["sub/small.bin", { range: "bytes=1-2" }, "HEAD"],
    ];
    const keep = ["accept-ranges", "content-length", "content-range", "content-type", "etag", "last-modified"];
    for (const [file, headers, method] of cases) {
      const [a, b] = await Promise.all(
        [serve, diskServe].map(async (x) => {
          const r = await fetch(`${x.httpUrl}${file}`, { method, headers });
          const body = Buffer.from(await r.arrayBuffer());
          return { status: r.status, headers: Object.fromEntries(keep.map((k) => [k, r.headers.get(k)])), sha: sha256(body) };
        }),
      );
      expect(a, `${method} ${file} ${JSON.stringify(headers)}`).toEqual(b);
    }
    const ranged = await serve.waitFor((l) => l.includes('"bytes=1000-1999"') && l.includes('"source"'));
    expect(JSON.parse(ranged)).toMatchObject({ status: 206, bytes: 1000, complete: true, source: "memory" });
  });

  it("notices a changed file: new bytes with a new ETag, never old bytes under the new validator", async () => {
    const file = path.join(www, "hot.bin");
    const v1 = pseudoRandomBytes(5000, 1);
    const v2 = pseudoRandomBytes(7000, 2);
    fs.writeFileSync(file, v1);
    await untilFromMemory(serve, "hot.bin");
    const tag1 = (await fetch(`${serve.httpUrl}hot.bin`, { method: "HEAD" })).headers.get("etag");
    fs.writeFileSync(file, v2);
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    let seen: Buffer | undefined;
    for (let i = 0; i < 100; i++) {
      const r = await fetch(`${serve.httpUrl}hot.bin`);
      const body = Buffer.from(await r.arrayBuffer());
      const tag = r.headers.get("etag");
      // every answer is coherent: its validator belongs to the bytes it carries
      expect(sha256(body) === sha256(v1) ? tag === tag1 : sha256(body) === sha256(v2) && tag !== tag1).toBe(true);
      if (sha256(body) === sha256(v2)) {
        seen = body;
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(seen && sha256(seen)).toBe(sha256(v2));
    fs.rmSync(file);
  });
});

describe("fota serve over HTTP, confinement and logging", () => {
  it("refuses paths outside the directory: traversal and symlinks out (403), missing files (404)", async () => {
    for (const p of ["/../secret.txt", "/%2e%2e/secret.txt", "/sub/..%2f..%2fsecret.txt", "/link-out", "/dir-out/secret.txt"]) {
      const r = await rawGet(serve.httpPort, p);
      expect(r.status, p).toBe(403);
      expect(r.body).not.toContain("TOP-SECRET");
    }
    expect((await rawGet(serve.httpPort, "/nope.bin")).status).toBe(404);
    const inside = await fetch(`${serve.httpUrl}link-in.bin`);
    expect(sha256(Buffer.from(await inside.arrayBuffer()))).toBe(sha256(data));
  });

  it("logs one line per finished download: client, file, status, bytes, duration", async () => {
    const r = await fetch(`${serve.httpUrl}sub/small.bin`);
    expect(await r.text()).toBe("hello");
    const line = await serve.waitFor((l) => l.includes('"download"') && l.includes("/sub/small.bin") && !l.includes('"range"'));
    const j = JSON.parse(line) as Record<string, unknown>;
    expect(j).toMatchObject({ event: "download", proto: "http", client: "127.0.0.1", file: "/sub/small.bin", status: 200, bytes: 5, complete: true });
    expect(typeof j.durationMs).toBe("number");
  });
});

describe("fota serve over FTP", () => {
  async function client(user = "dev", password = "pw"): Promise<Client> {
    const c = new Client(5000);
    await c.access({ host: "127.0.0.1", port: serve.ftpPort!, user, password });
    return c;
  }
  function collect(): { w: Writable; bytes: () => Buffer } {
    const parts: Buffer[] = [];
    return {
      w: new Writable({
        write(chunk: Buffer, _e, cb) {
          parts.push(chunk);
          cb();
        },
      }),
      bytes: () => Buffer.concat(parts),
    };
  }

  it("answers SIZE, serves RETR in passive mode and REST offsets", async () => {
    const c = await client();
    try {
      expect(await c.size("fw.bin")).toBe(SIZE);
      const all = collect();
      await c.downloadTo(all.w, "fw.bin");
      expect(sha256(all.bytes())).toBe(sha256(data));
      const tail = collect();
      await c.downloadTo(tail.w, "fw.bin", 150_000);
      expect(tail.bytes().equals(data.subarray(150_000))).toBe(true);
    } finally {
      c.close();
    }
    const line = await serve.waitFor((l) => l.includes('"ftp"') && l.includes("bytes=150000-"));
    expect(JSON.parse(line)).toMatchObject({ proto: "ftp", file: "/fw.bin", bytes: SIZE - 150_000, complete: true });
  });

  it("is read-only and confined to the directory", async () => {
    const c = await client();
    try {
      await expect(c.uploadFrom(fs.createReadStream(path.join(www, "sub", "small.bin")), "up.bin")).rejects.toMatchObject({ code: 550 });
      expect(fs.existsSync(path.join(www, "up.bin"))).toBe(false);
      for (const p of ["../secret.txt", "/../../secret.txt", "link-out", "dir-out/secret.txt"]) {
        const sink = collect();
        const err = (await c.downloadTo(sink.w, p).catch((e: unknown) => e)) as { code?: number };
        expect(err.code, p).toBeGreaterThanOrEqual(550);
        expect(err.code, p).toBeLessThan(560);
        expect(sink.bytes().length).toBe(0);
      }
    } finally {
      c.close();
    }
  });

  it("refuses wrong passwords and anonymous logins when a user is configured", async () => {
    await expect(client("dev", "nope")).rejects.toMatchObject({ code: 530 });
    await expect(client("anonymous", "x@y")).rejects.toMatchObject({ code: 530 });
  });
});

describe("fota serve as a command", () => {
  it("prints a human listing, picks free ports for 0 and stops gracefully on SIGINT and SIGTERM", async () => {
    const { spawn } = await import("node:child_process");
    const { FOTA_BIN } = await import("../helpers/cli.js");
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
      const child = spawn(process.execPath, [FOTA_BIN, "serve", www, "--http-port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      const end = Date.now() + 15_000;
      while (!/Ctrl-C/.test(out) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(out).toMatch(/serving .*www \(3 files\)/);
      const port = Number(/http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1]);
      expect(port).toBeGreaterThan(0);
      const r = await fetch(`http://127.0.0.1:${port}/fw.bin`);
      await r.arrayBuffer();
      const end2 = Date.now() + 5000;
      while (!/\/fw\.bin 200 200000 bytes in/.test(out) && Date.now() < end2) await new Promise((res) => setTimeout(res, 20));
      expect(out).toMatch(/127\.0\.0\.1 HTTP \/fw\.bin 200 200000 bytes in [\d.]+ ms/);
      child.kill(sig);
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("hung"), 10_000))]);
      expect(code, out).toBe(0);
      expect(out).toContain(`${sig}, stopping`);
    }
  });

  it("rejects bad usage with exit code 2 and a one-line message", async () => {
    const missing = await runFota(["serve", path.join(root, "nope"), "--http-port", "0"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^fota: usage error \(bad-argument\): cannot serve/);
    const half = await runFota(["serve", www, "--http-port", "0", "--tls-cert", "x.pem"]);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain("--tls-cert and --tls-key go together");
    const busy = await runFota(["serve", www, "--http-port", String(serve.httpPort)]);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain("already in use");
    const help = await runFota(["serve", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("--ftp-port");
  });
});
