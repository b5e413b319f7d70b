// An in-memory cache of small, hot package files for `fota serve`: thousands of devices fetch the
// same few packages, and reading each from disk through a stream per request costs most of the
// server's CPU. Cached files are answered straight from memory for the plain cases devices use
// (GET/HEAD, one byte range, If-Range); everything else (conditional GETs, multiple or odd ranges,
// 416, directories, files not cached yet) is left to @fastify/static, which stays the reference:
// the headers here are the ones it sends (same ETag and Last-Modified formulas, and the
// Content-Type it chose for that file, learnt from its first response).
import * as fs from "node:fs";
import type { IncomingHttpHeaders, ServerResponse } from "node:http";

export interface HotCacheOptions {
  /** Files larger than this are never cached. */
  maxFileBytes: number;
  /** Total bytes held; least recently used files are dropped beyond it. 0 disables the cache. */
  maxTotalBytes: number;
  /**
   * A cached file's size and mtime are checked again when its last check is older than this (a
   * backstop: a file watcher drops a cached file as soon as it changes).
   */
  recheckMs: number;
}

interface Entry {
  file: string;
  bytes: Buffer;
  size: number;
  mtimeMs: number;
  etag: string;
  lastModified: string;
  lastModifiedMs: number;
  contentType: string | undefined;
  checkedAt: number;
  recheck: Promise<boolean> | undefined;
  watcher: fs.FSWatcher;
}

/** What a cached file answers to a request, or undefined to let @fastify/static answer. */
export interface HotAnswer {
  status: 200 | 206;
  headers: Record<string, string | number>;
  body: Buffer | undefined;
}

const sameFile = (a: fs.Stats, b: { size: number; mtimeMs: number }) => a.size === b.size && a.mtimeMs === b.mtimeMs;

export class HotFileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Set<string>();
  private total = 0;
  /** Content types learnt from @fastify/static before the bytes arrived. */
  private readonly types = new Map<string, string>();

  constructor(private readonly o: HotCacheOptions) {}

  get enabled(): boolean {
    return this.o.maxTotalBytes > 0 && this.o.maxFileBytes > 0;
  }

  /** Bytes held (for tests and logs). */
  get heldBytes(): number {
    return this.total;
  }

  /** The validated entry for `file`, or undefined (a miss starts loading it in the background). */
  async lookup(file: string): Promise<Entry | undefined> {
    if (!this.enabled) return undefined;
    const e = this.entries.get(file);
    if (!e) {
      this.load(file);
      return undefined;
    }
    if (Date.now() - e.checkedAt > this.o.recheckMs) {
      e.recheck ??= fs.promises.stat(file).then(
        (st) => st.isFile() && sameFile(st, e),
        () => false,
      );
      const ok = await e.recheck;
      e.recheck = undefined;
      if (!ok) {
        this.drop(file);
        return undefined;
      }
      e.checkedAt = Date.now();
    }
    if (e.contentType === undefined) return undefined;
    // least recently used first in iteration order
    this.entries.delete(file);
    this.entries.set(file, e);
    return e;
  }

  /** @fastify/static answered `file` with this Content-Type: cached answers use the same. */
  noteContentType(file: string, type: string | undefined): void {
    if (!this.enabled || type === undefined) return;
    const e = this.entries.get(file);
    if (e) e.contentType = type;
    else if (this.types.size < 10_000) this.types.set(file, type);
  }

  private drop(file: string): void {
    const e = this.entries.get(file);
    if (!e) return;
    this.entries.delete(file);
    this.total -= e.size;
    e.watcher.close();
  }

  /** Forget everything (server stopping). */
  close(): void {
    for (const file of [...this.entries.keys()]) this.drop(file);
  }

  private load(file: string): void {
    if (this.loading.has(file)) return;
    this.loading.add(file);
    let watcher: fs.FSWatcher | undefined;
    let changed = false;
    let kept = false;
    void (async () => {
      try {
        const st = await fs.promises.stat(file);
        if (!st.isFile() || st.size === 0 || st.size > this.o.maxFileBytes || st.size > this.o.maxTotalBytes) return;
        // Watch before reading, so a change at any point after this drops (or never admits) the copy.
        watcher = fs.watch(file, { persistent: false }, () => {
          changed = true;
          if (this.entries.get(file)?.watcher === watcher) this.drop(file);
        });
        watcher.on("error", () => {
          changed = true;
          if (this.entries.get(file)?.watcher === watcher) this.drop(file);
        });
        const bytes = await fs.promises.readFile(file);
        const after = await fs.promises.stat(file);
        if (changed || !sameFile(after, st) || bytes.length !== st.size) return; // changed while reading: try again on a later request
        this.drop(file);
        while (this.total + st.size > this.o.maxTotalBytes) {
          const oldest = this.entries.keys().next();
          if (oldest.done) break;
          this.drop(oldest.value);
        }
        // the formulas @fastify/send uses, so validators match whichever path answered before
        const mtime = st.mtime;
        this.entries.set(file, {
          file,
          bytes,
          size: st.size,
          mtimeMs: st.mtimeMs,
          etag: `W/"${st.size.toString(16)}-${mtime.getTime().toString(16)}"`,
          lastModified: mtime.toUTCString(),
          lastModifiedMs: Date.parse(mtime.toUTCString()),
          contentType: this.types.get(file),
          checkedAt: Date.now(),
          recheck: undefined,
          watcher,
        });
        kept = true;
        this.types.delete(file);
        this.total += st.size;
      } catch {
        // unreadable or unwatchable now: @fastify/static answers (and reports) it
      } finally {
        if (!kept) watcher?.close();
        this.loading.delete(file);
      }
    })();
  }
}

