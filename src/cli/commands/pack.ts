// `fota pack`: builds a signed package from a new image (full), or from an old and a new image (delta).
import type { Command } from "commander";
import { DEFAULT_CONFIG, type FotaConfig } from "../../config.js";
import { UsageError } from "../../errors.js";
import { COMPRESSIONS, type CompressionName, type PackageKind } from "../../format/constants.js";
import type { Encoding, ImageRef } from "../../format/index.js";
import type { FilterName } from "../../delta/index.js";
import { collect, parseBytes, parseCount, parseTime, progressBar } from "./_package-common.js";

interface PackOptions {
  key: string[];
  to: string;
  from?: string;
  version: string;
  model: string[];
  securityCounter?: string;
  expires?: string;
  created?: string;
  compression: string;
  chunkSize?: string;
  output: string;
  json?: boolean;
  kind?: string;
  filter: string;
  inPlace?: boolean;
  sectorSize?: string;
  slotSize?: string;
  borrowSectors?: string;
}

/** What goes into the package besides the manifest's fixed facts. */
interface ProducedPayload {
  kind: PackageKind;
  encoding: Partial<Encoding>;
  payload: Uint8Array;
  base?: ImageRef;
  /** in-place deltas: the flash region the device must have (bytes), when spare sectors are used */
  regionBytes?: number;
}

/**
 * The one place where the payload is produced. Full: the new image, block-compressed. Delta (--from):
 * the delta engine plugs in here (encode the delta of `newImage` against the old image, return
 * kind "delta", its encoding descriptor, the payload and the base's size + SHA-256).
 */
type FormatLib = typeof import("../../format/index.js");
type DeltaLib = typeof import("../../delta/index.js");

