// The byte interfaces every part shares, and the full-image payload codecs.
//
// Block-compressed payload ("brotli", "deflate"): a sequence of frames
//   varint rawLen | varint compLen | compLen bytes      (compLen >= 1: rawLen bytes compressed)
//   varint rawLen | 0             | rawLen bytes        (stored: the block did not shrink)
// Each block is compressed on its own, so a decoder is synchronous and needs memory for one block.
import { brotliCompressSync, brotliDecompressSync, constants as Z, deflateRawSync, inflateRawSync } from "node:zlib";
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, IntegrityError, UsageError } from "../errors.js";
import { bytesEqual, concatBytes, encodeVarint, readVarint } from "./bytes.js";
import { COMPRESSIONS, FORMAT, type CompressionName } from "./constants.js";
import type { Encoding, Manifest } from "./manifest.js";

/** Synchronous random access to bytes (a base image in flash, a file, a buffer). */
export interface RandomAccessReader {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/**
 * Turns payload bytes into image bytes, in order. `push` may be called with any split of the
 * payload; `out` receives image bytes (valid only during the call: copy to keep). `finish` flushes
 * and checks that the payload ended where a complete stream ends. `saveState` (when offered)
 * captures everything needed to continue after a restart from exactly the bytes pushed so far.
 */
export interface PayloadDecoder {
  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void;
  finish(out: (image: Uint8Array) => void): void;
  saveState?(): Uint8Array;
}

/** A RandomAccessReader over bytes in memory. */
export function bufferReader(bytes: Uint8Array): RandomAccessReader {
  return {
    size: bytes.length,
    read(offset: number, length: number): Uint8Array {
      if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > bytes.length) {
        throw new RangeError(`read(${offset}, ${length}) outside 0..${bytes.length}`);
      }
      return bytes.subarray(offset, offset + length);
    },
  };
}

// Writer side ---------------------------------------------------------------------------------------

function brotliWindowBits(blockBytes: number): number {
  return Math.min(Z.BROTLI_MAX_WINDOW_BITS, Math.max(Z.BROTLI_MIN_WINDOW_BITS, Math.ceil(Math.log2(Math.max(2, blockBytes)))));
}

function compressBlock(block: Uint8Array, compression: Exclude<CompressionName, "none">, config: FotaConfig): Uint8Array {
  if (compression === "brotli") {
    return brotliCompressSync(block, {
      params: {
        [Z.BROTLI_PARAM_QUALITY]: config.format.brotliQuality,
        [Z.BROTLI_PARAM_LGWIN]: brotliWindowBits(block.length),
        [Z.BROTLI_PARAM_SIZE_HINT]: block.length,
      },
    });
  }
  return deflateRawSync(block, { level: 9 });
}

/**
 * Compresses an image into a block-compressed payload (or returns it as is for "none").
 * `onProgress(done, total)` is called after each block.
 */
export function compressImage(image: Uint8Array, compression: CompressionName, config: FotaConfig = DEFAULT_CONFIG, onProgress?: (done: number, total: number) => void): Uint8Array {
  if (!COMPRESSIONS.includes(compression)) throw new UsageError("bad-argument", `unknown compression ${String(compression)}; use one of ${COMPRESSIONS.join(", ")}`);
  if (compression === "none") return image;
  const bs = config.format.compressBlockBytes;
  if (bs < 1 || bs > config.format.maxCompressBlockBytes) throw new UsageError("bad-argument", `compression block size ${bs} is outside 1..${config.format.maxCompressBlockBytes}`);
  const parts: Uint8Array[] = [];
  for (let o = 0; o < image.length; o += bs) {
    const block = image.subarray(o, o + bs);
    const packed = compressBlock(block, compression, config);
    parts.push(encodeVarint(block.length));
    if (packed.length < block.length) parts.push(encodeVarint(packed.length), packed);
    else parts.push(encodeVarint(0), block);
    onProgress?.(Math.min(o + bs, image.length), image.length);
  }
  return concatBytes(parts);
}

// Reader side ---------------------------------------------------------------------------------------

export interface FullImageDecoderOptions {
  config?: FotaConfig;
  /** Refuse to produce more image bytes than this (the manifest's target size). */
  targetSize?: number;
  /** A state from saveState() to continue from. */
  state?: Uint8Array;
}

function checkOutput(total: number, limit: number | undefined): void {
  if (limit !== undefined && total > limit) {
    throw new IntegrityError("size-mismatch", `payload decodes to more than the ${limit}-byte target image`, { details: { limit } });
  }
}

function encodeState(fields: number[], tail: Uint8Array): Uint8Array {
  return concatBytes([FORMAT.decoderStateMagic, ...fields.map(encodeVarint), encodeVarint(tail.length), tail]);
}

function decodeState(state: Uint8Array, count: number): { fields: number[]; tail: Uint8Array } {
  const bad = () => new FormatError("malformed", "saved decoder state is not a fota block decoder state");
  if (state.length < 4 || !bytesEqual(state.subarray(0, 4), FORMAT.decoderStateMagic)) throw bad();
  let o = 4;
  const fields: number[] = [];
  for (let i = 0; i <= count; i++) {
    const r = readVarint(state, o, state.length, "decoder state");
    if (!r) throw bad();
    fields.push(r.value);
    o = r.next;
  }
  const tailLen = fields.pop()!;
  if (o + tailLen !== state.length) throw bad();
  return { fields, tail: state.slice(o) };
}

