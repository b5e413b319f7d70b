// Keeps every served path inside the served directory: no `..` escape, no symlink pointing out.
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * Resolve a client path (URL path or FTP path, already percent-decoded) under `realRoot` (itself a
 * realpath). Returns the real file path, or undefined when the path escapes the root (`..`,
 * a symlink out, a NUL byte) or does not exist.
 */
export async function resolveInside(realRoot: string, clientPath: string): Promise<string | undefined> {
  if (clientPath.includes("\0")) return undefined;
  const parts = clientPath.split(/[\\/]+/).filter((p) => p !== "" && p !== ".");
  if (parts.some((p) => p === "..")) return undefined;
  const joined = path.join(realRoot, ...parts);
  let real: string;
  try {
    real = await fs.promises.realpath(joined);
  } catch {
    return undefined;
  }
  return isInside(realRoot, real) ? real : undefined;
}

export function isInside(realRoot: string, real: string): boolean {
  const rel = path.relative(realRoot, real);
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

export interface ServedFile {
  name: string;
  size: number;
}

/** The regular files under `root` (recursively, symlinks out skipped), for the startup listing. */
export function listServed(realRoot: string, max = 200): ServedFile[] {
  const out: ServedFile[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (out.length >= max) return;
      if (e.name.startsWith(".")) continue;
      const p = path.join(dir, e.name);
      let real: string;
      try {
        real = fs.realpathSync(p);
      } catch {
        continue;
      }
      if (!isInside(realRoot, real)) continue;
      const st = fs.statSync(real, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push({ name: path.relative(realRoot, p).split(path.sep).join("/"), size: st.size });
    }
  };
  walk(realRoot);
  return out;
}
