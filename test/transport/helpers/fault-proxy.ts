// A fault-injecting HTTP proxy for tests: forwards each request to an upstream server (fota serve or
// nginx) and, per request, can drop the connection after N body bytes, stall, throttle, answer an
// error status, truncate, ignore Range, send endless data, redirect, or call a hook at byte N (the
// kill tests use it to SIGKILL a client mid-body). It counts every body byte it sends, so tests can
// assert how much was re-fetched.
import * as http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type FaultPlan =
  | { kind: "pass" }
  /** Send N body bytes, then close the connection cleanly (FIN): the client sees a short body. */
  | { kind: "drop"; afterBytes: number }
  /** Send N body bytes, then reset the connection (RST). */
  | { kind: "reset"; afterBytes: number }
  /** Send N body bytes, then go silent with the connection open. */
  | { kind: "stall"; afterBytes: number }
  /** Pace the body at this rate. */
  | { kind: "throttle"; bytesPerSec: number }
  /** Answer this status without asking upstream. */
  | { kind: "status"; status: number; headers?: Record<string, string> }
  /** Forward without Range / If-Range: upstream answers 200 with the whole file. */
  | { kind: "ignore-range" }
  /** 200, chunked, never-ending body. */
  | { kind: "endless" }
  /** 200 with Content-Length L but more bytes after it (the extra bytes must be ignored or refused). */
  | { kind: "overlong"; declared: number; send: number }
  /** 302 to another path on this proxy. */
  | { kind: "redirect"; location: string; status?: number }
  /** Send N body bytes, call `hook`, then stall. */
  | { kind: "hook"; afterBytes: number; hook: () => void };

export interface ProxyRequestLog {
  index: number;
  method: string;
  path: string;
  range: string | undefined;
  ifRange: string | undefined;
  status: number;
  bodyBytes: number;
}

export class FaultProxy {
  private server: http.Server;
  private sockets = new Set<Socket>();
  /** Decide what to do with the request number `index` (0-based). */
  plan: (req: { index: number; method: string; path: string; range: string | undefined }) => FaultPlan = () => ({ kind: "pass" });
  readonly log: ProxyRequestLog[] = [];
  port = 0;

  constructor(private upstream: URL) {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s) => {
      this.sockets.add(s);
      s.on("close", () => this.sockets.delete(s));
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p.startsWith("/") ? p : `/${p}`}`;
  }

  /** Body bytes sent to clients, over all requests. */
  get bodyBytes(): number {
    return this.log.reduce((a, r) => a + r.bodyBytes, 0);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const index = this.log.length;
    const range = typeof req.headers.range === "string" ? req.headers.range : undefined;
    const entry: ProxyRequestLog = {
      index,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      range,
      ifRange: typeof req.headers["if-range"] === "string" ? req.headers["if-range"] : undefined,
      status: 0,
      bodyBytes: 0,
    };
    this.log.push(entry);
    const plan = this.plan({ index, method: entry.method, path: entry.path, range });
    const sock = req.socket;

    if (plan.kind === "status") {
      entry.status = plan.status;
      res.writeHead(plan.status, { "content-type": "text/plain", ...(plan.headers ?? {}) });
      res.end(`fault ${plan.status}\n`);
      return;
    }
    if (plan.kind === "redirect") {
      entry.status = plan.status ?? 302;
      res.writeHead(entry.status, { location: plan.location, "content-length": "0" });
      res.end();
      return;
    }
    if (plan.kind === "endless") {
      entry.status = 200;
      res.writeHead(200, { "content-type": "application/octet-stream" });
      const block = Buffer.alloc(64 * 1024, 0x5a);
      const pump = () => {
        while (!res.destroyed) {
          entry.bodyBytes += block.length;
          if (!res.write(block)) return void res.once("drain", pump);
        }
      };
      res.on("close", () => undefined);
      pump();
      return;
    }
    if (plan.kind === "overlong") {
      entry.status = 200;
      // Write the raw response ourselves: Node's server would refuse to send more than declared.
      sock.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${plan.declared}\r\nconnection: close\r\n\r\n`);
      sock.write(Buffer.alloc(plan.send, 0x41));
      entry.bodyBytes += plan.send;
      sock.end();
      return;
    }

    const headers = { ...req.headers };
    delete headers.host;
    delete headers.connection;
    if (plan.kind === "ignore-range") {
      delete headers.range;
      delete headers["if-range"];
    }
    const up = http.request(
      { host: this.upstream.hostname, port: Number(this.upstream.port), method: req.method, path: req.url, headers, agent: false },
      (ures) => {
        entry.status = ures.statusCode ?? 0;
        const h = { ...ures.headers };
        delete h.connection;
        delete h["keep-alive"];
        res.writeHead(ures.statusCode ?? 502, h);
        let sent = 0;
        let paused = false;
        const limit = "afterBytes" in plan ? plan.afterBytes : Infinity;
        const finishCut = () => {
          ures.destroy();
          if (plan.kind === "drop") sock.end();
          else if (plan.kind === "reset") sock.resetAndDestroy();
          else if (plan.kind === "hook") plan.hook();
          // stall / hook: leave the socket open and silent; the client's read timeout (or kill) ends it.
        };
        ures.on("data", (d: Buffer) => {
          if (paused) return;
          let piece = d;
          if (sent + piece.length >= limit) {
            piece = piece.subarray(0, limit - sent);
            paused = true;
          }
          sent += piece.length;
          entry.bodyBytes += piece.length;
          if (plan.kind === "throttle") {
            ures.pause();
            const delay = Math.ceil((piece.length / plan.bytesPerSec) * 1000);
            res.write(piece);
            setTimeout(() => ures.resume(), delay);
            return;
          }
          const ok = res.write(piece, paused ? () => finishCut() : undefined);
          if (!ok && !paused) {
            ures.pause();
            res.once("drain", () => ures.resume());
          }
        });
        ures.on("end", () => {
          if (!paused) res.end();
        });
        ures.on("error", () => sock.destroy());
      },
    );
    up.on("error", () => {
      if (!res.headersSent) {
        res.writeHead(502);
        res.end();
      } else sock.destroy();
    });
    req.pipe(up);
    res.on("close", () => up.destroy());
  }
}
