// `app_fota`: updating the application's own files (scripts, data) rather than the firmware.
//
// Behaviour, as the module does it [D][S] (see ../shared/spec/quecpython-fota-details.md §3):
// - `download(url, file_name)` fetches into the staging folder `/usr/.updater` + file_name and
//   records `{url, name, total_size}` in `/usr/.updater/download.stat`; an interrupted file resumes
//   with a Range request; a file already complete is not fetched again. Returns 0 or -1.
// - `bulk_download(info)` downloads each `{url, file_name}` and returns the items that failed, or
//   None (null) when all succeeded.
// - `set_update_flag()` creates `/usr/.updater/update.flag`. Nothing reaches /usr before that flag
//   exists and the module restarts.
// - At boot, `installStagedFiles` (the module's `_boot.py` step) copies every staged file over its
//   target, then removes the staging folder.
//
// The module's /usr is a host directory here (`usrDir`). Our install is power-safe: each file goes
// to a temporary name, is synced and renamed over its target (atomic), the flag is only renamed to
// `update.done` once every file is in place, and cleanup follows. A power cut anywhere leaves either
// the flag (the whole install runs again: copies are idempotent) or `update.done` (only cleanup
// remains); the next boot finishes the job.

import * as fs from "node:fs";
import * as path from "node:path";
import { createHash } from "node:crypto";
import { isFotaError, UsageError } from "../errors.js";
import { fetchTo, FileJournal, FileSink, type FetchOptions } from "../transport/index.js";
import { syncDir } from "../transport/journal.js";

/** Module paths of the staging area (relative to the module's /usr). */
export const UPDATER_DIR = ".updater";
export const STAT_FILE = "download.stat";
export const FLAG_FILE = "update.flag";
/** Our own commit marker: every file installed, cleanup pending. */
export const DONE_FILE = "update.done";
/** Our own resume journals (chunk digests), one per staged file. */
const JOURNAL_DIR = ".journal";

/** One entry of download.stat, as the module writes it. */
export interface StatEntry {
  url: string;
  /** The target path on the module (e.g. "/usr/main.py"). */
  name: string;
  /** Final size in bytes, or "unknown" while the download has not finished. */
  total_size: number | "unknown";
}

export interface BulkItem {
  url: string;
  file_name: string;
}

export interface AppFotaOptions {
  /** Host directory holding the module's /usr file system. */
  usrDir: string;
  /** Transport options (timeouts, retries, TLS, signal...). */
  fetch?: FetchOptions;
  /** Receives the module's log lines. */
  log?: (line: string) => void;
}

/** Maps a module path under /usr to a host path; null when it is not a plain file path in /usr. */
export function hostPathOf(usrDir: string, modulePath: string): string | null {
  if (typeof modulePath !== "string" || !modulePath.startsWith("/usr/")) return null;
  const norm = path.posix.normalize(modulePath);
  if (!norm.startsWith("/usr/") || norm.endsWith("/") || norm !== modulePath.replace(/\/+/g, "/")) return null;
  const rel = norm.slice("/usr/".length);
  if (rel === "" || rel.split("/").some((p) => p === ".." || p === "." || p === "")) return null;
  if (rel === UPDATER_DIR || rel.startsWith(UPDATER_DIR + "/")) return null;
  return path.join(usrDir, ...rel.split("/"));
}

/** Host path of the staged copy of a module file: /usr/.updater + file_name. */
function stagedPathOf(usrDir: string, modulePath: string): string {
  return path.join(usrDir, UPDATER_DIR, ...modulePath.split("/").filter((p) => p !== ""));
}

function journalPathOf(usrDir: string, modulePath: string): string {
  const h = createHash("sha256").update(modulePath).digest("hex").slice(0, 16);
  return path.join(usrDir, UPDATER_DIR, JOURNAL_DIR, `${h}.jnl`);
}


