// Argument rules of the module's `fota` object, as data plus pure functions.
//
// The real module parses arguments in C (modfota.c [S]): the constructor's and httpDownload's /
// apn_set's arguments are keyword-only objects or ints, write takes 1 to 2 positional arguments,
// flush / verify / download_cancel take none. Type errors come from MicroPython's own converters,
// so their messages are MicroPython's. The TypeScript adapter (fota.ts) and the Python shim
// (python.ts) both ask `checkCall` and then raise / return what it says, so the rules exist once.
//
// Values are described the way Python sees them: a type name (`type(v).__name__`) and, for the
// simple types, the value itself. `describeJs` builds that description from a JS value.

import type { FotaCall, ModelProfile, UrlScheme } from "./profiles.js";

/** A Python value as the rules see it. */
export interface PyArg {
  /** `type(v).__name__`: "str", "int", "bool", "float", "NoneType", "bytes", "bytearray", ... */
  readonly t: string;
  /** The value for str / int / bool / float / None (null); bytes-like values may carry a Uint8Array. */
  readonly v?: unknown;
}

/** A Python exception the call must raise. */
export interface PyRaise {
  readonly type: "TypeError" | "ValueError" | "AttributeError";
  readonly message: string;
}

export type CheckResult =
  /** Arguments accepted; `values` holds the converted values by parameter name (defaults filled). */
  | { readonly ok: true; readonly values: Readonly<Record<string, unknown>> }
  /** The call raises. */
  | { readonly ok: false; readonly raise: PyRaise }
  /** The call returns -1 after printing `log` (the module's own refusal, no exception). */
  | { readonly ok: false; readonly ret: -1; readonly log: string };

/** How one parameter converts its argument (the C converter the module uses). */
export type ParamKind =
  /** `mp_obj_get_int`: int or bool. */
  | "int"
  /** `mp_obj_str_get_str` unless None: str or None. */
  | "str-or-none"
  /** `mp_obj_str_get_data` unless None: str, bytes or None. */
  | "strdata-or-none"
  /** Any object (stored as is; e.g. the callback). */
  | "any"
  /** `mp_get_buffer_raise`: bytes, bytearray, memoryview, array, str. */
  | "buffer";

export interface ParamRule {
  readonly name: string;
  readonly kind: ParamKind;
  /** Value when the argument is left out. */
  readonly default: unknown;
}

export type Signature =
  /** `mp_arg_parse_all` with every argument MP_ARG_KW_ONLY. */
  | { readonly style: "kw-only"; readonly params: readonly ParamRule[] }
  /**
   * A plain C function of fixed or bounded positional arity (self not counted). `tooFew` says what
   * happens with fewer than `max` arguments: "raise" (arity error) or "minus-one" (the C body
   * checks the count itself, logs and returns -1).
   */
  | {
      readonly style: "positional";
      readonly params: readonly ParamRule[];
      readonly tooFew: "raise" | "minus-one";
      /** Order in which the C body converts the arguments (names). */
      readonly convertOrder: readonly string[];
    };

/** The constructor `fota(...)` and every method. */
export const SIGNATURES: Readonly<Record<"fota" | FotaCall, Signature>> = Object.freeze({
  fota: {
    style: "kw-only",
    params: [
      { name: "key", kind: "strdata-or-none", default: null },
      { name: "cert", kind: "strdata-or-none", default: null },
      { name: "root_cert", kind: "strdata-or-none", default: null },
      { name: "reset_disable", kind: "int", default: 0 },
    ],
  },
  httpDownload: {
    style: "kw-only",
    params: [
      { name: "url1", kind: "str-or-none", default: null },
      { name: "url2", kind: "str-or-none", default: null },
      { name: "callback", kind: "any", default: null },
    ],
  },
  apn_set: {
    style: "kw-only",
    params: [
      { name: "ip_type", kind: "int", default: 0 },
      { name: "fota_apn", kind: "str-or-none", default: null },
      { name: "fota_user", kind: "str-or-none", default: null },
      { name: "fota_password", kind: "str-or-none", default: null },
    ],
  },
  download_cancel: { style: "positional", params: [], tooFew: "raise", convertOrder: [] },
  write: {
    style: "positional",
    params: [
      { name: "bytesData", kind: "buffer", default: undefined },
      { name: "file_size", kind: "int", default: undefined },
    ],
    tooFew: "minus-one",
    // The C body reads file_size before it asks for the buffer.
    convertOrder: ["file_size", "bytesData"],
  },
  flush: { style: "positional", params: [], tooFew: "raise", convertOrder: [] },
  verify: { style: "positional", params: [], tooFew: "raise", convertOrder: [] },
});

const BUFFER_TYPES = new Set(["bytes", "bytearray", "memoryview", "array", "str"]);

/** Describes a JS value as the Python type it stands for (how the TS adapter feeds checkCall). */
export function describeJs(value: unknown): PyArg {
  if (value === null || value === undefined) return { t: "NoneType", v: null };
  if (typeof value === "string") return { t: "str", v: value };
  if (typeof value === "boolean") return { t: "bool", v: value };
  if (typeof value === "bigint") return { t: "int", v: value };
  if (typeof value === "number") return Number.isInteger(value) ? { t: "int", v: value } : { t: "float", v: value };
  if (typeof value === "function") return { t: "function", v: value };
  if (value instanceof Uint8Array) return { t: "bytes", v: value };
  if (Array.isArray(value)) return { t: "list" };
  return { t: "dict" };
}