const RANGE = /^ *bytes= *(\d*) *- *(\d*) *$/;

/**
 * The answer for a cached file, following @fastify/send's rules; undefined for every case left to
 * @fastify/static (conditional GETs, several or malformed ranges, unsatisfiable ranges).
 */
export function answer(method: string, h: IncomingHttpHeaders, e: Entry): HotAnswer | undefined {
  if (h["if-match"] !== undefined || h["if-none-match"] !== undefined || h["if-modified-since"] !== undefined || h["if-unmodified-since"] !== undefined) return undefined;
  const headers: Record<string, string | number> = {
    "accept-ranges": "bytes",
    "last-modified": e.lastModified,
    etag: e.etag,
    "content-type": e.contentType!,
  };
  let start = 0;
  let end = e.size - 1;
  let status: 200 | 206 = 200;
  const range = h.range;
  const ifRange = h["if-range"];
  if (range !== undefined && /^ *bytes=/.test(range) && rangeFresh(typeof ifRange === "string" ? ifRange : undefined, e)) {
    const m = RANGE.exec(range);
    if (!m) return undefined;
    const [a, b] = [m[1]!, m[2]!];
    if (a === "" && b === "") return undefined;
    if (a === "") {
      const n = Number(b);
      if (n === 0) return undefined;
      start = Math.max(0, e.size - n);
    } else {
      start = Number(a);
      if (b !== "") end = Math.min(end, Number(b));
      if (start >= e.size || start > end) return undefined;
    }
    status = 206;
    headers["content-range"] = `bytes ${start}-${end}/${e.size}`;
  }
  headers["content-length"] = end - start + 1;
  return { status, headers, body: method === "HEAD" ? undefined : e.bytes.subarray(start, end + 1) };
}

/** If-Range: an entity tag must match ours; a date must not be older than our Last-Modified. */
function rangeFresh(ifRange: string | undefined, e: Entry): boolean {
  if (ifRange === undefined) return true;
  if (ifRange.includes('"')) return ifRange.includes(e.etag);
  const t = Date.parse(ifRange);
  if (Number.isNaN(t)) return false;
  return Number.isNaN(e.lastModifiedMs) || e.lastModifiedMs <= t;
}

/** Write a cached answer on the raw response. */
export function sendAnswer(res: ServerResponse, a: HotAnswer): void {
  for (const [k, v] of Object.entries(a.headers)) res.setHeader(k, v);
  res.statusCode = a.status;
  res.end(a.body);
}