/** Writes a file atomically (temp file, fsync, rename). */
function writeAtomic(file: string, data: string | Uint8Array): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    fs.writeSync(fd, typeof data === "string" ? Buffer.from(data, "utf8") : data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/** Reads download.stat; a missing or damaged file reads as empty. */
export function readStat(usrDir: string): StatEntry[] {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(usrDir, UPDATER_DIR, STAT_FILE), "utf8")) as unknown;
    if (!Array.isArray(v)) return [];
    return v.filter(
      (e): e is StatEntry =>
        typeof e === "object" && e !== null && typeof e.url === "string" && typeof e.name === "string" && (typeof e.total_size === "number" || e.total_size === "unknown"),
    );
  } catch {
    return [];
  }
}

function writeStat(usrDir: string, entries: StatEntry[]): void {
  writeAtomic(path.join(usrDir, UPDATER_DIR, STAT_FILE), JSON.stringify(entries));
}

function upsertStat(usrDir: string, entry: StatEntry): void {
  const entries = readStat(usrDir).filter((e) => e.name !== entry.name);
  entries.push(entry);
  writeStat(usrDir, entries);
}

function fileSize(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}

/** The app_fota object (`app_fota.new()`). */
export class AppFota {
  private readonly usrDir: string;
  private readonly fetchOptions: FetchOptions;
  private readonly logLine: (line: string) => void;

  constructor(opts: AppFotaOptions) {
    this.usrDir = opts.usrDir;
    this.fetchOptions = opts.fetch ?? {};
    this.logLine = opts.log ?? (() => {});
  }

  /**
   * Downloads `url` into the staging copy of `file_name` (an absolute path under /usr). Resumes a
   * partial staged file; skips a complete one. Resolves 0 on success, -1 on any failure.
   */
  async download(url: string, fileName: string): Promise<0 | -1> {
    if (typeof url !== "string" || !/^https?:\/\//i.test(url)) {
      this.logLine(`app_fota: ${String(url)} is not an http:// or https:// URL`);
      return -1;
    }
    if (hostPathOf(this.usrDir, fileName) === null) {
      this.logLine(`app_fota: ${String(fileName)} is not a file path under /usr`);
      return -1;
    }
    const staged = stagedPathOf(this.usrDir, fileName);
    const previous = readStat(this.usrDir).find((e) => e.name === fileName);
    if (previous && previous.url === url && typeof previous.total_size === "number" && fileSize(staged) === previous.total_size) {
      this.logLine(`app_fota: ${fileName} already downloaded (${previous.total_size} bytes)`);
      return 0;
    }
    const journal = new FileJournal(journalPathOf(this.usrDir, fileName));
    if (!previous || previous.url !== url) {
      // A new file (or a new source for it): nothing staged so far can be trusted.
      fs.rmSync(staged, { force: true });
      journal.clear();
      upsertStat(this.usrDir, { url, name: fileName, total_size: "unknown" });
    }
    let sink: FileSink | undefined;
    try {
      sink = new FileSink(staged);
      const r = await fetchTo(url, sink, { ...this.fetchOptions, journal });
      upsertStat(this.usrDir, { url, name: fileName, total_size: r.size });
      journal.clear();
      this.logLine(`app_fota: ${fileName} downloaded (${r.size} bytes${r.resumedFrom > 0 || r.resumes > 0 ? ", resumed" : ""})`);
      return 0;
    } catch (err) {
      const why = isFotaError(err) ? `${err.message} (code ${err.quecCode})` : String(err);
      this.logLine(`app_fota: download of ${fileName} failed: ${why}`);
      return -1;
    } finally {
      sink?.close?.();
    }
  }

  /** Downloads every item; resolves the failed items, or null when all succeeded. */
  async bulkDownload(info: readonly BulkItem[]): Promise<BulkItem[] | null> {
    const failed: BulkItem[] = [];
    for (const item of info) {
      if ((await this.download(item.url, item.file_name)) !== 0) failed.push(item);
    }
    return failed.length > 0 ? failed : null;
  }

