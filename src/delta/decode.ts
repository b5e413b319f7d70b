// The device side of a fota delta: a synchronous, streaming PayloadDecoder. Patch bytes arrive in
// chunks of any size; the base image is read by random access; the new image leaves strictly in order
// through `out`. Working memory is fixed at construction (model + output buffer + base window) and
// reported by `memoryBytes`. `saveState()` between pushes captures everything needed to resume.

import { createHash, type Hash } from "node:crypto";
import { CompatibilityError, FormatError, IntegrityError, StorageError, UsageError } from "../errors.js";
import { applyFilter, filterName, FILTER_MARGIN, FILTERS } from "./filters.js";
import { AddressMap, mapMargin, mapReferences, marginWindowBytes, PRED, predFilterOk, PRED_ALL, type EhTables } from "./predict.js";
import { WASM_MAX_CALL_RUNS, type WasmAddressing } from "./wasm.js";
import { L, MOVE_BITS, newModel, PROB_BITS, type LenModel } from "./rangecoder.js";
import { copyLenCtx, dbyteCtx, HISTORY_BYTES, inPlaceFlows, inPlaceRangeLimit, INPLACE_MAGIC, INPLACE_MAX_RANGE, INPLACE_MAX_SPARE, INPLACE_SPARE, INPLACE_STASH_ANYWHERE, INPLACE_STRADDLE, INPLACE_STRAIGHT, KIND_HISTORY, KIND_MAP, KIND_NEAR_MAP, litCtx, litLenCtx, narrowCode, runClass, STREAM_MAGIC, zrunCtx, END_MARK, unzigzag, CODING_LANES, SUBST_HIT, SUBST_TABLE_BYTES, substKey, MAP_SEGMENT_BYTES, type CoderState } from "./stream.js";
import type { PayloadDecoder, RandomAccessReader } from "./types.js";

export { MAP_SEGMENT_BYTES };
const SIGN = -0x80000000; // x ^ SIGN orders int32-held unsigned values as signed ones
/** copyInRange's outcomes: the copy is done, the input ran out, or the step range is full (INPLACE_FLOW). */
const COPY_DONE = 0;
const COPY_STALLED = 1;
const COPY_RANGE_END = 2;
const TOPMASK = -0x1000000; // range & TOPMASK === 0: range < 2^24, renormalise
const PAD = 96; // zero bytes appended to the input at finish(); the encoder drops trailing zeros
const OP_MARGIN = 320; // input bytes an operation header can consume at most (2 per coded bit)
const PROB_ONE = 1 << PROB_BITS;
const STITCH_BYTES = 2 * OP_MARGIN; // head of a chunk decoded together with the carried bytes (see push)
const EMPTY = new Uint8Array(0);
/** Working memory counted for the running SHA-256 of the output (state words, block, length; node:crypto keeps it). */
const DIGEST_STATE_BYTES = 32 + 64 + 8;
/** First word of a saved decoder state ("fd2t"; "fd2s" states also held the digest's state and are refused). */
const STATE_MAGIC = 0x66643274;
const enum Phase {
  Header = 0,
  Init = 1,
  Ops = 2,
  End = 3,
  Map = 4,
}
const enum St {
  Op = 0,
  Copy = 1,
  LitLen = 2,
  Lit = 3,
  Sector = 4,
}

/** Where an in-place patch writes: the device's sector-level interface (see inplace.ts). */
export interface InPlaceSink {
  /** Sector size the region is erased in; must equal the patch's. */
  readonly sectorSize: number;
  /** Replace sector `index` of the region with `data` (power-safe: through the scratch sector). `step` counts from 0. */
  writeSector(index: number, data: Uint8Array, step: number): void;
  /** Steps already completed before an interruption (they are replayed without writing). */
  readonly doneSteps?: number;
}

export interface DeltaDecoderOptions {
  /** SHA-256 (hex) the base image must have; checked before the first output byte. */
  baseSha256?: string;
  /** SHA-256 (hex) of the new image; checked at finish(). */
  targetSha256?: string;
  /** Size the new image must have. */
  targetSize?: number;
  /** Output buffer size (bytes). */
  outBufferBytes?: number;
  /** Window of the base image read at once (bytes). */
  baseWindowBytes?: number;
  /** Refuse to start when the decoder would need more working memory than this. */
  memoryLimitBytes?: number;
  /** Largest new image accepted. */
  maxImageBytes?: number;
  /** In-place patches only: the region being rewritten (the base reader reads the same region). */
  inPlace?: InPlaceSink;
  /** Most address-map segments accepted (each costs 12 bytes of working memory). */
  maxMapSegments?: number;
  /**
   * restore() only: the new image bytes handed to `out` before the state was saved (the start of the
   * area they were written to). With targetSha256 they are read back once to rebuild the running
   * digest, so the final check covers what was really written.
   */
  emitted?: RandomAccessReader;
}

function corrupt(msg: string, details?: Record<string, unknown>): FormatError {
  return new FormatError("corrupt-patch", `corrupt delta patch: ${msg}`, details ? { details } : undefined);
}

/** SHA-256 of a whole RandomAccessReader, read in bounded pieces. */
export function readerSha256(r: RandomAccessReader, piece = 64 * 1024): string {
  return hashReader(createHash("sha256"), r, r.size, "base image", piece).digest("hex");
}

/** Feeds bytes [0, size) of `r` to `h` in pieces of at most `piece` bytes. */
function hashReader(h: Hash, r: RandomAccessReader, size: number, what: string, piece = 64 * 1024): Hash {
  for (let o = 0; o < size; o += piece) {
    const n = Math.min(piece, size - o);
    const b = r.read(o, n);
    if (b.length !== n) throw new StorageError("io-failed", `${what} read at ${o} returned ${b.length} of ${n} bytes`);
    h.update(b);
  }
  return h;
}

/** Working memory the decoder needs for the given buffer sizes (bytes). */
export function decoderMemoryBytes(outBufferBytes: number, baseWindowBytes: number): number {
  return L.total * 2 + outBufferBytes + baseWindowBytes + HISTORY_BYTES + 2 * FILTER_MARGIN + OP_MARGIN + PAD + DIGEST_STATE_BYTES + SUBST_TABLE_BYTES + 512;
}

/**
 * Working memory of the in-place applier (what its memoryBytes reports once the map is read): the
 * output buffer holds one step range of `rangeSectors` sectors; a stream with an address map also
 * keeps one sector's part of the base window with margins (viewRegion) and 16 bytes a map segment.
 * Sector bits: written (new image), stashed (both images: `oldSize`, when larger; and `spareSectors` past them).
 */
export function inPlaceMemoryBytes(rangeSectors: number, sectorSize: number, newSize: number, mapped: boolean, mapSegments: number, baseWindowBytes: number, oldSize = newSize, spareSectors = 0): number {
  const win = Math.max(64, baseWindowBytes);
  const sectors = Math.ceil(newSize / sectorSize);
  const region = Math.ceil(Math.max(newSize, oldSize) / sectorSize) + spareSectors;
  const map = mapped ? win + 4 * FILTER_MARGIN + mapSegments * MAP_SEGMENT_BYTES : 0;
  return decoderMemoryBytes(rangeSectors * sectorSize + 8, win) + Math.ceil(sectors / 8) + Math.ceil(region / 8) + map;
}

export class DeltaDecoder implements PayloadDecoder, CoderState {
  private fixedMemory: number;
  /** Working memory in use (buffers, model, address map), in bytes. */
  get memoryBytes(): number {
    return this.fixedMemory + this.mapN * MAP_SEGMENT_BYTES + this.written.length + this.stashed.length + this.mapTmp.length + (this.wasm?.calls.byteLength ?? 0);
  }
  private probs = newModel();
  private outBuf: Uint8Array;
  /** The last HISTORY_BYTES of (filtered) output, at image position & (HISTORY_BYTES - 1): source of history copies. */
  private readonly ring = new Uint8Array(HISTORY_BYTES);
  /** Distance of the current history copy (0: the copy reads the base). */
  private histDist = 0;
  /** Zero differences left before the next event of the current copy; znz = 1: a non-zero difference byte follows them. */
  private zrem = 0;
  private znz = 0;
  /** In-place: output buffer bytes [rpLo, rpHi) hold sectors written before an interruption (replayed from the region, never overwritten by copies). */
  private rpLo = 0;
  private rpHi = 0;
  private inplace = 0;
  private sectorSize = 0;
  private step = 0;
  private nSteps = 0;
  private sectorEnd = 0;
  private prevSector = -1;
  /** In-place: most sectors one step range decodes at once (header), and the current range: first sector written, direction, count. */
  private rangeMax = 1;
  private rangeFirst = 0;
  private rangeDir = 1;
  private rangeCount = 1;
  /** In-place: +1 or -1, the direction of the last sector change (the next sector is predicted to follow it). */
  private sectorDir = 1;
  /** In-place: one bit per sector, set once its new bytes are in the region (copies then read them unmapped). */
  private written = new Uint8Array(0);
  /** In-place: one bit per sector (of both images) that holds a stash (bytes kept for later steps) until its final write. */
  private stashed = new Uint8Array(0);
  /** In-place: stashes may go to any sector not yet written (header flag), not only to sectors past the base. */
  private stashAnywhere = 0;
  /** In-place: 0, or the direction (+1 / -1) of a straight patch (header flag): every sector once in that order, in step ranges of the limit, nothing announced. */
  private straight = 0;
  /** In-place: 1 when operations flow on across the step ranges of a straight patch (header flag INPLACE_FLOW). */
  private flow = 0;
  /** In-place: sectors over both images (sectors past the new image's end can only hold stashes). */
  private nRegion = 0;
  /** In-place: spare sectors past both images the patch uses for stashes (the header's count). */
  private spare = 0;
  /** In-place, INPLACE_STRADDLE: Thumb calls across sector boundaries are filtered where both sectors hold the same image (see viewRegion). */
  private straddle = 0;
  /** In-place: the current step writes a stash. */
  private stashing = 0;
  /** In-place: final sector writes so far (the stream ends after the last one). */
  private finals = 0;
  /** In-place: end of the part of the region copies may read (whole sectors over both images). */
  private regionEnd = 0;
  /** In-place streams with a map: one sector's part of the base window with zero bytes around it (see viewRegion). */
  private mapTmp = new Uint8Array(0);
  private predFlags = 0;
  /** Coding flags of the header (CODING_LANES). */
  private coding = 0;
  /** CODING_LANES: the last difference per lane and base byte (see stream.ts), and whether the last difference byte was predicted. */
  private subst: Uint8Array | null = null;
  private substHit = 0;
  private predBase = 0;
  // PRED.wasmAddr: its parameters (see WasmAddressing), as numbers for saveState and as the mapper takes them
  private wasmBase = 0;
  private wasmDelta = 0;
  private wasmStart = 0;
  private wasmCode = 0;
  private wasm: WasmAddressing | undefined;
  /** PRED.elfEh: where the base's unwind tables lie (header; the fields are saved, the object rebuilt). */
  private ehHdr = 0;
  private ehHdrLen = 0;
  private ehAt = 0;
  private ehLen = 0;
  private ehArm = 0;
  private ehArmLen = 0;
  private eh: EhTables | undefined;

