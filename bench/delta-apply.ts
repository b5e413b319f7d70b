// `node dist/bench/delta-apply.js CORPUS_DIR [filter-substring] [reps] [--vs OTHER_DIST]`: apply speed only
// (payloads cached in /tmp/fota-delta-cache; FRESH=1 recreates them). Best of `reps` runs, by wall clock and
// by process CPU time (steadier on a shared machine).
// `--vs DIR` (another build's dist/, e.g. a copy saved before a change): both decoders run in this process,
// turn about, on the same payloads; the last column is this build's CPU time over the other's. Separate
// runs on the shared machine differ by 10% and more; turn about, the load falls on both alike.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import * as self from "../src/delta/index.js";

type Delta = typeof self;
const args = process.argv.slice(2);
const vsAt = args.indexOf("--vs");
const vsDir = vsAt >= 0 ? args.splice(vsAt, 2)[1] : undefined;
const dir = args[0]!;
const only = args[1] ?? "";
const reps = Number(args[2] ?? 10);
const fresh = process.env.FRESH === "1";
const cache = "/tmp/fota-delta-cache";
const other: Delta | undefined = vsDir ? ((await import(pathToFileURL(resolve(vsDir, "src/delta/index.js")).href)) as Delta) : undefined;
mkdirSync(cache, { recursive: true });

interface Run {
  ms: number;
  cpu: number;
  mem: number;
}

function applyOnce(m: Delta, enc: { payload: Uint8Array; encoding: Parameters<Delta["createDeltaDecoder"]>[0] }, old: Uint8Array, nw: Uint8Array, sums: [string, string]): Run {
  const dec = m.createDeltaDecoder(enc.encoding, m.bytesReader(old), { targetSha256: sums[0], baseSha256: sums[1] });
  let got = 0;
  const out = (b: Uint8Array): void => void (got += b.length);
  const t = performance.now();
  const c = process.cpuUsage();
  for (let i = 0; i < enc.payload.length; i += 4096) dec.push(enc.payload.subarray(i, i + 4096), out);
  dec.finish(out);
  const ms = performance.now() - t;
  const cu = process.cpuUsage(c);
  if (got !== nw.length) throw new Error("size");
  return { ms, cpu: (cu.user + cu.system) / 1000, mem: dec.memoryBytes };
}

for (const line of readFileSync(join(dir, "pairs.tsv"), "utf8").trim().split("\n")) {
  const [name, o, n] = line.split("\t") as [string, string, string];
  if (only && !name.includes(only)) continue;
  const old = new Uint8Array(readFileSync(join(dir, o)));
  const nw = new Uint8Array(readFileSync(join(dir, n)));
  const cp = join(cache, name + ".json");
  let enc: { payload: Uint8Array; encoding: Parameters<Delta["createDeltaDecoder"]>[0] };
  if (!fresh && existsSync(cp)) {
    const j = JSON.parse(readFileSync(cp, "utf8"));
    enc = { payload: new Uint8Array(Buffer.from(j.payload, "base64")), encoding: j.encoding };
  } else {
    const t0 = performance.now();
    const d = self.createDelta(old, nw);
    process.stderr.write(`${name}: create ${(performance.now() - t0).toFixed(0)} ms, payload ${d.payload.length}\n`);
    enc = { payload: d.payload, encoding: d.encoding };
    writeFileSync(cp, JSON.stringify({ payload: Buffer.from(d.payload).toString("base64"), encoding: d.encoding }));
  }
  const sums: [string, string] = [self.sha256hex(nw), self.sha256hex(old)];
  let best = Infinity;
  let bestCpu = Infinity;
  let otherCpu = Infinity;
  let mem = 0;
  for (let r = 0; r < reps; r++) {
    const run = applyOnce(self, enc, old, nw, sums);
    best = Math.min(best, run.ms);
    bestCpu = Math.min(bestCpu, run.cpu);
    mem = run.mem;
    if (other) otherCpu = Math.min(otherCpu, applyOnce(other, enc, old, nw, sums).cpu);
  }
  const mbs = (ms: number): string => (nw.length / 1e6 / (ms / 1000)).toFixed(1);
  const vs = other ? `  vs ${mbs(otherCpu)} MB/s (${otherCpu.toFixed(1)} ms): ${(bestCpu / otherCpu).toFixed(3)}` : "";
  console.log(`${name.padEnd(34)} payload ${String(enc.payload.length).padStart(7)}  apply ${mbs(best).padStart(6)} MB/s  (${best.toFixed(1)} ms; on cpu time ${mbs(bestCpu)} MB/s, ${bestCpu.toFixed(1)} ms)  mem ${(mem / 1024).toFixed(1)} KiB${vs}`);
}
