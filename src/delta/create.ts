// createDelta: filters, matching and coding on the host.

import { createHash } from "node:crypto";
import { UsageError } from "../errors.js";
import { diffOps, OldIndex } from "./diff.js";
import { filterImage, FILTERS, type FilterName } from "./filters.js";
import { encodeHeader, encodeOps, STREAM_MAGIC } from "./stream.js";

export interface CreateOptions {
  /** "auto" (default) tries every filter and keeps the smallest patch. */
  filter?: FilterName | "auto";
  /** Filters tried by auto. */
  autoFilters?: FilterName[];
}

export interface RawDelta {
  patch: Uint8Array;
  filter: FilterName;
}

export const DEFAULT_AUTO_FILTERS: FilterName[] = ["none", "thumb", "arm", "arm64"];

export function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

export function createRawDelta(oldImage: Uint8Array, newImage: Uint8Array, opts: CreateOptions = {}): RawDelta {
  const want = opts.filter ?? "auto";
  if (want !== "auto" && !(want in FILTERS)) throw new UsageError("bad-argument", `unknown filter "${want}"; use one of ${Object.keys(FILTERS).join(", ")} or auto`);
  const candidates = want === "auto" ? (opts.autoFilters ?? DEFAULT_AUTO_FILTERS) : [want];
  let best: RawDelta | undefined;
  for (const name of candidates) {
    const id = FILTERS[name];
    const oldF = filterImage(id, oldImage);
    const newF = filterImage(id, newImage);
    const index = new OldIndex(oldF);
    const ops = diffOps(index, newF);
    const body = encodeOps(ops, oldF, newF);
    const head = encodeHeader(STREAM_MAGIC, id, newImage.length, oldImage.length);
    const patch = new Uint8Array(head.length + body.length);
    patch.set(head);
    patch.set(body, head.length);
    if (!best || patch.length < best.patch.length) best = { patch, filter: name };
  }
  return best!;
}
