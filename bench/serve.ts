// `npm run bench:serve`: N concurrent ranged downloads (N = 100 and 1000 by default) against
// `fota serve` (the real CLI, one Node process) and Debian's nginx (one worker) in the same run, on
// the same file. Prints throughput, p50/p99 time-to-first-byte and errors for both, side by side.
//
// Environment: BENCH_N="100,1000" BENCH_FILE_KB=256 BENCH_ROUNDS=3 (the order alternates per round;
// the summary gives the median throughput of each server, so a noisy shared machine skews less)
// BENCH_FOTA_ARGS="--cache-mib 0" (extra serve arguments), BENCH_WARMUP=1000 (requests to each
// server, 100 at a time, before the first measured run: a long-running Node server is measured
// warm, as it runs in production).
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { findBinary, startNginx, tempDir, pseudoRandomBytes, type ExternalServer } from "../test/transport/helpers/servers.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = [path.resolve(HERE, ".."), path.resolve(HERE, "../..")].find((p) => fs.existsSync(path.join(p, "bin", "fota.js")))!;
const FOTA_BIN = path.join(REPO, "bin", "fota.js");

const NS = (process.env.BENCH_N ?? "100,1000").split(",").map(Number);
const FILE_BYTES = Number(process.env.BENCH_FILE_KB ?? 256) * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Requests sent to each server before measuring (JIT warm-up of the Node server and client). */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
/** Extra `fota serve` arguments, e.g. "--cache-mib 0" to measure the disk-only path. */
const FOTA_ARGS = (process.env.BENCH_FOTA_ARGS ?? "").split(" ").filter(Boolean);

interface RunStats {
  n: number;
  /** CPU seconds (user + system) the server process tree used during the run. */
  cpuS: number;
  wallMs: number;
  bytes: number;
  errors: number;
  errorKinds: Record<string, number>;
  ttfb: number[];
}

function startFotaServe(dir: string): Promise<{ url: string; child: ChildProcess; pid: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FOTA_BIN, "serve", dir, "--http-port", "0", "--json", ...FOTA_ARGS], { stdio: ["ignore", "pipe", "inherit"] });
    let buf = "";
    let started = false;
    const t = setTimeout(() => reject(new Error("fota serve did not start")), 30_000);
    child.stdout!.on("data", (d) => {
      if (started) return; // the per-download log lines are read and dropped
      buf += d;
      const line = buf.split("\n")[0];
      if (buf.includes("\n") && line) {
        started = true;
        clearTimeout(t);
        resolve({ url: (JSON.parse(line) as { http: string }).http, child, pid: child.pid! });
      }
    });
    child.once("exit", (c) => reject(new Error(`fota serve exited ${c}`)));
  });
}

/** user+system CPU ticks of a process and its children (Linux /proc), 0 elsewhere. */
function treeTicks(pid: number): number {
  let total = 0;
  try {
    for (const ent of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(ent)) continue;
      let stat: string;
      try {
        stat = fs.readFileSync(`/proc/${ent}/stat`, "utf8");
      } catch {
        continue;
      }
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(f[1]);
      if (Number(ent) === pid || ppid === pid) total += Number(f[11]) + Number(f[12]);
    }
  } catch {
    return 0;
  }
  return total;
}
const TICKS_PER_S = 100;

async function run(base: string, n: number, data: Buffer, serverPid = 0): Promise<RunStats> {
  const agent = new Agent({ connections: null, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000, connect: { timeout: 60_000 } });
  const ticks0 = serverPid ? treeTicks(serverPid) : 0;
  const stats: RunStats = { n, cpuS: 0, wallMs: 0, bytes: 0, errors: 0, errorKinds: {}, ttfb: [] };
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      // Each device resumes at its own offset in the first half of the file.
      const start = Math.floor(((i * 7919) % 997) / 997 * (data.length / 2));
      const s = performance.now();
      try {
        const res = await request(`${base}fw.bin`, { dispatcher: agent, headers: { range: `bytes=${start}-` } });
        let first = true;
        let got = 0;
        let head: Buffer | undefined;
        for await (const chunk of res.body) {
          if (first) {
            stats.ttfb.push(performance.now() - s);
            first = false;
            head = Buffer.from((chunk as Buffer).subarray(0, 16));
          }
          got += (chunk as Buffer).length;
        }
        const want = data.length - start;
        if (res.statusCode !== 206) throw new Error(`status ${res.statusCode}`);
        if (got !== want) throw new Error("wrong length");
        if (!head || !head.equals(data.subarray(start, start + head.length))) throw new Error("wrong bytes");
        stats.bytes += got;
      } catch (err) {
        stats.errors++;
        const k = (err as { code?: string }).code ?? (err as Error).message;
        stats.errorKinds[k] = (stats.errorKinds[k] ?? 0) + 1;
      }
    }),
  );
  stats.wallMs = performance.now() - t0;
  if (serverPid) stats.cpuS = (treeTicks(serverPid) - ticks0) / TICKS_PER_S;
  await agent.close();
  return stats;
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function row(name: string, s: RunStats): string {
  const mibs = s.bytes / 1024 / 1024 / (s.wallMs / 1000);
  const errs = s.errors ? `${s.errors} ${JSON.stringify(s.errorKinds)}` : "0";
  return `| ${name.padEnd(10)} | ${String(s.n).padStart(5)} | ${mibs.toFixed(1).padStart(8)} | ${pct(s.ttfb, 50).toFixed(1).padStart(11)} | ${pct(s.ttfb, 99).toFixed(1).padStart(11)} | ${(s.wallMs / 1000).toFixed(2).padStart(6)} | ${s.cpuS.toFixed(2).padStart(12)} | ${errs}`;
}

