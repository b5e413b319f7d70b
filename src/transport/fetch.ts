// The scheme-independent download driver: picks the Fetcher for the URL's scheme, streams the body
// into the sink in fixed-size chunks (each chunk's SHA-256 journaled after the sink flushed it),
// retries with exponential backoff, resumes at the byte where a connection dropped, restarts cleanly
// from 0 when the server ignores ranges or the file changed, enforces the declared length and the
// size cap, and turns every failure into a typed error.
import { createHash, type Hash } from "node:crypto";
import { DEFAULT_CONFIG } from "../config.js";
import { CancelledError, FotaError, TransportError, UsageError } from "../errors.js";
import { isRetryable, toTransportError, transportError } from "./errors.js";
import { fileFetcher } from "./file.js";
import { ftpFetcher } from "./ftp.js";
import { httpFetcher } from "./http.js";
import { journalOffset, type DownloadJournal, type JournalHeader } from "./journal.js";
import type { ByteSink, FetchEvent, FetchOptions, FetchResult, Fetcher, OpenResponse, ResolvedFetchOptions } from "./types.js";

export const DEFAULT_FETCHERS: readonly Fetcher[] = [httpFetcher, ftpFetcher, fileFetcher];

export function resolveFetchOptions(opts: FetchOptions = {}): ResolvedFetchOptions {
  const c = DEFAULT_CONFIG.transport;
  const chunkBytes = opts.chunkBytes ?? c.chunkBytes;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 64 || chunkBytes % 64 !== 0)
    throw new UsageError("bad-argument", `chunk size ${chunkBytes} must be a positive multiple of 64`);
  return {
    retries: opts.retries ?? c.retries,
    backoffBaseMs: opts.backoffBaseMs ?? c.backoffBaseMs,
    backoffMaxMs: opts.backoffMaxMs ?? c.backoffMaxMs,
    maxRedirects: opts.maxRedirects ?? c.maxRedirects,
    maxBytes: opts.maxBytes ?? c.maxDownloadBytes,
    chunkBytes,
    maxRestarts: opts.maxRestarts ?? c.maxRestarts,
    timeouts: {
      connectMs: opts.timeouts?.connectMs ?? c.connectTimeoutMs,
      headersMs: opts.timeouts?.headersMs ?? c.headersTimeoutMs,
      readMs: opts.timeouts?.readMs ?? c.readTimeoutMs,
    },
    tls: opts.tls ?? {},
    headers: opts.headers ?? {},
    expectedSize: opts.expectedSize,
  };
}

/** Parse a URL and find the module for its scheme (bad-url / unsupported-protocol otherwise). */
export function pickFetcher(url: string | URL, fetchers: readonly Fetcher[] = DEFAULT_FETCHERS): { url: URL; fetcher: Fetcher } {
  let u: URL;
  try {
    u = typeof url === "string" ? new URL(url) : url;
  } catch (err) {
    throw transportError("bad-url", `not a valid URL: ${String(url).slice(0, 200)}`, { cause: err });
  }
  const scheme = u.protocol.replace(/:$/, "");
  const fetcher = fetchers.find((f) => f.schemes.includes(scheme));
  if (!fetcher) throw transportError("unsupported-protocol", `unsupported URL scheme "${scheme}:" (use http, https, ftp or file)`);
  if (scheme !== "file" && !u.hostname) throw transportError("bad-url", `URL has no host: ${redact(u)}`);
  return { url: u, fetcher };
}

