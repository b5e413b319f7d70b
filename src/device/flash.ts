// The flash device model of fota: a synchronous NOR-like interface (read / erase sector / program),
// an in-memory simulator with fault injection (power cut after N operations, torn operations,
// failing sectors), a file or partition backend, and a bounds-checked view of one area.
//
// Everything here is synchronous on purpose: a power cut then lands exactly between (or inside) two
// flash operations, and the code above never sees a half-finished await.

import * as fs from "node:fs";
import { DEFAULT_CONFIG } from "../config.js";
import { StorageError, UsageError } from "../errors.js";
import { Rng, mixSeed } from "./rng.js";

/** Shape of a flash device. All sizes in bytes. */
export interface FlashGeometry {
  /** Total size; a multiple of sectorSize. */
  readonly size: number;
  /** Erase unit; a power of two. */
  readonly sectorSize: number;
  /** Program page (the unit a driver programs at once; local-upgrade buffers are one page). */
  readonly pageSize: number;
  /** Smallest program unit: program offsets and lengths are multiples of it (1 = any byte). */
  readonly writeAlign: number;
  /** Value of an erased byte; always 0xFF (NOR). */
  readonly erasedValue: 0xff;
}

/** Operation counters, for wear figures and power-cut sweeps. */
export interface FlashCounters {
  erases: number;
  programs: number;
  reads: number;
  bytesErased: number;
  bytesProgrammed: number;
  bytesRead: number;
}

/**
 * A flash device. Only erased bytes may be programmed; programming a byte twice without an erase in
 * between throws (as on NOR flash with ECC). Offsets: eraseSector takes a sector-aligned offset;
 * program takes offset and length aligned to writeAlign.
 */
export interface Flash {
  readonly geometry: FlashGeometry;
  read(offset: number, length: number): Uint8Array;
  eraseSector(offset: number): void;
  program(offset: number, data: Uint8Array): void;
  /** Live counters since creation or the last resetCounters(). */
  readonly counters: Readonly<FlashCounters>;
  resetCounters(): void;
}

export const ERASED = 0xff as const;

export interface GeometryInit {
  size: number;
  sectorSize?: number;
  pageSize?: number;
  writeAlign?: number;
}

/** Validated geometry with defaults from config.device (4 KiB sectors, 256-byte pages, byte-programmable). */
export function makeGeometry(init: GeometryInit): FlashGeometry {
  const d = DEFAULT_CONFIG.device;
  const sectorSize = init.sectorSize ?? d.sectorBytes;
  const pageSize = init.pageSize ?? d.pageBytes;
  const writeAlign = init.writeAlign ?? d.writeAlign;
  const isPow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!isPow2(sectorSize)) throw new UsageError("bad-argument", `flash sector size ${sectorSize} is not a power of two`);
  if (!isPow2(pageSize) || pageSize > sectorSize) {
    throw new UsageError("bad-argument", `flash page size ${pageSize} must be a power of two no larger than the sector size ${sectorSize}`);
  }
  if (!isPow2(writeAlign) || writeAlign > pageSize) {
    throw new UsageError("bad-argument", `flash write alignment ${writeAlign} must be a power of two no larger than the page size ${pageSize}`);
  }
  if (!Number.isInteger(init.size) || init.size <= 0 || init.size % sectorSize !== 0) {
    throw new UsageError("bad-argument", `flash size ${init.size} must be a positive multiple of the sector size ${sectorSize}`);
  }
  return Object.freeze({ size: init.size, sectorSize, pageSize, writeAlign, erasedValue: ERASED });
}

function zeroCounters(): FlashCounters {
  return { erases: 0, programs: 0, reads: 0, bytesErased: 0, bytesProgrammed: 0, bytesRead: 0 };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Argument checks shared by every backend. Throws StorageError("flash-failed") with the facts. */
export function checkRead(g: FlashGeometry, offset: number, length: number): void {
  if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > g.size) {
    throw new StorageError("flash-failed", `flash read of ${length} bytes at ${hex(offset)} is outside the device (size ${hex(g.size)})`, {
      details: { offset, length, size: g.size },
    });
  }
}

