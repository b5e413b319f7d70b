// `npm run bench:delta -- CORPUS_DIR [NAME_FILTER] [--pairs FILE]`: our delta packages against bsdiff,
// xdelta3, zstd --patch-from and xz, on every pair of CORPUS_DIR/pairs.tsv (made by
// ../shared/corpus/fetch.sh) or of FILE (same columns, paths relative to CORPUS_DIR; e.g.
// bench/pairs-more.tsv: other version pairs of the same corpus, which the engine was not tuned on;
// bench/pairs-hubs.tsv: the other Pybricks hubs, after bash bench/hubs.sh CORPUS_DIR;
// bench/pairs-exes.tsv: 32-bit ARM and AArch64 esbuild releases, after bash bench/exes.sh CORPUS_DIR;
// bench/pairs-wasm.tsv, bench/pairs-rollup.tsv, bench/pairs-x86.tsv and bench/pairs-arch.tsv:
// MicroPython's WebAssembly build, rollup's native modules for ARM and AArch64 Linux, esbuild and
// rollup for x86-64, and esbuild for six more architectures, after bash bench/npm-pairs.sh CORPUS_DIR;
// bench/pairs-riscv.tsv: RISC-V firmware with compressed instructions from Debian's packages, after bash
// bench/debian-pairs.sh CORPUS_DIR; bench/pairs-mcu.tsv: SQLite built for Cortex-M4, RV32 and the
// ESP8266's Xtensa by Debian's cross compilers, after bash bench/mcu-sqlite.sh CORPUS_DIR).
// Prints sizes, create and apply times (apply also of the anchors: bspatch, zstd -d --patch-from, and xz -d
// of the new image, the LZMA decoder closest to our coding), decoder working memory, in-place size and in-place create time
// (as fota pack --in-place builds it: a slot of the images' sectors, and the one sector past it that fota's inplace
// devices lend from their package area; and the in-place size for a device that lends none, `ip+0`:
// --borrow-sectors 0); the last line is
// the median ratio of our whole package (manifest and signature included) to bsdiff's patch.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDelta, createDeltaDecoder, bytesReader, sha256hex } from "../src/delta/index.js";
import { buildPackage, generateSigningKey, sha256 } from "../src/format/index.js";
import { DEFAULT_CONFIG } from "../src/config.js";

const args = process.argv.slice(2);
const pairsAt = args.indexOf("--pairs");
const pairsFile = pairsAt >= 0 ? args.splice(pairsAt, 2)[1] : undefined;
const [dir, only] = args;
if (!dir || (pairsAt >= 0 && !pairsFile)) {
  process.stderr.write("usage: npm run bench:delta -- CORPUS_DIR [NAME_FILTER] [--pairs FILE]   (make a corpus with ../shared/corpus/fetch.sh)\n");
  process.exit(2);
}
const tmp = mkdtempSync(join(tmpdir(), "fota-bench-"));
const key = generateSigningKey();

/**
 * Runs an anchor tool, timed by bash around it: a spawn from this (large) process costs a fork, which
 * timing here would charge to the tool. A spawn also slows the next few runs of our own code in this
 * process (after the fork every page it writes faults once more: +1300-1700 page faults and 2.7x the
 * time per createDelta on movehub 4.0.0->4.0.1 for about six runs), so every tool runs for every pair
 * before any of our measurements.
 */
function tool(cmd: string, args: string[], stdout = "/dev/null"): { ok: boolean; ms: number } {
  const r = spawnSync("bash", ["-c", 'TIMEFORMAT=%3R; { time "$@" >"$OUT" 2>/dev/null; } 2>&1', "timer", cmd, ...args], {
    env: { ...process.env, OUT: stdout },
    encoding: "utf8",
  });
  const secs = Number.parseFloat(r.stdout.trim().split("\n").pop() ?? "");
  return { ok: r.status === 0 && Number.isFinite(secs), ms: secs * 1000 };
}
/**
 * An anchor tool's time for one run, in ms: `reps` runs back to back inside one timing (a single run of a
 * few ms is below the resolution of bash's timer), best of `rounds` such timings, less the tool's start-up
 * (the same tool given an empty input, about 1 ms: the tools are processes, ours runs in this one).
 */
