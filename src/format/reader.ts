// The streaming package reader. Feed it the package in any chunk sizes; it
//   1. reads the fixed header and checks the lengths against config.format,
//   2. buffers the manifest and signature block, verifies the signatures against the trusted keys,
//      and only then decodes the manifest and calls onManifest (which may refuse the package),
//   3. buffers one payload chunk at a time, hashes it, and hands it out only when its digest matches
//      the signed manifest,
//   4. checks the whole-payload SHA-256 after the last chunk.
// It never hands out unverified bytes. saveState() captures the last verified chunk boundary so a
// reader re-created with PackageReader.restore() continues there after a restart.
import { createHash, type Hash } from "node:crypto";
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, IntegrityError, StateError, UsageError } from "../errors.js";
import { bytesEqual, concatBytes, encodeVarint, readVarint, toHex } from "./bytes.js";
import { FORMAT } from "./constants.js";
import { loadTrustedKey, type PublicKeyInput, type TrustedKey } from "./keys.js";
import { decodeManifest, type Manifest } from "./manifest.js";
import { decodeHeader, layoutOf, type PackageHeader, type PackageLayout } from "./package.js";
import type { RandomAccessReader } from "./payload.js";
import { decodeSignatureBlock, verifySignatures } from "./signature.js";

export interface PackageInfo {
  header: PackageHeader;
  layout: PackageLayout;
  /** Hex ids of the trusted keys whose signatures verified. */
  verifiedKeyIds: string[];
}

export interface PackageReaderOptions {
  /** Public keys to trust (at least one). */
  trustedKeys: readonly PublicKeyInput[];
  /** Distinct trusted signatures required (default 1). */
  minSignatures?: number;
  config?: FotaConfig;
  /**
   * Called once, after the signatures verified and the manifest decoded, before any payload byte is
   * handed out. Throw (e.g. from the check functions) to refuse the package.
   */
  onManifest?: (manifest: Manifest, info: PackageInfo) => void;
}

export interface RestoreOptions extends PackageReaderOptions {
  /**
   * The payload bytes verified before the restart (payload offsets 0..resume point), if the caller
   * still has them (e.g. a stored package). They are re-hashed so the whole-payload digest is checked
   * at the end; without them, the end check relies on the per-chunk digests alone.
   */
  payloadPrefix?: RandomAccessReader;
}

/** A run of payload bytes whose digest matched the signed manifest. */
export interface VerifiedChunk {
  /** Chunk number (0-based). */
  index: number;
  /** Offset of the first byte in the payload. */
  offset: number;
  bytes: Uint8Array;
  /** True for the payload's last chunk. */
  last: boolean;
}

export type ReaderPhase = "header" | "prefix" | "payload" | "done" | "failed";

export interface PackageResult {
  manifest: Manifest;
  info: PackageInfo;
  /** True when the whole-payload SHA-256 was computed and matched (false only after a restore without payloadPrefix). */
  payloadDigestChecked: boolean;
}

export class PackageReader {
  private readonly config: FotaConfig;
  private readonly keys: TrustedKey[];
  private readonly opts: PackageReaderOptions;
  private _phase: ReaderPhase = "header";
  private failure: unknown;
  private consumed = 0;
  private prefix: Uint8Array = new Uint8Array(FORMAT.headerBytes);
  private prefixFill = 0;
  private header?: PackageHeader;
  private _manifest?: Manifest;
  private _info?: PackageInfo;
  private chunkIndex = 0;
  private chunk?: Uint8Array;
  private chunkFill = 0;
  private chunkHash?: Hash;
  private total: Hash | undefined = createHash("sha256");

  constructor(opts: PackageReaderOptions) {
    this.opts = opts;
    this.config = opts.config ?? DEFAULT_CONFIG;
    if (!opts.trustedKeys || opts.trustedKeys.length === 0) throw new UsageError("bad-argument", "a package reader needs at least one trusted public key");
    this.keys = opts.trustedKeys.map((k) => loadTrustedKey(k));
  }

