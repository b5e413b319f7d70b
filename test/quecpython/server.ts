// A small real HTTP server on 127.0.0.1 for the quecpython tests: serves byte buffers by path with
// Range support, and injects faults per path (404, drop the connection after N body bytes, stall).
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";

export interface Fault {
  /** Answer with this status and no body. */
  status?: number;
  /** Send the headers, then only this many body bytes, then destroy the socket. */
  dropAfter?: number;
  /** How many requests the fault applies to (default: all). */
  times?: number;
  /** Send the body slowly: this many bytes every `paceMs`. */
  paceBytes?: number;
  paceMs?: number;
}

export interface SeenRequest {
  path: string;
  range: string | undefined;
}

export class TestServer {
  readonly files = new Map<string, Uint8Array>();
  readonly faults = new Map<string, Fault>();
  readonly seen: SeenRequest[] = [];
  private server: http.Server;
  private sockets = new Set<import("node:net").Socket>();
  port = 0;
  private readonly scheme: string;

  constructor(opts: { tls?: { cert: string; key: string } } = {}) {
    this.scheme = opts.tls ? "https" : "http";
    this.server = opts.tls ? https.createServer(opts.tls, (req, res) => this.handle(req, res)) : http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (s: import("node:net").Socket) => {
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
    return `${this.scheme}://127.0.0.1:${this.port}${p}`;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const p = (req.url ?? "/").split("?")[0]!;
    this.seen.push({ path: p, range: req.headers.range });
    let active = this.faults.get(p);
    if (active && active.times !== undefined) {
      if (active.times <= 0) {
        this.faults.delete(p);
        active = undefined;
      } else active.times--;
    }
    if (active?.status) {
      res.writeHead(active.status, { "content-length": "0" });
      res.end();
      return;
    }
    const body = this.files.get(p);
    if (!body) {
      res.writeHead(404, { "content-length": "0" });
      res.end();
      return;
    }
    let start = 0;
    let status = 200;
    const headers: Record<string, string> = { "accept-ranges": "bytes", etag: `"${body.length}-${p.length}"` };
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (m) {
      start = Number(m[1]);
      if (start >= body.length) {
        res.writeHead(416, { "content-range": `bytes */${body.length}` });
        res.end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const slice = body.subarray(start);
    headers["content-length"] = String(slice.length);
    res.writeHead(status, headers);
    if (active?.dropAfter !== undefined) {
      res.write(slice.subarray(0, active.dropAfter), () => setTimeout(() => res.socket?.destroy(), 10));
      return;
    }
    if (active?.paceBytes) {
      let off = 0;
      const step = () => {
        if (res.destroyed) return;
        if (off >= slice.length) return void res.end();
        res.write(slice.subarray(off, off + active.paceBytes!));
        off += active.paceBytes!;
        setTimeout(step, active.paceMs ?? 10);
      };
      step();
      return;
    }
    res.end(slice);
  }
}

/** A TCP port on 127.0.0.1 with nothing listening (bound then closed). */
export async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
