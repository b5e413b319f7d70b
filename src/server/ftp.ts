// FTP package hosting with ftp-srv: passive mode on a port range of the serve host, REST, SIZE, MDTM,
// read-only, confined to the served directory (`..` and symlinks out are refused with 550).
import * as fs from "node:fs";
import * as path from "node:path";
import { timingSafeEqual } from "node:crypto";
import type { Readable } from "node:stream";
import { FtpSrv, FileSystem, type FtpConnection } from "ftp-srv";
import { isInside } from "./paths.js";
import type { DownloadRecord } from "./types.js";

export interface FtpServeOptions {
  realRoot: string;
  host: string;
  port: number;
  pasvMin: number;
  pasvMax: number;
  /** Without a user, only anonymous logins are accepted. */
  user?: string;
  password?: string;
  onDownload: (r: DownloadRecord) => void;
  /** FTP commands to refuse with 502 (tests use it to play a server without REST). */
  disabledCommands?: string[];
}

class FsError extends Error {
  constructor(
    message: string,
    readonly code = 550,
  ) {
    super(message);
  }
}

/** Walk the path from the root, resolving symlinks, and refuse anything that lands outside. */
function confine(realRoot: string, fsPath: string): void {
  const rel = path.relative(realRoot, fsPath);
  if (rel.startsWith("..") || path.isAbsolute(rel)) throw new FsError("outside the served directory");
  let cur = realRoot;
  for (const part of rel.split(path.sep).filter(Boolean)) {
    const next = path.join(cur, part);
    let real: string;
    try {
      real = fs.realpathSync(next);
    } catch {
      return; // missing: the operation itself reports it
    }
    if (!isInside(realRoot, real)) throw new FsError("outside the served directory");
    cur = real;
  }
}

type Resolved = { fsPath: string; clientPath: string };

function makeFs(connection: FtpConnection, o: FtpServeOptions): FileSystem {
  const base = new FileSystem(connection, { root: o.realRoot, cwd: "/" });
  const b = base as unknown as { _resolvePath(p?: string): Resolved; read(f: string, opts?: { start?: number }): Promise<{ stream: Readable; clientPath: string }> };
  const origResolve = b._resolvePath.bind(base);
  b._resolvePath = (p?: string) => {
    const r = origResolve(p);
    confine(o.realRoot, r.fsPath);
    return r;
  };
  const origRead = b.read.bind(base);
  b.read = async (fileName: string, opts: { start?: number } = {}) => {
    const started = process.hrtime.bigint();
    const res = await origRead(fileName, opts);
    let bytes = 0;
    let ended = false;
    res.stream.on("data", (d: Buffer) => (bytes += d.length));
    res.stream.once("end", () => (ended = true));
    res.stream.once("close", () => {
      o.onDownload({
        proto: "ftp",
        client: connection.ip,
        file: res.clientPath,
        status: ended ? 226 : 426,
        range: opts.start ? `bytes=${opts.start}-` : undefined,
        bytes,
        complete: ended,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    return res;
  };
  const readOnly = () => {
    throw new FsError("read-only server", 550);
  };
  const w = base as unknown as Record<string, unknown>;
  for (const op of ["write", "delete", "mkdir", "rename", "chmod"]) w[op] = readOnly;
  return base;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const quietLog = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error() {},
  fatal() {},
  child() {
    return quietLog;
  },
};

export async function startFtp(o: FtpServeOptions): Promise<{ server: FtpSrv; url: string; port: number; close(): Promise<void> }> {
  const before = new Set([...process.listeners("SIGINT"), ...process.listeners("SIGTERM"), ...process.listeners("SIGQUIT")]);
  const server = new FtpSrv({
    url: `ftp://${o.host}:${o.port}`,
    pasv_url: o.host,
    pasv_min: o.pasvMin,
    pasv_max: o.pasvMax,
    anonymous: o.user === undefined,
    greeting: "fota serve",
    log: quietLog,
    timeout: 60_000,
    blacklist: o.disabledCommands ?? [],
  });
  // ftp-srv installs signal handlers that exit the process; `fota serve` stops gracefully itself.
  for (const sig of ["SIGINT", "SIGTERM", "SIGQUIT"] as const)
    for (const l of process.listeners(sig)) if (!before.has(l)) process.removeListener(sig, l);

  server.on("login", ({ connection, username, password }, resolve, reject) => {
    const ok = o.user === undefined ? username === "anonymous" || username === "ftp" : sameSecret(username, o.user) && sameSecret(password, o.password ?? "");
    if (!ok) return reject(new Error("login incorrect"));
    resolve({ fs: makeFs(connection, o) });
  });
  server.on("client-error", () => {
    // a client going away mid-transfer is normal; the download record says so
  });
  await server.listen();
  const inner = (server as unknown as { server: import("node:net").Server }).server;
  const addr = inner.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  return {
    server,
    port,
    url: `ftp://${o.host}:${port}/`,
    close: async () => {
      await Promise.race([server.close(), new Promise((r) => setTimeout(r, 2000).unref())]);
    },
  };
}