  /** What is wrong with the WebAssembly parameters (an image of oldSize bytes; runs: length, change, ...), or "". */
  private wasmParamsBad(oldSize: number, runs: readonly number[]): string {
    if (Math.abs(this.wasmBase) >= 2 ** 31 || Math.abs(this.wasmDelta) >= 2 ** 31) return "base or delta out of range";
    if (this.wasmStart > oldSize || this.wasmCode > this.wasmStart) return "code or data start out of the image";
    let functions = 0;
    for (let i = 0; i < runs.length; i += 2) {
      functions += runs[i]!;
      if (runs[i]! < 1 || Math.abs(runs[i + 1]!) >= 2 ** 31 || functions >= 2 ** 32) return "a run of function indices";
    }
    return "";
  }
  private mapN = 0;
  private mapI = 0;
  private mapPrevEnd = 0;
  private mapPrevShift = 0;
  private map = new AddressMap(new Int32Array(0), new Int32Array(0), new Int32Array(0));
  /** The whole coded list when the map was split into the image's segments and those past it (map.ext). */
  private mapAll: AddressMap | null = null;

  /** A complete map with PRED.extAbs: the segments past the base image become map.ext. */
  private splitExt(): void {
    if ((this.predFlags & PRED.extAbs) === 0) return;
    const all = this.map;
    let k = 0;
    while (k < all.length && all.starts[k]! < this.oldSize) k++;
    if (k === all.length) return;
    this.mapAll = all;
    this.map = new AddressMap(all.starts.subarray(0, k), all.ends.subarray(0, k), all.shifts.subarray(0, k));
    this.map.ext = new AddressMap(all.starts.subarray(k), all.ends.subarray(k), all.shifts.subarray(k));
  }
  private win: Uint8Array;
  private winBytes = 0; // the window's length before setMargin
  private winStart = 0;
  private winEnd = 0; // filtered base bytes [winStart, winEnd) are at win[margin + ...]
  private margin = FILTER_MARGIN; // bytes read on each side of a slice (mapMargin of the stream's flags)
  private winOff = 0;
  /** Running SHA-256 of the output, only when there is a target digest to check (in place: read back at the end instead). */
  private sha: Hash | null;

  // stream position
  private phase = Phase.Header;
  private st = St.Op;
  filter = 0;
  newSize = 0;
  oldSize = 0;
  // range and code hold unsigned 32-bit values in int32 variables (no float arithmetic in the hot loops)
  private range = -1;
  private code = 0;
  private buf: Uint8Array = new Uint8Array(0);
  private pos = 0;
  private end = 0;
  private carry: Uint8Array = new Uint8Array(0);
  private baseChecked = false;
  private trailing = 0;

  // operation state
  private copyRem = 0;
  private litRem = 0;
  private oldPos = 0;
  private curCopyLen = 0;
  private newPos = 0;
  private outBase = 0;
  private outFill = 0;
  /** Bytes of the new image handed to `out` so far. */
  produced = 0;
  /** Patch bytes accepted so far. */
  consumed = 0;

  // CoderState
  rep0 = 0;
  rep1 = 0;
  prevOldEnd = 0;
  lastLit = 0;
  hist = 0;
  prevDiff = 0;
  prev = 0;
  kind = 0;

  constructor(
    private readonly base: RandomAccessReader,
    private readonly opts: DeltaDecoderOptions = {},
  ) {
    const outCap = Math.max(64, opts.outBufferBytes ?? 16 * 1024);
    const winCap = Math.max(64, opts.baseWindowBytes ?? 16 * 1024);
    this.outBuf = new Uint8Array(outCap);
    this.win = new Uint8Array(winCap + 2 * FILTER_MARGIN);
    this.winBytes = this.win.length;
    this.fixedMemory = decoderMemoryBytes(outCap, winCap);
    this.sha = opts.targetSha256 !== undefined && opts.inPlace === undefined ? createHash("sha256") : null;
    if (opts.memoryLimitBytes !== undefined && this.memoryBytes > opts.memoryLimitBytes) {
      throw new StorageError("out-of-memory", `delta decoder needs ${this.memoryBytes} bytes of working memory; the limit is ${opts.memoryLimitBytes}`, {
        details: { needed: this.memoryBytes, limit: opts.memoryLimitBytes },
      });
    }
  }

  get done(): boolean {
    return this.phase === Phase.End;
  }

  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void {
    this.consumed += bytes.length;
    if (this.phase === Phase.End) {
      this.trailing += bytes.length;
      return;
    }
    const c = this.carry.length;
    let from = 0; // where run() starts in `bytes`
    if (c > 0) {
      // the carried bytes are decoded from a short joint buffer (carry + the head of this chunk); past
      // the carry, decoding goes on in the chunk itself instead of a copy of carry + chunk
      const head = Math.min(bytes.length, STITCH_BYTES);
      const b = new Uint8Array(c + head);
      b.set(this.carry);
      b.set(bytes.subarray(0, head), c);
      this.buf = b;
      this.pos = 0;
      this.end = b.length;
      this.run(out, false);
      if (this.pos < c || head === bytes.length || this.done) {
        const left = b.subarray(Math.min(this.pos, b.length));
        this.carry = new Uint8Array(left.length + bytes.length - head);
        this.carry.set(left);
        this.carry.set(bytes.subarray(head), left.length);
        this.buf = EMPTY;
        this.flush(out, false);
        return;
      }
      from = this.pos - c;
    }
    this.buf = bytes;
    this.pos = from;
    this.end = bytes.length;
    this.run(out, false);
    this.carry = new Uint8Array(bytes.subarray(this.pos, Math.max(this.pos, this.end)));
    this.buf = EMPTY;
    this.flush(out, false);
  }

  finish(out: (image: Uint8Array) => void): void {
    if (this.phase !== Phase.End) {
      const b = new Uint8Array(this.carry.length + PAD);
      b.set(this.carry);
      this.buf = b;
      this.pos = 0;
      this.end = this.carry.length;
      this.run(out, true);
      // a complete stream never needs more than the zero bytes the encoder dropped from its end
      if (this.pos > this.end + 8) throw new FormatError("truncated", "delta patch ends before the new image is complete");
      if (this.pos > this.end) {
        this.trailing = 0;
      } else this.trailing += this.end - this.pos;
      this.carry = new Uint8Array(0);
      this.buf = new Uint8Array(0);
    }
    if (this.phase !== Phase.End) throw new FormatError("truncated", "delta patch ends before the new image is complete");
    this.flush(out, true);
    if (this.trailing > 4) throw corrupt(`${this.trailing} bytes after the end of the patch`);
    if (this.produced !== this.newSize) throw corrupt("output size differs from the header");
    if (this.inplace) return this.checkRegionResult();
    if (this.sha === null || this.opts.targetSha256 === undefined) return;
    const digest = this.sha.digest("hex");
    if (digest !== this.opts.targetSha256.toLowerCase()) {
      throw new IntegrityError("digest-mismatch", "the patched image does not have the expected SHA-256", {
        details: { expected: this.opts.targetSha256, actual: digest },
      });
    }
  }

  private checkRegionResult(): void {
    if (this.opts.targetSha256 === undefined) return;
    const r = this.base;
    const d = readerSha256({ size: this.newSize, read: (o, n) => r.read(o, n) });
    if (d !== this.opts.targetSha256.toLowerCase()) {
      throw new IntegrityError("digest-mismatch", "the rewritten region does not have the expected SHA-256", { details: { expected: this.opts.targetSha256, actual: d } });
    }
  }

  // ---- input primitives -------------------------------------------------------------------------

