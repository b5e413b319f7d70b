// Real servers on 127.0.0.1 for the transport and server tests: `fota serve` started as the real
// CLI in a child process, Debian's nginx, and Debian's vsftpd. Every wait has a timeout.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { FOTA_BIN } from "../../helpers/cli.js";

export function findBinary(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/sbin"]) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

export function tempDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `fota-${prefix}-`));
  fs.chmodSync(d, 0o755); // nginx workers run as nobody when started by root
  return d;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(t);
      resolve(code);
    });
    child.kill(signal);
  });
}

export interface FotaServe {
  httpUrl: string;
  ftpUrl: string | undefined;
  httpPort: number;
  ftpPort: number | undefined;
  /** Every stdout line so far (JSON objects with --json). */
  lines: string[];
  stderr(): string;
  child: ChildProcess;
  /** Wait until a line matching `pred` appears. */
  waitFor(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** `fota serve DIR --http-port 0 ... --json` as a child process; resolves once it listens. */
export function startFotaServe(dir: string, extra: string[] = [], timeoutMs = 15_000): Promise<FotaServe> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FOTA_BIN, "serve", dir, "--http-port", "0", "--json", ...extra], { stdio: ["ignore", "pipe", "pipe"] });
    const lines: string[] = [];
    let err = "";
    let buf = "";
    const waiters: Array<{ pred: (l: string) => boolean; resolve: (l: string) => void }> = [];
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fota serve did not start in ${timeoutMs} ms\n${lines.join("\n")}\n${err}`));
    }, timeoutMs);
    child.stderr!.on("data", (d) => (err += d));
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fota serve exited (${code})\n${lines.join("\n")}\n${err}`));
    });
    child.stdout!.on("data", (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (!w.pred(line)) continue;
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
        if (line.startsWith("{") && line.includes('"listening"')) {
          clearTimeout(timer);
          const j = JSON.parse(line) as { http: string; httpPort: number; ftp: string | null; ftpPort: number | null };
          resolve({
            httpUrl: j.http,
            ftpUrl: j.ftp ?? undefined,
            httpPort: j.httpPort,
            ftpPort: j.ftpPort ?? undefined,
            lines,
            stderr: () => err,
            child,
            waitFor: (pred, ms = 10_000) =>
              new Promise((res, rej) => {
                const hit = lines.find(pred);
                if (hit) return res(hit);
                const t = setTimeout(() => rej(new Error(`no matching line from fota serve in ${ms} ms:\n${lines.join("\n")}`)), ms);
                waiters.push({
                  pred,
                  resolve: (l) => {
                    clearTimeout(t);
                    res(l);
                  },
                });
              }),
            stop: (signal = "SIGTERM") => stopChild(child, signal),
          });
        }
      }
    });
  });
}

export interface ExternalServer {
  /** Process id of the server (the nginx master, whose workers are its children). */
  pid: number;
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** Debian's nginx serving `root` on a free port (config as in ecosystem-facts §2.4). */
export async function startNginx(root: string): Promise<ExternalServer> {
  const bin = findBinary("nginx");
  if (!bin) throw new Error("nginx not installed");
  const work = tempDir("nginx");
  fs.mkdirSync(path.join(work, "tmp"));
  const port = await freePort();
  const conf = `worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/error.log warn;
events { worker_connections 4096; }
worker_rlimit_nofile 8192;
http {
  access_log off;
  client_body_temp_path ${work}/tmp/body;
  proxy_temp_path ${work}/tmp/proxy;
  fastcgi_temp_path ${work}/tmp/fastcgi;
  uwsgi_temp_path ${work}/tmp/uwsgi;
  scgi_temp_path ${work}/tmp/scgi;
  types { application/octet-stream bin pkg; }
  default_type application/octet-stream;
  sendfile on;
  keepalive_requests 100000;
  server { listen 127.0.0.1:${port} backlog=4096; root ${root}; }
}
`;
  fs.writeFileSync(path.join(work, "nginx.conf"), conf);
  const child = spawn(bin, ["-e", path.join(work, "error.log"), "-p", work, "-c", path.join(work, "nginx.conf")], { stdio: "ignore" });
  await waitForPort(port).catch(async (e) => {
    child.kill("SIGKILL");
    throw new Error(`${(e as Error).message}\n${safeRead(path.join(work, "error.log"))}`);
  });
  return {
    pid: child.pid!,
    port,
    url: `http://127.0.0.1:${port}/`,
    stop: async () => {
      await stopChild(child, "SIGQUIT");
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** Debian's vsftpd, anonymous read-only on `root`, passive on 127.0.0.1 (ecosystem-facts §2.1). */
export async function startVsftpd(root: string): Promise<ExternalServer> {
  const bin = findBinary("vsftpd");
  if (!bin) throw new Error("vsftpd not installed");
  const work = tempDir("vsftpd");
  fs.mkdirSync(path.join(work, "empty"));
  fs.chmodSync(root, 0o555);
  const port = await freePort();
  const pasvMin = 50000 + Math.floor(Math.random() * 100) * 100; // clear of the fota serve ranges the tests use (46000-47999)
  const conf = `listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=${port}
run_as_launching_user=YES
background=NO
anonymous_enable=YES
no_anon_password=YES
anon_root=${root}
local_enable=NO
write_enable=NO
pasv_enable=YES
pasv_address=127.0.0.1
pasv_min_port=${pasvMin}
pasv_max_port=${pasvMin + 99}
secure_chroot_dir=${work}/empty
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=YES
xferlog_file=${work}/xferlog
vsftpd_log_file=${work}/vsftpd.log
connect_from_port_20=NO
`;
  fs.writeFileSync(path.join(work, "vsftpd.conf"), conf);
  const child = spawn(bin, [path.join(work, "vsftpd.conf")], { stdio: "ignore" });
  await waitForPort(port).catch((e) => {
    child.kill("SIGKILL");
    throw e;
  });
  return {
    pid: child.pid!,
    port,
    url: `ftp://127.0.0.1:${port}/`,
    stop: async () => {
      await stopChild(child, "SIGTERM");
      fs.chmodSync(root, 0o755);
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

function safeRead(p: string): string {
  try {
    return fs.readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

/** Deterministic random bytes (xorshift), so failures reproduce. */
export function pseudoRandomBytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256(b: Uint8Array): string {
  return createHashHex(b);
}

import { createHash } from "node:crypto";
import { Rng } from "../../../src/device/rng.js";
function createHashHex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** A seeded PRNG for cut points. */
export function prng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.uniform();
}
