// The shapes shared by every fetcher: where bytes go (ByteSink), how a scheme opens a resource
// (Fetcher), what the caller can ask for (FetchOptions) and what it gets back (FetchResult).

export type MaybePromise<T> = T | Promise<T>;

/**
 * Where downloaded bytes go. The device side implements this over flash; `FileSink` and `MemorySink`
 * are the host implementations. Bytes are always appended at `offset()`; `truncate(n)` discards
 * everything from byte n on (a restart from 0 is `truncate(0)`).
 */
export interface ByteSink {
  /** How many bytes the sink holds (the next write lands here). */
  offset(): number;
  write(bytes: Uint8Array): MaybePromise<void>;
  truncate(to: number): MaybePromise<void>;
  /** Make everything written so far durable. The journal records a chunk only after this returns. */
  flush?(): MaybePromise<void>;
  /**
   * Called once the source declared the resource's total size, before any byte of a fresh download
   * is written. Throw (e.g. a CompatibilityError "too-large") to refuse it; fetchTo rethrows unchanged.
   */
  declareSize?(total: number): MaybePromise<void>;
  /**
   * Read back stored bytes. When present, a resume after a process restart re-hashes the stored
   * prefix (checking every chunk against the journal) so the whole-file SHA-256 is exact.
   */
  read?(offset: number, length: number): MaybePromise<Uint8Array>;
}

/** What a scheme module is asked to open. */
export interface OpenRequest {
  url: URL;
  /** Byte offset to start from (0 = the whole resource). */
  offset: number;
  /** The validator recorded when the download started (ETag, Last-Modified, FTP size+MDTM...). */
  validator: string | undefined;
  signal: AbortSignal;
  options: ResolvedFetchOptions;
  /** Called on each redirect followed (HTTP). */
  onRedirect?(from: string, to: string): void;
}

/** An opened resource: a body stream starting at `start`. */
export interface OpenResponse {
  /** Where `body` starts: the requested offset if the server honoured it, else 0 (restart). */
  start: number;
  /** Full size of the resource, when the server declared it. */
  total: number | undefined;
  /** The resource's current validator (compared with the journal's to detect a changed file). */
  validator: string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** Release the connection (called after the body ends or on any error). */
  close(): MaybePromise<void>;
}

/** One module per URL scheme implements this. */
export interface Fetcher {
  readonly schemes: readonly string[];
  open(req: OpenRequest): Promise<OpenResponse>;
}

export interface FetchProgress {
  /** Bytes held by the sink. */
  received: number;
  /** Declared size, when known. */
  total: number | undefined;
  /** Whole percent (0-100) when the total is known. */
  percent: number | undefined;
}

export type FetchEvent =
  | { type: "open"; attempt: number; offset: number; url: string }
  | { type: "redirect"; from: string; to: string }
  | { type: "retry"; attempt: number; delayMs: number; offset: number; reason: string; message: string }
  | { type: "resume"; offset: number; from: "journal" | "connection" }
  | { type: "restart"; reason: string }
  | { type: "chunk"; index: number; offset: number }
  | { type: "verify-stored"; bytes: number; badChunk: number | undefined };

export interface TlsOptions {
  /** Extra trusted CA certificate(s), PEM. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Client certificate and key, PEM. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** Default true. Turning it off is for tests only. */
  rejectUnauthorized?: boolean;
  /** SNI server name override. */
  servername?: string;
}

export interface FetchTimeouts {
  /** TCP (+TLS) connect, and FTP login. */
  connectMs?: number;
  /** From request sent to response headers (HTTP) / to the first data (FTP). */
  headersMs?: number;
  /** Longest silence while reading the body: a stalled link fails after this. */
  readMs?: number;
}

export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?: (p: FetchProgress) => void;
  onEvent?: (e: FetchEvent) => void;
  /** Persistent journal: makes the download resumable across process restarts / power cuts. */
  journal?: import("./journal.js").DownloadJournal;
  timeouts?: FetchTimeouts;
  /** Consecutive failed attempts (without any new byte) before giving up. */
  retries?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  maxRedirects?: number;
  /** Hard cap on the resource size, whatever the server declares or sends. */
  maxBytes?: number;
  /** The size the caller expects (e.g. from a manifest); a different declared size is `bad-length`. */
  expectedSize?: number;
  /** Bytes per journal chunk (each has its own SHA-256 in the journal). Multiple of 64. */
  chunkBytes?: number;
  /** Most clean restarts from 0 (file changed, ranges ignored) before `source-changed`. */
  maxRestarts?: number;
  tls?: TlsOptions;
  /** Extra request headers (HTTP). */
  headers?: Record<string, string>;
  /** Override or add scheme modules (e.g. a test double for a network fault). */
  fetchers?: Fetcher[];
}

export type ResolvedFetchOptions = Required<
  Pick<FetchOptions, "retries" | "backoffBaseMs" | "backoffMaxMs" | "maxRedirects" | "maxBytes" | "chunkBytes" | "maxRestarts">
> & {
  timeouts: Required<FetchTimeouts>;
  tls: TlsOptions;
  headers: Record<string, string>;
  expectedSize: number | undefined;
};

export interface FetchResult {
  /** Final size (= bytes in the sink). */
  size: number;
  /** SHA-256 of all bytes, hex; undefined only when a resume happened and the sink cannot `read`. */
  sha256: string | undefined;
  validator: string | undefined;
  /** Attempts (requests) made in this call. */
  attempts: number;
  /** Body bytes received from the network in this call. */
  bytesFetched: number;
  /** Connection-level resumes (Range / REST) and journal resumes in this call. */
  resumes: number;
  /** Clean restarts from 0 in this call. */
  restarts: number;
  /** Where the call started: the offset restored from the journal (0 without one). */
  resumedFrom: number;
}