  private bit(i: number): number {
    const probs = this.probs;
    const p = probs[i]!;
    const bound = Math.imul(this.range >>> PROB_BITS, p);
    let bit: number;
    if ((this.code ^ SIGN) < (bound ^ SIGN)) {
      this.range = bound;
      probs[i] = p + (((1 << PROB_BITS) - p) >> MOVE_BITS);
      bit = 0;
    } else {
      this.code = (this.code - bound) | 0;
      this.range = (this.range - bound) | 0;
      probs[i] = p - (p >> MOVE_BITS);
      bit = 1;
    }
    while ((this.range & TOPMASK) === 0) {
      this.range <<= 8;
      this.code = (this.code << 8) | (this.buf[this.pos++] ?? 0);
    }
    return bit;
  }

  private direct(bits: number): number {
    let v = 0;
    for (let b = 0; b < bits; b++) {
      this.range = this.range >>> 1;
      let bit = 0;
      if ((this.code ^ SIGN) >= (this.range ^ SIGN)) {
        this.code = (this.code - this.range) | 0;
        bit = 1;
      }
      v = (v * 2) + bit;
      if ((this.range & TOPMASK) === 0) {
        this.range <<= 8;
        this.code = (this.code << 8) | (this.buf[this.pos++] ?? 0);
      }
    }
    return v;
  }

  /** A `bits`-bit tree (most significant bit first) at `base` (the coder in locals: see copy()). */
  private tree(base: number, bits: number): number {
    const probs = this.probs;
    const buf = this.buf;
    const top = 1 << bits;
    let range = this.range;
    let code = this.code;
    let pos = this.pos;
    let m = 1;
    while (m < top) {
      const i = base + m;
      const pr = probs[i]!;
      const bound = Math.imul(range >>> PROB_BITS, pr);
      if ((code ^ SIGN) < (bound ^ SIGN)) {
        range = bound;
        probs[i] = pr + ((PROB_ONE - pr) >> MOVE_BITS);
        m <<= 1;
      } else {
        code = (code - bound) | 0;
        range = (range - bound) | 0;
        probs[i] = pr - (pr >> MOVE_BITS);
        m = (m << 1) | 1;
      }
      while ((range & TOPMASK) === 0) {
        range <<= 8;
        code = (code << 8) | buf[pos++]!;
      }
    }
    this.range = range;
    this.code = code;
    this.pos = pos;
    return m - top;
  }

  /** A length (see RangeEncoder.len): 5-bit class k, up to 3 mantissa bits, then direct bits. */
  private len(model: LenModel, ctx: number): number {
    const k = this.tree(model.tree + ctx * 32, 5);
    if (k > 30) throw corrupt("length field out of range");
    if (k === 0) return 0;
    const probs = this.probs;
    const buf = this.buf;
    const mb = model.mant + k * 8;
    let range = this.range;
    let code = this.code;
    let pos = this.pos;
    let v = 1;
    let b = k - 1;
    for (; b >= 0 && v < 8; b--) {
      const i = mb + v;
      const pr = probs[i]!;
      const bound = Math.imul(range >>> PROB_BITS, pr);
      if ((code ^ SIGN) < (bound ^ SIGN)) {
        range = bound;
        probs[i] = pr + ((PROB_ONE - pr) >> MOVE_BITS);
        v <<= 1;
      } else {
        code = (code - bound) | 0;
        range = (range - bound) | 0;
        probs[i] = pr - (pr >> MOVE_BITS);
        v = (v << 1) | 1;
      }
      while ((range & TOPMASK) === 0) {
        range <<= 8;
        code = (code << 8) | buf[pos++]!;
      }
    }
    for (; b >= 0; b--) {
      range >>>= 1;
      let bit = 0;
      if ((code ^ SIGN) >= (range ^ SIGN)) {
        code = (code - range) | 0;
        bit = 1;
      }
      v = v * 2 + bit;
      if ((range & TOPMASK) === 0) {
        range <<= 8;
        code = (code << 8) | buf[pos++]!;
      }
    }
    this.range = range;
    this.code = code;
    this.pos = pos;
    return v - 1;
  }

  // ---- the state machine ------------------------------------------------------------------------

  private parseHeader(): boolean {
    const b = this.buf;
    let p = this.pos;
    if (p >= this.end) return false;
    const magic = b[p++]!;
    const inplace = (magic & 0xf0) === INPLACE_MAGIC;
    if ((magic & 0xf0) !== STREAM_MAGIC && !inplace) throw corrupt(`not a fota delta stream (first byte 0x${magic.toString(16)})`);
    if (inplace !== (this.opts.inPlace !== undefined)) {
      throw new CompatibilityError("wrong-base", inplace ? "an in-place delta must be applied by the in-place applier" : "this delta is not an in-place delta");
    }
    const filter = magic & 0x0f;
    if (filterName(filter) === undefined) throw corrupt(`unknown filter ${filter}`);
    const vals: number[] = [];
    // sizes, [sector bits, range limit and flags, [spare sectors]], map flags, [load address]
    let want = inplace ? 5 : 3;
    let flagsAt = want - 1;
    for (let k = 0; k < want; k++) {
      let v = 0;
      let mul = 1;
      for (let i = 0; ; i++) {
        if (p >= this.end) return false;
        const c = b[p++]!;
        if (i === 4 && c > 0x0f) throw corrupt("size field too long");
        v += (c & 0x7f) * mul;
        mul *= 128;
        if ((c & 0x80) === 0) break;
      }
      vals.push(v);
      if (inplace && k === 3 && (v & INPLACE_SPARE) !== 0) {
        want++;
        flagsAt++;
      }
      if (k === flagsAt && (v & 4) !== 0) want++;
      // the unwind tables: .eh_frame_hdr's offset and length, then .eh_frame's, then ARM's
      if (k === flagsAt && Math.floor(v / PRED.elfEh) % 2 === 1) want += 6;
      // WebAssembly: base, delta, data start, code start, the run count, then each run's length and change
      if (k === flagsAt && Math.floor(v / PRED.wasmAddr) % 2 === 1) want += 5;
      if (k === flagsAt + 5 && Math.floor(vals[flagsAt]! / PRED.wasmAddr) % 2 === 1) {
        if (v > WASM_MAX_CALL_RUNS) throw corrupt(`${v} runs of function indices (at most ${WASM_MAX_CALL_RUNS})`);
        want += 2 * v;
      }
    }
    const flags = vals[flagsAt]! & ~CODING_LANES;
    if (flags > PRED_ALL || (flags & ~PRED_ALL) !== 0 || !predFilterOk(flags, filter)) throw corrupt(`bad reference-map flags ${flags} for filter ${filter}`);
    this.predFlags = flags;
    this.setMargin(flags);
    this.setCoding(vals[flagsAt]! & CODING_LANES);
    this.predBase = flags & 4 ? vals[flagsAt + 1]! : 0;
    if (flags & PRED.elfEh) {
      const at = flagsAt + 1 + (flags & 4 ? 1 : 0);
      [this.ehHdr, this.ehHdrLen, this.ehAt, this.ehLen, this.ehArm, this.ehArmLen] = vals.slice(at, at + 6) as [number, number, number, number, number, number];
      if (!this.setEh(vals[1]!)) throw corrupt("unwind tables outside the base image");
    }
    if (flags & PRED.wasmAddr) {
      this.wasmBase = unzigzag(vals[flagsAt + 1]!);
      this.wasmDelta = unzigzag(vals[flagsAt + 2]!);
      this.wasmStart = vals[flagsAt + 3]!;
      this.wasmCode = vals[flagsAt + 4]!;
      const runs = vals.slice(flagsAt + 6).map((x, i) => (i % 2 === 0 ? x : unzigzag(x)));
      const bad = this.wasmParamsBad(vals[1]!, runs);
      if (bad) throw corrupt(`bad WebAssembly parameters: ${bad}`);
      this.wasm = { base: this.wasmBase, delta: this.wasmDelta, dataStart: this.wasmStart, codeStart: this.wasmCode, calls: Int32Array.from(runs) };
    }
    this.pos = p;
    this.filter = filter;
    this.newSize = vals[0]!;
    this.oldSize = vals[1]!;
    if (inplace) {
      const bits = vals[2]!;
      if (bits < 8 || bits > 16) throw corrupt(`sector size 2^${bits} out of range`);
      this.inplace = 1;
      this.sectorSize = 2 ** bits;
      if (this.opts.inPlace!.sectorSize !== this.sectorSize) {
        throw new CompatibilityError("wrong-base", `in-place patch made for ${this.sectorSize}-byte sectors; the flash has ${this.opts.inPlace!.sectorSize}`);
      }
      this.nSteps = Math.ceil(this.newSize / this.sectorSize);
      this.written = new Uint8Array(Math.ceil(this.nSteps / 8));
      // the range limit; its bit 5: stashes anywhere, bit 6: straight (see encodeHeader), bit 7: spare sectors follow,
      // bit 8: Thumb calls across sector boundaries filtered (INPLACE_STRADDLE)
      // (with the straight flag, bit 5 gives the direction: set = from the last sector down)
      // (a limit field of 17-31 in a straight patch from sector 0 up: INPLACE_FLOW added to the limit)
      this.flow = inPlaceFlows(vals[3]!) ? 1 : 0;
      const K = inPlaceRangeLimit(vals[3]!);
      if (this.flow && vals[3]! & (INPLACE_STRADDLE | INPLACE_SPARE)) throw corrupt("operations flowing across step ranges with other in-place flags");
      if (K < 1 || K > INPLACE_MAX_RANGE || vals[3]! > INPLACE_STRADDLE + INPLACE_SPARE + INPLACE_STRAIGHT + INPLACE_STASH_ANYWHERE + INPLACE_MAX_RANGE) throw corrupt(`step range of ${K} sectors out of range`);
      if (vals[3]! & INPLACE_STRADDLE) {
        if (filter !== FILTERS.thumb) throw corrupt("calls across sectors filtered, without the Thumb filter");
        this.straddle = 1;
      }
      if (vals[3]! & INPLACE_STRAIGHT) this.straight = vals[3]! & INPLACE_STASH_ANYWHERE ? -1 : 1;
      else this.stashAnywhere = vals[3]! & INPLACE_STASH_ANYWHERE ? 1 : 0;
      const spare = vals[3]! & INPLACE_SPARE ? vals[4]! : 0;
      // (spare sectors only ever hold stashes: a patch that uses them has stashes anywhere)
      if ((vals[3]! & INPLACE_SPARE) !== 0 && (spare < 1 || spare > INPLACE_MAX_SPARE || this.stashAnywhere === 0)) throw corrupt(`${spare} spare sectors out of range`);
      this.nRegion = Math.ceil(Math.max(this.oldSize, this.newSize) / this.sectorSize) + spare;
      this.stashed = new Uint8Array(Math.ceil(this.nRegion / 8));
      this.regionEnd = this.nRegion * this.sectorSize;
      this.spare = spare;
      if (this.predFlags !== 0) this.mapTmp = new Uint8Array(this.win.length + 2 * FILTER_MARGIN);
      this.rangeMax = K;
      // the output buffer holds one step range (K sectors): that is what the memory bound counts
      this.fixedMemory = decoderMemoryBytes(K * this.sectorSize + 8, this.win.length - 2 * FILTER_MARGIN);
      const limit = this.opts.memoryLimitBytes;
      if (limit !== undefined && this.memoryBytes > limit) {
        throw new StorageError("out-of-memory", `in-place delta decoder needs ${this.memoryBytes} bytes of working memory; the limit is ${limit}`, { details: { needed: this.memoryBytes, limit } });
      }
      this.outBuf = new Uint8Array(this.rangeMax * this.sectorSize + 8);
      this.st = St.Sector;
    }
    const max = this.opts.maxImageBytes ?? 256 * 1024 * 1024;
    if (this.newSize > max) throw corrupt(`new image size ${this.newSize} over the limit ${max}`);
    if (this.opts.targetSize !== undefined && this.opts.targetSize !== this.newSize) {
      throw corrupt(`patch builds ${this.newSize} bytes but the manifest says ${this.opts.targetSize}`);
    }
    return true;
  }

