// The manifest: the signed description of a package. `encodeManifest` writes the one canonical TLV
// form; `decodeManifest` reads it back, checking every length against config.format before use and
// keeping unknown non-critical fields so they survive a round trip.
import { DEFAULT_CONFIG, type FotaConfig } from "../config.js";
import { FormatError, UsageError } from "../errors.js";
import { bytesEqual, concatBytes, toHex } from "./bytes.js";
import { ENCODING_DEFAULTS, ENCODING_FIELDS, FORMAT, KINDS, MANIFEST_FIELDS, type FieldSpec, type PackageKind } from "./constants.js";
import {
  decodeFixed,
  decodeMap,
  decodeString,
  decodeUint,
  encodeString,
  encodeTlv,
  encodeUint,
  type RawField,
  type TlvLimits,
  type UnknownField,
} from "./tlv.js";

export type { UnknownField } from "./tlv.js";
export type { PackageKind } from "./constants.js";

/** An image named by its exact size and SHA-256. */
export interface ImageRef {
  size: number;
  sha256: Uint8Array;
}

/** How the payload turns into the image: compression, delta algorithm, filter, opaque parameters. */
export interface Encoding {
  /** Name from COMPRESSIONS for full packages; for delta packages whatever the delta codec defines. Default "none". */
  compression: string;
  /** Delta algorithm name; present exactly for delta packages. */
  delta?: string;
  /** Filter name (e.g. a branch-address filter of the delta codec). Default "none". */
  filter: string;
  /** Parameters of the codec, opaque to the format. */
  params?: Uint8Array;
  /** Fields of the descriptor this reader does not know (non-critical), kept verbatim. */
  unknown?: UnknownField[];
}

export interface PayloadRef {
  size: number;
  sha256: Uint8Array;
  /** Bytes per chunk (the last chunk may be shorter). */
  chunkSize: number;
  /** SHA-256 of each chunk, in order (length = chunk count). */
  chunkDigests: Uint8Array[];
}

export interface Manifest {
  formatVersion: number;
  kind: PackageKind;
  models: string[];
  /** Firmware version string (free text, shown to people; not used for ordering). */
  version: string;
  /** Anti-rollback counter: a device refuses a package whose counter is below its own. */
  securityCounter: number;
  /** Creation time, seconds since the Unix epoch (UTC). */
  created: number;
  /** Expiry time, seconds since the Unix epoch; absent = never expires. */
  expires?: number;
  target: ImageRef;
  /** The exact image a delta applies to (delta packages only). */
  base?: ImageRef;
  encoding: Encoding;
  payload: PayloadRef;
  /** Ids of the keys that sign this manifest. */
  keyIds: Uint8Array[];
  /** Manifest fields this reader does not know (non-critical), kept verbatim. */
  unknown: UnknownField[];
}

function limitsOf(config: FotaConfig): TlvLimits {
  return { maxFields: config.format.maxManifestFields, maxStringBytes: config.format.maxStringBytes };
}

export function chunkCount(payloadSize: number, chunkSize: number): number {
  return payloadSize === 0 ? 0 : Math.ceil(payloadSize / chunkSize);
}

// Encoding ------------------------------------------------------------------------------------------

function field(spec: FieldSpec, value: Uint8Array): RawField {
  return { id: spec.id, critical: spec.critical, value };
}

function checkUnknown(unknown: readonly UnknownField[] | undefined, table: Record<string, FieldSpec>, what: string): RawField[] {
  const ids = new Set(Object.values(table).map((s) => s.id));
  return (unknown ?? []).map((u) => {
    if (ids.has(u.id)) throw new UsageError("bad-argument", `${what}: unknown field id ${u.id} collides with a known field`);
    return { id: u.id, critical: u.critical, value: u.value };
  });
}

export function encodeEncoding(e: Encoding): Uint8Array {
  const F = ENCODING_FIELDS;
  const out: RawField[] = [];
  if (e.compression !== ENCODING_DEFAULTS.compression) out.push(field(F.compression, encodeString(e.compression)));
  if (e.delta !== undefined) out.push(field(F.delta, encodeString(e.delta)));
  if (e.filter !== ENCODING_DEFAULTS.filter) out.push(field(F.filter, encodeString(e.filter)));
  if (e.params !== undefined) out.push(field(F.params, e.params));
  out.push(...checkUnknown(e.unknown, F, "encoding"));
  return encodeTlv(out);
}

