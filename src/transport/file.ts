// file:// for local packages: size + mtime as the validator, resume by reading from an offset.
import * as fs from "node:fs";
import { fileURLToPath } from "node:url";
import { toTransportError, transportError } from "./errors.js";
import type { Fetcher, OpenRequest, OpenResponse } from "./types.js";

export const fileFetcher: Fetcher = {
  schemes: ["file"],
  async open(req: OpenRequest): Promise<OpenResponse> {
    let p: string;
    try {
      p = fileURLToPath(req.url);
    } catch (err) {
      throw transportError("bad-url", `not a local file URL: ${req.url.href}`, { cause: err });
    }
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(p);
    } catch (err) {
      throw toTransportError(err, p);
    }
    if (!st.isFile()) throw transportError("not-found", `${p} is not a regular file`);
    const validator = JSON.stringify({ s: st.size, m: st.mtimeMs });
    let start = req.offset;
    if (start > 0 && ((req.validator !== undefined && req.validator !== validator) || start > st.size)) start = 0;
    const stream = fs.createReadStream(p, { start, highWaterMark: 64 * 1024, signal: req.signal });
    return {
      start,
      total: st.size,
      validator,
      body: (async function* () {
        try {
          for await (const chunk of stream) yield chunk as Uint8Array;
        } catch (err) {
          throw toTransportError(err, p);
        }
      })(),
      close: () => {
        stream.destroy();
      },
    };
  },
};
