// Byte movers over flash areas: a sector-buffered sequential image writer, a page-buffered package
// writer, digests of stored bytes, and a RandomAccessReader view of an area (delta base).

import { createHash } from "node:crypto";
import { StateError, StorageError } from "../errors.js";
import { ERASED, type Flash } from "./flash.js";

/** The cross-part random-access byte source (same shape as src/format/payload.ts). */
export interface RandomAccessReader {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/** The first `size` bytes of an area, for reading (e.g. the base image of a delta). */
export class AreaReader implements RandomAccessReader {
  constructor(
    private readonly area: Flash,
    readonly size: number,
  ) {
    if (size > area.geometry.size) throw new StorageError("flash-failed", `reader of ${size} bytes over an area of ${area.geometry.size}`);
  }
  read(offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new StorageError("flash-failed", `read of ${length} bytes at ${offset} past the image end (${this.size})`);
    }
    return this.area.read(offset, length);
  }
}

/** SHA-256 (hex) of the first `size` bytes of an area. */
export function hashArea(area: Flash, size: number, chunk = 64 * 1024): string {
  const h = createHash("sha256");
  for (let off = 0; off < size; off += chunk) h.update(area.read(off, Math.min(chunk, size - off)));
  return h.digest("hex");
}

/** Chunks of the first `size` bytes of an area. */
export function* areaChunks(area: Flash, size: number, chunk = 16 * 1024): Generator<Uint8Array> {
  for (let off = 0; off < size; off += chunk) yield area.read(off, Math.min(chunk, size - off));
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/**
 * Writes an image into an area strictly in order, one sector at a time: the RAM buffer is one
 * sector; each full sector costs one erase and one program (the lower bound). `skipSectors` resumes
 * a journaled install: output for those sectors is consumed without touching flash.
 */
export class ImageWriter {
  private readonly buf: Uint8Array;
  private fill = 0;
  private sector = 0;
  private total = 0;
  private readonly ss: number;

  constructor(
    private readonly area: Flash,
    private readonly opts: { skipSectors?: number; onSector?: (sectorsDone: number, bytesDone: number) => void; limit?: number } = {},
  ) {
    this.ss = area.geometry.sectorSize;
    this.buf = new Uint8Array(this.ss);
  }

  get bytesWritten(): number {
    return this.total;
  }

  write(data: Uint8Array): void {
    const limit = this.opts.limit ?? this.area.geometry.size;
    if (this.total + data.length > limit) {
      throw new StorageError("no-space", `image is larger than its area (${limit} bytes)`, { details: { limit } });
    }
    let i = 0;
    while (i < data.length) {
      const n = Math.min(this.ss - this.fill, data.length - i);
      this.buf.set(data.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      this.total += n;
      if (this.fill === this.ss) this.emit(this.ss);
    }
  }

  /** Write the last partial sector. Returns the image size. */
  finish(): number {
    if (this.fill > 0) this.emit(this.fill);
    return this.total;
  }

  private emit(len: number): void {
    const idx = this.sector++;
    if (idx >= (this.opts.skipSectors ?? 0)) {
      const off = idx * this.ss;
      // a sector that already holds these bytes (as erase + program would leave it) is not rewritten:
      // the flash is worn by what an update changes (an A/B slot keeps the image before last, whose
      // sectors a small fix mostly leaves as they were)
      if (!this.holds(off, len)) {
        this.area.eraseSector(off);
        const plen = roundUp(len, this.area.geometry.writeAlign);
        const data = plen === len ? this.buf.subarray(0, len) : padded(this.buf.subarray(0, len), plen);
        this.area.program(off, data.slice());
      }
      this.opts.onSector?.(this.sector, this.sector * this.ss - (this.ss - len));
    }
    this.fill = 0;
  }

  private holds(off: number, len: number): boolean {
    return sectorHolds(this.area.read(off, this.ss), this.buf.subarray(0, len));
  }
}

/**
 * Whether a sector's current bytes are what erasing it and programming `data` would leave: `data`,
 * then erased bytes (the padding of the last program unit is erased bytes too). Updates skip such
 * sectors: the flash is worn by what they change.
 */
export function sectorHolds(current: Uint8Array, data: Uint8Array): boolean {
  for (let i = 0; i < data.length; i++) if (current[i] !== data[i]) return false;
  for (let i = data.length; i < current.length; i++) if (current[i] !== ERASED) return false;
  return true;
}

function padded(data: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(len).fill(ERASED);
  out.set(data);
  return out;
}

/**
 * Stores a package byte stream into the package area with a RAM buffer of one program page (the
 * local-upgrade default) or any multiple of it (one sector for OTA installs): each sector is erased
 * when the write position first enters it, each full buffer is programmed once, flush() programs the
 * tail (padded to the write alignment).
 */
export class PackageWriter {
  private readonly page: Uint8Array;
  private fill = 0;
  /** Bytes programmed to flash. */
  private durable = 0;
  private erasedUpTo = 0;
  /** The whole package is in flash (sealAt): nothing more may be written. */
  private sealed = false;

  constructor(
    private readonly area: Flash,
    bufferBytes = area.geometry.pageSize,
  ) {
    const g = area.geometry;
    if (bufferBytes % g.pageSize !== 0 || bufferBytes > g.sectorSize) throw new StorageError("flash-failed", `package buffer of ${bufferBytes} bytes must be whole pages, at most one sector`);
    this.page = new Uint8Array(bufferBytes);
  }

  /** Bytes accepted (in RAM or flash). */
  get accepted(): number {
    return this.durable + this.fill;
  }
  get flushed(): number {
    return this.durable;
  }

  write(data: Uint8Array): void {
    if (this.sealed && data.length > 0) throw new StateError("bad-transition", "the package is already complete in flash");
    if (this.accepted + data.length > this.area.geometry.size) {
      throw new StorageError("no-space", `package is larger than the package area (${this.area.geometry.size} bytes)`);
    }
    const ps = this.page.length;
    let i = 0;
    while (i < data.length) {
      const n = Math.min(ps - this.fill, data.length - i);
      this.page.set(data.subarray(i, i + n), this.fill);
      this.fill += n;
      i += n;
      if (this.fill === ps) this.programPage(ps);
    }
  }

  flush(): void {
    if (this.fill > 0) this.programPage(this.fill);
  }

  /** Program the whole write units held in RAM; keep the rest (fewer than writeAlign bytes) buffered. */
  flushAligned(): void {
    const n = this.fill - (this.fill % this.area.geometry.writeAlign);
    if (n === 0) return;
    const rest = this.page.slice(n, this.fill);
    this.programPage(n);
    this.page.set(rest);
    this.fill = rest.length;
  }

  /**
   * Continue at `offset` (at most what is durable): RAM is dropped; a sector holding `offset` in its
   * middle is rewritten with its prefix, so the bytes from `offset` on are erased again.
   */
  restartAt(offset: number): void {
    const g = this.area.geometry;
    if (offset % g.writeAlign !== 0 || offset < 0 || offset > g.size) throw new StorageError("flash-failed", `cannot restart the package at ${offset}`);
    const S = g.sectorSize;
    const k = offset - (offset % S);
    if (offset % S !== 0) {
      const prefix = this.area.read(k, offset - k);
      this.area.eraseSector(k);
      this.area.program(k, prefix);
      this.erasedUpTo = k + S;
    } else {
      this.erasedUpTo = offset;
    }
    this.durable = offset;
    this.fill = 0;
  }

  /**
   * The whole package is in flash up to `offset`, its last program unit padded (see flush): nothing
   * more is written; flush() has nothing to do.
   */
  sealAt(offset: number): void {
    const g = this.area.geometry;
    if (offset < 0 || offset > g.size) throw new StorageError("flash-failed", `cannot resume a complete package of ${offset} bytes`);
    this.durable = roundUp(offset, g.writeAlign);
    this.erasedUpTo = roundUp(this.durable, g.sectorSize);
    this.fill = 0;
    this.sealed = true;
  }

  private programPage(len: number): void {
    const g = this.area.geometry;
    const end = this.durable + roundUp(len, g.writeAlign);
    while (this.erasedUpTo < end) {
      this.area.eraseSector(this.erasedUpTo);
      this.erasedUpTo += g.sectorSize;
    }
    const plen = roundUp(len, g.writeAlign);
    const data = plen === len ? this.page.slice(0, len) : padded(this.page.subarray(0, len), plen);
    this.area.program(this.durable, data);
    this.durable += len;
    this.fill = 0;
    if (len % g.writeAlign !== 0) {
      // a padded tail: later bytes cannot share its program unit; only flush() ends here
      this.durable = roundUp(this.durable, g.writeAlign);
    }
  }
}
