// The TLV layer of the manifest: a field is varint(key) varint(length) value, key = id << 1 | critical.
// Fields are in ascending id order (a repeated field's entries are adjacent), every varint minimal:
// one manifest has exactly one encoding, so decode(encode(x)) = x and encode(decode(b)) = b.
// Unknown fields are kept as raw bytes with their flag, so they survive a read/write round trip.
import { FormatError } from "../errors.js";
import type { FieldSpec } from "./constants.js";
import { concatBytes, decodeUtf8, encodeUtf8, encodeVarint, readVarint } from "./bytes.js";
import { FORMAT } from "./constants.js";

export interface RawField {
  id: number;
  critical: boolean;
  value: Uint8Array;
}

/** A field this reader does not know, kept verbatim. */
export interface UnknownField {
  id: number;
  critical: boolean;
  value: Uint8Array;
}

export interface TlvLimits {
  maxFields: number;
  maxStringBytes: number;
}

/** Splits `buf` into fields; checks framing and order only. */
export function decodeTlv(buf: Uint8Array, what: string, limits: TlvLimits): RawField[] {
  const out: RawField[] = [];
  let o = 0;
  let lastId = -1;
  while (o < buf.length) {
    if (out.length >= limits.maxFields) {
      throw new FormatError("limit-exceeded", `${what} has more than ${limits.maxFields} fields`, { details: { maxFields: limits.maxFields } });
    }
    const k = readVarint(buf, o, buf.length, what);
    if (!k) throw new FormatError("malformed", `${what}: field key at byte ${o} runs past the end`, { details: { offset: o } });
    const l = readVarint(buf, k.next, buf.length, what);
    if (!l) throw new FormatError("malformed", `${what}: field length at byte ${k.next} runs past the end`, { details: { offset: k.next } });
    const id = Math.floor(k.value / 2);
    const critical = k.value % 2 === 1;
    if (l.value > buf.length - l.next) {
      throw new FormatError("malformed", `${what}: field ${id} claims ${l.value} bytes but only ${buf.length - l.next} remain`, {
        details: { id, length: l.value, offset: o },
      });
    }
    if (id < lastId) throw new FormatError("malformed", `${what}: field ${id} comes after field ${lastId} (fields must be in ascending order)`, { details: { id } });
    lastId = id;
    out.push({ id, critical, value: buf.subarray(l.next, l.next + l.value) });
    o = l.next + l.value;
  }
  return out;
}

export function encodeTlv(fields: readonly RawField[]): Uint8Array {
  const sorted = fields.map((f, i) => ({ f, i })).sort((a, b) => a.f.id - b.f.id || a.i - b.i);
  const parts: Uint8Array[] = [];
  for (const { f } of sorted) {
    if (!Number.isSafeInteger(f.id) || f.id < 0 || f.id > 2 ** 40) throw new RangeError(`bad field id ${f.id}`);
    parts.push(encodeVarint(f.id * 2 + (f.critical ? 1 : 0)), encodeVarint(f.value.length), f.value);
  }
  return concatBytes(parts);
}

/** Result of reading a map against its field table: values by field name, and the unknown rest. */
export interface TypedFields<N extends string> {
  known: Partial<Record<N, Uint8Array[]>>;
  unknown: UnknownField[];
}

/** Reads a TLV map with a field table: checks flags and repetition, refuses unknown critical fields. */
export function decodeMap<N extends string>(buf: Uint8Array, table: Record<N, FieldSpec>, what: string, limits: TlvLimits): TypedFields<N> {
  const byId = new Map<number, [N, FieldSpec]>();
  for (const name of Object.keys(table) as N[]) byId.set(table[name].id, [name, table[name]]);
  const known: Partial<Record<N, Uint8Array[]>> = {};
  const unknown: UnknownField[] = [];
  for (const f of decodeTlv(buf, what, limits)) {
    const spec = byId.get(f.id);
    if (!spec) {
      if (f.critical) {
        throw new FormatError("unknown-critical", `${what} has an unknown critical field ${f.id}; this reader (format v${FORMAT.version}) cannot use it safely`, {
          details: { id: f.id },
        });
      }
      unknown.push({ id: f.id, critical: f.critical, value: f.value });
      continue;
    }
    const [name, s] = spec;
    if (f.critical !== s.critical) {
      throw new FormatError("malformed", `${what}: field ${name} (${f.id}) has the critical flag ${f.critical ? "set" : "clear"}; v${FORMAT.version} has it ${s.critical ? "set" : "clear"}`, {
        details: { id: f.id },
      });
    }
    const list = (known[name] ??= []);
    if (list.length > 0 && !s.repeated) throw new FormatError("malformed", `${what}: field ${name} (${f.id}) appears twice`, { details: { id: f.id } });
    list.push(f.value);
  }
  return { known, unknown };
}

// Value codecs --------------------------------------------------------------------------------------

export function decodeUint(v: Uint8Array, what: string): number {
  const r = readVarint(v, 0, v.length, what);
  if (!r || r.next !== v.length) throw new FormatError("malformed", `${what} is not one varint`, { details: { length: v.length } });
  return r.value;
}

export function decodeString(v: Uint8Array, what: string, maxBytes: number): string {
  if (v.length > maxBytes) throw new FormatError("limit-exceeded", `${what} is ${v.length} bytes long; the limit is ${maxBytes}`, { details: { length: v.length, limit: maxBytes } });
  return decodeUtf8(v, what);
}

export function decodeFixed(v: Uint8Array, what: string, length: number): Uint8Array {
  if (v.length !== length) throw new FormatError("malformed", `${what} is ${v.length} bytes; it must be ${length}`, { details: { length: v.length } });
  return v.slice();
}

export const encodeUint = encodeVarint;
export const encodeString = encodeUtf8;