export function checkErase(g: FlashGeometry, offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset >= g.size || offset % g.sectorSize !== 0) {
    throw new StorageError("flash-failed", `flash erase at ${hex(offset)} is not a sector start (sector size ${hex(g.sectorSize)}, size ${hex(g.size)})`, {
      details: { offset, sectorSize: g.sectorSize, size: g.size },
    });
  }
}

export function checkProgram(g: FlashGeometry, offset: number, length: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + length > g.size) {
    throw new StorageError("flash-failed", `flash program of ${length} bytes at ${hex(offset)} is outside the device (size ${hex(g.size)})`, {
      details: { offset, length, size: g.size },
    });
  }
  if (offset % g.writeAlign !== 0 || length % g.writeAlign !== 0) {
    throw new StorageError("flash-failed", `flash program of ${length} bytes at ${hex(offset)} is not aligned to ${g.writeAlign} bytes`, {
      details: { offset, length, writeAlign: g.writeAlign },
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Power cuts

/**
 * Thrown by a SimFlash when simulated power is lost. Deliberately NOT a FotaError: library code must
 * let it pass untouched (never wrap or swallow it), so tests and the emulator can tell a power cut
 * from a failure. After a cut the flash stays dead (every call throws PowerCut) until powerOn().
 */
export class PowerCut extends Error {
  readonly isPowerCut = true as const;
  /** Index (in SimFlash.opCount terms) of the operation that was cut. */
  readonly opIndex: number;
  /** Whether that operation was torn (partly applied) rather than not started. */
  readonly torn: boolean;
  constructor(opIndex: number, torn: boolean, message?: string) {
    super(message ?? `power cut at flash operation ${opIndex}${torn ? " (torn)" : ""}`);
    this.name = "PowerCut";
    this.opIndex = opIndex;
    this.torn = torn;
  }
}

export function isPowerCut(e: unknown): e is PowerCut {
  return typeof e === "object" && e !== null && (e as { isPowerCut?: unknown }).isPowerCut === true;
}

/** Rethrow a power cut at once; for `catch` blocks that handle ordinary errors. */
export function rethrowPowerCut(e: unknown): void {
  if (isPowerCut(e)) throw e;
}

export interface PowerCutPlan {
  /** Cut at the operation with this index counted from now: 0 = the next erase/program. */
  afterOps: number;
  /** Tear the operation (part old, part erased/new) instead of cutting before it. */
  tear?: boolean;
  /** Seed for the torn bytes (default 1). */
  seed?: number;
}

export type FlashOpKind = "erase" | "program";

export interface FlashOpEvent {
  kind: FlashOpKind;
  offset: number;
  length: number;
  /** Index of this operation in SimFlash.opCount terms. */
  index: number;
}

export interface SimFlashOptions extends GeometryInit {
  /** Called before each erase/program (tracing, custom fault injection). */
  onOp?: (op: FlashOpEvent) => void;
}

/**
 * In-memory NOR flash with fault injection. Reads are not operations for power-cut purposes (they
 * change nothing); erases and programs are, and `opCount` numbers them from creation.
 */
export class SimFlash implements Flash {
  readonly geometry: FlashGeometry;
  private readonly mem: Uint8Array;
  /** 1 where a byte was programmed (or left indeterminate) since its last erase. */
  private readonly dirty: Uint8Array;
  private _counters = zeroCounters();
  private _opCount = 0;
  private plan: { at: number; tear: boolean; seed: number } | undefined;
  private dead: PowerCut | undefined;
  private readonly failing = new Map<number, { erase: boolean; program: boolean }>();
  private readonly onOp: ((op: FlashOpEvent) => void) | undefined;

  constructor(opts: SimFlashOptions, contents?: Uint8Array) {
    this.geometry = makeGeometry(opts);
    this.mem = new Uint8Array(this.geometry.size).fill(ERASED);
    this.dirty = new Uint8Array(this.geometry.size);
    this.onOp = opts.onOp;
    if (contents) {
      if (contents.length !== this.geometry.size) {
        throw new UsageError("bad-argument", `flash contents are ${contents.length} bytes; the geometry says ${this.geometry.size}`);
      }
      this.mem.set(contents);
      for (let i = 0; i < contents.length; i++) this.dirty[i] = contents[i] === ERASED ? 0 : 1;
    }
  }

  /** A flash whose bytes come from a file written by persist() (or any raw image). */
  static load(path: string, geometry: Omit<GeometryInit, "size">): SimFlash {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(fs.readFileSync(path));
    } catch (e) {
      throw new StorageError("io-failed", `cannot read flash image ${path}: ${(e as Error).message}`, { cause: e });
    }
    return new SimFlash({ ...geometry, size: bytes.length }, bytes);
  }

  /** Write the raw flash contents to a file (the same format FileFlash and load() read). */
  persist(path: string): void {
    try {
      const tmp = `${path}.tmp-${process.pid}`;
      fs.writeFileSync(tmp, this.mem);
      fs.renameSync(tmp, path);
    } catch (e) {
      throw new StorageError("io-failed", `cannot write flash image ${path}: ${(e as Error).message}`, { cause: e });
    }
  }

  get counters(): Readonly<FlashCounters> {
    return this._counters;
  }
  resetCounters(): void {
    this._counters = zeroCounters();
  }
  /** Erases + programs since creation (never reset); the index space of power-cut plans. */
  get opCount(): number {
    return this._opCount;
  }
  /** True after a power cut until powerOn(). */
  get isDead(): boolean {
    return this.dead !== undefined;
  }

  /** Arm a power cut (replaces any armed one). */
  schedulePowerCut(plan: PowerCutPlan): void {
    if (!Number.isInteger(plan.afterOps) || plan.afterOps < 0) throw new UsageError("bad-argument", `power cut index ${plan.afterOps} must be a non-negative integer`);
    this.plan = { at: this._opCount + plan.afterOps, tear: plan.tear ?? false, seed: plan.seed ?? 1 };
  }
  cancelPowerCut(): void {
    this.plan = undefined;
  }
  /** Restore power after a cut (the flash keeps its bytes, as a chip does). Disarms any plan. */
  powerOn(): void {
    this.dead = undefined;
    this.plan = undefined;
  }
  /** Cut power now, between operations. */
  cutNow(): never {
    this.dead = new PowerCut(this._opCount, false);
    throw this.dead;
  }

  /** Make erases and/or programs in the sector at `offset` fail with StorageError. */
  failSector(offset: number, what: { erase?: boolean; program?: boolean } = { erase: true, program: true }): void {
    checkErase(this.geometry, offset);
    this.failing.set(offset, { erase: what.erase ?? false, program: what.program ?? false });
  }
  clearFailures(): void {
    this.failing.clear();
  }

  /** A copy of the whole device contents (for tests: "keep the flash bytes"). */
  snapshot(): Uint8Array {
    return this.mem.slice();
  }

  read(offset: number, length: number): Uint8Array {
    if (this.dead) throw this.dead;
    checkRead(this.geometry, offset, length);
    this._counters.reads++;
    this._counters.bytesRead += length;
    return this.mem.slice(offset, offset + length);
  }

  eraseSector(offset: number): void {
    if (this.dead) throw this.dead;
    checkErase(this.geometry, offset);
    const ss = this.geometry.sectorSize;
    const sector = offset - (offset % ss);
    if (this.failing.get(sector)?.erase) {
      throw new StorageError("flash-failed", `erase of sector ${hex(sector)} failed`, { details: { offset: sector } });
    }
    const index = this.beginOp("erase", offset, ss);
    if (this.cutHere(index)) {
      if (this.plan!.tear) this.tearErase(offset, index);
      this.die(index);
    }
    this.mem.fill(ERASED, offset, offset + ss);
    this.dirty.fill(0, offset, offset + ss);
    this._counters.erases++;
    this._counters.bytesErased += ss;
  }

  program(offset: number, data: Uint8Array): void {
    if (this.dead) throw this.dead;
    const g = this.geometry;
    checkProgram(g, offset, data.length);
    if (data.length === 0) return;
    const ss = g.sectorSize;
    for (let s = offset - (offset % ss); s < offset + data.length; s += ss) {
      if (this.failing.get(s)?.program) {
        throw new StorageError("flash-failed", `program in sector ${hex(s)} failed`, { details: { offset, sector: s } });
      }
    }
    for (let i = 0; i < data.length; i++) {
      if (this.dirty[offset + i] !== 0) {
        throw new StorageError(
          "flash-failed",
          `program at ${hex(offset + i)} over a byte not erased since it was last written (0x${this.mem[offset + i]!.toString(16).padStart(2, "0")})`,
          { details: { offset: offset + i } },
        );
      }
    }
    const index = this.beginOp("program", offset, data.length);
    if (this.cutHere(index)) {
      if (this.plan!.tear) this.tearProgram(offset, data, index);
      this.die(index);
    }
    this.mem.set(data, offset);
    this.dirty.fill(1, offset, offset + data.length);
    this._counters.programs++;
    this._counters.bytesProgrammed += data.length;
  }

  private beginOp(kind: FlashOpKind, offset: number, length: number): number {
    const index = this._opCount;
    this.onOp?.({ kind, offset, length, index });
    this._opCount++;
    return index;
  }

  private cutHere(index: number): boolean {
    return this.plan !== undefined && this.plan.at === index;
  }

  private die(index: number): never {
    const torn = this.plan?.tear ?? false;
    this.plan = undefined;
    this.dead = new PowerCut(index, torn);
    throw this.dead;
  }

  /** Part of the sector erased, part old, one byte in between with some bits set. */
  private tearErase(offset: number, index: number): void {
    const rng = new Rng(mixSeed(this.plan!.seed, index));
    const ss = this.geometry.sectorSize;
    if (rng.below(2) === 0) {
      // a prefix erased (erase engines walk the sector), the rest untouched
      const k = rng.below(ss);
      this.mem.fill(ERASED, offset, offset + k);
      this.dirty.fill(0, offset, offset + k);
      if (k < ss) {
        this.mem[offset + k] = this.mem[offset + k]! | rng.nextU32();
        this.dirty[offset + k] = 1;
      }
    } else {
      // scattered: each byte erased, untouched, or partly erased
      for (let i = 0; i < ss; i++) {
        const r = rng.below(3);
        if (r === 0) {
          this.mem[offset + i] = ERASED;
          this.dirty[offset + i] = 0;
        } else if (r === 1) {
          this.mem[offset + i] = (this.mem[offset + i]! | rng.nextU32()) & 0xff;
          this.dirty[offset + i] = this.mem[offset + i] === ERASED ? 1 : this.dirty[offset + i]!;
        }
      }
    }
  }

  /** Part of the data programmed, the rest still erased, one byte with only some bits cleared. */
  private tearProgram(offset: number, data: Uint8Array, index: number): void {
    const rng = new Rng(mixSeed(this.plan!.seed, index));
    const n = data.length;
    if (rng.below(2) === 0) {
      const k = rng.below(n);
      this.mem.set(data.subarray(0, k), offset);
      if (k < n) this.mem[offset + k] = (this.mem[offset + k]! & (data[k]! | rng.nextU32())) & 0xff;
    } else {
      for (let i = 0; i < n; i++) {
        const r = rng.below(3);
        if (r === 0) this.mem[offset + i] = data[i]!;
        else if (r === 1) this.mem[offset + i] = (this.mem[offset + i]! & (data[i]! | rng.nextU32())) & 0xff;
      }
    }
    // every cell the program touched is indeterminate until erased again
    this.dirty.fill(1, offset, offset + n);
  }
}

// ---------------------------------------------------------------------------------------------
// File / partition backend

export interface FileFlashOptions extends Omit<GeometryInit, "size"> {
  /** Device size; default: the file's size. Required with `create`. */
  size?: number;
  /** Create the file (filled with 0xFF) if it does not exist. */
  create?: boolean;
  /**
   * Check that program targets read 0xFF first (default true). Block devices without an erase
   * command (eMMC/SD partitions, plain files) emulate erase by writing 0xFF.
   */
  checkErased?: boolean;
}

/**
 * Flash backed by an image file or a partition device node (fs sync I/O). Erase writes 0xFF over the
 * sector; program checks the target is erased (unless told not to). Call close() when done.
 */
export class FileFlash implements Flash {
  readonly geometry: FlashGeometry;
  readonly path: string;
  private fd: number;
  private _counters = zeroCounters();
  private readonly checkErased: boolean;

  constructor(path: string, opts: FileFlashOptions = {}) {
    this.path = path;
    this.checkErased = opts.checkErased ?? true;
    let exists = true;
    try {
      fs.statSync(path);
    } catch {
      exists = false;
    }
    try {
      if (!exists) {
        if (!opts.create) throw new StorageError("io-failed", `flash image ${path} does not exist (pass create to make one)`);
        if (opts.size === undefined) throw new UsageError("bad-argument", `creating flash image ${path} needs a size`);
        const g = makeGeometry({ ...opts, size: opts.size });
        const fd = fs.openSync(path, "wx+");
        const blank = new Uint8Array(Math.min(g.size, 1 << 20)).fill(ERASED);
        for (let off = 0; off < g.size; off += blank.length) fs.writeSync(fd, blank, 0, Math.min(blank.length, g.size - off), off);
        fs.closeSync(fd);
      }
      this.fd = fs.openSync(path, "r+");
    } catch (e) {
      if (e instanceof StorageError || e instanceof UsageError) throw e;
      throw new StorageError("io-failed", `cannot open flash image ${path}: ${(e as Error).message}`, { cause: e });
    }
    let size = opts.size;
    if (size === undefined) {
      const st = fs.fstatSync(this.fd);
      size = st.size;
      if (st.isBlockDevice() && size === 0) {
        fs.closeSync(this.fd);
        throw new UsageError("bad-argument", `cannot tell the size of block device ${path}; pass size`);
      }
    }
    try {
      this.geometry = makeGeometry({ ...opts, size });
    } catch (e) {
      fs.closeSync(this.fd);
      throw e;
    }
  }

  get counters(): Readonly<FlashCounters> {
    return this._counters;
  }
  resetCounters(): void {
    this._counters = zeroCounters();
  }

  close(): void {
    if (this.fd >= 0) {
      fs.closeSync(this.fd);
      this.fd = -1;
    }
  }

  private io<T>(what: string, f: () => T): T {
    if (this.fd < 0) throw new StorageError("io-failed", `flash image ${this.path} is closed`);
    try {
      return f();
    } catch (e) {
      if (e instanceof StorageError) throw e;
      throw new StorageError("io-failed", `${what} on ${this.path} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  private rawRead(offset: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) throw new StorageError("io-failed", `short read at ${hex(offset + done)} on ${this.path}`);
      done += n;
    }
    return buf;
  }

  private rawWrite(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) done += fs.writeSync(this.fd, data, done, data.length - done, offset + done);
  }

  read(offset: number, length: number): Uint8Array {
    checkRead(this.geometry, offset, length);
    const out = this.io("read", () => this.rawRead(offset, length));
    this._counters.reads++;
    this._counters.bytesRead += length;
    return out;
  }

  eraseSector(offset: number): void {
    checkErase(this.geometry, offset);
    const ss = this.geometry.sectorSize;
    this.io("erase", () => this.rawWrite(offset, new Uint8Array(ss).fill(ERASED)));
    this._counters.erases++;
    this._counters.bytesErased += ss;
  }

  program(offset: number, data: Uint8Array): void {
    checkProgram(this.geometry, offset, data.length);
    if (data.length === 0) return;
    this.io("program", () => {
      if (this.checkErased) {
        const cur = this.rawRead(offset, data.length);
        for (let i = 0; i < cur.length; i++) {
          if (cur[i] !== ERASED) throw new StorageError("flash-failed", `program at ${hex(offset + i)} over a byte that is not erased`, { details: { offset: offset + i } });
        }
      }
      this.rawWrite(offset, data);
    });
    this._counters.programs++;
    this._counters.bytesProgrammed += data.length;
  }

  /** Flush written data to the medium (fsync). */
  sync(): void {
    this.io("sync", () => fs.fsyncSync(this.fd));
  }
}

// ---------------------------------------------------------------------------------------------
// Areas

/**
 * A bounds-checked window onto part of a flash device (a partition: slot, scratch, state area).
 * Offsets are relative to the area; it must start and end on sector boundaries. Its counters count
 * only what went through the area; the parent device counts everything.
 */
export class FlashArea implements Flash {
  readonly geometry: FlashGeometry;
  readonly parent: Flash;
  readonly base: number;
  readonly name: string;
  private _counters = zeroCounters();

  constructor(parent: Flash, base: number, size: number, name = "area") {
    const pg = parent.geometry;
    if (base % pg.sectorSize !== 0 || size % pg.sectorSize !== 0 || base < 0 || size <= 0 || base + size > pg.size) {
      throw new UsageError("bad-argument", `flash area ${name} (${hex(base)}+${hex(size)}) must be whole sectors inside the device (size ${hex(pg.size)})`);
    }
    this.parent = parent;
    this.base = base;
    this.name = name;
    this.geometry = Object.freeze({ ...pg, size });
  }

  get counters(): Readonly<FlashCounters> {
    return this._counters;
  }
  resetCounters(): void {
    this._counters = zeroCounters();
  }
  get sectorCount(): number {
    return this.geometry.size / this.geometry.sectorSize;
  }

  read(offset: number, length: number): Uint8Array {
    checkRead(this.geometry, offset, length);
    const out = this.parent.read(this.base + offset, length);
    this._counters.reads++;
    this._counters.bytesRead += length;
    return out;
  }
  eraseSector(offset: number): void {
    checkErase(this.geometry, offset);
    this.parent.eraseSector(this.base + offset);
    this._counters.erases++;
    this._counters.bytesErased += this.geometry.sectorSize;
  }
  program(offset: number, data: Uint8Array): void {
    checkProgram(this.geometry, offset, data.length);
    this.parent.program(this.base + offset, data);
    this._counters.programs++;
    this._counters.bytesProgrammed += data.length;
  }
}

/** Sum of two counter sets (a - b when sign = -1). */
export function addCounters(a: Readonly<FlashCounters>, b: Readonly<FlashCounters>, sign = 1): FlashCounters {
  return {
    erases: a.erases + sign * b.erases,
    programs: a.programs + sign * b.programs,
    reads: a.reads + sign * b.reads,
    bytesErased: a.bytesErased + sign * b.bytesErased,
    bytesProgrammed: a.bytesProgrammed + sign * b.bytesProgrammed,
    bytesRead: a.bytesRead + sign * b.bytesRead,
  };
}

/** True when every byte of the range reads 0xFF. */
export function isErased(flash: Flash, offset: number, length: number): boolean {
  const b = flash.read(offset, length);
  for (let i = 0; i < b.length; i++) if (b[i] !== ERASED) return false;
  return true;
}