function convert(kind: ParamKind, arg: PyArg): { ok: true; value: unknown } | { ok: false; raise: PyRaise } {
  switch (kind) {
    case "any":
      return { ok: true, value: arg.t === "NoneType" ? null : (arg.v ?? arg) };
    case "int":
      if (arg.t === "int") return { ok: true, value: typeof arg.v === "bigint" ? Number(arg.v) : arg.v };
      if (arg.t === "bool") return { ok: true, value: arg.v ? 1 : 0 };
      return { ok: false, raise: { type: "TypeError", message: `can't convert ${arg.t} to int` } };
    case "str-or-none":
      if (arg.t === "NoneType") return { ok: true, value: null };
      if (arg.t === "str") return { ok: true, value: arg.v };
      return { ok: false, raise: { type: "TypeError", message: `can't convert '${arg.t}' object to str implicitly` } };
    case "strdata-or-none":
      if (arg.t === "NoneType") return { ok: true, value: null };
      if (arg.t === "str" || arg.t === "bytes") return { ok: true, value: arg.v };
      return { ok: false, raise: { type: "TypeError", message: `can't convert '${arg.t}' object to str implicitly` } };
    case "buffer":
      if (BUFFER_TYPES.has(arg.t)) return { ok: true, value: arg.v };
      return { ok: false, raise: { type: "TypeError", message: "object with buffer protocol required" } };
  }
}

/**
 * Checks one call's arguments against the module's rules. `positional` excludes self. The result
 * says whether to go on (with converted values), raise, or return -1 with a log line.
 */
export function checkCall(name: keyof typeof SIGNATURES, positional: readonly PyArg[], keywords: Readonly<Record<string, PyArg>>): CheckResult {
  const sig = SIGNATURES[name];
  const values: Record<string, unknown> = {};
  const kwNames = Object.keys(keywords);
  if (sig.style === "kw-only") {
    if (positional.length > 0) return { ok: false, raise: { type: "TypeError", message: "extra positional arguments given" } };
    const known = new Set(sig.params.map((p) => p.name));
    if (kwNames.some((k) => !known.has(k))) return { ok: false, raise: { type: "TypeError", message: "extra keyword arguments given" } };
    for (const p of sig.params) {
      const arg = keywords[p.name];
      if (arg === undefined) {
        values[p.name] = p.default;
        continue;
      }
      const c = convert(p.kind, arg);
      if (!c.ok) return c;
      values[p.name] = c.value;
    }
    return { ok: true, values };
  }
  // Plain C function: no keywords, bounded arity (self counts in MicroPython's messages).
  if (kwNames.length > 0) return { ok: false, raise: { type: "TypeError", message: "function doesn't take keyword arguments" } };
  const max = sig.params.length;
  if (positional.length > max) {
    const message =
      sig.tooFew === "minus-one"
        ? `function expected at most ${max + 1} arguments, got ${positional.length + 1}`
        : `function takes ${max + 1} positional arguments but ${positional.length + 1} were given`;
    return { ok: false, raise: { type: "TypeError", message } };
  }
  if (positional.length < max) {
    if (sig.tooFew === "minus-one") return { ok: false, ret: -1, log: "*** input param invalid ***" };
    return { ok: false, raise: { type: "TypeError", message: `function takes ${max + 1} positional arguments but ${positional.length + 1} were given` } };
  }
  for (const pname of sig.convertOrder) {
    const i = sig.params.findIndex((p) => p.name === pname);
    const c = convert(sig.params[i]!.kind, positional[i]!);
    if (!c.ok) return c;
    values[pname] = c.value;
  }
  return { ok: true, values };
}

/** AttributeError for a method the model's object does not have, else null. */
export function checkAttribute(profile: ModelProfile, call: FotaCall): PyRaise | null {
  if (profile.calls[call] === "absent") return { type: "AttributeError", message: `'fota' object has no attribute '${call}'` };
  return null;
}

/** The URL scheme as the module would classify it, or null when the text is not a URL at all. */
export function urlScheme(url: string): string | null {
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(url);
  return m ? m[1]!.toLowerCase() : null;
}

/**
 * The model's refusals of httpDownload that happen before any network access (the call then
 * returns -1 with a log line): no url1; url2 where mini FOTA is not supported; a scheme the model
 * does not speak (FTP outside EC200A). A string that is not URL-shaped at all is NOT refused here:
 * it fails later like any bad URL (callback -1 with 1003 DOMAIN_UNKNOWN).
 */
export function checkDownloadPolicy(profile: ModelProfile, url1: string | null, url2: string | null): { log: string } | null {
  if (url1 === null || url1 === "") return { log: "*** fota firmware download fail *** (url1 is required)" };
  if (url2 !== null && !profile.miniFota) {
    return { log: `*** fota firmware download fail *** (url2 is for mini FOTA, which ${profile.model} does not support)` };
  }
  for (const url of url2 === null ? [url1] : [url1, url2]) {
    const scheme = urlScheme(url);
    if (scheme !== null && !(profile.schemes as readonly string[]).includes(scheme)) {
      return {
        log: `*** fota firmware download fail *** (${scheme}:// URLs are not supported on ${profile.model}; it accepts ${profile.schemes.map((s: UrlScheme) => s + "://").join(", ")})`,
      };
    }
  }
  return null;
}

/** apn_set's own refusal (returns -1): the IP type must be 0 (IPv4) or 1 (IPv6). */
export function checkApn(ipType: number): { log: string } | null {
  return ipType === 0 || ipType === 1 ? null : { log: `*** fota apn set fail *** (ip_type ${ipType} is not 0 or 1)` };
}