  private setCoding(coding: number): void {
    this.coding = coding;
    this.subst = coding & CODING_LANES ? new Uint8Array(SUBST_TABLE_BYTES) : null;
  }

  private checkBase(): void {
    if (this.inplace) return this.checkRegion();
    if (this.base.size !== this.oldSize) {
      throw new CompatibilityError("wrong-base", `this delta applies to a ${this.oldSize}-byte base image; the installed image has ${this.base.size} bytes`, {
        details: { expectedSize: this.oldSize, actualSize: this.base.size },
      });
    }
    if (this.opts.baseSha256 !== undefined) {
      const d = readerSha256(this.base);
      if (d !== this.opts.baseSha256.toLowerCase()) {
        throw new CompatibilityError("wrong-base", "this delta was made for another base image (SHA-256 differs)", {
          details: { expected: this.opts.baseSha256, actual: d },
        });
      }
    }
    this.baseChecked = true;
  }

  private checkRegion(): void {
    const need = this.spare > 0 ? this.regionEnd : Math.max(this.oldSize, this.newSize);
    if (this.base.size < need) {
      const why = this.spare > 0 ? ` (the images and ${this.spare} spare sectors of ${this.sectorSize} bytes for stashes; build the patch for this slot's size)` : "";
      throw new CompatibilityError("too-large", `in-place region has ${this.base.size} bytes; the patch needs ${need}${why}`, { details: { size: this.base.size, need } });
    }
    if ((this.opts.inPlace!.doneSteps ?? 0) === 0 && this.opts.baseSha256 !== undefined) {
      const r = this.base;
      const d = readerSha256({ size: this.oldSize, read: (o, n) => r.read(o, n) });
      if (d !== this.opts.baseSha256.toLowerCase()) {
        throw new CompatibilityError("wrong-base", "this delta was made for another base image (SHA-256 differs)", { details: { expected: this.opts.baseSha256, actual: d } });
      }
    }
    this.baseChecked = true;
  }

  /** The step range is decoded: its sectors are written in the announced order (those done before an interruption skipped). */
  private finishSector(): void {
    const S = this.sectorSize;
    const len = this.outFill;
    const buf = this.outBuf;
    const done = this.opts.inPlace!.doneSteps ?? 0;
    if (this.straddle && this.rpHi > this.rpLo && this.rpLo >= 2 && this.rpLo + 2 <= len) {
      // a call across the start of the sectors replayed from the region: its second halfword was
      // read back as written (unfiltered), its first one decoded (filtered); the second one filtered
      // alone (the low bits of the sum depend on low bits only) makes the call whole for unfiltering
      const i = this.rpLo - 2;
      const top = buf[i + 3]! & 0xf8;
      if ((buf[i + 1]! & 0xf8) === 0xf0 && (top === 0xf8 || top === 0xe8 || top === 0xb8)) {
        const lo = (((buf[i + 3]! & 7) << 8) | buf[i + 2]!) + ((this.outBase + i + 4) >>> 1);
        buf[i + 2] = lo & 0xff;
        buf[i + 3] = top | ((lo >>> 8) & 7);
      }
    }
    // (with INPLACE_STRADDLE calls between sectors of the range are whole in the buffer: no barrier)
    applyFilter(this.filter, buf, this.outBase, false, 0, len, this.straddle ? 0 : S);
    for (let i = 0; i < this.rangeCount; i++) {
      const j = this.rangeFirst + i * this.rangeDir;
      const off = j * S - this.outBase;
      const n = Math.min(S, len - off);
      if (this.step >= done) this.opts.inPlace!.writeSector(j, new Uint8Array(buf.subarray(off, off + n)), this.step);
      if (this.stashing) this.stashed[j >> 3]! |= 1 << (j & 7);
      else {
        this.produced += n;
        this.written[j >> 3]! |= 1 << (j & 7);
        this.finals++;
      }
      this.step++;
    }
    this.outFill = 0;
    this.rpLo = this.rpHi = 0;
    this.winStart = this.winEnd = 0; // the region changed: later copies may read the new bytes
    this.st = St.Sector;
    if (this.finals === this.nSteps) this.end_();
  }

  /**
   * A step range: `count` sectors from `j` in direction `dir` (written in that order), decoded as one
   * run of output from the lowest. Those written before an interruption are read back from the region
   * (their copies then read nothing: their sources may be gone).
   */
  private startSector(j: number, dir: number, count: number): void {
    const S = this.sectorSize;
    for (let i = 0; i < count; i++) {
      const k = j + i * dir;
      if (!(k >= 0 && k < (this.stashing ? this.nRegion : this.nSteps))) throw corrupt(`sector ${k} outside the new image`, { step: this.step });
      if ((this.written[k >> 3]! >> (k & 7)) & 1) throw corrupt(`sector ${k} written twice`, { step: this.step });
    }
    const last = j + (count - 1) * dir;
    const lo = Math.min(j, last);
    this.prevSector = last;
    this.rangeFirst = j;
    this.rangeDir = dir;
    this.rangeCount = count;
    if (!this.flow) this.kind = 7; // as OpEncoder.sector: the first copy kind of a range has its own context
    this.newPos = this.outBase = lo * S;
    this.sectorEnd = this.stashing ? (j + 1) * S : Math.min(this.newSize, (Math.max(j, last) + 1) * S);
    if (this.sectorEnd > this.base.size) throw new CompatibilityError("too-large", `in-place region has ${this.base.size} bytes; the patch writes up to ${this.sectorEnd}`);
    this.outFill = 0;
    if (!this.flow) this.prev = 0;
    this.winStart = this.winEnd = 0;
    this.rpLo = this.rpHi = 0;
    const d = Math.min(count, (this.opts.inPlace!.doneSteps ?? 0) - this.step);
    if (d > 0) {
      // already written before an interruption (the first d in write order): replay their new bytes
      const a = dir > 0 ? j : j - d + 1;
      const from = a * S;
      const to = Math.min(this.sectorEnd, (a + d) * S);
      const r = this.base.read(from, to - from);
      if (r.length !== to - from) throw new StorageError("io-failed", `region read at ${from} returned ${r.length} of ${to - from} bytes`);
      this.outBuf.set(r, from - this.outBase);
      applyFilter(this.filter, this.outBuf, this.outBase, true, from - this.outBase, to - this.outBase, this.straddle ? 0 : S);
      this.rpLo = from - this.outBase;
      this.rpHi = to - this.outBase;
    }
  }

  /** PRED.elfEh: the tables' object from the fields; false when they do not lie in a base of oldSize bytes. */
  private setEh(oldSize: number): boolean {
    if (this.ehHdr + this.ehHdrLen > oldSize || this.ehAt + this.ehLen > oldSize || this.ehArm + this.ehArmLen > oldSize) return false;
    this.eh = { hdr: this.ehHdr, hdrLen: this.ehHdrLen, eh: this.ehAt, ehLen: this.ehLen, arm: this.ehArm, armLen: this.ehArmLen };
    return true;
  }