/** "none": the payload is the image. */
class StoredDecoder implements PayloadDecoder {
  private produced = 0;
  constructor(private readonly opts: FullImageDecoderOptions) {
    if (opts.state) this.produced = decodeState(opts.state, 1).fields[0]!;
  }
  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void {
    if (bytes.length === 0) return;
    checkOutput(this.produced + bytes.length, this.opts.targetSize);
    this.produced += bytes.length;
    out(bytes);
  }
  finish(): void {}
  saveState(): Uint8Array {
    return encodeState([this.produced], new Uint8Array(0));
  }
}

/** "brotli" / "deflate": frames of independently compressed blocks. */
class BlockDecoder implements PayloadDecoder {
  private pending: Uint8Array = new Uint8Array(0);
  private blocks = 0;
  private produced = 0;
  /** Payload bytes consumed by complete frames. */
  private consumed = 0;
  private readonly maxBlock: number;

  constructor(
    private readonly compression: Exclude<CompressionName, "none">,
    private readonly opts: FullImageDecoderOptions,
  ) {
    this.maxBlock = (opts.config ?? DEFAULT_CONFIG).format.maxCompressBlockBytes;
    if (opts.state) {
      const { fields, tail } = decodeState(opts.state, 3);
      [this.blocks, this.produced, this.consumed] = fields as [number, number, number];
      this.pending = tail;
    }
  }

  push(bytes: Uint8Array, out: (image: Uint8Array) => void): void {
    if (bytes.length === 0) return;
    let buf = this.pending.length ? concatBytes([this.pending, bytes]) : bytes;
    let o = 0;
    while (o < buf.length) {
      const at = this.consumed;
      const raw = readVarint(buf, o, buf.length, "compressed block header");
      if (!raw) break;
      const comp = readVarint(buf, raw.next, buf.length, "compressed block header");
      if (!comp) break;
      if (raw.value < 1 || raw.value > this.maxBlock) {
        throw new FormatError("limit-exceeded", `compressed block ${this.blocks} at payload byte ${at} declares ${raw.value} image bytes; the limit is 1..${this.maxBlock}`, {
          details: { block: this.blocks, offset: at, rawBytes: raw.value },
        });
      }
      if (comp.value >= raw.value) {
        throw new FormatError("malformed", `compressed block ${this.blocks} at payload byte ${at} is ${comp.value} bytes for ${raw.value} image bytes (it should have been stored)`, {
          details: { block: this.blocks, offset: at },
        });
      }
      const bodyLen = comp.value === 0 ? raw.value : comp.value;
      if (buf.length - comp.next < bodyLen) break;
      const body = buf.subarray(comp.next, comp.next + bodyLen);
      const image = comp.value === 0 ? body : this.inflate(body, raw.value, at);
      checkOutput(this.produced + image.length, this.opts.targetSize);
      this.produced += image.length;
      this.blocks++;
      this.consumed += comp.next + bodyLen - o;
      o = comp.next + bodyLen;
      out(image);
    }
    this.pending = buf.slice(o);
    buf = this.pending;
    if (this.pending.length > this.maxBlock + 2 * FORMAT.maxVarintBytes) {
      throw new FormatError("malformed", `compressed block at payload byte ${this.consumed} does not end within ${this.maxBlock} bytes`);
    }
  }

  private inflate(body: Uint8Array, rawLen: number, at: number): Uint8Array {
    let image: Uint8Array;
    try {
      image =
        this.compression === "brotli"
          ? brotliDecompressSync(body, { maxOutputLength: rawLen })
          : inflateRawSync(body, { maxOutputLength: rawLen });
    } catch (e) {
      throw new FormatError("malformed", `compressed block ${this.blocks} at payload byte ${at} does not decompress (${this.compression}): ${(e as Error).message}`, {
        cause: e,
        details: { block: this.blocks, offset: at },
      });
    }
    if (image.length !== rawLen) {
      throw new FormatError("malformed", `compressed block ${this.blocks} at payload byte ${at} decompresses to ${image.length} bytes, not ${rawLen}`, {
        details: { block: this.blocks, offset: at },
      });
    }
    return image;
  }

  finish(): void {
    if (this.pending.length > 0) {
      throw new FormatError("truncated", `payload ends inside compressed block ${this.blocks} (${this.pending.length} bytes of it)`, { details: { block: this.blocks } });
    }
  }

  saveState(): Uint8Array {
    return encodeState([this.blocks, this.produced, this.consumed], this.pending);
  }
}

/** A decoder for a full-image payload encoding (compression none, brotli or deflate; no filter). */
export function createFullImageDecoder(encoding: Encoding, opts: FullImageDecoderOptions = {}): PayloadDecoder {
  if (encoding.delta !== undefined) {
    throw new FormatError("unsupported-encoding", `payload is a delta (${encoding.delta}); full-image decoders do not apply deltas`);
  }
  if (encoding.filter !== "none") throw new FormatError("unsupported-encoding", `full-image payload filter "${encoding.filter}" is not supported`);
  if (encoding.params !== undefined && encoding.params.length > 0) throw new FormatError("unsupported-encoding", `full-image compression ${encoding.compression} takes no parameters`);
  const c = encoding.compression;
  if (c === "none") return new StoredDecoder(opts);
  if (c === "brotli" || c === "deflate") return new BlockDecoder(c, opts);
  throw new FormatError("unsupported-encoding", `payload compression "${c}" is not supported (known: ${COMPRESSIONS.join(", ")})`, { details: { compression: c } });
}

/** The payload decoder of a full package (DELTA's openPayloadDecoder handles both kinds). */
export function openFullImageDecoder(manifest: Manifest, opts: Omit<FullImageDecoderOptions, "targetSize"> = {}): PayloadDecoder {
  if (manifest.kind !== "full") throw new FormatError("unsupported-encoding", `a ${manifest.kind} package needs the delta decoder`);
  return createFullImageDecoder(manifest.encoding, { ...opts, targetSize: manifest.target.size });
}