/** The canonical bytes of a manifest. Checks the rules a reader checks, so a writer cannot emit what a reader refuses. */
export function encodeManifest(m: Manifest, config: FotaConfig = DEFAULT_CONFIG): Uint8Array {
  const bad = (msg: string) => new UsageError("bad-argument", `manifest: ${msg}`);
  validateManifest(m, config, bad, bad);
  const F = MANIFEST_FIELDS;
  const out: RawField[] = [];
  out.push(field(F.formatVersion, encodeUint(m.formatVersion)));
  out.push(field(F.kind, encodeUint(KINDS[m.kind])));
  for (const model of m.models) out.push(field(F.model, encodeString(model)));
  out.push(field(F.version, encodeString(m.version)));
  out.push(field(F.securityCounter, encodeUint(m.securityCounter)));
  out.push(field(F.created, encodeUint(m.created)));
  if (m.expires !== undefined) out.push(field(F.expires, encodeUint(m.expires)));
  out.push(field(F.targetSize, encodeUint(m.target.size)));
  out.push(field(F.targetSha256, m.target.sha256));
  if (m.base) {
    out.push(field(F.baseSize, encodeUint(m.base.size)));
    out.push(field(F.baseSha256, m.base.sha256));
  }
  out.push(field(F.encoding, encodeEncoding(m.encoding)));
  out.push(field(F.payloadSize, encodeUint(m.payload.size)));
  out.push(field(F.payloadSha256, m.payload.sha256));
  out.push(field(F.chunkSize, encodeUint(m.payload.chunkSize)));
  if (m.payload.chunkDigests.length > 1) out.push(field(F.chunkDigests, concatBytes(m.payload.chunkDigests)));
  for (const k of m.keyIds) out.push(field(F.keyId, k));
  out.push(...checkUnknown(m.unknown, F, "manifest"));
  return encodeTlv(out);
}

// Decoding ------------------------------------------------------------------------------------------

function one(list: Uint8Array[] | undefined, name: string, what: string): Uint8Array {
  if (!list) throw new FormatError("malformed", `${what} has no ${name} field`, { details: { field: name } });
  return list[0]!;
}

export function decodeEncoding(buf: Uint8Array, config: FotaConfig = DEFAULT_CONFIG): Encoding {
  const what = "encoding descriptor";
  const { known, unknown } = decodeMap(buf, ENCODING_FIELDS, what, limitsOf(config));
  const max = config.format.maxStringBytes;
  const e: Encoding = { compression: ENCODING_DEFAULTS.compression, filter: ENCODING_DEFAULTS.filter };
  if (known.compression) {
    e.compression = decodeString(known.compression[0]!, `${what} compression`, max);
    if (e.compression === ENCODING_DEFAULTS.compression) throw new FormatError("malformed", `${what}: compression "none" must be left out (it is the default)`);
  }
  if (known.delta) e.delta = decodeString(known.delta[0]!, `${what} delta`, max);
  if (known.filter) {
    e.filter = decodeString(known.filter[0]!, `${what} filter`, max);
    if (e.filter === ENCODING_DEFAULTS.filter) throw new FormatError("malformed", `${what}: filter "none" must be left out (it is the default)`);
  }
  if (known.params) e.params = known.params[0]!.slice();
  if (unknown.length) e.unknown = unknown.map((u) => ({ ...u, value: u.value.slice() }));
  return e;
}

