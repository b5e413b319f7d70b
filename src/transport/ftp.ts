// ftp:// (and ftps:// explicit TLS) over basic-ftp: passive mode, SIZE + MDTM as the validator,
// REST to resume, timeouts, cancel by closing the connection.
// URL form: ftp://user:password@host:port/path (path relative to the login directory; `//abs` for an
// absolute path). No user means anonymous.
import { PassThrough } from "node:stream";
import type * as BasicFtp from "basic-ftp";
import { FotaError } from "../errors.js";
import { toTransportError, transportError } from "./errors.js";
import type { Fetcher, OpenRequest, OpenResponse } from "./types.js";

/** basic-ftp is loaded on the first FTP download (not when the library or the CLI starts). */
let ftpLib: typeof BasicFtp | undefined;

function isFtpError(err: unknown): err is BasicFtp.FTPError {
  return ftpLib !== undefined && err instanceof ftpLib.FTPError;
}

function ftpError(err: unknown, where: string, file: string): FotaError {
  if (err instanceof FotaError) return err;
  if (isFtpError(err)) {
    const c = err.code;
    if (c === 530 || c === 532 || c === 331 || c === 332) return transportError("auth-failed", `${where} refused the login (FTP ${c})`, { cause: err, details: { ftpCode: c } });
    if (c === 550 || c === 450) return transportError("not-found", `${file} not found on ${where} (FTP ${c}: ${err.message.trim()})`, { cause: err, details: { ftpCode: c } });
    if (c === 421) return transportError("connect-failed", `${where} closed the session (FTP 421)`, { cause: err, details: { ftpCode: c } });
    if (c === 425 || c === 426) return transportError("connection-lost", `${where}: data connection failed (FTP ${c})`, { cause: err, details: { ftpCode: c } });
    return transportError("http-error", `${where} answered FTP ${c}: ${err.message.trim()}`, { cause: err, retryable: c >= 400 && c < 500, details: { ftpCode: c } });
  }
  return toTransportError(err, where);
}

function withTimeout<T>(p: Promise<T>, ms: number, onTimeout: () => void, what: string, where: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(transportError("connect-failed", `${what} ${where} took over ${ms} ms`));
    }, ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const ftpFetcher: Fetcher = {
  schemes: ["ftp", "ftps"],
  async open(req: OpenRequest): Promise<OpenResponse> {
    const u = req.url;
    const where = u.host;
    const file = decodeURIComponent(u.pathname.replace(/^\//, "")) || "/";
    const o = req.options;
    ftpLib ??= await import("basic-ftp");
    const client = new ftpLib.Client(o.timeouts.readMs);
    const onAbort = () => client.close();
    req.signal.addEventListener("abort", onAbort, { once: true });
    const close = () => {
      req.signal.removeEventListener("abort", onAbort);
      client.close();
    };
    try {
      const secure = u.protocol === "ftps:";
      await withTimeout(
        client.access({
          host: u.hostname,
          port: u.port ? Number(u.port) : 21,
          user: u.username ? decodeURIComponent(u.username) : "anonymous",
          password: u.password ? decodeURIComponent(u.password) : "anonymous@",
          secure,
          ...(secure
            ? {
                secureOptions: {
                  ca: o.tls.ca,
                  cert: o.tls.cert,
                  key: o.tls.key,
                  rejectUnauthorized: o.tls.rejectUnauthorized ?? true,
                  servername: o.tls.servername ?? u.hostname,
                },
              }
            : {}),
        }),
        o.timeouts.connectMs,
        () => client.close(),
        "connecting to",
        where,
      ).catch((err: unknown) => {
        throw ftpError(err, where, file);
      });
      const size = await client.size(file).catch((err: unknown) => {
        throw ftpError(err, where, file);
      });
      const mdtm = await client.lastMod(file).then(
        (d) => d.toISOString(),
        () => undefined, // MDTM is optional
      );
      const validator = JSON.stringify({ s: size, m: mdtm ?? null });
      let start = req.offset;
      // A changed file, or an offset past the end, means a clean restart from 0.
      if (start > 0 && ((req.validator !== undefined && req.validator !== validator) || start > size)) start = 0;
      if (start > 0) {
        // A server without REST answers 5xx: then restart from 0 instead of failing.
        const rest = await client.send(`REST ${start}`).then(
          () => true,
          (err: unknown) => {
            if (isFtpError(err) && err.code >= 500 && err.code < 600) return false;
            throw err;
          },
        );
        if (!rest) start = 0;
      }
      const pass = new PassThrough({ highWaterMark: 64 * 1024 });
      pass.on("error", () => undefined); // seen by the body's reader; never an uncaught event when nobody reads
      const done = client.downloadTo(pass, file, start);
      done.then(
        () => pass.end(),
        (err: unknown) => pass.destroy(ftpError(err, where, file) as Error),
      );
      // Surface REST / RETR refusals before handing out the body.
      return {
        start,
        total: size,
        validator,
        body: (async function* () {
          for await (const chunk of pass) yield chunk as Uint8Array;
          await done.catch((err: unknown) => {
            throw ftpError(err, where, file);
          });
        })(),
        close,
      };
    } catch (err) {
      close();
      throw ftpError(err, where, file);
    }
  },
};