  /** A straight patch: the next step range of the limit, in the header's direction. */
  private nextStraightRange(): void {
    const up = this.straight > 0;
    const j = up ? this.finals : this.nSteps - 1 - this.finals;
    this.stashing = 0;
    this.startSector(j, this.straight, Math.min(this.rangeMax, up ? this.nSteps - j : j + 1));
  }

  /**
   * INPLACE_FLOW: the output reached the step range's end with an operation going on: the range's
   * sectors are written and the operation goes on in the next range (its state is in the fields).
   */
  private flowOn(): void {
    const st = this.st;
    this.finishSector();
    if (this.finals === this.nSteps) throw corrupt("operation runs past the end of the new image", { at: this.newPos });
    this.nextStraightRange();
    this.st = st;
  }

  private run(out: (image: Uint8Array) => void, final: boolean): void {
    if (this.phase === Phase.Header) {
      if (!this.parseHeader()) {
        if (final) throw new FormatError("truncated", "delta patch ends inside its header");
        return;
      }
      this.phase = Phase.Init;
    }
    if (!this.baseChecked) this.checkBase();
    if (this.phase === Phase.Init) {
      if (this.newSize === 0) {
        this.phase = Phase.End;
        return;
      }
      if (!final && this.end - this.pos < 4) return;
      let c = 0;
      for (let i = 0; i < 4; i++) c = (c << 8) | (this.buf[this.pos++] ?? 0);
      this.code = c;
      this.range = -1;
      this.phase = this.predFlags !== 0 ? Phase.Map : Phase.Ops;
    }
    const limit = final ? this.end + PAD - OP_MARGIN / 2 : this.end - OP_MARGIN;
    while (this.phase === Phase.Map) {
      if (this.pos > limit && !final) return;
      if (final && this.pos > this.end + 8) throw new FormatError("truncated", "delta patch ends inside its address map");
      if (this.mapI === 0 && this.mapN === 0) {
        const n = this.len(L.mapN, 0);
        const max = this.opts.maxMapSegments ?? 16384;
        if (n > max) throw corrupt(`address map of ${n} segments (limit ${max})`);
        const limit = this.opts.memoryLimitBytes;
        // (memoryBytes: no map segments yet; in-place it also counts the sector bits and the map's sector window)
        if (limit !== undefined && this.memoryBytes + n * MAP_SEGMENT_BYTES > limit) {
          throw new StorageError("out-of-memory", `delta decoder needs ${this.memoryBytes + n * MAP_SEGMENT_BYTES} bytes of working memory for this patch's address map; the limit is ${limit}`, {
            details: { needed: this.memoryBytes + n * MAP_SEGMENT_BYTES, limit },
          });
        }
        this.mapN = n;
        this.map = new AddressMap(new Int32Array(n), new Int32Array(n), new Int32Array(n));
        if (n === 0) this.phase = Phase.Ops;
        continue;
      }
      const start = this.mapPrevEnd + this.len(L.mapGap, 0);
      const end = start + this.len(L.mapLen, 0) + 1;
      const shift = this.mapPrevShift + unzigzag(this.len(L.mapShift, 0));
      // (PRED.extAbs: segments past the base image follow the map's, for pointers there)
      const ext = (this.predFlags & PRED.extAbs) !== 0 && start >= this.oldSize;
      if ((end > this.oldSize && !ext) || end > 0x7fffffff || Math.abs(shift) > 0x7fffffff) throw corrupt("address map outside the base image");
      this.map.starts[this.mapI] = start;
      this.map.ends[this.mapI] = end;
      this.map.shifts[this.mapI] = shift;
      this.mapPrevEnd = end;
      this.mapPrevShift = shift;
      if (++this.mapI === this.mapN) {
        this.splitExt();
        this.phase = Phase.Ops;
      }
    }
    while (this.phase === Phase.Ops) {
      // (operations end with their step range, unless they flow on across ranges)
      const end = this.inplace && !this.flow ? this.sectorEnd : this.newSize;
      switch (this.st) {
        case St.Sector: {
          if (this.pos > limit && !final) return;
          if (final && this.pos > this.end + 8) throw new FormatError("truncated", "delta patch ends before the new image is complete");
          if (this.straight !== 0) {
            this.nextStraightRange();
            this.st = St.Op;
            break;
          }
          // the next sector in the current direction (1 bit), else a signed jump from there
          const next = this.prevSector + this.sectorDir;
          const j = this.bit(L.fill + 1) ? next : next + unzigzag(this.len(L.sector, 0) + 1);
          if (j !== next) this.sectorDir = j > this.prevSector ? 1 : -1;
          // a sector past the base image (with the header's flag: any sector), neither written nor
          // holding a stash: 1 bit, stash or final; a sector past the new image's end (with the flag): a stash
          const bit = (a: Uint8Array): number => (a[j >> 3]! >> (j & 7)) & 1;
          if (j >= this.nSteps && j < this.nRegion && this.stashAnywhere) {
            if (bit(this.stashed)) throw corrupt(`sector ${j} stashed twice`, { step: this.step });
            this.stashing = 1;
          } else {
            const free = j >= 0 && j < this.nSteps && (this.stashAnywhere || j * this.sectorSize >= this.oldSize) && bit(this.written) === 0 && bit(this.stashed) === 0;
            this.stashing = free ? this.bit(L.fill + 3) : 0;
          }
          // a step range (final writes): while under the header's limit, 1 bit "one more sector", and
          // after the first of those 1 bit "in the current direction" (else the other)
          let count = 1;
          let dir = this.sectorDir;
          if (!this.stashing) {
            while (count < this.rangeMax && this.bit(L.fill + 4)) {
              if (count === 1 && !this.bit(L.fill + 5)) dir = -dir;
              count++;
            }
          }
          if (count > 1) this.sectorDir = dir;
          this.startSector(j, dir, count);
          this.st = St.Op;
          break;
        }
        case St.Op: {
          if (this.pos > limit && !final) return;
          if (final && this.pos > this.end + 8) throw new FormatError("truncated", "delta patch ends before the new image is complete");
          const copyLen = this.inplace && !this.flow && this.bit(L.fill + (this.newPos === this.outBase ? 2 : 0)) ? end - this.newPos : this.len(L.copyLen, copyLenCtx(this));
          if (copyLen > end - this.newPos) throw corrupt("copy runs past the end of the new image", { at: this.newPos });
          this.histDist = 0;
          if (copyLen > 0) {
            const kind = this.tree(L.offKind + this.kind * 8, 3);
            if (kind > KIND_NEAR_MAP) throw corrupt(`unknown copy kind ${kind}`, { at: this.newPos });
          if (kind === KIND_HISTORY) {
            const dist = this.len(L.histDist, 0) + 1;
            // in-place: only from the sector being built (the region before it may hold either image)
            if (this.inplace && dist > this.newPos - this.outBase) throw corrupt("history copy reaches outside its sector", { at: this.newPos, dist });
            if (this.inplace && copyLen > this.sectorEnd - this.newPos) throw corrupt("history copy runs past its step range", { at: this.newPos });
            if (dist > HISTORY_BYTES || dist > this.newPos) throw corrupt("history copy reaches before the window", { at: this.newPos, dist });
            this.histDist = dist;
            this.kind = kind;
          } else {
            let offset: number;
            if (kind === 0) offset = this.rep0;
            else if (kind === 1) offset = this.prevOldEnd - this.newPos;
            else if (kind === 2) offset = this.rep1;
            else if (kind === KIND_MAP) {
              offset = -this.map.shiftAtNew(this.newPos);
              if (Number.isNaN(offset)) throw corrupt("map-predicted copy without an address map", { at: this.newPos });
            } else {
              // 3: a change from rep0; KIND_NEAR_MAP: a change from the map-predicted displacement
              const near = kind === KIND_NEAR_MAP ? 1 : 0;
              const from = near ? -this.map.shiftAtNew(this.newPos) : this.rep0;
              if (Number.isNaN(from)) throw corrupt("map-relative copy without an address map", { at: this.newPos });
              const neg = this.bit(L.offSign + near);
              const mag = this.len(L.offMag, near) + 1;
              offset = from + (neg ? -mag : mag);
            }
            this.kind = kind;
            if (offset !== this.rep0) {
              this.rep1 = this.rep0;
              this.rep0 = offset;
            }
            const oldPos = this.newPos + offset;
            if (oldPos < 0 || oldPos + copyLen > (this.inplace ? this.regionEnd : this.oldSize)) throw corrupt("copy reads outside the base image", { at: this.newPos, oldPos });
            this.oldPos = oldPos;
          }
          }
          this.curCopyLen = copyLen;
          this.copyRem = copyLen;
          this.st = St.Copy;
          break;
        }
        case St.Copy: {
          if (this.histDist !== 0) this.histCopy(out);
          else if (!this.copy(out, final)) return;
          if (this.curCopyLen > 0 && this.histDist === 0) {
            this.prevOldEnd = this.oldPos;
          }
          this.st = St.LitLen;
          break;
        }
        case St.LitLen: {
          if (this.pos > limit && !final) return;
          if (final && this.pos > this.end + 8) throw new FormatError("truncated", "delta patch ends before the new image is complete");
          const litLen = this.newPos === end ? 0 : this.len(L.litLen, litLenCtx(this.curCopyLen));
          if (litLen > end - this.newPos) throw corrupt("literal run past the end of the new image", { at: this.newPos });
          if (litLen + this.curCopyLen === 0) throw corrupt("empty operation", { at: this.newPos });
          this.litRem = litLen;
          this.lastLit = litLen;
          this.st = St.Lit;
          break;
        }
        case St.Lit: {
          if (!this.literal(out, final)) return;
          this.st = St.Op;
          if (this.inplace) {
            if (this.newPos === this.sectorEnd) this.finishSector();
          } else if (this.newPos === this.newSize) this.end_();
          break;
        }
      }
    }
  }