/** Reads and checks a manifest. Throws FormatError with reason malformed, limit-exceeded, unknown-critical or unsupported-version. */
export function decodeManifest(buf: Uint8Array, config: FotaConfig = DEFAULT_CONFIG): Manifest {
  const what = "manifest";
  const lim = config.format;
  if (buf.length > lim.maxManifestBytes) {
    throw new FormatError("limit-exceeded", `manifest is ${buf.length} bytes; the limit is ${lim.maxManifestBytes}`, { details: { length: buf.length, limit: lim.maxManifestBytes } });
  }
  const { known: k, unknown } = decodeMap(buf, MANIFEST_FIELDS, what, limitsOf(config));
  const uint = (name: keyof typeof MANIFEST_FIELDS) => decodeUint(one(k[name], name, what), `manifest ${name}`);
  const formatVersion = uint("formatVersion");
  if (formatVersion !== FORMAT.version) {
    throw new FormatError("unsupported-version", `manifest is format version ${formatVersion}; this reader knows version ${FORMAT.version}`, { details: { version: formatVersion } });
  }
  const kindValue = uint("kind");
  const kind = (Object.keys(KINDS) as PackageKind[]).find((n) => KINDS[n] === kindValue);
  if (!kind) throw new FormatError("malformed", `manifest kind ${kindValue} is not one of ${Object.entries(KINDS).map(([n, v]) => `${v} (${n})`).join(", ")}`);
  const models = (k.model ?? []).map((v) => decodeString(v, "manifest model", lim.maxStringBytes));
  const digest = (name: keyof typeof MANIFEST_FIELDS) => decodeFixed(one(k[name], name, what), `manifest ${name}`, FORMAT.digestBytes);
  const m: Manifest = {
    formatVersion,
    kind,
    models,
    version: decodeString(one(k.version, "version", what), "manifest version", lim.maxStringBytes),
    securityCounter: uint("securityCounter"),
    created: uint("created"),
    target: { size: uint("targetSize"), sha256: digest("targetSha256") },
    encoding: decodeEncoding(one(k.encoding, "encoding", what), config),
    payload: { size: uint("payloadSize"), sha256: digest("payloadSha256"), chunkSize: uint("chunkSize"), chunkDigests: [] },
    keyIds: (k.keyId ?? []).map((v) => decodeFixed(v, "manifest keyId", FORMAT.keyIdBytes)),
    unknown: unknown.map((u) => ({ ...u, value: u.value.slice() })),
  };
  if (k.expires) m.expires = uint("expires");
  if (k.baseSize || k.baseSha256) m.base = { size: uint("baseSize"), sha256: digest("baseSha256") };
  // Chunk digests: checked against the limits before they are split.
  const p = m.payload;
  if (p.chunkSize < 1 || p.chunkSize > lim.maxChunkBytes) {
    throw new FormatError("limit-exceeded", `manifest chunk size ${p.chunkSize} is outside 1..${lim.maxChunkBytes}`, { details: { chunkSize: p.chunkSize, limit: lim.maxChunkBytes } });
  }
  if (p.size > lim.maxPayloadBytes) {
    throw new FormatError("limit-exceeded", `manifest payload size ${p.size} is over the limit ${lim.maxPayloadBytes}`, { details: { size: p.size, limit: lim.maxPayloadBytes } });
  }
  const n = chunkCount(p.size, p.chunkSize);
  if (n > lim.maxChunks) throw new FormatError("limit-exceeded", `manifest has ${n} payload chunks; the limit is ${lim.maxChunks}`, { details: { chunks: n, limit: lim.maxChunks } });
  if (n > 1) {
    const all = one(k.chunkDigests, "chunkDigests", what);
    if (all.length !== n * FORMAT.digestBytes) {
      throw new FormatError("malformed", `manifest lists ${all.length / FORMAT.digestBytes} chunk digests for ${n} chunks`, { details: { bytes: all.length, chunks: n } });
    }
    for (let i = 0; i < n; i++) p.chunkDigests.push(all.slice(i * FORMAT.digestBytes, (i + 1) * FORMAT.digestBytes));
  } else {
    if (k.chunkDigests) throw new FormatError("malformed", "manifest lists chunk digests for a payload of at most one chunk (the payload digest covers it)");
    if (n === 1) p.chunkDigests.push(p.sha256.slice());
  }
  validateManifest(
    m,
    config,
    (msg) => new FormatError("malformed", `manifest: ${msg}`),
    (msg, details) => new FormatError("limit-exceeded", `manifest: ${msg}`, { details }),
  );
  return m;
}

/**
 * The rules both sides check; `fail` and `limit` make the errors (UsageError for a writer; FormatError
 * malformed / limit-exceeded for a reader).
 */
