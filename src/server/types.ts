/** One finished (complete or aborted) download, as `fota serve` logs it. */
export interface DownloadRecord {
  proto: "http" | "https" | "ftp";
  /** Client address. */
  client: string;
  /** Path as the client asked for it. */
  file: string;
  /** HTTP status (FTP: 226 complete, 426 aborted). */
  status: number;
  /** HTTP Range header, or `bytes=N-` for an FTP REST. */
  range: string | undefined;
  /** Body bytes sent. */
  bytes: number;
  /** False when the client went away before the end. */
  complete: boolean;
  durationMs: number;
  /** HTTP with the memory cache on: whether the bytes came from the cache or from disk. */
  source?: "memory" | "disk";
}