  /** Arms the install of the staged files at the next boot. */
  setUpdateFlag(): void {
    writeAtomic(path.join(this.usrDir, UPDATER_DIR, FLAG_FILE), "");
    this.logLine("app_fota: update flag set; files are installed at the next boot");
  }

  /** Installs now (the module's undocumented `update()`); the boot sequence calls the same thing. */
  update(): InstallReport {
    return installStagedFiles(this.usrDir, { log: this.logLine });
  }
}

/** The file operations the installer performs; injectable to cut power between any two of them. */
export interface InstallOps {
  copyFile(from: string, to: string): void;
  rename(from: string, to: string): void;
  remove(file: string): void;
}

export const HOST_INSTALL_OPS: InstallOps = {
  copyFile(from, to) {
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    const fd = fs.openSync(to, "r+");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  rename(from, to) {
    fs.renameSync(from, to);
    syncDir(path.dirname(to));
  },
  remove(file) {
    fs.rmSync(file, { recursive: true, force: true });
  },
};

export interface InstallReport {
  /** What the installer found: nothing to do, an armed install, or a committed one to clean up. */
  state: "idle" | "installed" | "cleaned-up";
  /** Module paths installed in this run. */
  installed: string[];
  /** Staged entries skipped because their file is missing or incomplete. */
  skipped: string[];
}

/**
 * The boot-time installer (`app_fota` step of the module's boot). Call it at every boot before the
 * application starts. Installs only when the update flag is set; resumes a cut install.
 */
export function installStagedFiles(usrDir: string, opts: { ops?: InstallOps; log?: (line: string) => void } = {}): InstallReport {
  const ops = opts.ops ?? HOST_INSTALL_OPS;
  const log = opts.log ?? (() => {});
  const dir = path.join(usrDir, UPDATER_DIR);
  const flag = path.join(dir, FLAG_FILE);
  const done = path.join(dir, DONE_FILE);
  const report: InstallReport = { state: "idle", installed: [], skipped: [] };
  if (fs.existsSync(flag)) {
    for (const entry of readStat(usrDir)) {
      const target = hostPathOf(usrDir, entry.name);
      const staged = stagedPathOf(usrDir, entry.name);
      if (target === null || typeof entry.total_size !== "number" || fileSize(staged) !== entry.total_size) {
        report.skipped.push(entry.name);
        log(`app_fota: skipping ${entry.name} (not completely downloaded)`);
        continue;
      }
      const tmp = `${target}.fota-new`;
      ops.copyFile(staged, tmp);
      ops.rename(tmp, target);
      report.installed.push(entry.name);
      log(`app_fota: installed ${entry.name}`);
    }
    ops.rename(flag, done);
    report.state = "installed";
  } else if (fs.existsSync(done)) {
    report.state = "cleaned-up";
  } else {
    return report;
  }
  // Cleanup: the staging folder goes; the commit marker goes last, with the folder itself.
  for (const name of fs.readdirSync(dir)) {
    if (name !== DONE_FILE) ops.remove(path.join(dir, name));
  }
  ops.remove(dir);
  return report;
}

/** Checks `bulk_download`'s info argument shape; a UsageError names the bad item. */
export function parseBulkInfo(info: unknown): BulkItem[] {
  if (!Array.isArray(info)) throw new UsageError("bad-argument", "bulk_download info must be a list of {'url': ..., 'file_name': ...}");
  return info.map((item, i) => {
    const o = item as Record<string, unknown> | null;
    if (typeof o !== "object" || o === null || typeof o.url !== "string" || typeof o.file_name !== "string") {
      throw new UsageError("bad-argument", `bulk_download info[${i}] needs string 'url' and 'file_name'`);
    }
    return { url: o.url, file_name: o.file_name };
  });
}