function validateManifest(m: Manifest, config: FotaConfig, fail: (msg: string) => Error, limit: (msg: string, details: Record<string, unknown>) => Error): void {
  const lim = config.format;
  if (m.formatVersion !== FORMAT.version) throw fail(`format version ${m.formatVersion} is not ${FORMAT.version}`);
  if (!(m.kind in KINDS)) throw fail(`unknown kind ${String(m.kind)}`);
  if (m.models.length < 1) throw fail("no target model");
  if (m.models.length > lim.maxModels) throw limit(`${m.models.length} models; the limit is ${lim.maxModels}`, { models: m.models.length, limit: lim.maxModels });
  const byteLen = (s: string) => Buffer.byteLength(s, "utf8");
  for (const s of [...m.models, m.version, m.encoding.compression, m.encoding.filter, m.encoding.delta ?? ""]) {
    if (byteLen(s) > lim.maxStringBytes) throw limit(`a string of ${byteLen(s)} bytes; the limit is ${lim.maxStringBytes}`, { limit: lim.maxStringBytes });
  }
  if (m.models.some((s) => s.length === 0)) throw fail("an empty model name");
  for (const [name, v] of [
    ["security counter", m.securityCounter],
    ["created", m.created],
    ["expires", m.expires ?? 0],
    ["target size", m.target.size],
    ["payload size", m.payload.size],
    ["chunk size", m.payload.chunkSize],
    ["base size", m.base?.size ?? 0],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw fail(`${name} ${v} is not a non-negative integer`);
  }
  if (m.target.size > lim.maxImageBytes) throw limit(`target size ${m.target.size} is over the limit ${lim.maxImageBytes}`, { size: m.target.size, limit: lim.maxImageBytes });
  if (m.base && m.base.size > lim.maxImageBytes) throw limit(`base size ${m.base.size} is over the limit ${lim.maxImageBytes}`, { size: m.base.size, limit: lim.maxImageBytes });
  if (m.payload.size > lim.maxPayloadBytes) throw limit(`payload size ${m.payload.size} is over the limit ${lim.maxPayloadBytes}`, { size: m.payload.size, limit: lim.maxPayloadBytes });
  if (m.payload.chunkSize < 1 || m.payload.chunkSize > lim.maxChunkBytes) {
    throw limit(`chunk size ${m.payload.chunkSize} is outside 1..${lim.maxChunkBytes}`, { chunkSize: m.payload.chunkSize, limit: lim.maxChunkBytes });
  }
  const n = chunkCount(m.payload.size, m.payload.chunkSize);
  if (n > lim.maxChunks) throw limit(`${n} payload chunks; the limit is ${lim.maxChunks}`, { chunks: n, limit: lim.maxChunks });
  if (m.payload.chunkDigests.length !== n) throw fail(`${m.payload.chunkDigests.length} chunk digests for ${n} chunks`);
  if (n === 1 && !bytesEqual(m.payload.chunkDigests[0]!, m.payload.sha256)) throw fail("the only chunk's digest differs from the payload digest");
  const digests = [m.target.sha256, m.payload.sha256, ...m.payload.chunkDigests, ...(m.base ? [m.base.sha256] : [])];
  if (digests.some((d) => d.length !== FORMAT.digestBytes)) throw fail(`a digest that is not ${FORMAT.digestBytes} bytes`);
  if (m.keyIds.length < 1) throw fail("no signing key id");
  if (m.keyIds.length > lim.maxSignatures) throw limit(`${m.keyIds.length} key ids; the limit is ${lim.maxSignatures}`, { keyIds: m.keyIds.length, limit: lim.maxSignatures });
  if (m.keyIds.some((k) => k.length !== FORMAT.keyIdBytes)) throw fail(`a key id that is not ${FORMAT.keyIdBytes} bytes`);
  const ids = m.keyIds.map(toHex);
  if (new Set(ids).size !== ids.length) throw fail("a key id listed twice");
  if (m.kind === "delta") {
    if (!m.base) throw fail("a delta package without a base image");
    if (m.encoding.delta === undefined) throw fail("a delta package without a delta algorithm in its encoding");
  } else {
    if (m.base) throw fail("a full package with a base image");
    if (m.encoding.delta !== undefined) throw fail("a full package with a delta algorithm");
    if (m.encoding.compression === "none" && m.encoding.filter === "none" && m.payload.size !== m.target.size) {
      throw fail(`an uncompressed full payload of ${m.payload.size} bytes for a ${m.target.size}-byte image`);
    }
  }
}

/** A JSON-friendly view of a manifest (hex digests, ISO times) for `fota inspect --json` and logs. */
export function manifestToJson(m: Manifest): Record<string, unknown> {
  const iso = (s: number) => new Date(s * 1000).toISOString();
  const e = m.encoding;
  return {
    formatVersion: m.formatVersion,
    kind: m.kind,
    models: m.models,
    version: m.version,
    securityCounter: m.securityCounter,
    created: iso(m.created),
    expires: m.expires === undefined ? null : iso(m.expires),
    target: { size: m.target.size, sha256: toHex(m.target.sha256) },
    base: m.base ? { size: m.base.size, sha256: toHex(m.base.sha256) } : null,
    encoding: {
      compression: e.compression,
      delta: e.delta ?? null,
      filter: e.filter,
      params: e.params ? toHex(e.params) : null,
      unknownFields: (e.unknown ?? []).map((u) => ({ id: u.id, critical: u.critical, value: toHex(u.value) })),
    },
    payload: { size: m.payload.size, sha256: toHex(m.payload.sha256), chunkSize: m.payload.chunkSize, chunks: m.payload.chunkDigests.length },
    keyIds: m.keyIds.map(toHex),
    unknownFields: m.unknown.map((u) => ({ id: u.id, critical: u.critical, value: toHex(u.value) })),
  };
}
