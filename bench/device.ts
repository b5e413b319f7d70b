// npm run bench:device — flash wear and install time of one update per strategy, for 1 MiB and 4 MiB
// images, next to the lower bound (one erase + one program per sector of the image).
//
//   node dist/bench/device.js [--sizes 1,4] [--no-delta]
import { createHash } from "node:crypto";
import { Device, SimFlash, formatPackageOpener, planLayout, Rng, type Layout, type StrategyName, type FlashOpEvent } from "../src/device/index.js";
import { generateSigningKey } from "../src/format/keys.js";
import { buildFullPackage, buildPackage } from "../src/format/package.js";
import { sha256 } from "../src/format/bytes.js";
import { createDelta } from "../src/delta/index.js";

const SECTOR = 4096;
const MODEL = "BENCH";
const key = generateSigningKey();

function firmware(size: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = new Uint8Array(size);
  // code-like: repeated instruction patterns with varying operands, some tables
  for (let i = 0; i < size; i += 4) {
    const op = rng.below(16);
    out[i] = 0x40 + op;
    out[i + 1] = rng.below(4) === 0 ? rng.nextU32() & 0xff : (i >> 6) & 0xff;
    out[i + 2] = 0x80 | (op << 2);
    out[i + 3] = rng.below(8) === 0 ? rng.nextU32() & 0xff : 0xe0;
  }
  return out;
}

function edit(img: Uint8Array, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const out = img.slice();
  for (let k = 0; k < 40; k++) {
    const at = rng.below(img.length - 256);
    for (let i = 0; i < 64; i++) out[at + i] = rng.nextU32() & 0xff;
  }
  const len = 16 * 1024;
  const from = rng.below(img.length - len);
  out.set(img.subarray(from, from + len), rng.below(img.length - len));
  return out;
}

interface Row {
  strategy: string;
  kind: string;
  size: number;
  pkg: number;
  erases: number;
  programs: number;
  bytes: number;
  ms: number;
  regions: Record<string, number>;
}

function regionOf(layout: Layout, off: number): string {
  const named: Array<[string, { offset: number; size: number } | undefined]> = [
    ["state", layout.state],
    ...layout.slots.map((r, i): [string, { offset: number; size: number }] => [`slot${i}`, r]),
    ["package", layout.package],
    ["scratch", layout.scratch],
    ["recovery", layout.recovery],
  ];
  for (const [n, r] of named) if (r && off >= r.offset && off < r.offset + r.size) return n;
  return "?";
}

function* chunks(b: Uint8Array, n: number): Generator<Uint8Array> {
  for (let o = 0; o < b.length; o += n) yield b.subarray(o, o + n);
}

