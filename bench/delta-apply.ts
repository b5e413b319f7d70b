// `node dist/bench/delta-apply.js CORPUS_DIR [filter-substring] [reps]`: apply speed only (payloads cached in
// /tmp/fota-delta-cache; FRESH=1 recreates them). Best of `reps` runs, by wall clock and by process CPU time
// (steadier on a shared machine).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDelta, createDeltaDecoder, bytesReader, sha256hex } from "../src/delta/index.js";

const dir = process.argv[2]!;
const only = process.argv[3] ?? "";
const reps = Number(process.argv[4] ?? 10);
const fresh = process.env.FRESH === "1";
const cache = "/tmp/fota-delta-cache";
mkdirSync(cache, { recursive: true });
for (const line of readFileSync(join(dir, "pairs.tsv"), "utf8").trim().split("\n")) {
  const [name, o, n] = line.split("\t") as [string, string, string];
  if (only && !name.includes(only)) continue;
  const old = new Uint8Array(readFileSync(join(dir, o)));
  const nw = new Uint8Array(readFileSync(join(dir, n)));
  const cp = join(cache, name + ".json");
  let enc: { payload: Uint8Array; encoding: Parameters<typeof createDeltaDecoder>[0] };
  if (!fresh && existsSync(cp)) {
    const j = JSON.parse(readFileSync(cp, "utf8"));
    enc = { payload: new Uint8Array(Buffer.from(j.payload, "base64")), encoding: j.encoding };
  } else {
    const t0 = performance.now();
    const d = createDelta(old, nw);
    process.stderr.write(`${name}: create ${(performance.now() - t0).toFixed(0)} ms, payload ${d.payload.length}\n`);
    enc = { payload: d.payload, encoding: d.encoding };
    writeFileSync(cp, JSON.stringify({ payload: Buffer.from(d.payload).toString("base64"), encoding: d.encoding }));
  }
  let best = Infinity;
  let bestCpu = Infinity;
  let mem = 0;
  for (let r = 0; r < reps; r++) {
    const dec = createDeltaDecoder(enc.encoding, bytesReader(old), { targetSha256: sha256hex(nw), baseSha256: sha256hex(old) });
    let got = 0;
    const out = (b: Uint8Array): void => void (got += b.length);
    const t = performance.now();
    const c = process.cpuUsage();
    for (let i = 0; i < enc.payload.length; i += 4096) dec.push(enc.payload.subarray(i, i + 4096), out);
    dec.finish(out);
    best = Math.min(best, performance.now() - t);
    const cu = process.cpuUsage(c);
    bestCpu = Math.min(bestCpu, (cu.user + cu.system) / 1000);
    if (got !== nw.length) throw new Error("size");
    mem = dec.memoryBytes;
  }
  console.log(`${name.padEnd(34)} payload ${String(enc.payload.length).padStart(7)}  apply ${(nw.length / 1e6 / (best / 1000)).toFixed(1).padStart(6)} MB/s  (${best.toFixed(1)} ms; on cpu time ${(nw.length / 1e6 / (bestCpu / 1000)).toFixed(1)} MB/s, ${bestCpu.toFixed(1)} ms)  mem ${(mem / 1024).toFixed(1)} KiB`);
}
