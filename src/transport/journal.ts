// The download journal: what must survive a process kill or power cut so a download resumes where
// it stopped, with the whole-file SHA-256 still exact.
//
// Design choice (Node's crypto Hash cannot be serialised): the download is cut into fixed-size
// chunks (64 KiB by default). The journal holds a header (URL, declared size, validator, chunk size)
// and, appended one by one, the SHA-256 of each completed chunk. A chunk is journaled only after the
// sink has flushed it, so the journal never claims bytes the sink does not hold. On resume the
// driver truncates the sink to the last journaled chunk (dropping at most one partial chunk: that is
// the only data re-fetched per cut), re-reads the stored prefix from the sink, checks every chunk
// against its journaled digest (a mismatch truncates the sink to that chunk) and feeds the same
// bytes into a fresh whole-file hash. The journal is O(1) to update per chunk (an append of 32 bytes
// and an fsync) and small (32 bytes per 64 KiB).
import * as fs from "node:fs";
import * as path from "node:path";
import { StorageError } from "../errors.js";
import type { MaybePromise } from "./types.js";

export interface JournalHeader {
  url: string;
  /** Declared size of the resource, when the server gave one. */
  size: number | undefined;
  validator: string | undefined;
  chunkBytes: number;
}

export interface JournalState {
  header: JournalHeader;
  /** SHA-256 (32 bytes) of each completed chunk, in order. Offset = min(count*chunkBytes, size). */
  digests: Uint8Array[];
}

/** Persistent journal. The device side may implement it over flash; `FileJournal` uses a file. */
export interface DownloadJournal {
  load(): MaybePromise<JournalState | undefined>;
  /** Start a fresh record (a new resource, or a clean restart from 0). */
  reset(header: JournalHeader): MaybePromise<void>;
  /** Record one more completed (and flushed) chunk. */
  commit(digest: Uint8Array): MaybePromise<void>;
  /** Forget everything (after a successful download the caller may call this). */
  clear(): MaybePromise<void>;
}

export function journalOffset(state: JournalState): number {
  const n = state.digests.length * state.header.chunkBytes;
  return state.header.size === undefined ? n : Math.min(n, state.header.size);
}

/** In-memory journal (survives retries within one process only). */
export class MemoryJournal implements DownloadJournal {
  private state: JournalState | undefined;
  load(): JournalState | undefined {
    return this.state && { header: { ...this.state.header }, digests: [...this.state.digests] };
  }
  reset(header: JournalHeader): void {
    this.state = { header: { ...header }, digests: [] };
  }
  commit(digest: Uint8Array): void {
    if (!this.state) throw new StorageError("io-failed", "journal commit before reset");
    this.state.digests.push(Uint8Array.from(digest));
  }
  clear(): void {
    this.state = undefined;
  }
}

const MAGIC = Buffer.from("FOTAJNL1", "latin1");
const DIGEST = 32;

/**
 * File journal: `MAGIC | u32 header length | header JSON | 32-byte digest records...`.
 * `reset` writes a temporary file, fsyncs it and renames it over the journal (atomic); `commit`
 * appends one record and fsyncs. A torn append leaves a tail shorter than a record, which `load`
 * ignores; a damaged header makes `load` return undefined (the download restarts from 0).
 */
export class FileJournal implements DownloadJournal {
  constructor(readonly file: string) {}

  load(): JournalState | undefined {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new StorageError("io-failed", `cannot read journal ${this.file}: ${(err as Error).message}`, { cause: err });
    }
    if (buf.length < MAGIC.length + 4 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    const hlen = buf.readUInt32LE(MAGIC.length);
    const hstart = MAGIC.length + 4;
    if (hlen > 64 * 1024 || hstart + hlen > buf.length) return undefined;
    let header: JournalHeader;
    try {
      const h = JSON.parse(buf.subarray(hstart, hstart + hlen).toString("utf8")) as Partial<JournalHeader>;
      if (typeof h.url !== "string" || typeof h.chunkBytes !== "number" || !(h.chunkBytes > 0)) return undefined;
      header = {
        url: h.url,
        size: typeof h.size === "number" ? h.size : undefined,
        validator: typeof h.validator === "string" ? h.validator : undefined,
        chunkBytes: h.chunkBytes,
      };
    } catch {
      return undefined;
    }
    const digests: Uint8Array[] = [];
    for (let p = hstart + hlen; p + DIGEST <= buf.length; p += DIGEST) digests.push(Uint8Array.from(buf.subarray(p, p + DIGEST)));
    return { header, digests };
  }

  reset(header: JournalHeader): void {
    const json = Buffer.from(JSON.stringify(header), "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(json.length);
    const tmp = `${this.file}.tmp`;
    this.io("write", () => {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      const fd = fs.openSync(tmp, "w");
      try {
        fs.writeSync(fd, Buffer.concat([MAGIC, len, json]));
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, this.file);
      syncDir(path.dirname(this.file));
    });
  }

  commit(digest: Uint8Array): void {
    if (digest.length !== DIGEST) throw new StorageError("io-failed", "journal digest must be 32 bytes");
    this.io("append to", () => {
      const fd = fs.openSync(this.file, "a");
      try {
        fs.writeSync(fd, digest);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    });
  }

  clear(): void {
    this.io("remove", () => fs.rmSync(this.file, { force: true }));
  }

  private io(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      throw new StorageError("io-failed", `cannot ${what} journal ${this.file}: ${(err as Error).message}`, { cause: err });
    }
  }
}

/** fsync a directory so a rename in it survives a power cut (best effort where unsupported). */
export function syncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic.
  }
}