async function run(strategy: StrategyName, kind: "full" | "delta", size: number, scratchSectors = 1): Promise<Row> {
  const old = firmware(size, 1);
  const neu = edit(old, 2);
  const recovery = firmware(64 * 1024, 3);
  const { layout, flashSize } = planLayout(strategy, { sectorSize: SECTOR, slotSize: size + SECTOR, recoverySize: 128 * 1024, packageSize: strategy === "inplace" ? size + 64 * 1024 : 0, scratchSectors });
  let counting = false;
  const regions: Record<string, number> = {};
  const flash = new SimFlash({
    size: flashSize,
    sectorSize: SECTOR,
    pageSize: 256,
    writeAlign: 4,
    onOp: (op: FlashOpEvent) => {
      if (!counting) return;
      const r = regionOf(layout, op.offset);
      regions[r] = (regions[r] ?? 0) + 1;
    },
  });
  const openPackage = formatPackageOpener({ trustedKeys: [key] });
  Device.provision({ flash, layout, model: MODEL, image: old, version: "1", securityCounter: 1, openPackage, recoveryImage: { image: recovery, version: "r1" } });
  let pkg: Uint8Array;
  if (kind === "full") {
    pkg = buildFullPackage({ image: neu, models: [MODEL], version: "2", securityCounter: 2, keys: [key], compression: "deflate" }).bytes;
  } else {
    const d = createDelta(old, neu, strategy === "inplace" ? { inPlace: { sectorSize: SECTOR } } : {});
    pkg = buildPackage({
      kind: "delta", models: [MODEL], version: "2", securityCounter: 2, keys: [key],
      target: { size: neu.length, sha256: sha256(neu) }, base: { size: old.length, sha256: sha256(old) },
      encoding: d.encoding, payload: d.payload,
    }).bytes;
  }
  const stage1 = strategy === "two-stage" ? buildFullPackage({ image: edit(recovery, 5), models: [MODEL], version: "r2", securityCounter: 2, keys: [key], compression: "deflate" }).bytes : undefined;
  const mk = () => new Device({ flash, layout, model: MODEL, openPackage });
  let d = mk();
  d.boot();
  flash.resetCounters();
  counting = true;
  const t0 = performance.now();
  if (strategy === "two-stage") {
    await d.install(chunks(stage1!, 16384), { stageTwo: "stage2" });
    d = mk();
    d.boot();
    await d.runRecovery(() => chunks(pkg, 16384));
  } else {
    await d.install(chunks(pkg, 16384));
  }
  d = mk();
  const b = d.boot();
  d.confirm();
  const ms = performance.now() - t0;
  counting = false;
  const got = createHash("sha256").update(flash.read(layout.slots[Number(b.area.slice(4))]!.offset, neu.length)).digest("hex");
  if (got !== createHash("sha256").update(neu).digest("hex")) throw new Error(`${strategy}/${kind}: wrong image after the update`);
  const c = flash.counters;
  return { strategy, kind, size, pkg: pkg.length, erases: c.erases, programs: c.programs, bytes: c.bytesProgrammed, ms, regions };
}

function fmtSize(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 2 : 0)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const sizesArg = args.includes("--sizes") ? args[args.indexOf("--sizes") + 1]! : "1,4";
  const sizes = sizesArg.split(",").map((s) => Math.round(Number(s) * (1 << 20)));
  const withDelta = !args.includes("--no-delta");
  console.log("fota bench:device — one update (install + reboot + confirm) on a simulated NOR flash, 4 KiB sectors, 256 B pages");
  console.log("ops ratio = (erases + programs) / (2 x sectors): 1 = one erase + one program per image sector; below 1 where the update leaves sectors as they were (they are not rewritten); bytes ratio = bytes programmed / image size");
  console.log("the new image is the old one with 40 small edits and a 16 KiB block moved (~44 sectors of 256 per MiB change); the A/B rows write a blank slot");
  console.log("two-stage includes stage one (a 64 KiB recovery image).\n");
  const head = ["strategy", "payload", "image", "package", "erases", "programs", "bytes written", "ops ratio", "bytes ratio", "install ms", "ops by area"];
  const rows: string[][] = [];
  for (const size of sizes) {
    for (const strategy of ["ab", "inplace", "two-stage"] as const) {
      for (const [kind, scratch] of [["full", 1], ["delta", 1], ["delta", 2]] as const) {
        if (kind === "delta" && (!withDelta || strategy === "two-stage")) continue;
        if (scratch === 2 && strategy !== "inplace") continue;
        const r = await run(strategy, kind, size, scratch);
        const sectors = Math.ceil(size / SECTOR);
        rows.push([
          r.strategy,
          r.kind === "delta" && strategy === "inplace" ? `in-place delta, ${scratch} scratch` : r.kind,
          fmtSize(r.size),
          fmtSize(r.pkg),
          String(r.erases),
          String(r.programs),
          fmtSize(r.bytes),
          ((r.erases + r.programs) / (2 * sectors)).toFixed(2),
          (r.bytes / r.size).toFixed(2),
          r.ms.toFixed(0),
          Object.entries(r.regions).map(([k, v]) => `${k}:${v}`).join(" "),
        ]);
        console.error(`  done ${strategy}/${kind} ${fmtSize(size)}`);
      }
    }
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 || i === 10 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join("  ");
  console.log(line(head));
  console.log(w.map((n) => "-".repeat(n)).join("  "));
  for (const r of rows) console.log(line(r));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
