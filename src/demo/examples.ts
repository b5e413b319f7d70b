// The QuecPython scripts in examples/: where they are, and how to point one at another server or file.
// A script written for the real module runs here with only its URL / file-name constants changed;
// `rewriteConstants` changes exactly those lines and nothing else.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError } from "../errors.js";

/** The examples/ folder of this installation (next to package.json; found from src/ or dist/src/). */
export function examplesDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, "examples");
    if (existsSync(join(candidate, "ota_auto_restart.py")) && existsSync(join(dir, "package.json"))) return candidate;
    dir = dirname(dir);
  }
  throw new UsageError("bad-argument", "cannot find the examples/ folder of this fota installation (is the package complete?)");
}

/** Reads examples/NAME (e.g. "ota_auto_restart.py"). */
export function readExample(name: string): string {
  const file = join(examplesDir(), name);
  try {
    return readFileSync(file, "utf8");
  } catch (e) {
    throw new UsageError("bad-argument", `cannot read example ${file}: ${(e as Error).message}`);
  }
}

/**
 * Sets module-level string constants (`NAME = "..."` at the start of a line) of a Python script.
 * Every name must be present exactly once; everything else stays byte for byte.
 */
export function rewriteConstants(source: string, values: Record<string, string>): string {
  let out = source;
  for (const [name, value] of Object.entries(values)) {
    const re = new RegExp(`^(${name}\\s*=\\s*)(["'])(?:(?!\\2).)*\\2`, "gm");
    const hits = out.match(re)?.length ?? 0;
    if (hits !== 1) throw new UsageError("bad-argument", `the script has ${hits === 0 ? "no" : hits} string constant${hits === 1 ? "" : "s"} ${name} = "..." (expected one)`);
    out = out.replace(re, (_m, lead: string) => `${lead}${JSON.stringify(value)}`);
  }
  return out;
}
