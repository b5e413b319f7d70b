// `fota serve`: host a directory of packages over HTTP(S) and, when asked, FTP.
import * as fs from "node:fs";
import { DEFAULT_CONFIG } from "../config.js";
import { UsageError } from "../errors.js";
import { startHttp } from "./http.js";
import { checkServeOptions } from "./options.js";
import { listServed, type ServedFile } from "./paths.js";
import type { DownloadRecord } from "./types.js";

export type { DownloadRecord } from "./types.js";
export { checkServeOptions } from "./options.js";
export { listServed, resolveInside, type ServedFile } from "./paths.js";

export interface ServeOptions {
  dir: string;
  host?: string;
  /** 0 = pick a free port. */
  httpPort: number;
  tlsCert?: string;
  tlsKey?: string;
  /** Serve FTP too (0 = pick a free port). */
  ftpPort?: number;
  ftpUser?: string;
  ftpPassword?: string;
  pasvMin?: number;
  pasvMax?: number;
  /** Memory for the cache of hot package files (default config.server.hotCacheTotalBytes; 0 = off). */
  cacheBytes?: number;
  onDownload?: (r: DownloadRecord) => void;
}

export interface RunningServer {
  root: string;
  files: ServedFile[];
  httpUrl: string;
  httpPort: number;
  ftpUrl: string | undefined;
  ftpPort: number | undefined;
  close(): Promise<void>;
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError("bad-argument", `cannot read ${what} ${file}: ${(err as Error).message}`, { cause: err });
  }
}

export async function serve(o: ServeOptions): Promise<RunningServer> {
  const realRoot = checkServeOptions(o);
  const host = o.host ?? "127.0.0.1";
  const cfg = DEFAULT_CONFIG.server;
  const onDownload = o.onDownload ?? (() => undefined);
  const tls = o.tlsCert && o.tlsKey ? { cert: readPem(o.tlsCert, "TLS certificate"), key: readPem(o.tlsKey, "TLS key") } : undefined;

  const hotCache = { maxFileBytes: cfg.hotCacheFileBytes, maxTotalBytes: o.cacheBytes ?? cfg.hotCacheTotalBytes, recheckMs: cfg.hotCacheRecheckMs };
  const http = await startHttp({ realRoot, host, port: o.httpPort, tls, keepAliveTimeoutMs: cfg.keepAliveTimeoutMs, backlog: cfg.backlog, hotCache, onDownload }).catch((err: unknown) => {
    throw listenError(err, host, o.httpPort, "HTTP");
  });
  let ftp: Awaited<ReturnType<typeof import("./ftp.js").startFtp>> | undefined;
  if (o.ftpPort !== undefined) {
    try {
      const { startFtp } = await import("./ftp.js"); // ftp-srv loads only when FTP is asked for
      ftp = await startFtp({
        realRoot,
        host,
        port: o.ftpPort,
        pasvMin: o.pasvMin ?? cfg.ftpPasvMin,
        pasvMax: o.pasvMax ?? cfg.ftpPasvMax,
        user: o.ftpUser,
        password: o.ftpPassword,
        onDownload,
      });
    } catch (err) {
      await http.app.close();
      throw listenError(err, host, o.ftpPort, "FTP");
    }
  }
  return {
    root: realRoot,
    files: listServed(realRoot),
    httpUrl: http.url,
    httpPort: http.port,
    ftpUrl: ftp?.url,
    ftpPort: ftp?.port,
    close: async () => {
      // Let running downloads finish for up to 3 s, then cut them.
      const timer = setTimeout(() => http.app.server.closeAllConnections(), 3000);
      timer.unref();
      await Promise.all([http.app.close(), ftp?.close()]);
      clearTimeout(timer);
    },
  };
}

function listenError(err: unknown, host: string, port: number, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "EADDRINUSE") return new UsageError("bad-argument", `${what} port ${port} on ${host} is already in use (use 0 to pick a free one)`, { cause: err });
  if (code === "EACCES") return new UsageError("bad-argument", `no permission to listen on ${host}:${port} for ${what}`, { cause: err });
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") return new UsageError("bad-argument", `cannot listen on ${host}: no such local address`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}