function toolEach(cmd: string, args: string[], reps: number, emptyArgs: string[]): number {
  const run = toolTimed(cmd, args, reps, true);
  return run - Math.min(toolTimed(cmd, emptyArgs, reps, false), run * 0.5);
}
function toolTimed(cmd: string, args: string[], reps: number, mustSucceed: boolean, rounds = 3, stdout = "/dev/null"): number {
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const loop = `TIMEFORMAT=%3R; n=$1; shift; { time for ((i = 0; i < n; i++)); do "$@" >"$OUT" 2>/dev/null${mustSucceed ? " || exit 1" : " || true"}; done; } 2>&1`;
    const t = spawnSync("bash", ["-c", loop, "timer", String(reps), cmd, ...args], {
      env: { ...process.env, OUT: stdout },
      encoding: "utf8",
    });
    const secs = Number.parseFloat(t.stdout.trim().split("\n").pop() ?? "");
    if (t.status !== 0 || !Number.isFinite(secs)) return NaN;
    best = Math.min(best, (secs * 1000) / reps);
  }
  return best;
}
function size(p: string): number {
  try {
    return statSync(p).size;
  } catch {
    return NaN;
  }
}
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const cols = ["pair", "old", "new", "ours.fota", "payload", "filter", "bsdiff", "xdelta3", "zstd", "xz(new)", "ours/bsd", "create ms", "warm ms", "bsdiff ms", "apply MB/s", "bspatch", "zstd -d", "xz -d", "mem KiB", "inplace", "ip/ours", "ip ms", "ip+0/ours"];
const rows: string[][] = [cols];
const ratios: number[] = [];
/** Per pair, for the target summary: package - bsdiff (bytes), create / bsdiff time, apply MB/s, memory, in-place / ordinary. */
const checks: Array<{ over: number; createRatio: number; warmRatio: number; mbs: number; anchorMbs: Record<"bspatchMs" | "zstdDMs" | "xzDMs", number>; mem: number; ip: number; ipNone: number }> = [];
const pairs: Array<{ name: string; oldP: string; newP: string }> = [];
for (const line of readFileSync(pairsFile ?? join(dir, "pairs.tsv"), "utf8").trim().split("\n")) {
  const [name, o, n] = line.split("\t") as [string, string, string];
  if (only && !name.includes(only)) continue;
  const oldP = join(dir, o);
  const newP = join(dir, n);
  const missing = [oldP, newP].find((p) => !existsSync(p));
  if (missing) {
    const hint = /pybricks\/(4\.13\.0-alpha\.5|4\.17\.0|7\.2\.0)\//.test(missing)
      ? "; these Pybricks releases come from the npm registry: bash bench/npm-pairs.sh CORPUS_DIR"
      : /pybricks\/[^/]+\/(?!primehub|movehub)/.test(missing)
      ? "; the hubs other than primehub and movehub come from bash bench/hubs.sh CORPUS_DIR"
      : /esbuild\/(linux-arm\/|linux-arm64\/0\.23)/.test(missing)
        ? "; these executables come from bash bench/exes.sh CORPUS_DIR"
        : /^(micropython-wasm|rollup|esbuild\/linux-(x64|ia32|riscv64|ppc64|s390x|mips64el|loong64))\//.test(o) || /^(micropython-wasm|rollup|esbuild\/linux-(x64|ia32|riscv64|ppc64|s390x|mips64el|loong64))\//.test(n)
          ? "; these come from the npm registry: bash bench/npm-pairs.sh CORPUS_DIR"
          : "; make the corpus with ../shared/corpus/fetch.sh";
    process.stderr.write(`${name}: no ${missing}${hint}\n`);
    process.exit(2);
  }
  pairs.push({ name, oldP, newP });
}
// the anchor tools first, for every pair (see tool())
const anchors = new Map<string, { bsize: number; bOk: boolean; bMs: number; xd: number; zs: number; xz: number; bspatchMs: number; zstdDMs: number; xzDMs: number }>();
for (const { name, oldP, newP } of pairs) {
  const old = statSync(oldP).size;
  const nw = statSync(newP).size;
  const bsd = join(tmp, "p.bsdiff");
  const b = tool("bsdiff", [oldP, newP, bsd]);
  const xd = join(tmp, "p.xd3");
  tool("xdelta3", ["-9", "-e", "-f", "-s", oldP, newP, xd]);
  const zs = join(tmp, "p.zst");
  const zlong = Math.max(10, Math.ceil(Math.log2(Math.max(old, nw) + 1)));
  let z = tool("zstd", ["-19", "-q", "-f", `--patch-from=${oldP}`, newP, "-o", zs]);
  if (!z.ok) z = tool("zstd", ["-19", "-q", "-f", `--long=${zlong}`, `--patch-from=${oldP}`, newP, "-o", zs]);
  const xzOut = join(tmp, "n.xz");
  tool("xz", ["-9e", "-c", newP], xzOut);
  // the anchors' apply: bspatch, zstd -d --patch-from, and xz -d of the new image (what an LZMA
  // decoder, the coding closest to ours, does on this content); repeated so a run takes ~100 ms or more
  const reps = Math.max(2, Math.min(20, Math.ceil(4e6 / nw)));
  const outP = join(tmp, "applied");
  const bspatchMs = b.ok ? toolEach("bspatch", [oldP, outP, bsd], reps, []) : NaN;
  const zstdDMs = z.ok ? toolEach("zstd", ["-d", "-q", "-f", "--memory=2047MB", `--patch-from=${oldP}`, zs, "-o", outP], reps, ["-d", "-q", "-c", "/dev/null"]) : NaN;
  const xzDMs = toolEach("xz", ["-d", "-c", xzOut], reps, ["-d", "-c", "/dev/null"]);
  anchors.set(name, { bsize: b.ok ? size(bsd) : NaN, bOk: b.ok, bMs: b.ms, xd: size(xd), zs: z.ok ? size(zs) : NaN, xz: size(xzOut), bspatchMs, zstdDMs, xzDMs });
  rmSync(outP, { force: true });
  for (const f of [bsd, xd, zs, xzOut]) rmSync(f, { force: true });
  process.stderr.write(`${name}: anchors done\n`);
}
for (const { name, oldP, newP } of pairs) {
  const a = anchors.get(name)!;
  const old = new Uint8Array(readFileSync(oldP));
  const nw = new Uint8Array(readFileSync(newP));

  const t0 = performance.now();
  const d = createDelta(old, nw);
  const createMs = performance.now() - t0;
  // the same again with the JIT warm (best of 4 more runs; images up to 2 MB): what a long-running
  // host (a build server) sees. The target is checked on the first run above
  let warmMs = createMs;
  for (let rep = 0; rep < 4 && nw.length <= 2 << 20; rep++) {
    const t = performance.now();
    createDelta(old, nw);
    warmMs = Math.min(warmMs, performance.now() - t);
  }
  const pkg = buildPackage({
    kind: "delta",
    models: ["bench"],
    version: "1",
    created: 0,
    target: { size: nw.length, sha256: sha256(nw) },
    base: { size: old.length, sha256: sha256(old) },
    encoding: d.encoding,
    payload: d.payload,
    keys: [key],
  });

  // apply: streamed in 4 KiB chunks, base read by random access, output digest checked; best of at
  // least 5 runs (and of as many as fit in 1 s, at most 30): the machine is shared, the JIT warms up
  let best = Infinity;
  let mem = 0;
  const applyStart = performance.now();
  for (let rep = 0; rep < 30 && (rep < 5 || performance.now() - applyStart < 1000); rep++) {
    const dec = createDeltaDecoder(d.encoding, bytesReader(old), { targetSha256: sha256hex(nw), baseSha256: sha256hex(old) });
    let got = 0;
    const out = (b: Uint8Array): void => {
      got += b.length;
    };
    const t = performance.now();
    for (let i = 0; i < d.payload.length; i += 4096) dec.push(d.payload.subarray(i, i + 4096), out);
    dec.finish(out);
    best = Math.min(best, performance.now() - t);
    mem = dec.memoryBytes; // after the address map was read
    if (got !== nw.length) throw new Error(`${name}: applied ${got} of ${nw.length} bytes`);
  }
  const ipStart = performance.now();
  const ip = createDelta(old, nw, { filter: d.filter, inPlace: true });
  const ipMs = performance.now() - ipStart;
  // in place for a device that lends no sector past its slot (fota pack --borrow-sectors 0): no spare sector for stashes
  const ip0 = createDelta(old, nw, { filter: d.filter, inPlace: { borrowSectors: 0 } });

  const bsize = a.bsize;
  const ratio = pkg.bytes.length / bsize;
  ratios.push(ratio);
  rows.push([
    name,
    String(old.length),
    String(nw.length),
    String(pkg.bytes.length),
    String(d.payload.length),
    d.filter,
    a.bOk ? String(bsize) : "n/a",
    String(a.xd),
    Number.isNaN(a.zs) ? "n/a" : String(a.zs),
    String(a.xz),
    ratio.toFixed(3),
    createMs.toFixed(0),
    warmMs.toFixed(0),
    a.bMs.toFixed(0),
    (nw.length / 1e6 / (best / 1000)).toFixed(1),
    ...[a.bspatchMs, a.zstdDMs, a.xzDMs].map((ms) => (Number.isNaN(ms) ? "n/a" : (nw.length / 1e6 / (ms / 1000)).toFixed(1))),
    (mem / 1024).toFixed(1),
    String(ip.payload.length),
    (ip.payload.length / d.payload.length).toFixed(3),
    ipMs.toFixed(0),
    (ip0.payload.length / d.payload.length).toFixed(3),
  ]);
  checks.push({
    over: pkg.bytes.length - bsize,
    createRatio: createMs / a.bMs,
    warmRatio: warmMs / a.bMs,
    mbs: nw.length / 1e6 / (best / 1000),
    anchorMbs: { bspatchMs: nw.length / 1e3 / a.bspatchMs, zstdDMs: nw.length / 1e3 / a.zstdDMs, xzDMs: nw.length / 1e3 / a.xzDMs },
    mem,
    ip: ip.payload.length / d.payload.length,
    ipNone: ip0.payload.length / d.payload.length,
  });
  process.stderr.write(`${name} done\n`);
}
rmSync(tmp, { recursive: true, force: true });
if (rows.length === 1) {
  process.stderr.write(`no pair${only ? ` named like "${only}"` : ""} in ${pairsFile ?? join(dir, "pairs.tsv")}\n`);
  process.exit(2);
}
const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ") + "\n");
// the targets of the delta engine (issue 4), each with the pairs that miss it
const bound = DEFAULT_CONFIG.delta.maxWorkingMemoryBytes;
const names = rows.slice(1).map((r) => r[0]!);
const target = (what: string, ok: (c: (typeof checks)[number]) => boolean): void => {
  const miss = checks.flatMap((c, i) => (ok(c) ? [] : [names[i]!]));
  process.stdout.write(`  ${miss.length === 0 ? "met " : "MISS"}  ${what}: ${checks.length - miss.length}/${checks.length} pairs${miss.length ? " (misses: " + miss.join(", ") + ")" : ""}\n`);
};
process.stdout.write("targets:\n");
process.stdout.write(`  ${median(ratios) <= 0.75 ? "met " : "MISS"}  median package / bsdiff <= 0.75: ${median(ratios).toFixed(3)}\n`);
target("package <= bsdiff + 256 B", (c) => c.over <= 256);
target("create time (first run per pair) <= bsdiff's", (c) => c.createRatio <= 1);
const warmOk = checks.filter((c) => c.warmRatio <= 1).length;
process.stdout.write(`  info  create time with the JIT warm <= bsdiff's: ${warmOk}/${checks.length} pairs\n`);
target("apply >= 50 MB/s", (c) => c.mbs >= 50);
{
  const ms = (k: "bspatchMs" | "zstdDMs" | "xzDMs"): string => {
    const v = checks.map((c) => c.anchorMbs[k]).filter((x) => !Number.isNaN(x));
    return v.length ? median(v).toFixed(1) : "n/a";
  };
  const fast = (k: "bspatchMs" | "zstdDMs" | "xzDMs"): string => `${checks.filter((c) => c.anchorMbs[k] >= 50).length}/${checks.length}`;
  process.stdout.write(`  info  apply MB/s, median over the pairs: ours ${median(checks.map((c) => c.mbs)).toFixed(1)}, bspatch ${ms("bspatchMs")}, zstd -d --patch-from ${ms("zstdDMs")}, xz -d (new image) ${ms("xzDMs")}\n`);
  process.stdout.write(`  info  the anchors' apply >= 50 MB/s: bspatch ${fast("bspatchMs")}, zstd -d --patch-from ${fast("zstdDMs")}, xz -d ${fast("xzDMs")} pairs\n`);
}
target(`decoder memory <= ${bound / 1024} KiB`, (c) => c.mem <= bound);
target("in-place <= 1.10 x ordinary", (c) => c.ip <= 1.1);
const noneOk = checks.filter((c) => c.ipNone <= 1.1).length;
process.stdout.write(`  info  in-place for a device that lends no sector past its slot (ip+0) <= 1.10 x ordinary: ${noneOk}/${checks.length} pairs\n`);
process.stdout.write(`median ratio ours/bsdiff (whole .fota package vs bsdiff patch): ${median(ratios).toFixed(3)} over ${ratios.length} pairs\n`);
