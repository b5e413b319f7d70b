// `fota inspect PKG [--json]`: shows the manifest, signatures and layout of a package (no key needed;
// signatures and payload are not checked here: that is `fota verify`).
import type { Command } from "commander";
import { FormatError } from "../../errors.js";
import type { ParsedPackage } from "../../format/index.js";
import { shortHex } from "./_package-common.js";

type FormatLib = typeof import("../../format/index.js");

/** The manifest prefix, and the first bytes of the payload (what the file has of them: a delta's header). */
function readPrefix(lib: FormatLib, path: string): { parsed: ParsedPackage; fileBytes: number; payloadHead: Uint8Array } {
  const { FORMAT, decodeHeader, openFileReader, parsePackagePrefix } = lib;
  const f = openFileReader(path);
  try {
    if (f.size < FORMAT.headerBytes) {
      throw new FormatError("truncated", `${path} is ${f.size} bytes; a package header alone is ${FORMAT.headerBytes}`, { details: { length: f.size } });
    }
    const h = decodeHeader(f.read(0, FORMAT.headerBytes));
    const prefixLen = FORMAT.headerBytes + h.manifestBytes + h.signatureBlockBytes;
    const prefix = f.read(0, Math.min(prefixLen, f.size));
    const parsed = parsePackagePrefix(prefix);
    const payloadHead = f.read(prefixLen, Math.max(0, Math.min(32, parsed.manifest.payload.size, f.size - prefixLen)));
    return { parsed, fileBytes: f.size, payloadHead };
  } finally {
    f.close();
  }
}

/** What a delta payload's header says (unchecked): sizes, filter, reference map and coding; in place also the sector size and the flash the device must have. */
interface DeltaFacts {
  filter: string;
  newSize: number;
  oldSize: number;
  flags: number;
  referenceMap: string[];
  coding: string[];
  sectorSize?: number;
  regionBytes?: number;
  rangeSectors?: number;
  plan?: string[];
}

async function deltaFacts(m: ParsedPackage["manifest"], head: Uint8Array): Promise<DeltaFacts | undefined> {
  if (m.encoding.delta === undefined) return undefined; // a full package (no need to load the delta engine)
  const delta = await import("../../delta/index.js");
  if (m.encoding.delta !== delta.DELTA_ALGORITHMS.stream && m.encoding.delta !== delta.DELTA_ALGORITHMS.inPlace) return undefined;
  try {
    const h = delta.peekDeltaHeader(head);
    const { map, coding } = delta.describeDeltaFlags(h.flags);
    return { ...h, referenceMap: map, coding };
  } catch {
    return undefined; // a damaged or cut payload: `fota verify` says what is wrong
  }
}

const algorithmName = ({ SIGNATURE_ALGORITHMS }: FormatLib, v: number) => Object.entries(SIGNATURE_ALGORITHMS).find(([, id]) => id === v)?.[0] ?? `unknown (${v})`;

export function register(program: Command): void {
  program
    .command("inspect")
    .description("show a package's manifest, signatures and layout (no key needed; `fota verify` checks them)")
    .argument("<pkg>", "package file")
    .option("--json", "print one JSON object")
    .addHelpText("after", "\nExample:\n  fota inspect fw-1.1.fota --json\n")
    .action(async (pkg: string, opts: { json?: boolean }) => {
      const lib = await import("../../format/index.js");
      const { manifestToJson, toHex } = lib;
      const { parsed, fileBytes, payloadHead } = readPrefix(lib, pkg);
      const { manifest: m, layout, signatures } = parsed;
      const delta = await deltaFacts(m, payloadHead);
      const inPlace = delta?.sectorSize !== undefined ? { sectorSize: delta.sectorSize, regionBytes: delta.regionBytes!, rangeSectors: delta.rangeSectors!, plan: delta.plan! } : undefined;
      const sigs = signatures.map((s) => ({ algorithm: algorithmName(lib, s.algorithm), keyId: toHex(s.keyId) }));
      const complete = fileBytes === layout.totalBytes;
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({
            file: pkg,
            fileBytes,
            complete,
            manifest: manifestToJson(m),
            signatures: sigs,
            layout,
            ...(delta ? { delta } : {}),
            ...(inPlace ? { inPlace } : {}),
            checked: { signatures: false, payload: false },
          }) + "\n",
        );
        return;
      }
      const j = manifestToJson(m);
      const row = (k: string, v: string) => `  ${k.padEnd(18)}${v}\n`;
      let s = `fota package, format v${m.formatVersion}, ${m.kind}\n`;
      s += row("models", m.models.join(", "));
      s += row("version", m.version);
      s += row("security counter", String(m.securityCounter));
      s += row("created", String(j.created));
      s += row("expires", m.expires === undefined ? "never" : String(j.expires));
      s += row("target image", `${m.target.size} bytes, sha256 ${toHex(m.target.sha256)}`);
      if (m.base) s += row("base image", `${m.base.size} bytes, sha256 ${toHex(m.base.sha256)}`);
      const e = m.encoding;
      const enc = [`compression ${e.compression}`, ...(e.delta ? [`delta ${e.delta}`] : []), ...(e.filter !== "none" ? [`filter ${e.filter}`] : []), ...(e.params ? [`params ${e.params.length} bytes`] : [])];
      s += row("encoding", enc.join(", "));
      if (delta) {
        const parts = [`${delta.oldSize} -> ${delta.newSize} bytes`, `reference map: ${delta.referenceMap.length ? delta.referenceMap.join(", ") : "none"}`];
        if (delta.coding.length) parts.push(`coding: ${delta.coding.join(", ")}`);
        s += row("delta header", parts.join("; "));
      }
      if (inPlace) {
        const spare = inPlace.regionBytes > Math.max(m.target.size, m.base?.size ?? 0);
        s += row("in place", `${inPlace.sectorSize}-byte sectors; the device's region must hold ${inPlace.regionBytes} bytes${spare ? " (spare sectors past the images keep stashes: the slot's, then those the device lends past it)" : ""}`);
        s += row("in-place plan", `steps of up to ${inPlace.rangeSectors} sector${inPlace.rangeSectors === 1 ? "" : "s"}; ${inPlace.plan.join("; ")}`);
      }
      s += row("payload", `${m.payload.size} bytes in ${m.payload.chunkDigests.length} chunk(s) of ${m.payload.chunkSize}, sha256 ${shortHex(toHex(m.payload.sha256))}`);
      s += row("signatures", sigs.map((x) => `${x.algorithm} by ${x.keyId}`).join("; ") || "none");
      s += row("layout", `header ${layout.headerBytes} + manifest ${layout.manifestBytes} + signatures ${layout.signatureBlockBytes} + payload ${layout.payloadBytes} = ${layout.totalBytes} bytes`);
      s += row("file", complete ? `${fileBytes} bytes (complete)` : `${fileBytes} bytes: ${fileBytes < layout.totalBytes ? "TRUNCATED" : "TRAILING BYTES"} (the layout says ${layout.totalBytes})`);
      if (m.unknown.length) s += row("unknown fields", m.unknown.map((u) => `${u.id} (${u.value.length} bytes)`).join(", "));
      s += "  (signatures and payload not checked: run `fota verify PKG --pub KEY.pub`)\n";
      process.stdout.write(s);
    });
}
