// Every constant of package format v1, in one table shared by the writer, the reader, the CLI and
// docs/format.md: magic, version, header layout, field ids and flags, value types, encoding names.
// Limits (how big things may be) live in config.format, not here.

/** Wire type of a field's value; the TLV layer stores every value as length-prefixed bytes. */
export type FieldType = "uint" | "string" | "bytes" | "digest" | "keyid" | "map";

export interface FieldSpec {
  /** Field id on the wire (key = id << 1 | critical). */
  readonly id: number;
  readonly type: FieldType;
  /** Written with the critical flag: a reader that does not know the id must refuse the manifest. */
  readonly critical: boolean;
  /** May appear several times in a row (a list). */
  readonly repeated?: boolean;
}

export const FORMAT = {
  /** First four bytes of every package: "FOTA". */
  magic: Uint8Array.of(0x46, 0x4f, 0x54, 0x41),
  /** The one format version this code writes and reads. */
  version: 1,
  /** Fixed header: magic(4) version(1) flags(1) signature-block length(u16 BE) manifest length(u32 BE). */
  headerBytes: 12,
  /** Header flags defined in v1 (none): any set bit is refused. */
  headerFlagsMask: 0x00,
  /** SHA-256 digest length. */
  digestBytes: 32,
  /** Key id = the first 8 bytes of SHA-256(raw 32-byte Ed25519 public key). */
  keyIdBytes: 8,
  /** Ed25519 signature length. */
  signatureBytes: 64,
  /** Ed25519 public key length (raw). */
  publicKeyBytes: 32,
  /** Signed message = SHA-256(context || manifest bytes); context is this ASCII string plus a zero byte. */
  signatureContext: "fota-manifest-v1",
  /** Longest varint accepted (8 bytes of 7 bits = 56 bits; values above 2^53-1 are refused). */
  maxVarintBytes: 8,
  /** Magic of a saved PackageReader state ("FRS1"). */
  readerStateMagic: Uint8Array.of(0x46, 0x52, 0x53, 0x31),
  /** Magic of a saved block decoder state ("FBD1"). */
  decoderStateMagic: Uint8Array.of(0x46, 0x42, 0x44, 0x31),
} as const;

/** Package kinds and their wire values. */
export const KINDS = { full: 0, delta: 1 } as const;
export type PackageKind = keyof typeof KINDS;

/** Manifest fields (the signed part). Ids are never reused; new fields get new ids. */
export const MANIFEST_FIELDS = {
  formatVersion: { id: 1, type: "uint", critical: true },
  kind: { id: 2, type: "uint", critical: true },
  model: { id: 3, type: "string", critical: true, repeated: true },
  version: { id: 4, type: "string", critical: false },
  securityCounter: { id: 5, type: "uint", critical: true },
  created: { id: 6, type: "uint", critical: false },
  expires: { id: 7, type: "uint", critical: true },
  targetSize: { id: 8, type: "uint", critical: true },
  targetSha256: { id: 9, type: "digest", critical: true },
  baseSize: { id: 10, type: "uint", critical: true },
  baseSha256: { id: 11, type: "digest", critical: true },
  encoding: { id: 12, type: "map", critical: true },
  payloadSize: { id: 13, type: "uint", critical: true },
  payloadSha256: { id: 14, type: "digest", critical: true },
  chunkSize: { id: 15, type: "uint", critical: true },
  chunkDigests: { id: 16, type: "bytes", critical: true },
  keyId: { id: 17, type: "keyid", critical: false, repeated: true },
} as const satisfies Record<string, FieldSpec>;

/** Fields of the payload encoding descriptor (manifest field `encoding`). */
export const ENCODING_FIELDS = {
  compression: { id: 1, type: "string", critical: true },
  delta: { id: 2, type: "string", critical: true },
  filter: { id: 3, type: "string", critical: true },
  params: { id: 4, type: "bytes", critical: true },
} as const satisfies Record<string, FieldSpec>;

/** The signature block: a list of `signature` entries. */
export const SIGNATURE_BLOCK_FIELDS = {
  signature: { id: 1, type: "map", critical: false, repeated: true },
} as const satisfies Record<string, FieldSpec>;

/** Fields of one signature entry. */
export const SIGNATURE_FIELDS = {
  algorithm: { id: 1, type: "uint", critical: true },
  keyId: { id: 2, type: "keyid", critical: true },
  signature: { id: 3, type: "bytes", critical: true },
} as const satisfies Record<string, FieldSpec>;

/** Signature algorithms and their wire values. */
export const SIGNATURE_ALGORITHMS = { ed25519: 1 } as const;

/**
 * Payload compression names. `none`: the payload is the image (full) or the delta stream as is.
 * `brotli` and `deflate` (raw deflate): the payload is a sequence of independently compressed blocks
 * (see docs/format.md, "Block-compressed payloads"), so a decoder works synchronously in memory
 * bounded by one block.
 */
export const COMPRESSIONS = ["none", "brotli", "deflate"] as const;
export type CompressionName = (typeof COMPRESSIONS)[number];

/** Default names when a field is absent from the encoding descriptor. */
export const ENCODING_DEFAULTS = { compression: "none", filter: "none" } as const;