/** The URL without its password, for messages and logs. */
export function redact(u: URL): string {
  if (!u.password) return u.href;
  const c = new URL(u.href);
  c.password = "***";
  return c.href;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(cancelled(signal));
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(cancelled(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function cancelled(signal: AbortSignal): CancelledError {
  return new CancelledError("cancelled", "download cancelled", { cause: signal.reason });
}

/**
 * Wraps an error raised by the sink or the journal inside an attempt, so the retry logic does not
 * mistake it for a network failure: it is rethrown unchanged (a device's PowerCut, which is
 * deliberately not a FotaError, must reach the caller as the very same object).
 */
class SinkFailure {
  constructor(readonly error: unknown) {}
}

/** Await a sink/journal call; whatever it throws becomes a SinkFailure. */
async function local<T>(call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new SinkFailure(err);
  }
}

/** Raised inside an attempt when the resource must be downloaded again from byte 0. */
class Restart {
  constructor(readonly reason: string) {}
}

/**
 * Download `url` into `sink`. Resolves when the sink holds exactly the resource's bytes; otherwise
 * throws a TransportError (reason carries the QuecPython code), a CancelledError, or the sink's
 * StorageError. With `opts.journal`, a later call (even in a new process) resumes the download.
 */
export async function fetchTo(url: string | URL, sink: ByteSink, opts: FetchOptions = {}): Promise<FetchResult> {
  const o = resolveFetchOptions(opts);
  const { url: u, fetcher } = pickFetcher(url, [...(opts.fetchers ?? []), ...DEFAULT_FETCHERS]);
  const signal = opts.signal ?? new AbortController().signal;
  const emit = (e: FetchEvent) => opts.onEvent?.(e);
  const journal: DownloadJournal | undefined = opts.journal;
  const where = redact(u);
  if (signal.aborted) throw cancelled(signal);

  // Running state.
  let offset = 0;
  let total: number | undefined;
  let validator: string | undefined;
  let whole: Hash = createHash("sha256");
  let wholeValid = true;
  let chunkHash: Hash = createHash("sha256");
  let chunkFill = 0;
  let chunkIndex = 0;
  let headerWritten = false;
  let lastPercent = -1;
  const stats = { attempts: 0, bytesFetched: 0, resumes: 0, restarts: 0, resumedFrom: 0 };

  const progress = (force: boolean) => {
    if (!opts.onProgress) return;
    const percent = total ? Math.floor((offset * 100) / total) : undefined;
    if (!force && percent !== undefined && percent === lastPercent) return;
    lastPercent = percent ?? -1;
    opts.onProgress({ received: offset, total, percent });
  };

  const resetState = async () => {
    await sink.truncate(0);
    offset = 0;
    total = undefined;
    validator = undefined;
    whole = createHash("sha256");
    wholeValid = true;
    chunkHash = createHash("sha256");
    chunkFill = 0;
    chunkIndex = 0;
    headerWritten = false;
  };

  const commitChunk = async () => {
    const digest = chunkHash.digest();
    await local(() => sink.flush?.());
    if (journal) await local(() => journal.commit(digest));
    emit({ type: "chunk", index: chunkIndex, offset });
    chunkIndex++;
    chunkHash = createHash("sha256");
    chunkFill = 0;
  };

  const push = async (bytes: Uint8Array) => {
    let p = 0;
    while (p < bytes.length) {
      const take = Math.min(bytes.length - p, o.chunkBytes - chunkFill);
      const piece = bytes.subarray(p, p + take);
      await local(() => sink.write(piece));
      whole.update(piece);
      chunkHash.update(piece);
      chunkFill += take;
      offset += take;
      p += take;
      if (chunkFill === o.chunkBytes) await commitChunk();
    }
  };

  // Restore from the journal: trust only chunks that are journaled AND still in the sink AND whose
  // stored bytes hash to the journaled digest.
  if (journal) {
    const j = await journal.load();
    if (j && j.header.url === u.href && j.header.chunkBytes === o.chunkBytes) {
      let good = Math.min(j.digests.length, Math.floor(sink.offset() / o.chunkBytes));
      const end = journalOffset(j);
      const complete = end === j.header.size && sink.offset() >= end;
      if (complete) good = j.digests.length;
      let badChunk: number | undefined;
      if (sink.read) {
        for (let i = 0; i < good; i++) {
          const want = Math.min(o.chunkBytes, (j.header.size ?? Infinity) - i * o.chunkBytes);
          const bytes = await sink.read(i * o.chunkBytes, want);
          const d = createHash("sha256").update(bytes).digest();
          if (bytes.length !== want || !d.equals(j.digests[i]!)) {
            badChunk = i;
            good = i;
            break;
          }
          whole.update(bytes);
        }
      } else {
        wholeValid = good === 0;
      }
      offset = Math.min(good * o.chunkBytes, end);
      await sink.truncate(offset);
      if (badChunk !== undefined || good < j.digests.length) {
        // Rewrite the journal to what is really held.
        await journal.reset(j.header);
        for (let i = 0; i < good; i++) await journal.commit(j.digests[i]!);
      }
      if (sink.read) emit({ type: "verify-stored", bytes: offset, badChunk });
      chunkIndex = good;
      total = j.header.size;
      validator = j.header.validator;
      headerWritten = true;
      stats.resumedFrom = offset;
      if (offset > 0) {
        stats.resumes++;
        emit({ type: "resume", offset, from: "journal" });
      }
    } else {
      await sink.truncate(0);
    }
  } else {
    await sink.truncate(0);
  }

  let failures = 0;
  let lastError: FotaError | undefined;
  for (;;) {
    if (signal.aborted) throw cancelled(signal);
    if (total !== undefined && offset === total && headerWritten) break; // complete (e.g. from the journal)
    stats.attempts++;
    const startOffset = offset;
    emit({ type: "open", attempt: stats.attempts, offset, url: where });
    let resp: OpenResponse | undefined;
    try {
      resp = await fetcher.open({
        url: u,
        offset,
        validator: offset > 0 ? validator : undefined,
        signal,
        options: o,
        onRedirect: (from, to) => emit({ type: "redirect", from, to }),
      });
      if (resp.start !== offset) {
        if (resp.start !== 0) throw transportError("bad-length", `${where} answered from byte ${resp.start}, asked for ${offset}`, { retryable: false });
        throw new Restart("server sent the whole file instead of the requested range");
      }
      if (offset > 0) {
        if (validator !== undefined && resp.validator !== undefined && resp.validator !== validator) throw new Restart("file changed on the server");
        if (total !== undefined && resp.total !== undefined && resp.total !== total) throw new Restart(`file size changed from ${total} to ${resp.total}`);
      }
      if (offset === 0) {
        total = resp.total;
        validator = resp.validator;
        if (total !== undefined && total > o.maxBytes)
          throw transportError("oversize", `${where} declares ${total} bytes, over the limit of ${o.maxBytes}`, { details: { declared: total, limit: o.maxBytes } });
        if (o.expectedSize !== undefined && total !== undefined && total !== o.expectedSize)
          throw transportError("bad-length", `${where} declares ${total} bytes, expected ${o.expectedSize}`, { details: { declared: total, expected: o.expectedSize } });
        if (total !== undefined && sink.declareSize) {
          const declared = total;
          await local(() => sink.declareSize!(declared));
        }
      }
      if (!headerWritten) {
        const header: JournalHeader = { url: u.href, size: total, validator, chunkBytes: o.chunkBytes };
        if (journal) await local(() => journal.reset(header));
        headerWritten = true;
      }
      const cap = total ?? o.expectedSize ?? o.maxBytes;
      for await (const piece of resp.body) {
        if (signal.aborted) throw cancelled(signal);
        const bytes = piece instanceof Uint8Array ? piece : new Uint8Array(piece as ArrayBuffer);
        if (offset + bytes.length > cap) {
          const reason = total === undefined && o.expectedSize === undefined ? "over the size limit" : "more than declared";
          throw transportError("oversize", `${where} sent ${reason}: over ${cap} bytes`, { retryable: false, details: { limit: cap } });
        }
        await push(bytes);
        stats.bytesFetched += bytes.length;
        if (bytes.length > 0) failures = 0;
        progress(false);
      }
      if (total !== undefined && offset < total)
        throw transportError("connection-lost", `${where} ended the transfer at byte ${offset} of ${total}`, { details: { offset, total } });
      if (o.expectedSize !== undefined && offset !== o.expectedSize)
        throw transportError("bad-length", `${where} sent ${offset} bytes, expected ${o.expectedSize}`, { retryable: false });
      if (total === undefined) total = offset;
      if (chunkFill > 0 || (offset === 0 && chunkIndex === 0)) await commitChunk();
      else await local(() => sink.flush?.());
      await closeQuietly(resp);
      break;
    } catch (err) {
      if (resp) await closeQuietly(resp);
      if (err instanceof SinkFailure) throw err.error; // the sink's own failure (or a power cut): never retried
      if (err instanceof Restart) {
        stats.restarts++;
        if (stats.restarts > o.maxRestarts)
          throw transportError("source-changed", `${where}: gave up after ${o.maxRestarts} restarts (${err.reason})`, { retryable: false });
        emit({ type: "restart", reason: err.reason });
        await resetState();
        continue;
      }
      if (signal.aborted) throw cancelled(signal);
      const e = toTransportError(err, where);
      if (!(e instanceof TransportError) || !isRetryable(e)) throw e;
      lastError = e;
      if (offset > startOffset) failures = 0;
      failures++;
      if (failures > o.retries) throw withAttempts(e, stats.attempts);
      const base = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** (failures - 1));
      const delayMs = Math.round(base * (0.5 + Math.random() * 0.5));
      emit({ type: "retry", attempt: stats.attempts, delayMs, offset, reason: e.reason, message: e.message });
      await sleep(delayMs, signal);
      if (offset > 0) {
        stats.resumes++;
        emit({ type: "resume", offset, from: "connection" });
      }
    }
  }
  void lastError;
  progress(true);
  return {
    size: offset,
    sha256: wholeValid ? whole.digest("hex") : undefined,
    validator,
    attempts: stats.attempts,
    bytesFetched: stats.bytesFetched,
    resumes: stats.resumes,
    restarts: stats.restarts,
    resumedFrom: stats.resumedFrom,
  };
}

function withAttempts(e: TransportError, attempts: number): TransportError {
  e.details.attempts = attempts;
  return e;
}

async function closeQuietly(resp: OpenResponse): Promise<void> {
  try {
    await resp.close();
  } catch {
    // the connection is gone anyway
  }
}