  /** After the last operation: the end mark, then the stream is complete. */
  private end_(): void {
    if (this.direct(16) !== END_MARK) throw new FormatError("truncated", "delta patch ends before the new image is complete (no end mark)");
    this.phase = Phase.End;
  }

  /** Bytes the input can still pay for at `perByte` coded bytes each (for final, within padding). */
  private budget(perByte: number, final: boolean): number {
    const room = final ? this.end + PAD - 16 - this.pos : this.end - 16 - this.pos;
    return room <= 0 ? 0 : Math.floor(room / perByte);
  }

  /** The margin the stream's maps need, and the wider base window (once) when it is over 16 bytes. */
  private setMargin(flags: number): void {
    this.margin = mapMargin(flags);
    const extra = marginWindowBytes(flags);
    if (extra > 0 && this.win.length === this.winBytes) {
      this.win = new Uint8Array(this.winBytes + extra);
      this.fixedMemory += extra;
    }
  }

  private refill(at: number): void {
    // the window holds the margins the stream's transforms need on each side of the bytes a copy reads
    const M = this.margin;
    const W = this.win.length - 2 * M;
    const a = at;
    const lim = this.inplace ? this.regionEnd : this.oldSize;
    const b = Math.min(lim, a + W, a + Math.max(this.copyRem, 16)); // filter and map only what the copy needs
    const lo = Math.max(0, a - M);
    const hi = Math.min(lim, b + M);
    const raw = this.base.read(lo, hi - lo);
    if (raw.length !== hi - lo) throw new StorageError("io-failed", `base image read at ${lo} returned ${raw.length} of ${hi - lo} bytes`);
    const win = this.win;
    // a short read (most refills: a copy's bytes and the margins) is copied by hand: set() costs more
    if (raw.length <= 256) for (let j = 0; j < raw.length; j++) win[j] = raw[j]!;
    else win.set(raw, 0);
    if (this.inplace) this.viewRegion(lo, hi);
    else applyFilter(this.filter, this.win, lo, true, 0, hi - lo);
    if (this.predFlags !== 0 && !this.inplace) mapReferences(this.predFlags, this.win, lo, this.map, this.oldSize, this.predBase, this.sectorSize, hi - lo, this.wasm, this.eh);
    this.winStart = a;
    this.winEnd = b;
    this.winOff = a - lo;
  }

  /**
   * In-place: the region as copies see it, sector by sector: a rewritten sector holds the new image
   * (filtered, up to the new size), a stash its whole sector (filtered), any other the base
   * (filtered and mapped, up to the old size). A
   * map sees a sector's bytes with FILTER_MARGIN zero bytes on each side in place of its neighbours
   * (as the encoder does, see sectorMappedBase), so what it decides never depends on them.
   */
  private viewRegion(lo: number, hi: number): void {
    const S = this.sectorSize;
    const win = this.win;
    const tmp = this.mapTmp;
    const M = FILTER_MARGIN;
    for (let s = lo; s < hi; ) {
      const m = Math.floor(s / S);
      const e = Math.min(hi, (m + 1) * S);
      const isNew = m < this.nSteps && ((this.written[m >> 3]! >> (m & 7)) & 1) === 1;
      const isStash = !isNew && m < this.nRegion && ((this.stashed[m >> 3]! >> (m & 7)) & 1) === 1;
      const valid = Math.min(e, isNew ? this.newSize : isStash ? e : this.oldSize);
      if (valid > s) {
        applyFilter(this.filter, win, lo, true, s - lo, valid - lo, S);
        if (!isNew && !isStash && this.predFlags !== 0) {
          const lf = s % S === 0 && s > 0 ? M : 0;
          const rf = valid % S === 0 && valid < this.oldSize ? M : 0;
          const n = valid - s;
          tmp.fill(0, 0, lf + n + rf);
          tmp.set(win.subarray(s - lo, valid - lo), lf);
          mapReferences(this.predFlags, tmp.subarray(0, lf + n + rf), s - lf, this.map, this.oldSize, this.predBase, S, lf + n + rf, this.wasm, this.eh);
          win.set(tmp.subarray(lf, lf + n), s - lo);
        }
      }
      s = e;
    }
    if (this.straddle) {
      // a call across a boundary is filtered when both sectors hold the base (neither rewritten nor a
      // stash) or both the new image (see INPLACE_STRADDLE); else each half stays as its sector has it
      const has = (bits: Uint8Array, m: number): boolean => (((bits[m >> 3] ?? 0) >> (m & 7)) & 1) === 1;
      const oldS = (m: number): boolean => m < this.nRegion && !has(this.written, m) && !has(this.stashed, m);
      const newS = (m: number): boolean => has(this.written, m);
      for (let b = Math.ceil((lo + 2) / S) * S; b + 2 <= hi; b += S) {
        const m = b / S;
        const bothOld = b + 2 <= this.oldSize && oldS(m - 1) && oldS(m);
        const bothNew = b + 2 <= this.newSize && newS(m - 1) && newS(m);
        if (bothOld || bothNew) applyFilter(this.filter, win, lo, true, b - 2 - lo, b + 2 - lo, 0);
      }
    }
  }

  /** The current copy, on across step ranges when operations flow (INPLACE_FLOW); false when the input ran out. */
  private copy(out: (image: Uint8Array) => void, final: boolean): boolean {
    for (;;) {
      const r = this.copyInRange(out, final);
      if (r !== COPY_RANGE_END) return r === COPY_DONE;
      this.flowOn();
    }
  }