async function main(): Promise<void> {
  if (!findBinary("nginx")) {
    console.error("bench:serve needs nginx (apt-get install nginx-light) to compare against");
    process.exit(2);
  }
  let nofile = "?";
  try {
    nofile = execFileSync("sh", ["-c", "ulimit -n"]).toString().trim();
  } catch {
    // unknown
  }
  if (nofile !== "unlimited" && Number(nofile) < 4 * Math.max(...NS)) console.error(`warning: ulimit -n is ${nofile}; raise it (ulimit -n 65536) for ${Math.max(...NS)} connections`);
  const dir = tempDir("bench-serve");
  const data = pseudoRandomBytes(FILE_BYTES, 42);
  fs.writeFileSync(path.join(dir, "fw.bin"), data);
  fs.chmodSync(path.join(dir, "fw.bin"), 0o644);
  const fota = await startFotaServe(dir);
  let nginx: ExternalServer | undefined;
  try {
    nginx = await startNginx(dir);
    console.log(`bench:serve  file ${FILE_BYTES / 1024} KiB, each device asks Range: bytes=X- (X in the first half), ${os.cpus().length} CPUs, node ${process.version}, ulimit -n ${nofile}`);
    console.log(`fota serve: one Node process (fastify; small hot files from memory, others via @fastify/static), logging each download${FOTA_ARGS.length ? ` (${FOTA_ARGS.join(" ")})` : ""}; nginx: 1 worker, sendfile on; ${WARMUP} warm-up requests each\n`);
    console.log("| server     |     N |    MiB/s | p50 TTFB ms | p99 TTFB ms | wall s | server CPU s | errors");
    console.log("|------------|-------|----------|-------------|-------------|--------|--------------|-------");
    const summary: string[] = [];
    for (const n of NS) {
      const fotaRuns: RunStats[] = [];
      const nginxRuns: RunStats[] = [];
      // Warm both.
      for (let w = 0; w < WARMUP; w += 100) {
        await run(fota.url, Math.min(100, WARMUP - w), data);
        await run(nginx.url, Math.min(100, WARMUP - w), data);
      }
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 === 0 ? (["fota", "nginx"] as const) : (["nginx", "fota"] as const);
        for (const which of order) {
          const s = which === "fota" ? await run(fota.url, n, data, fota.pid) : await run(nginx.url, n, data, nginx.pid);
          (which === "fota" ? fotaRuns : nginxRuns).push(s);
          console.log(row(which === "fota" ? "fota serve" : "nginx", s));
        }
      }
      const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
      const tf = med(fotaRuns.map((s) => s.bytes / s.wallMs));
      const tn = med(nginxRuns.map((s) => s.bytes / s.wallMs));
      const cf = med(fotaRuns.map((s) => s.cpuS));
      const cn = med(nginxRuns.map((s) => s.cpuS));
      const ef = fotaRuns.reduce((a, s) => a + s.errors, 0);
      const en = nginxRuns.reduce((a, s) => a + s.errors, 0);
      summary.push(
        `N=${n}: median MiB/s fota ${((tf * 1000) / 1048576).toFixed(1)} vs nginx ${((tn * 1000) / 1048576).toFixed(1)} -> ratio ${(tf / tn).toFixed(2)} (target >= 0.5); ` +
          `errors fota ${ef}, nginx ${en} over ${ROUNDS} rounds (target 0); median server CPU s fota ${cf.toFixed(2)} vs nginx ${cn.toFixed(2)}`,
      );
    }
    console.log("");
    for (const line of summary) console.log(line);
  } finally {
    fota.child.kill("SIGTERM");
    await nginx?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
