// The delta engine of fota: createDelta on the host, a streaming bounded-memory decoder for devices,
// an in-place form for single-slot devices, and the payload-decoder dispatcher (full or delta).

import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { CompatibilityError, FormatError, UsageError } from "../errors.js";
import type { Encoding, Manifest } from "../format/manifest.js";
import { openFullImageDecoder } from "../format/payload.js";
import { createRawDelta, sha256hex } from "./create.js";
import { DeltaDecoder, inPlaceMemoryBytes, MAP_SEGMENT_BYTES, type DeltaDecoderOptions } from "./decode.js";
import { FILTERS, filterName, type FilterName } from "./filters.js";
import { createInPlacePatch, MemoryRegion, type InPlaceRegion, type InPlaceStats } from "./inplace.js";
import { PRED, PRED_NAMES } from "./predict.js";
import { CODING_LANES, inPlaceFlows, inPlaceRangeLimit, INPLACE_MAGIC, INPLACE_MAX_RANGE, INPLACE_MAX_SPARE, INPLACE_SPARE, INPLACE_STASH_ANYWHERE, INPLACE_STRADDLE, INPLACE_STRAIGHT, STREAM_MAGIC } from "./stream.js";
import type { PayloadDecoder, RandomAccessReader } from "./types.js";

export type { PayloadDecoder, RandomAccessReader } from "./types.js";
export { bytesReader } from "./types.js";
export { DeltaDecoder, type DeltaDecoderOptions, type InPlaceSink, readerSha256, decoderMemoryBytes } from "./decode.js";
export { FILTERS, FILTER_NAMES, applyFilter, filterImage, type FilterName } from "./filters.js";
export { MemoryRegion, type InPlaceRegion, type InPlaceStats } from "./inplace.js";
export { suffixArray } from "./sais.js";

/** Delta algorithm names (Encoding.delta). */
export const DELTA_ALGORITHMS = { stream: "fd2", inPlace: "fd2-inplace" } as const;
/** Encoding.compression of delta payloads (the entropy stage). */
export const DELTA_COMPRESSION = "range";

export interface CreateDeltaOptions {
  /** Filter, or "auto" (default: try config.delta.autoFilters, keep the smallest). */
  filter?: FilterName | "auto";
  /**
   * Build the in-place form (single-slot devices): sector size (default config.delta.inPlaceSectorBytes),
   * and the size of the slot it rewrites when that is larger than the images: the patch may then keep
   * stashes in the spare sectors past them (up to config.delta.inPlaceMaxSpareSectors; the applier
   * refuses it on a smaller region before writing). `borrowSectors`: sectors the device lends past
   * its slot (default config.delta.inPlaceBorrowSectors: fota's inplace devices lend free sectors of
   * their package area), usable as spare sectors too.
   */
  inPlace?: boolean | { sectorSize?: number; slotBytes?: number; borrowSectors?: number };
  config?: FotaConfig;
  /** Called as each stage of the work starts, with a person-readable step (creation takes seconds on big images). */
  onProgress?: (step: string) => void;
}

export interface DeltaResult {
  /** The delta stream (the package payload). */
  payload: Uint8Array;
  /** The encoding descriptor for the manifest. */
  encoding: Encoding;
  filter: FilterName;
  /** Working memory the device decoder needs with the configured buffers (bytes). */
  decoderMemoryBytes: number;
  inPlace?: InPlaceStats;
}

function checkFilter(f: string): FilterName | "auto" {
  if (f === "auto" || f in FILTERS) return f as FilterName | "auto";
  throw new UsageError("bad-argument", `unknown filter "${f}"; use auto or one of ${Object.keys(FILTERS).join(", ")}`);
}

/**
 * In place, an address map of more than 1024 segments may take memory from the step range down to
 * this many sectors (esbuild x86-64 0.23.0 -> 0.24.0, 4 KiB sectors: 1024 segments made the patch
 * 1.116 x the ordinary one, the ordinary stream's count 1.088).
 */
const IN_PLACE_MAP_RANGE = 4;