  /** The copy up to the step range's end (INPLACE_FLOW), else to its end: COPY_DONE, COPY_STALLED or COPY_RANGE_END. */
  private copyInRange(out: (image: Uint8Array) => void, final: boolean): number {
    // the hot loop of apply: coder, positions and run state in locals, written back on every exit
    const outBuf = this.outBuf;
    // in-place: output bytes [rpLo, rpHi) were replayed from the region (nothing to read for them)
    const rpLo = this.rpLo;
    const rpHi = this.rpHi;
    // INPLACE_FLOW: where the step range's output ends (the copy goes on in the next range)
    const cap = this.flow ? this.sectorEnd - this.outBase : Infinity;
    const probs = this.probs;
    const buf = this.buf;
    const flushAt = this.inplace ? Infinity : outBuf.length - 4;
    const stop = (final ? this.end + PAD : this.end) - 16 - 64; // a run and its byte need at most 64 input bytes
    const zrunTree = L.zrun.tree;
    const zrunMant = L.zrun.mant;
    const laneMant = L.zrunLaneMant;
    const dbyte = L.dbyte;
    let range = this.range;
    let code = this.code;
    let pos = this.pos;
    let copyRem = this.copyRem;
    let zrem = this.zrem;
    let znz = this.znz;
    let newPos = this.newPos;
    let oldPos = this.oldPos;
    let outFill = this.outFill;
    let hist = this.hist;
    let prevDiff = this.prevDiff;
    let prev = this.prev;
    let substHit = this.substHit;
    const table = this.subst;
    const substProbs = L.subst;
    const narrow = narrowCode(this.filter);
    let stalled = false;
    let crossed = false;
    while (copyRem > 0) {
      if (outFill >= flushAt) {
        this.outFill = outFill;
        this.flush(out, false);
        outFill = this.outFill;
      }
      if (outFill >= cap) {
        crossed = true;
        break;
      }
      if (zrem === 0 && znz === 0) {
        // the next run: (zeros + 1) before a non-zero difference, or 0 = the rest of the copy is zero
        if (pos > stop) {
          if (final) throw new FormatError("truncated", "delta patch ends before the new image is complete");
          stalled = true;
          break;
        }
        // length model (see RangeEncoder.len): 5-bit class k, up to 3 mantissa bits, then direct bits
        const tb = zrunTree + zrunCtx(newPos, hist, copyRem, narrow) * 32;
        let m = 1;
        while (m < 32) {
          const i = tb + m;
          const pr = probs[i]!;
          const bound = Math.imul(range >>> PROB_BITS, pr);
          if ((code ^ SIGN) < (bound ^ SIGN)) {
            range = bound;
            probs[i] = pr + ((PROB_ONE - pr) >> MOVE_BITS);
            m <<= 1;
          } else {
            code = (code - bound) | 0;
            range = (range - bound) | 0;
            probs[i] = pr - (pr >> MOVE_BITS);
            m = (m << 1) | 1;
          }
          while ((range & TOPMASK) === 0) {
            range <<= 8;
            code = (code << 8) | buf[pos++]!;
          }
        }
        const k = m - 32;
        if (k > 30) throw corrupt("length field out of range");
        let v = 1;
        if (k > 0) {
          const mb = (table === null ? zrunMant : laneMant + (newPos & (narrow ? 1 : 3)) * 256) + k * 8;
          let b = k - 1;
          for (; b >= 0 && v < 8; b--) {
            const i = mb + v;
            const pr = probs[i]!;
            const bound = Math.imul(range >>> PROB_BITS, pr);
            if ((code ^ SIGN) < (bound ^ SIGN)) {
              range = bound;
              probs[i] = pr + ((PROB_ONE - pr) >> MOVE_BITS);
              v <<= 1;
            } else {
              code = (code - bound) | 0;
              range = (range - bound) | 0;
              probs[i] = pr - (pr >> MOVE_BITS);
              v = (v << 1) | 1;
            }
            while ((range & TOPMASK) === 0) {
              range <<= 8;
              code = (code << 8) | buf[pos++]!;
            }
          }
          for (; b >= 0; b--) {
            range >>>= 1;
            let bit = 0;
            if ((code ^ SIGN) >= (range ^ SIGN)) {
              code = (code - range) | 0;
              bit = 1;
            }
            v = v * 2 + bit;
            if ((range & TOPMASK) === 0) {
              range <<= 8;
              code = (code << 8) | buf[pos++]!;
            }
          }
        }
        v -= 1;
        if (v === 0) {
          hist = (copyRem > 0 ? 0 : hist & 1) | 6;
          zrem = copyRem;
        } else {
          if (v > copyRem) throw corrupt("difference run past the end of its copy", { at: newPos });
          hist = (v === 1 ? hist & 1 : 0) | (runClass(v - 1) << 1);
          zrem = v - 1;
          znz = 1;
        }
      }
      if (zrem > 0) {
        let n = Math.min(zrem, outBuf.length - outFill, cap - outFill);
        const f = outFill;
        if (f < rpHi && f >= rpLo) n = Math.min(n, rpHi - f);
        else {
          if (f < rpLo) n = Math.min(n, rpLo - f);
          if (oldPos < this.winStart || oldPos >= this.winEnd) {
            this.copyRem = copyRem;
            this.refill(oldPos);
          }
          n = Math.min(n, this.winEnd - oldPos);
          const win = this.win;
          const o = oldPos - this.winStart + this.winOff;
          if (n <= 256) for (let j = 0; j < n; j++) outBuf[f + j] = win[o + j]!;
          else outBuf.set(win.subarray(o, o + n), f);
        }
        // (never true: a guard, so that a slip in the bounds above fails instead of looping forever)
        if (n <= 0) throw corrupt("copy made no progress", { at: newPos });
        zrem -= n;
        copyRem -= n;
        newPos += n;
        oldPos += n;
        outFill += n;
        prev = outBuf[outFill - 1]!;
        continue;
      }
      // one non-zero difference byte
      if (pos > stop) {
        if (final) throw new FormatError("truncated", "delta patch ends before the new image is complete");
        stalled = true;
        break;
      }
      const ctx = dbyteCtx(newPos, hist, prevDiff, narrow);
      // the base byte, unless this output byte is replayed (in place: the base there is gone)
      const reads = outFill >= rpHi || outFill < rpLo;
      let o = 0;
      if (reads) {
        if (oldPos < this.winStart || oldPos >= this.winEnd) {
          this.copyRem = copyRem;
          this.refill(oldPos);
        }
        o = this.win[oldPos - this.winStart + this.winOff]!;
      }
      if (table !== null) {
        // CODING_LANES: "the table's difference for this base byte" first
        const i = substProbs + ctx * 2 + substHit;
        const pr = probs[i]!;
        const bound = Math.imul(range >>> PROB_BITS, pr);
        if ((code ^ SIGN) < (bound ^ SIGN)) {
          range = bound;
          probs[i] = pr + ((PROB_ONE - pr) >> MOVE_BITS);
          substHit = 0;
        } else {
          code = (code - bound) | 0;
          range = (range - bound) | 0;
          probs[i] = pr - (pr >> MOVE_BITS);
          substHit = 1;
        }
        while ((range & TOPMASK) === 0) {
          range <<= 8;
          code = (code << 8) | buf[pos++]!;
        }
      }
      if (table !== null && substHit === 1) {
        if (reads) outBuf[outFill] = (o + table[substKey(newPos, o, narrow)]!) & 0xff;
        prevDiff = SUBST_HIT;
      } else {
        const tb = dbyte + ctx * 256;
        let m = 1;
        while (m < 256) {
          // branch-free on the bit, as for literals (see literal())
          const i = tb + m;
          const pr = probs[i]!;
          const bound = Math.imul(range >>> PROB_BITS, pr);
          const diff = (code - bound) | 0;
          const lt = ((~code & bound) | (~(code ^ bound) & diff)) >>> 31;
          const if0 = -lt;
          const if1 = ~if0;
          range = (bound & if0) | ((range - bound) & if1);
          code = (code & if0) | (diff & if1);
          probs[i] = pr + (((PROB_ONE - pr) >> MOVE_BITS) & if0) - ((pr >> MOVE_BITS) & if1);
          m = (m << 1) | (lt ^ 1);
          while ((range & TOPMASK) === 0) {
            range <<= 8;
            code = (code << 8) | buf[pos++]!;
          }
        }
        const d = m - 256;
        if (reads) outBuf[outFill] = (o + d) & 0xff;
        // (replayed: the base byte is the new one less the difference)
        if (table !== null) table[substKey(newPos, reads ? o : (outBuf[outFill]! - d) & 0xff, narrow)] = d;
        prevDiff = d;
      }
      prev = outBuf[outFill]!;
      hist |= 1;
      znz = 0;
      copyRem--;
      newPos++;
      oldPos++;
      outFill++;
    }
    this.range = range;
    this.code = code;
    this.pos = pos;
    this.copyRem = copyRem;
    this.zrem = zrem;
    this.znz = znz;
    this.newPos = newPos;
    this.oldPos = oldPos;
    this.outFill = outFill;
    this.hist = hist;
    this.prevDiff = prevDiff;
    this.prev = prev;
    this.substHit = substHit;
    return crossed ? COPY_RANGE_END : stalled ? COPY_STALLED : COPY_DONE;
  }

  /** An exact copy from the output itself, `histDist` bytes back (LZ77 style; may overlap). */
  private histCopy(out: (image: Uint8Array) => void): void {
    const outBuf = this.outBuf;
    const ring = this.ring;
    const M = HISTORY_BYTES - 1;
    while (this.copyRem > 0) {
      if (this.outFill >= outBuf.length - 4) this.flush(out, false);
      let n = Math.min(this.copyRem, outBuf.length - this.outFill);
      const ob = this.outBase;
      let f = this.outFill;
      let q = this.newPos - this.histDist;
      this.copyRem -= n;
      this.newPos += n;
      this.outFill += n;
      for (; n > 0; n--, f++, q++) outBuf[f] = q >= ob ? outBuf[q - ob]! : ring[q & M]!;
      this.prev = outBuf[f - 1]!;
    }
  }

  /** Keeps the filtered bytes of the output buffer (not yet unfiltered) in the history ring. */
  private toRing(): void {
    let n = this.outFill;
    let src = 0;
    let q = this.outBase;
    if (n > HISTORY_BYTES) {
      src = n - HISTORY_BYTES;
      q += src;
      n = HISTORY_BYTES;
    }
    while (n > 0) {
      const at = q & (HISTORY_BYTES - 1);
      const k = Math.min(n, HISTORY_BYTES - at);
      this.ring.set(this.outBuf.subarray(src, src + k), at);
      src += k;
      q += k;
      n -= k;
    }
  }

  private literal(out: (image: Uint8Array) => void, final: boolean): boolean {
    const outBuf = this.outBuf;
    const probs = this.probs;
    const lit = L.lit;
    while (this.litRem > 0) {
      if (!this.inplace && this.outFill >= outBuf.length - 4) this.flush(out, false);
      if (this.flow && this.outFill === this.sectorEnd - this.outBase) this.flowOn();
      let n = Math.min(this.litRem, outBuf.length - this.outFill, this.budget(16, final), this.flow ? this.sectorEnd - this.outBase - this.outFill : Infinity);
      if (n <= 0) {
        if (final) throw new FormatError("truncated", "delta patch ends before the new image is complete");
        return false;
      }
      let p = this.newPos;
      let f = this.outFill;
      let prev = this.prev;
      let range = this.range;
      let code = this.code;
      let pos = this.pos;
      const buf = this.buf;
      this.litRem -= n;
      this.newPos += n;
      this.outFill += n;
      for (; n > 0; n--, p++, f++) {
        const base = lit + litCtx(p, prev) * 256;
        let m = 1;
        while (m < 256) {
          // without branches on the decoded bit (literal bits are close to random: a branch would
          // be mispredicted often): `lt` is 1 when code < bound as unsigned numbers (the borrow of
          // code - bound), then masks select each outcome
          const i = base + m;
          const pr = probs[i]!;
          const bound = Math.imul(range >>> PROB_BITS, pr);
          const diff = (code - bound) | 0;
          const lt = ((~code & bound) | (~(code ^ bound) & diff)) >>> 31;
          const if0 = -lt;
          const if1 = ~if0;
          range = (bound & if0) | ((range - bound) & if1);
          code = (code & if0) | (diff & if1);
          probs[i] = pr + (((PROB_ONE - pr) >> MOVE_BITS) & if0) - ((pr >> MOVE_BITS) & if1);
          m = (m << 1) | (lt ^ 1);
          while ((range & TOPMASK) === 0) {
            range <<= 8;
            code = (code << 8) | buf[pos++]!;
          }
        }
        prev = m - 256;
        outBuf[f] = prev;
      }
      this.range = range;
      this.code = code;
      this.pos = pos;
      this.prev = prev;
    }
    return true;
  }

