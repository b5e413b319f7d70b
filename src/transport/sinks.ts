// Host implementations of ByteSink: a file (durable, resumable across restarts) and memory.
import * as fs from "node:fs";
import * as path from "node:path";
import { StorageError } from "../errors.js";
import type { ByteSink } from "./types.js";

/** Appends to a file. Keeps what the file already holds, so a journaled download resumes into it. */
export class FileSink implements ByteSink {
  private fd: number;
  private size: number;

  constructor(readonly file: string) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      this.fd = fs.openSync(file, fs.existsSync(file) ? "r+" : "w+");
      this.size = fs.fstatSync(this.fd).size;
    } catch (err) {
      throw ioError(`cannot open ${file}`, err);
    }
  }

  offset(): number {
    return this.size;
  }

  write(bytes: Uint8Array): void {
    try {
      let done = 0;
      while (done < bytes.length) done += fs.writeSync(this.fd, bytes, done, bytes.length - done, this.size + done);
      this.size += bytes.length;
    } catch (err) {
      throw ioError(`cannot write ${this.file}`, err);
    }
  }

  truncate(to: number): void {
    if (to > this.size) throw new StorageError("io-failed", `cannot truncate ${this.file} up to ${to} (holds ${this.size})`);
    try {
      fs.ftruncateSync(this.fd, to);
      this.size = to;
    } catch (err) {
      throw ioError(`cannot truncate ${this.file}`, err);
    }
  }

  flush(): void {
    try {
      fs.fsyncSync(this.fd);
    } catch (err) {
      throw ioError(`cannot sync ${this.file}`, err);
    }
  }

  read(offset: number, length: number): Uint8Array {
    const out = Buffer.alloc(Math.max(0, Math.min(length, this.size - offset)));
    try {
      let done = 0;
      while (done < out.length) {
        const n = fs.readSync(this.fd, out, done, out.length - done, offset + done);
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    } catch (err) {
      throw ioError(`cannot read ${this.file}`, err);
    }
  }

  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** Keeps the bytes in memory (growing buffer). */
export class MemorySink implements ByteSink {
  private buf = new Uint8Array(64 * 1024);
  private size = 0;

  offset(): number {
    return this.size;
  }
  write(bytes: Uint8Array): void {
    if (this.size + bytes.length > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < this.size + bytes.length) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.size));
      this.buf = next;
    }
    this.buf.set(bytes, this.size);
    this.size += bytes.length;
  }
  truncate(to: number): void {
    if (to > this.size) throw new StorageError("io-failed", `cannot truncate memory sink up to ${to} (holds ${this.size})`);
    this.size = to;
  }
  read(offset: number, length: number): Uint8Array {
    return this.buf.slice(offset, Math.min(this.size, offset + length));
  }
  /** A copy of everything received. */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.size);
  }
}

function ioError(what: string, err: unknown): StorageError {
  const code = (err as NodeJS.ErrnoException).code;
  return new StorageError(code === "ENOSPC" ? "no-space" : "io-failed", `${what}: ${(err as Error).message}`, { cause: err });
}