/** Builds a delta that turns `oldImage` into `newImage`. */
export function createDelta(oldImage: Uint8Array, newImage: Uint8Array, opts: CreateDeltaOptions = {}): DeltaResult {
  const config = opts.config ?? DEFAULT_CONFIG;
  const max = config.delta.maxImageBytes;
  if (oldImage.length > max || newImage.length > max) throw new UsageError("bad-argument", `images over ${max} bytes are not supported by the delta engine`);
  const filter = checkFilter(opts.filter ?? "auto");
  // the address map must fit in the decoder's working-memory bound (12 bytes a segment)
  const fixed = new DeltaDecoder(bytesReaderOf(oldImage), { ...deltaDecoderOptions(config), memoryLimitBytes: undefined }).memoryBytes;
  const maxMapSegments = Math.max(0, Math.min(Math.max(1024, Math.ceil(newImage.length / 128)), Math.floor((config.delta.maxWorkingMemoryBytes - fixed) / MAP_SEGMENT_BYTES)));
  const raw = createRawDelta(oldImage, newImage, {
    filter,
    autoFilters: config.delta.autoFilters.map((f) => checkFilter(f) as FilterName),
    maxMapSegments,
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
  const memory = fixed + MAP_SEGMENT_BYTES * raw.mapSegments;
  if (opts.inPlace) {
    const ipo = typeof opts.inPlace === "object" ? opts.inPlace : {};
    const sectorSize = ipo.sectorSize ?? config.delta.inPlaceSectorBytes;
    if (!Number.isInteger(sectorSize) || sectorSize < 256 || sectorSize > 65536 || (sectorSize & (sectorSize - 1)) !== 0) {
      throw new UsageError("bad-argument", `in-place sector size ${sectorSize} must be a power of two from 256 to 65536 (the flash's erase sector)`);
    }
    const both = Math.max(oldImage.length, newImage.length);
    // (no slot size given: the slot is the images' whole sectors)
    const slot = ipo.slotBytes ?? Math.ceil(both / sectorSize) * sectorSize;
    if (!Number.isSafeInteger(slot) || slot < both) {
      throw new UsageError("bad-argument", `slot of ${slot} bytes is smaller than the images (${both} bytes); give the size of the flash region the in-place delta rewrites`);
    }
    const borrow = ipo.borrowSectors ?? config.delta.inPlaceBorrowSectors;
    if (!Number.isSafeInteger(borrow) || borrow < 0) throw new UsageError("bad-argument", `borrowed sectors must be a whole number of sectors (0 or more), got ${borrow}`);
    // whole spare sectors past both images (the slot's tail, then what the device lends past the
    // slot), as many as the planner may use
    const spare = Math.max(0, Math.min(config.delta.inPlaceMaxSpareSectors, Math.floor(slot / sectorSize) - Math.ceil(both / sectorSize) + borrow));
    // the device decodes at least one sector at a time: sectors too large for the working-memory bound
    // are refused here, before the (long) planning
    const least = inPlaceMemoryBytes(1, sectorSize, newImage.length, false, 0, config.delta.baseWindowBytes, oldImage.length, 0);
    if (least > config.delta.maxWorkingMemoryBytes) {
      throw new UsageError(
        "bad-argument",
        `an in-place delta for ${sectorSize}-byte sectors needs at least ${least} bytes of device working memory, over the limit of ${config.delta.maxWorkingMemoryBytes} (config.delta.maxWorkingMemoryBytes): the applier holds a whole sector; use a smaller sector size or raise the limit`,
      );
    }
    // step ranges of up to config.delta.inPlaceRangeSectors sectors, as many as the memory bound leaves room for
    const rangeFor = (mapped: boolean, segs: number): number => {
      let k = config.delta.inPlaceRangeSectors;
      while (k > 1 && inPlaceMemoryBytes(k, sectorSize, newImage.length, mapped, segs, config.delta.baseWindowBytes, oldImage.length, spare) > config.delta.maxWorkingMemoryBytes) k--;
      return k;
    };
    // map segments: 1024, or as many as the ordinary stream used when the memory bound leaves room for
    // them beside a range of IN_PLACE_MAP_RANGE sectors (x86-64 executables: every call is mapped)
    const roomFor = Math.floor((config.delta.maxWorkingMemoryBytes - inPlaceMemoryBytes(IN_PLACE_MAP_RANGE, sectorSize, newImage.length, true, 0, config.delta.baseWindowBytes, oldImage.length, spare)) / MAP_SEGMENT_BYTES);
    const ipOpts = { maxMapSegments: Math.min(maxMapSegments, Math.max(1024, Math.min(raw.mapSegments, roomFor))), rangeSectors: rangeFor, spareSectors: spare, coding: raw.coding, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
    let ip = createInPlacePatch(oldImage, newImage, FILTERS[raw.filter], sectorSize, { ...ipOpts, predFlags: raw.predict });
    // ARM relative forms are a variant the ordinary stream chose; in place (a coarser map) they may not pay
    if (raw.predict & PRED.armRel) {
      const alt = createInPlacePatch(oldImage, newImage, FILTERS[raw.filter], sectorSize, { ...ipOpts, predFlags: raw.predict & ~PRED.armRel });
      if (alt.patch.length < ip.patch.length) ip = alt;
    }
    opts.onProgress?.("in place: checking the patch on a copy of the region");
    const encoding = { compression: DELTA_COMPRESSION, delta: DELTA_ALGORITHMS.inPlace, filter: raw.filter };
    // a rehearsal on a host copy of the region: the applier's real working memory (refused here, not
    // on the device, when over the bound) and the rewritten region checked against the new image
    const applier = createInPlaceApplier(encoding, new MemoryRegion(oldImage, sectorSize, peekDeltaHeader(ip.patch).regionBytes!), { config, targetSha256: sha256hex(newImage) });
    applier.push(ip.patch, () => {});
    applier.finish(() => {});
    return { payload: ip.patch, encoding, filter: raw.filter, decoderMemoryBytes: applier.memoryBytes, inPlace: ip.stats };
  }
  return {
    payload: raw.patch,
    encoding: { compression: DELTA_COMPRESSION, delta: DELTA_ALGORITHMS.stream, filter: raw.filter },
    filter: raw.filter,
    decoderMemoryBytes: memory,
  };
}

function bytesReaderOf(b: Uint8Array): RandomAccessReader {
  return { size: b.length, read: (o, n) => b.subarray(o, o + n) };
}

function deltaDecoderOptions(config: FotaConfig): DeltaDecoderOptions {
  return {
    outBufferBytes: config.delta.outBufferBytes,
    baseWindowBytes: config.delta.baseWindowBytes,
    memoryLimitBytes: config.delta.maxWorkingMemoryBytes,
    maxImageBytes: config.delta.maxImageBytes,
  };
}

export interface CreateDeltaDecoderOptions {
  /** SHA-256 (hex) of the base image, checked before the first output byte. */
  baseSha256?: string;
  /** SHA-256 (hex) and size of the new image, checked at finish(). */
  targetSha256?: string;
  targetSize?: number;
  /** A state from saveState() to resume from. */
  state?: Uint8Array;
  /** With `state` and targetSha256: the image bytes written before the save, read back to rebuild the running digest. */
  emitted?: RandomAccessReader;
  config?: FotaConfig;
  /** In-place deltas applied in host memory: the size of the device's region (a patch that needs more is refused). */
  regionBytes?: number;
}

function checkEncoding(encoding: Encoding, algorithm: string): void {
  if (encoding.delta !== algorithm) {
    throw new FormatError("unsupported-encoding", `delta algorithm "${encoding.delta ?? "none"}" is not supported here (expected ${algorithm})`);
  }
  if (encoding.compression !== DELTA_COMPRESSION) throw new FormatError("unsupported-encoding", `delta compression "${encoding.compression}" is not supported (expected ${DELTA_COMPRESSION})`);
  if (filterName(FILTERS[encoding.filter as FilterName] ?? -1) === undefined) throw new FormatError("unsupported-encoding", `delta filter "${encoding.filter}" is not supported`);
}

/** The streaming decoder of a delta payload ("fd2"), reading the base through `base`. */
export function createDeltaDecoder(encoding: Encoding, base: RandomAccessReader, opts: CreateDeltaDecoderOptions = {}): DeltaDecoder {
  checkEncoding(encoding, DELTA_ALGORITHMS.stream);
  const o: DeltaDecoderOptions = { ...deltaDecoderOptions(opts.config ?? DEFAULT_CONFIG) };
  if (opts.baseSha256 !== undefined) o.baseSha256 = opts.baseSha256;
  if (opts.targetSha256 !== undefined) o.targetSha256 = opts.targetSha256;
  if (opts.targetSize !== undefined) o.targetSize = opts.targetSize;
  if (opts.emitted !== undefined) o.emitted = opts.emitted;
  const d = opts.state ? DeltaDecoder.restore(opts.state, base, o) : new DeltaDecoder(base, o);
  return d;
}

/**
 * The applier of an in-place payload ("fd2-inplace"): rewrites `region` (which holds the base image)
 * sector by sector through region.writeSector. Feed the payload with push(bytes, () => {}) and
 * finish(() => {}); after a power cut, build it again with region.doneSteps = completed steps and feed
 * the payload again from its start.
 */
export function createInPlaceApplier(encoding: Encoding, region: InPlaceRegion, opts: Omit<CreateDeltaDecoderOptions, "state" | "emitted"> = {}): DeltaDecoder {
  checkEncoding(encoding, DELTA_ALGORITHMS.inPlace);
  const o: DeltaDecoderOptions = { ...deltaDecoderOptions(opts.config ?? DEFAULT_CONFIG), inPlace: region };
  if (opts.baseSha256 !== undefined) o.baseSha256 = opts.baseSha256;
  if (opts.targetSha256 !== undefined) o.targetSha256 = opts.targetSha256;
  if (opts.targetSize !== undefined) o.targetSize = opts.targetSize;
  return new DeltaDecoder(region, o);
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

/**
 * The payload decoder for a verified manifest: full packages go to FORMAT's decoders, delta packages
 * to the delta decoder over `base`. (In-place deltas given here are applied in host memory and their
 * image emitted at finish(); devices use createInPlaceApplier.)
 */
export function openPayloadDecoder(manifest: Manifest, base?: RandomAccessReader, opts: { state?: Uint8Array; emitted?: RandomAccessReader; config?: FotaConfig; regionBytes?: number } = {}): PayloadDecoder {
  if (manifest.kind === "full") return openFullImageDecoder(manifest, opts.state ? { state: opts.state } : {});
  if (!base) throw new UsageError("bad-argument", "a delta package needs the base image it was made from (e.g. --base FILE)");
  const common = {
    targetSha256: hex(manifest.target.sha256),
    targetSize: manifest.target.size,
    ...(manifest.base ? { baseSha256: hex(manifest.base.sha256) } : {}),
    ...(opts.config ? { config: opts.config } : {}),
    ...(opts.regionBytes !== undefined ? { regionBytes: opts.regionBytes } : {}),
  };
  if (manifest.encoding.delta === DELTA_ALGORITHMS.inPlace) {
    const parts: Uint8Array[] = [];
    let got = 0;
    let checked = opts.regionBytes === undefined;
    return {
      push: (bytes) => {
        parts.push(new Uint8Array(bytes));
        got += bytes.length;
        // the region it needs, from the header (within its first 24 bytes): refused before the rest arrives
        if (!checked && got >= 24) {
          checked = true;
          checkRegionBytes(peekDeltaHeader(Buffer.concat(parts)), opts.regionBytes!);
        }
      },
      finish: (out) => {
        const old = new Uint8Array(base.size);
        for (let o = 0; o < base.size; o += 1 << 20) old.set(base.read(o, Math.min(1 << 20, base.size - o)), o);
        out(applyDelta(old, Buffer.concat(parts), manifest.encoding, common));
      },
    };
  }
  return createDeltaDecoder(manifest.encoding, base, { ...common, ...(opts.state ? { state: opts.state } : {}), ...(opts.emitted ? { emitted: opts.emitted } : {}) });
}

function checkRegionBytes(h: ReturnType<typeof peekDeltaHeader>, size: number): void {
  if (h.regionBytes !== undefined && h.regionBytes > size) {
    throw new CompatibilityError("too-large", `this in-place delta needs a region of ${h.regionBytes} bytes (the images and the spare sectors it keeps stashes in); the device's has ${size}`, {
      details: { need: h.regionBytes, size },
    });
  }
}

/** Host convenience: applies a whole delta payload in memory and returns the new image. */
export function applyDelta(oldImage: Uint8Array, payload: Uint8Array, encoding: Encoding, opts: CreateDeltaDecoderOptions = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  const out = (b: Uint8Array): void => {
    parts.push(b);
    n += b.length;
  };
  if (encoding.delta === DELTA_ALGORITHMS.inPlace) {
    const h = peekDeltaHeader(payload);
    if (opts.regionBytes !== undefined) checkRegionBytes(h, opts.regionBytes);
    const region = new MemoryRegion(oldImage, h.sectorSize!, Math.max(oldImage.length, h.regionBytes!));
    const a = createInPlaceApplier(encoding, region, opts);
    a.push(payload, () => {});
    a.finish(() => {});
    return region.bytes.slice(0, a.newSize);
  }
  const d = createDeltaDecoder(encoding, bytesReaderOf(oldImage), opts);
  d.push(payload, out);
  d.finish(out);
  const img = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    img.set(p, o);
    o += p.length;
  }
  return img;
}

export { sha256hex };

/** What a delta header's flags (peekDeltaHeader) turn on, in words: the reference map's kinds and the coding options. */
export function describeDeltaFlags(flags: number): { map: string[]; coding: string[]; unknown: number } {
  const map: string[] = [];
  let known = CODING_LANES;
  for (const [k, bit] of Object.entries(PRED) as Array<[keyof typeof PRED, number]>) {
    known |= bit;
    if (flags & bit) map.push(PRED_NAMES[k]);
  }
  return { map, coding: flags & CODING_LANES ? ["differences per lane"] : [], unknown: flags & ~known };
}

/**
 * The plain header of a delta payload (sizes, filter; in place also the sector size and the bytes of
 * region the applier needs: both images, and the spare sectors the patch keeps stashes in; the map
 * and coding flags).
 */
export interface DeltaHeaderFacts {
  filter: FilterName;
  newSize: number;
  oldSize: number;
  /** In place: the flash's erase sector. */
  sectorSize?: number;
  /** In place: the bytes of region the applier needs (both images' sectors, then the spare ones). */
  regionBytes?: number;
  /** In place: the most sectors one step decodes together. */
  rangeSectors?: number;
  /** In place: how the steps are planned, in words (see describeInPlacePlan). */
  plan?: string[];
  /** The map and coding flags (see describeDeltaFlags). */
  flags: number;
}

/** The in-place header's range field (a sector count with the INPLACE_* flags added) in words. */
export function describeInPlacePlan(field: number, spareSectors: number): string[] {
  const words: string[] = [];
  if (field & INPLACE_STRAIGHT) words.push(`straight: every sector written once, ${field & INPLACE_STASH_ANYWHERE ? "from the last down" : "from the first up"}`);
  if (inPlaceFlows(field)) words.push("operations flow on across step ranges");
  else words.push(field & INPLACE_STASH_ANYWHERE ? "stashes in any sector not yet written" : "stashes only in sectors past the base image");
  if (spareSectors > 0) words.push(`${spareSectors} spare sector${spareSectors === 1 ? "" : "s"} past the images`);
  if (field & INPLACE_STRADDLE) words.push("Thumb calls across sector boundaries filtered");
  return words;
}

export function peekDeltaHeader(payload: Uint8Array): DeltaHeaderFacts {
  const bad = (): FormatError => new FormatError("corrupt-patch", "corrupt delta patch: unreadable header");
  if (payload.length < 3) throw bad();
  const magic = payload[0]!;
  const inplace = (magic & 0xf0) === INPLACE_MAGIC;
  if (!inplace && (magic & 0xf0) !== STREAM_MAGIC) throw bad();
  const filter = filterName(magic & 15);
  if (!filter) throw bad();
  let p = 1;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; ; i++) {
      if (p >= payload.length || i > 4) throw bad();
      const c = payload[p++]!;
      v += (c & 0x7f) * mul;
      mul *= 128;
      if ((c & 0x80) === 0) return v;
    }
  };
  const h: DeltaHeaderFacts = { filter, newSize: varint(), oldSize: varint(), flags: 0 };
  if (inplace) {
    const bits = varint();
    if (bits < 8 || bits > 16) throw bad();
    const S = 2 ** bits;
    h.sectorSize = S;
    const field = varint();
    const spare = field & INPLACE_SPARE ? varint() : 0;
    const K = inPlaceRangeLimit(field);
    if (spare > INPLACE_MAX_SPARE || K < 1 || K > INPLACE_MAX_RANGE) throw bad();
    h.rangeSectors = K;
    h.plan = describeInPlacePlan(field, spare);
    const both = Math.max(h.oldSize, h.newSize);
    h.regionBytes = spare > 0 ? (Math.ceil(both / S) + spare) * S : both;
  }
  // the map flags (PRED) with the coding flags (CODING_LANES)
  h.flags = varint();
  return h;
}