  private flush(out: (image: Uint8Array) => void, final: boolean): void {
    if (this.inplace) return;
    this.toRing();
    let emit = this.outFill;
    if (this.filter !== 0) {
      const stop = applyFilter(this.filter, this.outBuf, this.outBase, false, 0, this.outFill);
      if (!final) emit = Math.min(stop, this.outFill);
    }
    if (emit > 0) {
      const chunk = this.outBuf.slice(0, emit);
      this.sha?.update(chunk);
      this.produced += emit;
      this.outBuf.copyWithin(0, emit, this.outFill);
      this.outFill -= emit;
      this.outBase += emit;
      out(chunk);
    }
  }

  // ---- save / restore ---------------------------------------------------------------------------

  private static readonly NUMS = [
    "phase", "st", "filter", "newSize", "oldSize", "range", "code", "copyRem", "litRem", "oldPos", "curCopyLen", "newPos",
    "outBase", "produced", "consumed", "rep0", "rep1", "prevOldEnd", "lastLit", "hist", "prevDiff", "prev", "kind", "trailing",
    "predFlags", "predBase", "wasmBase", "wasmDelta", "wasmStart", "wasmCode", "ehHdr", "ehHdrLen", "ehAt", "ehLen", "ehArm", "ehArmLen", "mapN", "mapI", "mapPrevEnd", "mapPrevShift", "histDist", "zrem", "znz", "coding", "substHit",
  ] as const;

  /** Everything needed to resume after the bytes pushed so far (call between push() calls). */
  saveState(): Uint8Array {
    const nums = DeltaDecoder.NUMS;
    const mapBytes = this.mapN * 12 + 4 + (this.wasm?.calls.byteLength ?? 0);
    const size = 8 + nums.length * 8 + 4 + this.outFill + HISTORY_BYTES + 4 + this.carry.length + this.probs.byteLength + (this.subst?.length ?? 0) + mapBytes;
    const outb = new Uint8Array(size);
    const dv = new DataView(outb.buffer);
    let o = 0;
    dv.setUint32(o, STATE_MAGIC);
    dv.setUint32(o + 4, nums.length);
    o += 8;
    const self = this as unknown as Record<string, number>;
    for (const k of nums) {
      dv.setFloat64(o, k === "range" || k === "code" ? self[k]! >>> 0 : self[k]!);
      o += 8;
    }
    dv.setUint32(o, this.outFill);
    o += 4;
    outb.set(this.outBuf.subarray(0, this.outFill), o);
    o += this.outFill;
    outb.set(this.ring, o);
    o += HISTORY_BYTES;
    dv.setUint32(o, this.carry.length);
    o += 4;
    outb.set(this.carry, o);
    o += this.carry.length;
    for (let i = 0; i < this.probs.length; i++, o += 2) dv.setUint16(o, this.probs[i]!, true);
    if (this.subst) {
      outb.set(this.subst, o);
      o += this.subst.length;
    }
    const all = this.mapAll ?? this.map;
    for (const arr of [all.starts, all.ends, all.shifts]) for (let i = 0; i < this.mapN; i++, o += 4) dv.setInt32(o, arr[i]!, true);
    // the WebAssembly call runs (from the header: a resume does not read it again)
    const calls = this.wasm?.calls ?? new Int32Array(0);
    dv.setUint32(o, calls.length);
    o += 4;
    for (let i = 0; i < calls.length; i++, o += 4) dv.setInt32(o, calls[i]!, true);
    return outb;
  }

  /**
   * A decoder continuing from `state` (from saveState) with the same base and options. With
   * targetSha256, `opts.emitted` must give the image bytes handed out before the save.
   */
  static restore(state: Uint8Array, base: RandomAccessReader, opts: DeltaDecoderOptions = {}): DeltaDecoder {
    const bad = (why: string): FormatError => new FormatError("malformed", `saved delta decoder state is invalid: ${why}`);
    const d = new DeltaDecoder(base, opts);
    const nums = DeltaDecoder.NUMS;
    const dv = new DataView(state.buffer, state.byteOffset, state.byteLength);
    const need = (n: number): void => {
      if (o + n > state.length) throw bad("too short");
    };
    let o = 0;
    need(8);
    if (dv.getUint32(0) !== STATE_MAGIC || dv.getUint32(4) !== nums.length) throw bad("not a state of this fota version's delta decoder (restart the apply)");
    o = 8;
    need(nums.length * 8);
    const self = d as unknown as Record<string, number>;
    for (const k of nums) {
      const v = dv.getFloat64(o);
      if (!Number.isSafeInteger(v)) throw bad(`field ${k}`);
      self[k] = v;
      o += 8;
    }
    need(4);
    const fill = dv.getUint32(o);
    o += 4;
    need(fill);
    if (fill > d.outBuf.length) throw bad("output buffer");
    d.outBuf.set(state.subarray(o, o + fill));
    d.outFill = fill;
    o += fill;
    need(HISTORY_BYTES);
    d.ring.set(state.subarray(o, o + HISTORY_BYTES));
    o += HISTORY_BYTES;
    need(4);
    const cl = dv.getUint32(o);
    o += 4;
    need(cl);
    d.carry = new Uint8Array(state.subarray(o, o + cl));
    o += cl;
    need(d.probs.byteLength);
    for (let i = 0; i < d.probs.length; i++, o += 2) d.probs[i] = dv.getUint16(o, true);
    if ((d.coding & ~CODING_LANES) !== 0 || (d.substHit !== 0 && d.substHit !== 1)) throw bad("coding flags");
    d.setCoding(d.coding);
    if (d.subst) {
      need(d.subst.length);
      d.subst.set(state.subarray(o, o + d.subst.length));
      o += d.subst.length;
    }
    if (d.mapN > (opts.maxMapSegments ?? 16384) || d.mapI > d.mapN) throw bad("address map");
    need(d.mapN * 12);
    d.map = new AddressMap(new Int32Array(d.mapN), new Int32Array(d.mapN), new Int32Array(d.mapN));
    for (const arr of [d.map.starts, d.map.ends, d.map.shifts]) for (let i = 0; i < d.mapN; i++, o += 4) arr[i] = dv.getInt32(o, true);
    need(4);
    const nCalls = dv.getUint32(o);
    o += 4;
    if (nCalls > 2 * WASM_MAX_CALL_RUNS || nCalls % 2 !== 0) throw bad("function index runs");
    need(nCalls * 4);
    const calls: number[] = [];
    for (let i = 0; i < nCalls; i++, o += 4) calls.push(dv.getInt32(o, true));
    if (d.mapN > 0 && d.mapI === d.mapN) d.splitExt();
    if (o !== state.length) throw bad("trailing bytes");
    const checks: Array<[string, boolean]> = [
      ["phase", d.phase >= Phase.Header && d.phase <= Phase.Map],
      ["step", d.st >= St.Op && d.st <= St.Sector],
      ["filter", filterName(d.filter) !== undefined],
      ["map flags", d.predFlags <= PRED_ALL && (d.predFlags & ~PRED_ALL) === 0 && predFilterOk(d.predFlags, d.filter)],
      ["position", d.newPos >= 0 && d.newPos <= d.newSize && d.outBase + d.outFill === d.newPos && d.produced === d.outBase],
      ["runs", d.copyRem >= 0 && d.litRem >= 0 && d.newPos + d.copyRem + d.litRem <= d.newSize],
      ["difference run", d.zrem >= 0 && (d.znz === 0 || d.znz === 1) && d.zrem + d.znz <= d.copyRem],
      ["copy", d.copyRem === 0 || d.histDist !== 0 || (d.oldPos >= 0 && d.oldPos + d.copyRem <= d.oldSize)],
      ["history", d.histDist >= 0 && d.histDist <= Math.min(HISTORY_BYTES, d.newPos) && (d.histDist === 0 || !d.inplace)],
      ["coder", d.range >= 0 && d.range <= 0xffffffff && d.code >= 0 && d.code <= 0xffffffff],
    ];
    const failed = checks.find((c) => !c[1]);
    if (failed) throw bad(`inconsistent ${failed[0]}`);
    d.setMargin(d.predFlags);
    if (d.predFlags & PRED.wasmAddr) {
      if (d.wasmStart < 0 || d.wasmCode < 0 || d.wasmParamsBad(d.oldSize, calls)) throw bad("WebAssembly parameters");
      d.wasm = { base: d.wasmBase, delta: d.wasmDelta, dataStart: d.wasmStart, codeStart: d.wasmCode, calls: Int32Array.from(calls) };
    } else if (calls.length > 0) throw bad("function index runs without the WebAssembly map");
    if (d.predFlags & PRED.elfEh && !d.setEh(d.oldSize)) throw bad("unwind tables");
    if (d.sha !== null) {
      if (!opts.emitted) throw new UsageError("bad-argument", "resuming a delta apply that checks the target SHA-256 needs the image bytes already written (the emitted option)");
      if (opts.emitted.size < d.produced) {
        throw new StorageError("io-failed", `the written part of the image has ${opts.emitted.size} bytes; the saved state has handed out ${d.produced}`);
      }
      hashReader(d.sha, opts.emitted, d.produced, "written image");
    }
    d.range |= 0;
    d.code |= 0;
    if (d.phase !== Phase.Header && d.phase !== Phase.End) d.checkBase();
    else d.baseChecked = d.phase === Phase.End;
    return d;
  }
}