function producePayload(fmt: FormatLib, opts: PackOptions, newImage: Uint8Array, config: FotaConfig, showProgress: boolean, delta?: DeltaLib): ProducedPayload {
  const { encodeFullPayload, readFileBytes, sha256 } = fmt;
  if (opts.kind !== undefined && opts.kind !== "delta" && opts.kind !== "full") throw new UsageError("bad-argument", `--kind must be delta or full, got "${opts.kind}"`);
  if (opts.kind === "delta" && opts.from === undefined) throw new UsageError("bad-argument", "--kind delta needs --from OLD.bin (the base image)");
  if ((opts.slotSize !== undefined || opts.sectorSize !== undefined || opts.borrowSectors !== undefined) && opts.inPlace !== true) {
    throw new UsageError("bad-argument", "--slot-size, --sector-size and --borrow-sectors describe the flash of an in-place delta: add --in-place");
  }
  let borrowSectors: number | undefined;
  if (opts.borrowSectors !== undefined) {
    borrowSectors = Number(opts.borrowSectors);
    if (!/^\d+$/.test(opts.borrowSectors.trim()) || !Number.isSafeInteger(borrowSectors)) throw new UsageError("bad-argument", `--borrow-sectors must be a whole number of sectors (0 or more), got "${opts.borrowSectors}"`);
  }
  const sectorSize = parseBytes(opts.sectorSize, "--sector-size");
  const slotBytes = parseBytes(opts.slotSize, "--slot-size");
  if (sectorSize !== undefined && (sectorSize < 256 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0)) {
    throw new UsageError("bad-argument", `--sector-size must be a power of two from 256 to 65536 (the flash's erase sector), got ${sectorSize}`);
  }
  let produced: ProducedPayload | undefined;
  if (opts.from !== undefined && opts.kind !== "full" && delta) {
    const oldImage = readFileBytes(opts.from);
    // the engine runs synchronously (a second or two; tens of seconds for --in-place on executables of
    // megabytes): one status line with the stage it is at and the time so far
    const note = showProgress && process.stderr.isTTY;
    const what = `building the ${opts.inPlace === true ? "in-place " : ""}delta of ${newImage.length} bytes against ${oldImage.length}`;
    const t0 = Date.now();
    const status = (step: string): void => void process.stderr.write(`\r\x1b[K${what}: ${step} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
    if (note) status("starting");
    let d: ReturnType<DeltaLib["createDelta"]>;
    try {
      const inPlace = opts.inPlace !== true ? false : { ...(sectorSize !== undefined ? { sectorSize } : {}), ...(slotBytes !== undefined ? { slotBytes } : {}), ...(borrowSectors !== undefined ? { borrowSectors } : {}) };
      d = delta.createDelta(oldImage, newImage, { filter: opts.filter as FilterName | "auto", inPlace, config, ...(note ? { onProgress: status } : {}) });
    } finally {
      if (note) process.stderr.write("\r\x1b[K");
    }
    produced = { kind: "delta", encoding: d.encoding, payload: d.payload, base: { size: oldImage.length, sha256: sha256(oldImage) } };
    if ((d.inPlace?.spareSectors ?? 0) > 0) produced.regionBytes = delta.peekDeltaHeader(d.payload).regionBytes!;
    if (opts.kind === "delta") return produced;
  }
  const compression = opts.compression as CompressionName | "auto";
  if (compression !== "auto" && !COMPRESSIONS.includes(compression)) {
    throw new UsageError("bad-argument", `--compression must be one of auto, ${COMPRESSIONS.join(", ")}; got "${opts.compression}"`);
  }
  const bar = progressBar("compressing", newImage.length, showProgress);
  try {
    const { encoding, payload } = encodeFullPayload(newImage, compression, config, (done) => bar.update(done));
    if (produced && produced.payload.length < payload.length) return produced;
    if (produced) process.stderr.write(`the delta (${produced.payload.length} bytes) is larger than the compressed full image (${payload.length} bytes): building a full package (--kind delta forces a delta)\n`);
    return { kind: "full", encoding, payload };
  } finally {
    bar.stop();
  }
}

export function register(program: Command): void {
  program
    .command("pack")
    .description("build a signed update package: full from --to, or a delta from --from to --to")
    .requiredOption("--key <keyfile>", "private signing key from `fota keygen` (repeat to add signatures)", collect)
    .requiredOption("--to <new.bin>", "the new firmware image")
    .requiredOption("--version <v>", "firmware version string shown to people (not used for ordering)")
    .requiredOption("--model <m>", "device model the package is for (repeat for several)", collect)
    .requiredOption("-o, --output <out.fota>", "where to write the package")
    .option("--security-counter <n>", "anti-rollback counter: devices refuse packages below their own", "0")
    .option("--from <old.bin>", "build a delta against this exact base image")
    .option("--kind <kind>", "delta or full (default with --from: delta unless it is larger than the full package)")
    .option("--filter <name>", "delta branch filter: auto, none, thumb, arm, arm64, arm64-branch", "auto")
    .option("--in-place", "delta for single-slot devices (rewrites the image in the same flash, sector by sector)")
    .option("--sector-size <bytes>", `with --in-place: the flash's erase sector (default ${DEFAULT_CONFIG.delta.inPlaceSectorBytes})`)
    .option("--slot-size <bytes>", "with --in-place: the size of the slot the image lives in (e.g. 1M); spare sectors past the images hold stashes, which can make the patch smaller (the device then needs a slot at least that large)")
    .option(
      "--borrow-sectors <n>",
      `with --in-place: sectors past the slot the device lends for stashes (fota's inplace devices lend free sectors of their package area, past the package); 0 for a device that rewrites only its slot (default ${DEFAULT_CONFIG.delta.inPlaceBorrowSectors})`,
    )
    .option("--expires <iso>", "expiry time (ISO 8601, e.g. 2027-01-31T00:00:00Z); devices refuse the package after it")
    .option("--created <iso>", "creation time to record (default: $SOURCE_DATE_EPOCH or now); fix it for reproducible bytes")
    .option("--compression <name>", `full-image compression: auto, ${COMPRESSIONS.join(", ")}`, "auto")
    .option("--chunk-size <bytes>", "payload chunk size (each chunk has its own digest)")
    .option("--json", "print a summary as JSON")
    .addHelpText(
      "after",
      "\nExamples:\n  fota pack --key release.key --to fw-1.1.bin --version 1.1 --model EC600N -o fw-1.1.fota\n  fota pack --key a.key --key b.key --to fw.bin --version 2.0 --model EC600N --model EC800N --security-counter 3 --expires 2027-01-01T00:00:00Z -o fw.fota\n  fota pack --key release.key --from fw-1.0.bin --to fw-1.1.bin --in-place --slot-size 1M --version 1.1 --model EC600N -o fw-1.1.fota\n",
    )
    .action(async (opts: PackOptions) => {
      const fmt = await import("../../format/index.js");
      const { buildPackage, readFileBytes, readSigningKey, sha256, toHex, writeFileAtomically } = fmt;
      const deltaLib = opts.from !== undefined && opts.kind !== "full" ? await import("../../delta/index.js") : undefined;
      const config = DEFAULT_CONFIG;
      const keys = opts.key.map((k) => readSigningKey(k));
      const securityCounter = parseCount(opts.securityCounter, "--security-counter") ?? 0;
      const expires = parseTime(opts.expires, "--expires");
      const sde = process.env.SOURCE_DATE_EPOCH;
      const created = parseTime(opts.created, "--created") ?? parseTime(sde === "" ? undefined : sde, "SOURCE_DATE_EPOCH") ?? new Date();
      const chunkSize = parseCount(opts.chunkSize, "--chunk-size");
      if (chunkSize !== undefined && (chunkSize < 1 || chunkSize > config.format.maxChunkBytes)) {
        throw new UsageError("bad-argument", `--chunk-size must be 1..${config.format.maxChunkBytes}`);
      }
      const newImage = readFileBytes(opts.to);
      const produced = producePayload(fmt, opts, newImage, config, !opts.json, deltaLib);
      const built = buildPackage({
        kind: produced.kind,
        models: opts.model,
        version: opts.version,
        securityCounter,
        created,
        ...(expires ? { expires } : {}),
        target: { size: newImage.length, sha256: sha256(newImage) },
        ...(produced.base ? { base: produced.base } : {}),
        encoding: produced.encoding,
        payload: produced.payload,
        keys,
        ...(chunkSize !== undefined ? { chunkSize } : {}),
        config,
      });
      writeFileAtomically(opts.output, (write) => write(built.bytes));
      const m = built.manifest;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            output: opts.output,
            kind: m.kind,
            bytes: built.bytes.length,
            imageBytes: m.target.size,
            payloadBytes: m.payload.size,
            compression: m.encoding.compression,
            version: m.version,
            models: m.models,
            securityCounter: m.securityCounter,
            keyIds: m.keyIds.map(toHex),
            ...(produced.regionBytes !== undefined && m.kind === "delta" ? { slotBytesNeeded: produced.regionBytes, regionBytesNeeded: produced.regionBytes } : {}),
          }) + "\n",
        );
      } else {
        const pct = m.target.size ? ` (${((100 * built.bytes.length) / m.target.size).toFixed(1)}% of the image)` : "";
        process.stdout.write(
          `wrote ${opts.output}: ${m.kind} package, ${built.bytes.length} bytes${pct}; image ${m.target.size} bytes, payload ${m.encoding.compression}; ` +
            `version ${m.version} for ${m.models.join(", ")}, security counter ${m.securityCounter}; signed by ${m.keyIds.map(toHex).join(", ")}\n` +
            (produced.regionBytes !== undefined && m.kind === "delta" ? `the in-place delta keeps stashes in spare sectors past the images: the device's region (its slot, then the sectors it lends past it) must hold ${produced.regionBytes} bytes\n` : ""),
        );
      }
    });
}