  /** Re-creates a reader from saveState() output; feed it package bytes from `resumeOffset` on. */
  static restore(state: Uint8Array, opts: RestoreOptions): PackageReader {
    const bad = (why: string) => new FormatError("malformed", `saved package reader state is unusable: ${why}`);
    if (state.length < 4 || !bytesEqual(state.subarray(0, 4), FORMAT.readerStateMagic)) throw bad("wrong magic");
    const idx = readVarint(state, 4, state.length, "reader state");
    if (!idx) throw bad("cut short");
    const len = readVarint(state, idx.next, state.length, "reader state");
    if (!len || len.next + len.value !== state.length) throw bad("cut short or too long");
    const r = new PackageReader(opts);
    r.push(state.subarray(len.next));
    if (r._phase === "done") return r; // an empty payload: nothing left to resume
    if (r._phase !== "payload") throw bad("it does not hold a whole manifest and signature block");
    const m = r._manifest!;
    const chunks = m.payload.chunkDigests.length;
    if (idx.value > chunks) throw bad(`chunk ${idx.value} of ${chunks}`);
    if (opts.payloadPrefix) {
      const upTo = Math.min(idx.value * m.payload.chunkSize, m.payload.size);
      if (opts.payloadPrefix.size < upTo) throw new UsageError("bad-argument", `payload prefix holds ${opts.payloadPrefix.size} bytes; the resume point needs ${upTo}`);
      for (let i = 0; i < idx.value; i++) {
        const off = i * m.payload.chunkSize;
        const bytes = opts.payloadPrefix.read(off, Math.min(m.payload.chunkSize, m.payload.size - off));
        r.checkChunk(i, bytes);
        r.total!.update(bytes);
      }
    } else {
      r.total = undefined;
    }
    r.chunkIndex = idx.value;
    r.consumed = r._info!.layout.payloadOffset + Math.min(idx.value * m.payload.chunkSize, m.payload.size);
    r._phase = "payload";
    r.chunk = undefined;
    r.chunkFill = 0;
    r.maybeDone();
    return r;
  }

  get phase(): ReaderPhase {
    return this._phase;
  }
  /** The verified manifest (undefined until the signatures verified). */
  get manifest(): Manifest | undefined {
    return this._manifest;
  }
  get info(): PackageInfo | undefined {
    return this._info;
  }
  /** Package bytes accepted so far. */
  get offset(): number {
    return this.consumed;
  }
  /** Package size, once the manifest is known. */
  get totalBytes(): number | undefined {
    return this._info?.layout.totalBytes;
  }
  /** Payload bytes handed out as verified. */
  get verifiedPayloadBytes(): number {
    if (!this._manifest) return 0;
    return Math.min(this.chunkIndex * this._manifest.payload.chunkSize, this._manifest.payload.size);
  }
  /** Package offset a restarted download continues from: the end of the last verified chunk (0 before the manifest verified). */
  get resumeOffset(): number {
    if (!this._info) return 0;
    return this._info.layout.payloadOffset + this.verifiedPayloadBytes;
  }

  /** Feeds package bytes; verified payload chunks go to `out` (each a fresh array the caller may keep). */
  push(bytes: Uint8Array, out?: (chunk: VerifiedChunk) => void): void {
    if (this._phase === "failed") throw this.failure;
    try {
      this.pushInner(bytes, out);
    } catch (e) {
      this._phase = "failed";
      this.failure = e;
      throw e;
    }
  }

  /** Declares the end of input: throws if the package is incomplete. */
  finish(): PackageResult {
    if (this._phase === "failed") throw this.failure;
    if (this._phase !== "done") {
      const total = this.totalBytes;
      const err = new FormatError("truncated", `package ends after ${this.consumed} bytes; it should be ${total ?? "longer"}${total === undefined ? "" : " bytes"}`, {
        details: { received: this.consumed, expected: total ?? null, resumeOffset: this.resumeOffset },
      });
      this._phase = "failed";
      this.failure = err;
      throw err;
    }
    return { manifest: this._manifest!, info: this._info!, payloadDigestChecked: this.total !== undefined };
  }

  /**
   * State to resume at the last verified chunk boundary (see restore). Needs a verified manifest.
   * Also works after a failure in the payload (e.g. a corrupt chunk): the state holds only verified
   * facts, so a restored reader re-fetches from the start of the chunk that failed.
   */
  saveState(): Uint8Array {
    if (!this._info) throw new StateError("bad-transition", `no resumable state in phase ${this._phase} (the manifest is not verified yet)`);
    const prefix = this.prefix.subarray(0, this._info.layout.payloadOffset);
    return concatBytes([FORMAT.readerStateMagic, encodeVarint(this.chunkIndex), encodeVarint(prefix.length), prefix]);
  }

