// Package layout and the writer. A package is
//   header (12 bytes) | manifest (TLV) | signature block (TLV) | payload
// The header frames the two TLV parts; the manifest (signed) gives the payload's size and digests.
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, UsageError } from "../errors.js";
import { bytesEqual, concatBytes, sha256 } from "./bytes.js";
import { COMPRESSIONS, ENCODING_DEFAULTS, FORMAT, type CompressionName, type PackageKind } from "./constants.js";
import type { SigningKey } from "./keys.js";
import { chunkCount, decodeManifest, encodeManifest, type Encoding, type ImageRef, type Manifest, type UnknownField } from "./manifest.js";
import { compressImage } from "./payload.js";
import { decodeSignatureBlock, encodeSignatureBlock, signManifest, type SignatureEntry } from "./signature.js";

export interface PackageHeader {
  version: number;
  flags: number;
  manifestBytes: number;
  signatureBlockBytes: number;
}

export function encodeHeader(h: PackageHeader): Uint8Array {
  const out = new Uint8Array(FORMAT.headerBytes);
  const v = new DataView(out.buffer);
  out.set(FORMAT.magic, 0);
  v.setUint8(4, h.version);
  v.setUint8(5, h.flags);
  v.setUint16(6, h.signatureBlockBytes);
  v.setUint32(8, h.manifestBytes);
  return out;
}

/** Reads the fixed header (at least FORMAT.headerBytes bytes) and checks it against the limits. */
export function decodeHeader(buf: Uint8Array, config: FotaConfig = DEFAULT_CONFIG): PackageHeader {
  if (buf.length < FORMAT.headerBytes) throw new FormatError("truncated", `package ends after ${buf.length} bytes; its header needs ${FORMAT.headerBytes}`, { details: { length: buf.length } });
  if (!bytesEqual(buf.subarray(0, 4), FORMAT.magic)) {
    throw new FormatError("malformed", `not a fota package (it starts with ${Buffer.from(buf.subarray(0, 4)).toString("hex")}, not "FOTA")`);
  }
  const v = new DataView(buf.buffer, buf.byteOffset, FORMAT.headerBytes);
  const h: PackageHeader = { version: v.getUint8(4), flags: v.getUint8(5), signatureBlockBytes: v.getUint16(6), manifestBytes: v.getUint32(8) };
  if (h.version !== FORMAT.version) {
    throw new FormatError("unsupported-version", `package is format version ${h.version}; this reader knows version ${FORMAT.version}`, { details: { version: h.version } });
  }
  if ((h.flags & ~FORMAT.headerFlagsMask) !== 0) {
    throw new FormatError("unsupported-version", `package header has unknown flags 0x${h.flags.toString(16)}`, { details: { flags: h.flags } });
  }
  const lim = config.format;
  if (h.manifestBytes > lim.maxManifestBytes) {
    throw new FormatError("limit-exceeded", `manifest length ${h.manifestBytes} is over the limit ${lim.maxManifestBytes}`, { details: { length: h.manifestBytes, limit: lim.maxManifestBytes } });
  }
  if (h.signatureBlockBytes > lim.maxSignatureBlockBytes) {
    throw new FormatError("limit-exceeded", `signature block length ${h.signatureBlockBytes} is over the limit ${lim.maxSignatureBlockBytes}`, {
      details: { length: h.signatureBlockBytes, limit: lim.maxSignatureBlockBytes },
    });
  }
  if (h.manifestBytes === 0) throw new FormatError("malformed", "package has an empty manifest");
  if (h.signatureBlockBytes === 0) throw new FormatError("malformed", "package has no signature block");
  return h;
}

/** Where each part of a package lies (byte offsets from the start of the package). */
export interface PackageLayout {
  headerBytes: number;
  manifestOffset: number;
  manifestBytes: number;
  signatureOffset: number;
  signatureBlockBytes: number;
  payloadOffset: number;
  payloadBytes: number;
  totalBytes: number;
}

