import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import { AppFota, DONE_FILE, FLAG_FILE, HOST_INSTALL_OPS, installStagedFiles, readStat, type InstallOps } from "../../src/quecpython/app_fota.js";
import { TestServer, closedPort } from "./server.js";

const FAST = { retries: 0, backoffBaseMs: 1, chunkBytes: 1024, timeouts: { connectMs: 2000, headersMs: 2000, readMs: 2000 } };

let server: TestServer;
let usr: string;
const mainPy = new TextEncoder().encode("print('app v2')\n");
const big = randomBytes(20_000);

beforeAll(async () => {
  server = await new TestServer().start();
  server.files.set("/app/main.py", mainPy);
  server.files.set("/app/data.bin", big);
});
afterAll(async () => server.stop());
beforeEach(() => {
  usr = fs.mkdtempSync(path.join(os.tmpdir(), "appfota-"));
  fs.writeFileSync(path.join(usr, "main.py"), "print('app v1')\n");
  server.faults.clear();
  server.seen.length = 0;
});

describe("app_fota download / bulk_download", () => {
  it("stages under /usr/.updater and leaves /usr untouched until the flagged boot", async () => {
    const app = new AppFota({ usrDir: usr, fetch: FAST });
    expect(await app.download(server.url("/app/main.py"), "/usr/main.py")).toBe(0);
    expect(fs.readFileSync(path.join(usr, ".updater/usr/main.py"))).toEqual(Buffer.from(mainPy));
    expect(fs.readFileSync(path.join(usr, "main.py"), "utf8")).toBe("print('app v1')\n");
    expect(readStat(usr)).toEqual([{ url: server.url("/app/main.py"), name: "/usr/main.py", total_size: mainPy.length }]);
    // a boot without the flag installs nothing and keeps the staged files
    expect(installStagedFiles(usr).state).toBe("idle");
    expect(fs.readFileSync(path.join(usr, "main.py"), "utf8")).toBe("print('app v1')\n");
    app.setUpdateFlag();
    expect(fs.existsSync(path.join(usr, ".updater", FLAG_FILE))).toBe(true);
    const report = installStagedFiles(usr);
    expect(report).toEqual({ state: "installed", installed: ["/usr/main.py"], skipped: [] });
    expect(fs.readFileSync(path.join(usr, "main.py"))).toEqual(Buffer.from(mainPy));
    expect(fs.existsSync(path.join(usr, ".updater"))).toBe(false);
  });

  it("returns the failed items, or null when all succeed", async () => {
    const app = new AppFota({ usrDir: usr, fetch: FAST });
    const ok = [
      { url: server.url("/app/main.py"), file_name: "/usr/main.py" },
      { url: server.url("/app/data.bin"), file_name: "/usr/data/data.bin" },
    ];
    expect(await app.bulkDownload(ok)).toBeNull();
    const port = await closedPort();
    const bad = [
      { url: server.url("/app/missing.py"), file_name: "/usr/missing.py" },
      { url: `http://127.0.0.1:${port}/x.py`, file_name: "/usr/x.py" },
      { url: "http://nowhere.invalid/x.py", file_name: "/usr/y.py" },
      { url: server.url("/app/main.py"), file_name: "/etc/passwd" },
      { url: "ftp://127.0.0.1/x.py", file_name: "/usr/z.py" },
    ];
    expect(await app.bulkDownload([ok[0]!, ...bad])).toEqual(bad);
  });

  it("skips a file already complete and resumes a cut one with Range", async () => {
    const app = new AppFota({ usrDir: usr, fetch: FAST });
    server.faults.set("/app/data.bin", { dropAfter: 9000, times: 1 });
    expect(await app.download(server.url("/app/data.bin"), "/usr/data.bin")).toBe(-1);
    expect(readStat(usr)[0]!.total_size).toBe("unknown");
    server.seen.length = 0;
    // a new AppFota (as after a reboot) resumes from what is on disk
    const again = new AppFota({ usrDir: usr, fetch: FAST });
    expect(await again.download(server.url("/app/data.bin"), "/usr/data.bin")).toBe(0);
    expect(server.seen).toHaveLength(1);
    const from = Number(/bytes=(\d+)-/.exec(server.seen[0]!.range ?? "")?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(9000);
    expect(fs.readFileSync(path.join(usr, ".updater/usr/data.bin"))).toEqual(Buffer.from(big));
    server.seen.length = 0;
    expect(await again.download(server.url("/app/data.bin"), "/usr/data.bin")).toBe(0);
    expect(server.seen).toHaveLength(0);
  });

  it("does not install a file whose download never finished", async () => {
    const app = new AppFota({ usrDir: usr, fetch: FAST });
    expect(await app.download(server.url("/app/main.py"), "/usr/main.py")).toBe(0);
    server.faults.set("/app/data.bin", { dropAfter: 5000 });
    expect(await app.download(server.url("/app/data.bin"), "/usr/data.bin")).toBe(-1);
    app.setUpdateFlag();
    const report = installStagedFiles(usr);
    expect(report.installed).toEqual(["/usr/main.py"]);
    expect(report.skipped).toEqual(["/usr/data.bin"]);
    expect(fs.existsSync(path.join(usr, "data.bin"))).toBe(false);
  });
});

describe("app_fota boot-time install is power-safe", () => {
  it("finishes at the next boot after a cut at every file operation", async () => {
    const files = { "/usr/main.py": mainPy, "/usr/lib/a.py": new TextEncoder().encode("A = 2\n"), "/usr/data.bin": big };
    server.files.set("/app/a.py", files["/usr/lib/a.py"]);
    const urls: Record<string, string> = { "/usr/main.py": "/app/main.py", "/usr/lib/a.py": "/app/a.py", "/usr/data.bin": "/app/data.bin" };
    // Count the operations of a clean install first.
    const stage = async (dir: string) => {
      fs.mkdirSync(path.join(dir, "lib"), { recursive: true });
      fs.writeFileSync(path.join(dir, "main.py"), "old main\n");
      fs.writeFileSync(path.join(dir, "lib/a.py"), "A = 1\n");
      const app = new AppFota({ usrDir: dir, fetch: FAST });
      for (const [name, u] of Object.entries(urls)) expect(await app.download(server.url(u), name)).toBe(0);
      app.setUpdateFlag();
    };
    const counting = (limit: number): InstallOps & { n: number } => {
      const o = {
        n: 0,
        tick() {
          if (o.n++ >= limit) throw new Error("power cut");
        },
        copyFile(a: string, b: string) {
          o.tick();
          HOST_INSTALL_OPS.copyFile(a, b);
        },
        rename(a: string, b: string) {
          o.tick();
          HOST_INSTALL_OPS.rename(a, b);
        },
        remove(f: string) {
          o.tick();
          HOST_INSTALL_OPS.remove(f);
        },
      };
      return o;
    };
    const probe = fs.mkdtempSync(path.join(os.tmpdir(), "appfota-probe-"));
    await stage(probe);
    const all = counting(Number.POSITIVE_INFINITY);
    installStagedFiles(probe, { ops: all });
    const total = all.n;
    expect(total).toBeGreaterThan(6);
    const template = fs.mkdtempSync(path.join(os.tmpdir(), "appfota-template-"));
    await stage(template);
    for (let cut = 0; cut < total; cut++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "appfota-cut-"));
      fs.cpSync(template, dir, { recursive: true });
      expect(() => installStagedFiles(dir, { ops: counting(cut) })).toThrow("power cut");
      // every target is whole: old or new content, never partial
      for (const [name, bytes] of Object.entries(files)) {
        const p = path.join(dir, name.slice(5));
        if (fs.existsSync(p)) {
          const got = fs.readFileSync(p);
          const old = name === "/usr/main.py" ? "old main\n" : name === "/usr/lib/a.py" ? "A = 1\n" : null;
          expect(got.equals(Buffer.from(bytes)) || (old !== null && got.toString() === old)).toBe(true);
        }
      }
      // next boot finishes the job
      const r = installStagedFiles(dir);
      expect(["installed", "cleaned-up"]).toContain(r.state);
      for (const [name, bytes] of Object.entries(files)) expect(fs.readFileSync(path.join(dir, name.slice(5)))).toEqual(Buffer.from(bytes));
      expect(fs.existsSync(path.join(dir, ".updater"))).toBe(false);
      expect(installStagedFiles(dir).state).toBe("idle");
      fs.rmSync(dir, { recursive: true, force: true });
    }
    void DONE_FILE;
  });
});