  private pushInner(bytes: Uint8Array, out?: (chunk: VerifiedChunk) => void): void {
    let o = 0;
    while (o < bytes.length) {
      if (this._phase === "header" || this._phase === "prefix") {
        const want = this.prefix.length - this.prefixFill;
        const n = Math.min(want, bytes.length - o);
        this.prefix.set(bytes.subarray(o, o + n), this.prefixFill);
        this.prefixFill += n;
        this.consumed += n;
        o += n;
        if (this.prefixFill === this.prefix.length) {
          if (this._phase === "header") this.onHeader();
          else this.onPrefix();
        }
      } else if (this._phase === "payload") {
        o += this.takePayload(bytes.subarray(o), out);
      } else {
        throw new FormatError("malformed", `${bytes.length - o} bytes after the end of the package (${this.consumed} bytes)`, { details: { offset: this.consumed } });
      }
    }
  }

  private onHeader(): void {
    this.header = decodeHeader(this.prefix, this.config);
    const full = new Uint8Array(FORMAT.headerBytes + this.header.manifestBytes + this.header.signatureBlockBytes);
    full.set(this.prefix);
    this.prefix = full;
    this._phase = "prefix";
  }

  private onPrefix(): void {
    const h = this.header!;
    const mStart = FORMAT.headerBytes;
    const manifestBytes = this.prefix.subarray(mStart, mStart + h.manifestBytes);
    const sigs = decodeSignatureBlock(this.prefix.subarray(mStart + h.manifestBytes), this.config);
    // Signatures first: nothing of the manifest is believed before this passes.
    const { verifiedKeyIds } = verifySignatures(manifestBytes, sigs, this.keys, this.opts.minSignatures ?? 1);
    const manifest = decodeManifest(manifestBytes, this.config);
    const listed = new Set(manifest.keyIds.map(toHex));
    if (!verifiedKeyIds.some((id) => listed.has(id))) {
      throw new FormatError("malformed", `manifest does not list the key that signed it (${verifiedKeyIds.join(", ")})`);
    }
    const info: PackageInfo = { header: h, layout: layoutOf(h, manifest.payload.size), verifiedKeyIds };
    this._manifest = manifest;
    this._info = info;
    this.opts.onManifest?.(manifest, info);
    this._phase = "payload";
    this.maybeDone();
  }

  private chunkLength(index: number): number {
    const p = this._manifest!.payload;
    return Math.min(p.chunkSize, p.size - index * p.chunkSize);
  }

  private takePayload(bytes: Uint8Array, out?: (chunk: VerifiedChunk) => void): number {
    if (!this.chunk) {
      this.chunk = new Uint8Array(this.chunkLength(this.chunkIndex));
      this.chunkFill = 0;
      this.chunkHash = createHash("sha256");
    }
    const n = Math.min(this.chunk.length - this.chunkFill, bytes.length);
    const part = bytes.subarray(0, n);
    this.chunk.set(part, this.chunkFill);
    this.chunkHash!.update(part);
    this.chunkFill += n;
    this.consumed += n;
    if (this.chunkFill === this.chunk.length) {
      const index = this.chunkIndex;
      const chunk = this.chunk;
      this.compareChunk(index, new Uint8Array(this.chunkHash!.digest()));
      this.total?.update(chunk);
      this.chunk = undefined;
      this.chunkHash = undefined;
      this.chunkIndex++;
      const last = this.chunkIndex === this._manifest!.payload.chunkDigests.length;
      out?.({ index, offset: index * this._manifest!.payload.chunkSize, bytes: chunk, last });
      this.maybeDone();
    }
    return n;
  }

  private checkChunk(index: number, bytes: Uint8Array): void {
    this.compareChunk(index, new Uint8Array(createHash("sha256").update(bytes).digest()));
  }

  private compareChunk(index: number, digest: Uint8Array): void {
    const m = this._manifest!;
    const want = m.payload.chunkDigests[index]!;
    if (!bytesEqual(digest, want)) {
      const payloadOffset = index * m.payload.chunkSize;
      throw new IntegrityError("digest-mismatch", `payload chunk ${index} (package bytes ${this._info!.layout.payloadOffset + payloadOffset}..${this._info!.layout.payloadOffset + payloadOffset + this.chunkLength(index)}) does not match its signed digest: the package is corrupt`, {
        details: { chunk: index, payloadOffset, expected: toHex(want), actual: toHex(digest) },
      });
    }
  }

  private maybeDone(): void {
    const m = this._manifest!;
    if (this._phase !== "payload" || this.chunkIndex < m.payload.chunkDigests.length) return;
    if (this.total) {
      const d = new Uint8Array(this.total.digest());
      if (!bytesEqual(d, m.payload.sha256)) {
        throw new IntegrityError("digest-mismatch", "payload SHA-256 differs from the signed manifest although every chunk matched (the package was built wrong)", {
          details: { expected: toHex(m.payload.sha256), actual: toHex(d) },
        });
      }
    }
    this._phase = "done";
  }
}