export function layoutOf(h: PackageHeader, payloadBytes: number): PackageLayout {
  const manifestOffset = FORMAT.headerBytes;
  const signatureOffset = manifestOffset + h.manifestBytes;
  const payloadOffset = signatureOffset + h.signatureBlockBytes;
  return {
    headerBytes: FORMAT.headerBytes,
    manifestOffset,
    manifestBytes: h.manifestBytes,
    signatureOffset,
    signatureBlockBytes: h.signatureBlockBytes,
    payloadOffset,
    payloadBytes,
    totalBytes: payloadOffset + payloadBytes,
  };
}

// Writer --------------------------------------------------------------------------------------------

export interface BuildPackageInput {
  kind: PackageKind;
  models: string[];
  version: string;
  /** Anti-rollback counter (default 0). */
  securityCounter?: number;
  /** Creation time: seconds since the epoch or a Date (default: now). Fix it for reproducible bytes. */
  created?: number | Date;
  /** Optional expiry: seconds since the epoch or a Date. */
  expires?: number | Date;
  /** The image the payload rebuilds. */
  target: ImageRef;
  /** For delta packages: the exact image the delta applies to. */
  base?: ImageRef;
  /** How the payload is encoded; compression and filter default to "none". */
  encoding: Partial<Encoding>;
  /** The already-encoded payload (compressed image or delta stream). */
  payload: Uint8Array;
  /** One or more signing keys. */
  keys: readonly SigningKey[];
  /** Payload chunk size (default config.format.chunkBytes, raised to keep within maxChunks). */
  chunkSize?: number;
  /** Extra manifest fields (for forward-compatibility tests and extensions). */
  unknown?: UnknownField[];
  config?: FotaConfig;
}

export interface BuiltPackage {
  bytes: Uint8Array;
  manifest: Manifest;
  layout: PackageLayout;
}

function toSeconds(t: number | Date, what: string): number {
  const s = t instanceof Date ? Math.floor(t.getTime() / 1000) : t;
  if (!Number.isSafeInteger(s) || s < 0) throw new UsageError("bad-argument", `${what} must be a time at or after 1970-01-01 (got ${String(t)})`);
  return s;
}

/** Payload chunk size: the configured one, raised (to a multiple of 4 KiB) if the payload would need more than maxChunks. */
export function chooseChunkSize(payloadBytes: number, config: FotaConfig = DEFAULT_CONFIG, wanted?: number): number {
  const lim = config.format;
  let size = wanted ?? lim.chunkBytes;
  if (chunkCount(payloadBytes, size) > lim.maxChunks) size = Math.ceil(payloadBytes / lim.maxChunks / 4096) * 4096;
  return size;
}

export function chunkDigests(payload: Uint8Array, chunkSize: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < payload.length; o += chunkSize) out.push(sha256(payload.subarray(o, o + chunkSize)));
  return out;
}

/** Builds and signs a package around an already-encoded payload (full or delta). */
export function buildPackage(input: BuildPackageInput): BuiltPackage {
  const config = input.config ?? DEFAULT_CONFIG;
  if (input.keys.length < 1) throw new UsageError("bad-argument", "a package needs at least one signing key");
  if (input.keys.length > config.format.maxSignatures) throw new UsageError("bad-argument", `at most ${config.format.maxSignatures} signing keys`);
  const chunkSize = chooseChunkSize(input.payload.length, config, input.chunkSize);
  const enc: Encoding = {
    compression: input.encoding.compression ?? ENCODING_DEFAULTS.compression,
    filter: input.encoding.filter ?? ENCODING_DEFAULTS.filter,
  };
  if (input.encoding.delta !== undefined) enc.delta = input.encoding.delta;
  if (input.encoding.params !== undefined) enc.params = input.encoding.params;
  if (input.encoding.unknown?.length) enc.unknown = input.encoding.unknown;
  const manifest: Manifest = {
    formatVersion: FORMAT.version,
    kind: input.kind,
    models: [...input.models],
    version: input.version,
    securityCounter: input.securityCounter ?? 0,
    created: toSeconds(input.created ?? new Date(), "created"),
    target: { size: input.target.size, sha256: input.target.sha256 },
    encoding: enc,
    payload: { size: input.payload.length, sha256: sha256(input.payload), chunkSize, chunkDigests: chunkDigests(input.payload, chunkSize) },
    keyIds: input.keys.map((k) => k.keyId),
    unknown: input.unknown ?? [],
  };
  if (input.expires !== undefined) manifest.expires = toSeconds(input.expires, "expires");
  if (input.base) manifest.base = { size: input.base.size, sha256: input.base.sha256 };
  const manifestBytes = encodeManifest(manifest, config);
  if (manifestBytes.length > config.format.maxManifestBytes) {
    throw new UsageError("bad-argument", `the manifest would be ${manifestBytes.length} bytes; readers accept at most ${config.format.maxManifestBytes}`);
  }
  const sigBlock = encodeSignatureBlock(signManifest(manifestBytes, input.keys));
  const header: PackageHeader = { version: FORMAT.version, flags: 0, manifestBytes: manifestBytes.length, signatureBlockBytes: sigBlock.length };
  const bytes = concatBytes([encodeHeader(header), manifestBytes, sigBlock, input.payload]);
  return { bytes, manifest, layout: layoutOf(header, input.payload.length) };
}

