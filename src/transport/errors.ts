// Maps whatever the network stack throws (Node errno codes, undici codes, FTP replies, TLS codes)
// to a TransportError with a reason from the one REASONS table, and says whether a retry may help.
import { FotaError, TransportError, type Reason } from "../errors.js";

type TransportReason = ConstructorParameters<typeof TransportError>[0];

/** Reasons worth another attempt (with backoff, resuming where the last one stopped). */
const RETRYABLE: ReadonlySet<Reason> = new Set<Reason>(["connection-lost", "timeout", "connect-failed", "dns-timeout"]);

export function isRetryable(err: unknown): boolean {
  if (!(err instanceof TransportError)) return false;
  if (err.details.retryable === true) return true;
  if (err.details.retryable === false) return false;
  return RETRYABLE.has(err.reason);
}

export function transportError(reason: TransportReason, message: string, extra?: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> }): TransportError {
  const details: Record<string, unknown> = { ...(extra?.details ?? {}) };
  if (extra?.retryable !== undefined) details.retryable = extra.retryable;
  return new TransportError(reason, message, { cause: extra?.cause, details });
}

const TLS_CODES = /^(CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH|ERR_OSSL)/;

function codesOf(err: unknown): string[] {
  const out: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === "object"; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") out.push(code);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function messagesOf(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === "object"; i++) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === "string" && m) parts.push(m);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(": ");
}

/** Classify a low-level error raised while talking to `where` (host:port or URL). */
export function toTransportError(err: unknown, where: string): FotaError {
  if (err instanceof FotaError) return err;
  const codes = codesOf(err);
  const msg = messagesOf(err) || String(err);
  const has = (...c: string[]) => codes.some((x) => c.includes(x));
  if (has("ENOTFOUND")) return transportError("dns-not-found", `host name of ${where} not found`, { cause: err });
  if (has("EAI_AGAIN")) return transportError("dns-timeout", `host name lookup for ${where} failed temporarily`, { cause: err });
  if (codes.some((c) => TLS_CODES.test(c))) return transportError("tls-failed", `TLS with ${where} failed: ${msg}`, { cause: err });
  if (has("ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"))
    return transportError("connect-failed", `cannot connect to ${where}: ${msg}`, { cause: err });
  if (has("UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT") || /^Timeout \((control|data) socket\)/.test(msg))
    return transportError("timeout", `${where} stopped answering: ${msg}`, { cause: err });
  if (
    has("ECONNRESET", "EPIPE", "ECONNABORTED", "UND_ERR_SOCKET", "UND_ERR_CLOSED", "UND_ERR_RES_CONTENT_LENGTH_MISMATCH", "ERR_STREAM_PREMATURE_CLOSE") ||
    /closed|FIN packet|socket hang up|terminated|aborted/i.test(msg)
  )
    return transportError("connection-lost", `connection to ${where} lost: ${msg}`, { cause: err });
  if (/certificate|self.signed|SSL routines|alert/i.test(msg)) return transportError("tls-failed", `TLS with ${where} failed: ${msg}`, { cause: err });
  if (has("ENOENT", "EISDIR")) return transportError("not-found", `${where} not found`, { cause: err });
  if (has("EACCES", "EPERM")) return transportError("auth-failed", `no permission to read ${where}`, { cause: err });
  return transportError("connection-lost", `transfer from ${where} failed: ${msg}`, { cause: err });
}
