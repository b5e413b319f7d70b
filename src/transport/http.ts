// http:// and https:// over undici: one request per attempt, bounded redirects, `Range: bytes=N-`
// with `If-Range` on resume, connect / headers / idle-body timeouts, custom CA and client
// certificate, cancel through the AbortSignal.
import type { Agent, Dispatcher } from "undici";
import { transportError, toTransportError } from "./errors.js";
import type { Fetcher, OpenRequest, OpenResponse } from "./types.js";

interface HttpValidator {
  /** ETag as sent (may be weak: W/"..."). */
  e?: string;
  /** Last-Modified as sent. */
  m?: string;
}

function validatorOf(headers: Dispatcher.ResponseData["headers"]): string | undefined {
  const e = header(headers, "etag");
  const m = header(headers, "last-modified");
  if (!e && !m) return undefined;
  const v: HttpValidator = {};
  if (e) v.e = e;
  if (m) v.m = m;
  return JSON.stringify(v);
}

/** The If-Range value for a validator: a strong ETag, else the Last-Modified date (RFC 9110 13.1.5). */
export function ifRangeFor(validator: string | undefined): string | undefined {
  if (!validator) return undefined;
  try {
    const v = JSON.parse(validator) as HttpValidator;
    if (v.e && !v.e.startsWith("W/")) return v.e;
    if (v.m) return v.m;
  } catch {
    // not ours: no If-Range
  }
  return undefined;
}

function header(headers: Dispatcher.ResponseData["headers"], name: string): string | undefined {
  const v = headers[name];
  if (Array.isArray(v)) return v[0];
  return v ?? undefined;
}

function parseLength(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d+$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

/** `bytes A-B/T` or `bytes A-B/*` (and `bytes * /T` for 416). */
function parseContentRange(v: string | undefined): { start: number; end: number; total: number | undefined } | undefined {
  const m = v && /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === "*" ? undefined : Number(m[3]) };
}

type Undici = typeof import("undici");
/** undici is loaded on the first HTTP download (not when the library or the CLI starts). */
let undiciLib: Promise<Undici> | undefined;
const loadUndici = (): Promise<Undici> => (undiciLib ??= import("undici"));

function makeAgent({ Agent }: Undici, req: OpenRequest): Agent {
  const t = req.options.timeouts;
  const tls = req.options.tls;
  return new Agent({
    connect: {
      timeout: t.connectMs,
      ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
      ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
      ...(tls.key !== undefined ? { key: tls.key } : {}),
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
      rejectUnauthorized: tls.rejectUnauthorized ?? true,
    },
    headersTimeout: t.headersMs,
    bodyTimeout: t.readMs,
    connections: 1,
    pipelining: 1,
  });
}

async function discard(res: Dispatcher.ResponseData): Promise<void> {
  try {
    await res.body.dump({ limit: 64 * 1024 });
  } catch {
    // ignore
  }
}

export const httpFetcher: Fetcher = {
  schemes: ["http", "https"],
  async open(req: OpenRequest): Promise<OpenResponse> {
    const undici = await loadUndici();
    const { request } = undici;
    const agent = makeAgent(undici, req);
    const close = async () => {
      await agent.destroy().catch(() => undefined);
    };
    try {
      let url = req.url;
      let useRange = req.offset > 0;
      for (let hop = 0; ; ) {
        const headers: Record<string, string> = { "accept-encoding": "identity", "user-agent": "fota", ...req.options.headers };
        if (useRange) {
          headers.range = `bytes=${req.offset}-`;
          const ir = ifRangeFor(req.validator);
          if (ir) headers["if-range"] = ir;
        }
        const where = url.host;
        let res: Dispatcher.ResponseData;
        try {
          res = await request(url, { method: "GET", headers, dispatcher: agent, signal: req.signal });
        } catch (err) {
          throw toTransportError(err, where);
        }
        const s = res.statusCode;
        if (s >= 300 && s < 400 && s !== 304) {
          const loc = header(res.headers, "location");
          await discard(res);
          if (!loc) throw transportError("http-error", `${where} answered ${s} without a Location`);
          if (++hop > req.options.maxRedirects) throw transportError("http-error", `more than ${req.options.maxRedirects} redirects from ${req.url.host}`, { details: { status: s } });
          let next: URL;
          try {
            next = new URL(loc, url);
          } catch (err) {
            throw transportError("bad-url", `${where} redirected to an invalid URL`, { cause: err });
          }
          if (next.protocol !== "http:" && next.protocol !== "https:")
            throw transportError("unsupported-protocol", `${where} redirected to ${next.protocol} (only http/https)`);
          req.onRedirect?.(url.href, next.href);
          url = next;
          continue;
        }
        if ((s === 416 || s === 412) && useRange) {
          // The range no longer fits the file (it shrank or changed): ask for the whole file.
          await discard(res);
          useRange = false;
          continue;
        }
        if (s === 200 || s === 206) {
          let start = 0;
          let total: number | undefined;
          const len = parseLength(header(res.headers, "content-length"));
          const encoded = (header(res.headers, "content-encoding") ?? "identity").toLowerCase() !== "identity";
          if (s === 206) {
            const cr = parseContentRange(header(res.headers, "content-range"));
            if (!cr || cr.end < cr.start) {
              await discard(res);
              throw transportError("bad-length", `${where} sent 206 without a usable Content-Range`, { retryable: false });
            }
            if (len !== undefined && len !== cr.end - cr.start + 1) {
              await discard(res);
              throw transportError("bad-length", `${where}: Content-Length ${len} disagrees with Content-Range ${cr.start}-${cr.end}`, { retryable: false });
            }
            start = cr.start;
            total = cr.total;
          } else {
            total = encoded ? undefined : len;
          }
          return { start, total, validator: validatorOf(res.headers), body: res.body, close };
        }
        await discard(res);
        if (s === 401 || s === 403 || s === 407) throw transportError("auth-failed", `${where} refused access (HTTP ${s})`, { details: { status: s } });
        if (s === 404 || s === 410) throw transportError("not-found", `${url.pathname} not found on ${where} (HTTP ${s})`, { details: { status: s } });
        const retryable = s >= 500 || s === 429 || s === 408;
        throw transportError("http-error", `${where} answered HTTP ${s}`, { retryable, details: { status: s } });
      }
    } catch (err) {
      await close();
      throw err;
    }
  },
};
