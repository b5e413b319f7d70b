// Host-side (and device-usable) pipeline: package bytes in, verified image bytes out.
//   PackageReader (signatures, chunk digests) -> policy checks -> PayloadDecoder -> target size + SHA-256
import { createHash, type Hash } from "node:crypto";
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, IntegrityError } from "../errors.js";
import { bytesEqual, toHex } from "./bytes.js";
import { checkBase, checkManifest, imageRefOf, type ManifestPolicy } from "./checks.js";
import type { ImageRef, Manifest } from "./manifest.js";
import { openFullImageDecoder, type PayloadDecoder, type RandomAccessReader } from "./payload.js";
import { PackageReader, type PackageInfo, type PackageReaderOptions } from "./reader.js";

/** Opens the payload decoder for a verified manifest (DELTA's openPayloadDecoder fits this shape). */
export type DecoderFactory = (manifest: Manifest, base: RandomAccessReader | undefined) => PayloadDecoder;

/** The decoder factory of the format alone: full packages; delta packages need the delta engine's factory. */
export const fullOnlyDecoderFactory: DecoderFactory = (manifest) => {
  if (manifest.kind === "delta") {
    throw new FormatError("unsupported-encoding", `this reader cannot apply delta packages (algorithm ${manifest.encoding.delta ?? "?"})`);
  }
  return openFullImageDecoder(manifest);
};

export interface PackageApplierOptions extends Omit<PackageReaderOptions, "onManifest"> {
  /** The image a delta applies to (its size and SHA-256 are checked against the manifest). */
  base?: RandomAccessReader;
  /** Checks to run on the manifest before any payload is decoded (expiry is always checked). */
  policy?: Omit<ManifestPolicy, "base">;
  openDecoder?: DecoderFactory;
  /** Receives image bytes in order (valid during the call). */
  write: (image: Uint8Array) => void;
  /** Called with the verified manifest before any image byte is written. */
  onManifest?: (manifest: Manifest, info: PackageInfo) => void;
  /** Image bytes written so far, out of the target size. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Verification only: a delta package without a base is still checked for authenticity and payload
   * integrity (the image cannot be rebuilt, so ApplyResult.imageChecked is false).
   */
  verifyOnly?: boolean;
}

export interface ApplyResult {
  manifest: Manifest;
  info: PackageInfo;
  /** The rebuilt image's size and SHA-256 (the manifest's target when imageChecked is false). */
  image: ImageRef;
  /** False only in verifyOnly mode for a delta without its base: the image was not rebuilt. */
  imageChecked: boolean;
}

export class PackageApplier {
  readonly reader: PackageReader;
  private decoder?: PayloadDecoder;
  private decode = true;
  private readonly hash: Hash = createHash("sha256");
  private written = 0;
  private readonly config: FotaConfig;
  private readonly sink: (image: Uint8Array) => void;

  constructor(private readonly opts: PackageApplierOptions) {
    this.config = opts.config ?? DEFAULT_CONFIG;
    this.sink = (image) => {
      const m = this.reader.manifest!;
      if (this.written + image.length > m.target.size) {
        throw new IntegrityError("size-mismatch", `payload decodes to more than the ${m.target.size}-byte target image`, { details: { size: m.target.size } });
      }
      this.hash.update(image);
      this.written += image.length;
      opts.write(image);
      opts.onProgress?.(this.written, m.target.size);
    };
    this.reader = new PackageReader({
      ...opts,
      config: this.config,
      onManifest: (manifest, info) => {
        const base = opts.base ? imageRefOf(opts.base) : undefined;
        checkManifest(manifest, { ...opts.policy });
        if (opts.verifyOnly && manifest.kind === "delta" && !base) this.decode = false;
        else checkBase(manifest, base); // a delta needs its exact base; full packages pass
        opts.onManifest?.(manifest, info);
        if (this.decode) this.decoder = (opts.openDecoder ?? fullOnlyDecoderFactory)(manifest, opts.base);
      },
    });
  }

  push(bytes: Uint8Array): void {
    this.reader.push(bytes, (chunk) => this.decoder?.push(chunk.bytes, this.sink));
  }

  finish(): ApplyResult {
    const { manifest, info } = this.reader.finish();
    if (!this.decode) return { manifest, info, image: manifest.target, imageChecked: false };
    this.decoder!.finish(this.sink);
    const sha256 = new Uint8Array(this.hash.digest());
    if (this.written !== manifest.target.size) {
      throw new IntegrityError("size-mismatch", `rebuilt image is ${this.written} bytes; the manifest says ${manifest.target.size}`, { details: { written: this.written, expected: manifest.target.size } });
    }
    if (!bytesEqual(sha256, manifest.target.sha256)) {
      throw new IntegrityError("digest-mismatch", `rebuilt image SHA-256 ${toHex(sha256)} differs from the manifest's ${toHex(manifest.target.sha256)}`, {
        details: { expected: toHex(manifest.target.sha256), actual: toHex(sha256) },
      });
    }
    return { manifest, info, image: { size: this.written, sha256 }, imageChecked: true };
  }
}

/** Applies a whole package held in memory; returns the rebuilt image (verified). */
export function applyPackage(pkg: Uint8Array, opts: Omit<PackageApplierOptions, "write">): { image: Uint8Array; result: ApplyResult } {
  const parts: Uint8Array[] = [];
  const a = new PackageApplier({ ...opts, write: (b) => parts.push(b.slice()) });
  a.push(pkg);
  const result = a.finish();
  const image = new Uint8Array(result.image.size);
  let o = 0;
  for (const p of parts) {
    image.set(p, o);
    o += p.length;
  }
  return { image, result };
}