export interface BuildFullPackageInput extends Omit<BuildPackageInput, "kind" | "target" | "base" | "encoding" | "payload"> {
  image: Uint8Array;
  /** "auto" (default): brotli blocks, or "none" when compression does not make it smaller. */
  compression?: CompressionName | "auto";
  /** Compression progress: image bytes done of total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * The payload of a full package: the image compressed in independent blocks. "auto" picks brotli
 * (the smallest at bounded decoder memory on firmware, see docs/format.md) unless it does not shrink
 * the image, then "none".
 */
export function encodeFullPayload(
  image: Uint8Array,
  wanted: CompressionName | "auto" = "auto",
  config: FotaConfig = DEFAULT_CONFIG,
  onProgress?: (done: number, total: number) => void,
): { encoding: Partial<Encoding>; payload: Uint8Array } {
  if (wanted !== "auto" && !COMPRESSIONS.includes(wanted)) throw new UsageError("bad-argument", `unknown compression ${String(wanted)}; use one of auto, ${COMPRESSIONS.join(", ")}`);
  let compression: CompressionName = wanted === "auto" ? "brotli" : wanted;
  let payload = compressImage(image, compression, config, onProgress);
  if (wanted === "auto" && payload.length >= image.length) {
    compression = "none";
    payload = image;
  }
  return { encoding: { compression }, payload };
}

/** Builds a full-image package: compresses the image in independent blocks and signs it. */
export function buildFullPackage(input: BuildFullPackageInput): BuiltPackage {
  const { image, compression, onProgress, ...rest } = input;
  const { encoding, payload } = encodeFullPayload(image, compression, input.config ?? DEFAULT_CONFIG, onProgress);
  return buildPackage({ ...rest, kind: "full", target: { size: image.length, sha256: sha256(image) }, encoding, payload });
}

// Whole-buffer parse (for tools; devices use the streaming PackageReader) -------------------------

export interface ParsedPackage {
  header: PackageHeader;
  layout: PackageLayout;
  manifestBytes: Uint8Array;
  manifest: Manifest;
  signatures: SignatureEntry[];
}

/**
 * Parses the header, manifest and signature block of a package WITHOUT checking signatures or the
 * payload (for `fota inspect`). Needs only the first layout.payloadOffset bytes; `totalBytes`, when
 * known, is checked against the layout.
 */
export function parsePackagePrefix(buf: Uint8Array, config: FotaConfig = DEFAULT_CONFIG): ParsedPackage {
  const header = decodeHeader(buf, config);
  const end = FORMAT.headerBytes + header.manifestBytes + header.signatureBlockBytes;
  if (buf.length < end) throw new FormatError("truncated", `package ends after ${buf.length} bytes, inside its manifest or signatures (${end} bytes)`, { details: { length: buf.length, needed: end } });
  const manifestBytes = buf.subarray(FORMAT.headerBytes, FORMAT.headerBytes + header.manifestBytes);
  const manifest = decodeManifest(manifestBytes, config);
  const signatures = decodeSignatureBlock(buf.subarray(FORMAT.headerBytes + header.manifestBytes, end), config);
  return { header, layout: layoutOf(header, manifest.payload.size), manifestBytes, manifest, signatures };
}
