// Device-side transport: resumable downloads over http(s), ftp(s) and file URLs into a ByteSink.
//
//   const sink = new FileSink("fw.pkg");
//   const r = await fetchTo("https://host/fw.pkg", sink, { journal: new FileJournal("fw.pkg.journal"), signal, onProgress });
//   r.sha256 // hex digest of exactly the bytes in the sink
//
// Failures are TransportError (err.reason -> err.quecCode / err.lwm2mResult), CancelledError, or the
// sink's StorageError.
export type {
  ByteSink,
  Fetcher,
  FetchEvent,
  FetchOptions,
  FetchProgress,
  FetchResult,
  FetchTimeouts,
  MaybePromise,
  OpenRequest,
  OpenResponse,
  ResolvedFetchOptions,
  TlsOptions,
} from "./types.js";
export { fetchTo, pickFetcher, redact, resolveFetchOptions, DEFAULT_FETCHERS } from "./fetch.js";
export { FileJournal, MemoryJournal, journalOffset, type DownloadJournal, type JournalHeader, type JournalState } from "./journal.js";
export { FileSink, MemorySink } from "./sinks.js";
export { httpFetcher, ifRangeFor } from "./http.js";
export { ftpFetcher } from "./ftp.js";
export { fileFetcher } from "./file.js";
export { isRetryable, toTransportError } from "./errors.js";

import { fetchTo } from "./fetch.js";
import { FileJournal } from "./journal.js";
import { FileSink, MemorySink } from "./sinks.js";
import type { FetchOptions, FetchResult } from "./types.js";

/**
 * Download into a file, resumable across restarts: the journal lives at `${file}.journal` unless
 * `opts.journal` is given, and is removed after success.
 */
export async function fetchToFile(url: string | URL, file: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const sink = new FileSink(file);
  const journal = opts.journal ?? new FileJournal(`${file}.journal`);
  try {
    const r = await fetchTo(url, sink, { ...opts, journal });
    await journal.clear();
    return r;
  } finally {
    sink.close();
  }
}

/** Download into memory (no resume across restarts). */
export async function fetchToBuffer(url: string | URL, opts: FetchOptions = {}): Promise<{ bytes: Uint8Array; result: FetchResult }> {
  const sink = new MemorySink();
  const result = await fetchTo(url, sink, opts);
  return { bytes: sink.bytes(), result };
}
