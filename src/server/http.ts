// HTTP(S) package hosting with fastify + @fastify/static: GET/HEAD, Range (206), If-Range, ETag,
// Last-Modified, 416, exact Content-Length. A hook refuses any path that leaves the served directory
// (`..`, symlinks out) before the static handler sees it, and one record per finished (or aborted)
// download goes to the caller's log.
import * as fs from "node:fs";
import * as path from "node:path";
import type { Socket } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import fastifyStatic from "@fastify/static";
import { answer, HotFileCache, sendAnswer, type HotCacheOptions } from "./hot.js";
import { isInside } from "./paths.js";
import type { DownloadRecord } from "./types.js";

export interface HttpServeOptions {
  realRoot: string;
  host: string;
  port: number;
  tls?: { cert: Buffer; key: Buffer };
  keepAliveTimeoutMs: number;
  backlog: number;
  /** In-memory cache of small hot files (maxTotalBytes 0 = off: every file through @fastify/static). */
  hotCache?: HotCacheOptions;
  onDownload: (r: DownloadRecord) => void;
}

/**
 * The file a plain, canonical request path names (the only ones the memory cache answers), or
 * undefined: dot segments, empty segments, backslashes, trailing slashes and anything that does not
 * decode are left to @fastify/static.
 */
function cacheablePath(realRoot: string, rawUrl: string): string | undefined {
  const q = rawUrl.indexOf("?");
  const raw = q >= 0 ? rawUrl.slice(0, q) : rawUrl;
  if (raw.length < 2 || raw.endsWith("/") || raw.includes("\\") || raw.includes("#")) return undefined;
  const parts = raw.slice(1).split("/");
  const decoded: string[] = [];
  for (const p of parts) {
    let d: string;
    try {
      d = decodeURIComponent(p);
    } catch {
      return undefined;
    }
    if (d === "" || d.startsWith(".") || /[\\/\0]/.test(d)) return undefined;
    decoded.push(d);
  }
  return path.join(realRoot, ...decoded);
}

/** Classify a request path: "ok", "escape" (403) or "bad" (400). */
async function checkPath(realRoot: string, rawUrl: string): Promise<"ok" | "escape" | "bad"> {
  let decoded: string;
  try {
    decoded = decodeURIComponent((rawUrl.split("?")[0] ?? "/").split("#")[0] ?? "/");
  } catch {
    return "bad";
  }
  if (decoded.includes("\0")) return "bad";
  const parts = decoded.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return "escape";
  // One realpath resolves every symlink on the way. A path that does not resolve (missing, or a
  // symlink to a missing target) is answered 404 by the static handler, which opens the same path.
  let real: string;
  try {
    real = await fs.promises.realpath(path.join(realRoot, ...parts));
  } catch {
    return "ok";
  }
  return isInside(realRoot, real) ? "ok" : "escape";
}

/** Remembers verdicts for a second: thousands of devices ask for the same few paths. */
class VerdictCache {
  private map = new Map<string, { v: "ok" | "escape" | "bad"; at: number }>();
  constructor(
    private realRoot: string,
    private ttlMs = 1000,
    private max = 10_000,
  ) {}
  async check(rawUrl: string): Promise<"ok" | "escape" | "bad"> {
    const now = Date.now();
    const hit = this.map.get(rawUrl);
    if (hit && now - hit.at < this.ttlMs) return hit.v;
    const v = await checkPath(this.realRoot, rawUrl);
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(rawUrl, { v, at: now });
    return v;
  }
}

export async function startHttp(o: HttpServeOptions): Promise<{ app: FastifyInstance; url: string; port: number }> {
  const app = Fastify({
    logger: false,
    keepAliveTimeout: o.keepAliveTimeoutMs,
    forceCloseConnections: "idle",
    ...(o.tls ? { https: { cert: o.tls.cert, key: o.tls.key } } : {}),
  }) as unknown as FastifyInstance;

  const verdicts = new VerdictCache(o.realRoot);
  const hot = o.hotCache ? new HotFileCache(o.hotCache) : undefined;
  if (hot) app.addHook("onClose", async () => hot.close());
  app.addHook("onRequest", async (req, reply) => {
    const verdict = await verdicts.check(req.url);
    if (verdict !== "ok") {
      const code = verdict === "bad" ? 400 : 403;
      return reply.code(code).type("text/plain").send(verdict === "bad" ? "bad path\n" : "outside the served directory\n");
    }
    const started = process.hrtime.bigint();
    const sock = req.raw.socket as Socket;
    const sockStart = sock.bytesWritten;
    const res = reply.raw;
    let fromMemory = false;
    res.once("close", () => {
      if (req.method !== "GET") return;
      const finished = res.writableFinished;
      const status = res.statusCode;
      const declared = Number(res.getHeader("content-length") ?? NaN);
      const bytes = finished && Number.isFinite(declared) ? declared : Math.max(0, sock.bytesWritten - sockStart);
      o.onDownload({
        proto: o.tls ? "https" : "http",
        client: req.ip,
        file: safeDecode(req.url.split("?")[0] ?? "/"),
        status,
        range: typeof req.headers.range === "string" ? req.headers.range : undefined,
        bytes,
        complete: finished,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        ...(hot?.enabled ? { source: fromMemory ? "memory" : "disk" } : {}),
      });
    });
    if (hot?.enabled && (req.method === "GET" || req.method === "HEAD")) {
      const file = cacheablePath(o.realRoot, req.url);
      const entry = file === undefined ? undefined : await hot.lookup(file);
      const a = entry && answer(req.method, req.headers, entry);
      if (a) {
        fromMemory = true;
        reply.hijack();
        sendAnswer(res, a);
      }
    }
  });

  if (hot?.enabled) {
    // the first answers for a file come from @fastify/static: the cache takes its Content-Type
    app.addHook("onSend", async (req, reply) => {
      if (req.method !== "GET" || (reply.statusCode !== 200 && reply.statusCode !== 206)) return;
      const file = cacheablePath(o.realRoot, req.url);
      const type = reply.getHeader("content-type");
      if (file !== undefined && typeof type === "string") hot.noteContentType(file, type);
    });
  }

  await app.register(fastifyStatic, {
    root: o.realRoot,
    prefix: "/",
    index: false,
    dotfiles: "deny",
    acceptRanges: true,
    etag: true,
    lastModified: true,
    cacheControl: false,
    decorateReply: false,
    wildcard: true,
  });

  await app.listen({ host: o.host, port: o.port, backlog: o.backlog });
  const addr = app.server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  const host = o.host.includes(":") ? `[${o.host}]` : o.host;
  return { app, port, url: `${o.tls ? "https" : "http"}://${host}:${port}/` };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
