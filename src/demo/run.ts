// `fota demo`: the whole flow on built-in defaults, offline, in one folder.
//
//   1. keys, three firmware builds (1.0; 2.0 = a code change; 2.1 = a build that fails its self test),
//      packages built with the library (deltas, and the full package for comparison);
//   2. a local `fota serve` on 127.0.0.1 (free port);
//   3. OTA: a virtual module on 1.0 runs examples/ota_auto_restart.py (URL rewritten), pulls the delta
//      over HTTP, restarts, the bootloader installs and 2.0 boots;
//   4. power cut: a single-slot module is cut in the middle of the bootloader's in-place install;
//      the next power-on resumes the install and boots a whole 2.0;
//   5. bad image: examples/ota_manual_restart.py installs 2.1, which fails its self test; the module
//      rolls back to 2.0;
//   6. a summary: bytes over the air against the full package and the raw image, time, flash wear.

import { cpSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CancelledError, UsageError } from "../errors.js";
import { createDelta } from "../delta/index.js";
import { buildPackage, encodeFullPayload, generateSigningKey, privateKeyPem, publicKeyPem, sha256, toHex, type SigningKey } from "../format/index.js";
import { bootModule, emulate, type EmulateResult } from "../emulator/emulate.js";
import { VirtualModule, moduleInfo, readRecord, type ModuleInfo } from "../emulator/module.js";
import { requireProfile, type ModelProfile, type StrategyName } from "../quecpython/profiles.js";
import { serve, type DownloadRecord, type RunningServer } from "../server/index.js";
import { readExample, rewriteConstants } from "./examples.js";
import { demoFirmware } from "./firmware.js";
import type { DemoOutput } from "./output.js";

export const DEMO_DEFAULTS = {
  model: "EC600U",
  /** Size of the built-in firmware images. */
  imageBytes: 512 * 1024,
  /** The module's link during the demo (slow enough to watch the progress bar). */
  linkKbps: 100,
  /** Virtual seconds per real second. */
  clockSpeed: 1,
  /** Where in the in-place install the power is cut (fraction of its flash operations). */
  cutAt: 0.5,
};

export interface DemoOptions {
  /** Folder for everything (keys, images, packages, modules); must exist. */
  workDir: string;
  model?: string;
  imageBytes?: number;
  linkKbps?: number;
  clockSpeed?: number;
  out: DemoOutput;
  /** Checked between steps (Ctrl-C). */
  aborted?: () => boolean;
}

export interface Wear {
  erases: number;
  programs: number;
  bytesProgrammed: number;
}

export interface SceneSummary {
  name: "ota" | "power-cut" | "rollback";
  title: string;
  model: string;
  layout: StrategyName;
  script: string;
  package: string;
  before: string;
  after: string;
  /** Bytes the server sent to the module in this step. */
  airBytes: number;
  /** The full package of the same target, and the raw image, for comparison. */
  fullPackageBytes: number;
  rawImageBytes: number;
  /** Time the transfer takes on the demo's link (virtual seconds). */
  linkSeconds: number;
  wallSeconds: number;
  wear: Wear;
  lwm2mResult: number;
  /** power-cut: where the power was cut, of how many operations the flow takes. */
  cutAfterOps?: number;
  flowOps?: number;
  cutDuring?: "install" | "download";
  recovered?: boolean;
  /** rollback: the version that failed its self test. */
  rejected?: string;
  rolledBack?: boolean;
  /** sha256 of the booted image equals the built image of `after`. */
  imageVerified: boolean;
}

export interface DemoSummary {
  model: string;
  workDir: string;
  linkKbps: number;
  firmware: Array<{ version: string; bytes: number; sha256: string; file: string }>;
  packages: Array<{ file: string; kind: "delta" | "full"; from?: string; to: string; bytes: number; inPlace?: boolean }>;
  server: string;
  scenes: SceneSummary[];
  skipped: string[];
  totalSeconds: number;
}

const KiB = 1024;
export function fmtBytes(n: number): string {
  if (n < KiB) return `${n} B`;
  if (n < KiB * KiB) return `${(n / KiB).toFixed(1)} KiB`;
  return `${(n / KiB / KiB).toFixed(2)} MiB`;
}

function wearOf(i: ModuleInfo): Wear {
  return { erases: i.wear.erases, programs: i.wear.programs, bytesProgrammed: i.wear.bytesProgrammed };
}
function wearDiff(a: Wear, b: Wear): Wear {
  return { erases: b.erases - a.erases, programs: b.programs - a.programs, bytesProgrammed: b.bytesProgrammed - a.bytesProgrammed };
}

/** Splits text chunks into lines. */
function lineSplitter(onLine: (line: string) => void): (text: string) => void {
  let buf = "";
  return (text) => {
    buf += text;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      onLine(buf.slice(0, i).replace(/\r$/, ""));
      buf = buf.slice(i + 1);
    }
  };
}

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const t0 = performance.now();
  const out = o.out;
  const profile: ModelProfile = requireProfile(o.model ?? DEMO_DEFAULTS.model);
  const model = profile.model;
  const imageBytes = o.imageBytes ?? Math.min(DEMO_DEFAULTS.imageBytes, profile.flash.slotSize / 2);
  if (!Number.isInteger(imageBytes) || imageBytes < 32 * KiB || imageBytes > profile.flash.slotSize - 16 * KiB) {
    throw new UsageError("bad-argument", `the image size must be between 32 KiB and ${(profile.flash.slotSize - 16 * KiB) / KiB} KiB for ${model}`);
  }
  const linkKbps = o.linkKbps ?? DEMO_DEFAULTS.linkKbps;
  const clockSpeed = o.clockSpeed ?? DEMO_DEFAULTS.clockSpeed;
  const check = () => {
    if (o.aborted?.()) throw new CancelledError("cancelled", "demo interrupted");
  };
  const dir = (...p: string[]) => join(o.workDir, ...p);
  for (const d of ["keys", "firmware", "www", "scripts", "modules"]) mkdirSync(dir(d), { recursive: true });

  // 1. Keys, firmware, packages -------------------------------------------------------------------
  out.heading("1. Keys, firmware and packages");
  const key: SigningKey = generateSigningKey();
  writeFileSync(dir("keys", "release.key"), privateKeyPem(key), { mode: 0o600 });
  writeFileSync(dir("keys", "release.key.pub"), publicKeyPem(key));
  const trust = [publicKeyPem(key)];
  out.line(`Ed25519 signing key ${toHex(key.keyId)} (keys/release.key, .pub)`);

  const builds = [
    { version: "1.0", revision: 1 as const, note: "factory image" },
    { version: "2.0", revision: 2 as const, note: "a code change: new functions, a reworked driver, new strings; most code moved" },
    { version: "2.1", revision: 3 as const, note: "a broken build: fails its self test at first boot" },
  ].map((b) => {
    const image = demoFirmware({ version: b.version, revision: b.revision, size: imageBytes });
    const file = `fw-${b.version}.bin`;
    writeFileSync(dir("firmware", file), image);
    out.line(`firmware ${b.version.padEnd(4)} ${fmtBytes(image.length).padStart(10)}  sha256 ${toHex(sha256(image)).slice(0, 16)}…  (${b.note})`);
    return { ...b, image, file };
  });
  const [v1, v2, v3] = builds as [(typeof builds)[0], (typeof builds)[0], (typeof builds)[0]];

  const packages: DemoSummary["packages"] = [];
  const pack = (file: string, from: (typeof builds)[0] | undefined, to: (typeof builds)[0], inPlace = false): number => {
    let kind: "delta" | "full";
    let payload: Uint8Array;
    let encoding;
    let what: string;
    if (from) {
      // in place: the slot's sectors past the image may hold what read cycles need (fota pack --slot-size)
      const d = createDelta(from.image, to.image, { inPlace: inPlace && { sectorSize: profile.flash.sectorSize, slotBytes: profile.flash.slotSize } });
      kind = "delta";
      payload = d.payload;
      encoding = d.encoding;
      what = `${inPlace ? "in-place " : ""}delta ${from.version} -> ${to.version}, filter ${d.filter}`;
    } else {
      const f = encodeFullPayload(to.image, "auto");
      kind = "full";
      payload = f.payload;
      encoding = f.encoding;
      what = `full ${to.version}, ${f.encoding.compression ?? "none"}`;
    }
    const built = buildPackage({
      kind,
      models: [model],
      version: to.version,
      target: { size: to.image.length, sha256: sha256(to.image) },
      ...(from ? { base: { size: from.image.length, sha256: sha256(from.image) } } : {}),
      encoding,
      payload,
      keys: [key],
    });
    writeFileSync(dir("www", file), built.bytes);
    packages.push({ file, kind, ...(from ? { from: from.version } : {}), to: to.version, bytes: built.bytes.length, ...(inPlace ? { inPlace } : {}) });
    out.line(`package  ${file.padEnd(26)} ${fmtBytes(built.bytes.length).padStart(10)}  ${(100 * built.bytes.length / to.image.length).toFixed(1).padStart(5)}% of the image  (${what})`);
    return built.bytes.length;
  };
  const fullBytes = pack(`fw-${v2.version}.fota`, undefined, v2);
  pack(`fw-${v1.version}-${v2.version}.fota`, v1, v2);
  pack(`fw-${v1.version}-${v2.version}-inplace.fota`, v1, v2, true);
  const badFullBytes = pack(`fw-${v3.version}.fota`, undefined, v3);
  pack(`fw-${v2.version}-${v3.version}.fota`, v2, v3);
  check();

  // 2. The server ---------------------------------------------------------------------------------
  out.heading("2. A local package server (fota serve)");
  const downloads: DownloadRecord[] = [];
  const server: RunningServer = await serve({ dir: dir("www"), httpPort: 0, host: "127.0.0.1", onDownload: (r) => downloads.push(r) });
  const scenes: SceneSummary[] = [];
  const skipped: string[] = [];
  try {
    out.line(`serving ${server.files.length} files on ${server.httpUrl} (127.0.0.1 only; nothing leaves this machine)`);
    const url = (file: string) => new URL(file, server.httpUrl).href;

    const script = (example: string, constants: Record<string, string>): string => {
      const file = dir("scripts", example);
      writeFileSync(file, rewriteConstants(readExample(example), constants));
      const shown = Object.entries(constants).map(([k, v]) => `${k} = "${v}"`).join(", ");
      out.line(`script   examples/${example}, unchanged but for ${shown}`);
      return file;
    };

    const create = (name: string, strategy: StrategyName): string => {
      const state = dir("modules", name);
      const rec = VirtualModule.create({ stateDir: state, model, firmware: v1.image, version: v1.version, trust, strategy });
      out.line(`module   ${model} (${profile.family}, ${strategy === "ab" ? "two slots, A/B" : strategy === "inplace" ? "one slot, in-place updates" : strategy} layout, IMEI ${rec.imei}) on firmware ${v1.version}: modules/${name}`);
      return state;
    };

    // How a run shows up: the script's own lines, the bootloader's lines, progress as bars.
    const runner = (pkgBytes: number) => {
      let dl: ReturnType<DemoOutput["bar"]> | undefined;
      let installing = false;
      const endBar = (complete: boolean) => {
        dl?.done(complete);
        dl = undefined;
      };
      const scriptLine = (line: string) => {
        const m = /downloading: (\d+)%/.exec(line);
        if (m) {
          dl ??= out.bar("download", (p) => `${fmtBytes(Math.round((pkgBytes * p) / 100))} / ${fmtBytes(pkgBytes)}, ${linkKbps} kbit/s`);
          dl.update(Number(m[1]));
          return;
        }
        if (/package downloaded|armed|returned|failed/.test(line)) endBar(!/failed/.test(line));
        out.device(line);
      };
      // The bootloader's install runs in one go (no time passes on the host): one line, not a bar.
      const bootLine = (line: string) => {
        endBar(!/power cut/.test(line));
        const m = /^bootloader: installing (\S+): \d+%/.exec(line);
        if (m) {
          if (!installing) out.device(`bootloader: installing ${m[1]} ...`);
          installing = true;
          return;
        }
        installing = false;
        out.device(line);
      };
      return {
        opts: { stdout: lineSplitter(scriptLine), stderr: lineSplitter(scriptLine), onLine: bootLine },
        end: () => endBar(false),
      };
    };

    const airSince = (mark: number) => downloads.slice(mark).reduce((a, r) => a + r.bytes, 0);
    const linkSeconds = (bytes: number) => (bytes * 8) / (linkKbps * 1000);
    // What every step measures from its start: bytes over the air, link and wall time, flash wear,
    // and the versions and update result the module ends with.
    const startStep = (state: string) => {
      const w0 = wearOf(moduleInfo(state));
      const mark = downloads.length;
      const t = performance.now();
      return (info: ModuleInfo) => {
        const airBytes = airSince(mark);
        return {
          after: info.firmware?.version ?? "none",
          airBytes,
          linkSeconds: linkSeconds(airBytes),
          wallSeconds: (performance.now() - t) / 1000,
          wear: wearDiff(w0, wearOf(info)),
          lwm2mResult: info.update.lwm2mResult,
        };
      };
    };
    const shaOf = (img: Uint8Array) => toHex(sha256(img));

    // 3. OTA ------------------------------------------------------------------------------------
    const mainStrategy = profile.strategies[0]!;
    const mainPkg = mainStrategy === "inplace" ? `fw-${v1.version}-${v2.version}-inplace.fota` : `fw-${v1.version}-${v2.version}.fota`;
    const mainPkgBytes = packages.find((p) => p.file === mainPkg)!.bytes;
    {
      out.heading(`3. Over the air: ${v1.version} -> ${v2.version} with a delta over HTTP`);
      const state = create("ota", mainStrategy);
      const file = script("ota_auto_restart.py", { PACKAGE_URL: url(mainPkg) });
      check();
      const measure = startStep(state);
      const r = runner(mainPkgBytes);
      const res = await emulate({ stateDir: state, scriptPath: file, linkKbps, clockSpeed, ...r.opts }).finally(r.end);
      const info = moduleInfo(state);
      scenes.push({
        name: "ota",
        title: "OTA, delta over HTTP",
        model,
        layout: mainStrategy,
        script: "ota_auto_restart.py",
        package: mainPkg,
        before: res.fromVersion ?? v1.version,
        fullPackageBytes: fullBytes,
        rawImageBytes: v2.image.length,
        ...measure(info),
        imageVerified: info.firmware?.sha256 === shaOf(v2.image),
      });
      expectExit(res, 0, "the OTA run");
    }
    check();

    // 4. Power cut in the middle of an install --------------------------------------------------
    {
      out.heading(`4. Power cut in the middle of the install, and the recovery`);
      const strategy: StrategyName = profile.strategies.includes("inplace") ? "inplace" : mainStrategy;
      const pkgFile = strategy === "inplace" ? `fw-${v1.version}-${v2.version}-inplace.fota` : `fw-${v1.version}-${v2.version}.fota`;
      const pkgBytes = packages.find((p) => p.file === pkgFile)!.bytes;
      const state = create("powercut", strategy);
      const file = script("ota_auto_restart.py", { PACKAGE_URL: url(pkgFile) });
      // A rehearsal on a copy finds how many flash operations the download and the install take.
      const rehearsal = dir("modules", "powercut-rehearsal");
      cpSync(state, rehearsal, { recursive: true });
      const base = readRecord(rehearsal).wear;
      let downloadOps: number | undefined;
      const rehearsed = await emulate({
        stateDir: rehearsal,
        scriptPath: file,
        linkKbps,
        clockSpeed: 1000,
        stdout: () => {},
        stderr: () => {},
        onLine: (line) => {
          if (downloadOps === undefined && /^bootloader: update to /.test(line)) {
            const w = readRecord(rehearsal).wear;
            downloadOps = w.erases + w.programs - (base.erases + base.programs);
          }
        },
      });
      const flowOps = rehearsed.flashOps;
      const installOps = flowOps - (downloadOps ?? 0);
      const cutAfter = downloadOps !== undefined && installOps > 2 ? downloadOps + Math.floor(installOps * DEMO_DEFAULTS.cutAt) : Math.floor(flowOps * DEMO_DEFAULTS.cutAt);
      out.line(
        `rehearsal on a copy: the update takes ${flowOps} flash operations` +
          (downloadOps !== undefined ? ` (${downloadOps} while downloading, ${installOps} in the bootloader's install)` : "") +
          `; this run loses power after ${cutAfter}, in the middle of an operation (torn)`,
      );
      check();
      const measure = startStep(state);
      const r = runner(pkgBytes);
      const cut = await emulate({ stateDir: state, scriptPath: file, linkKbps, clockSpeed, powerCutAfterOps: cutAfter, torn: true, ...r.opts }).finally(r.end);
      expectExit(cut, 11, "the power-cut run");
      const mid = moduleInfo(state);
      out.line(`after the cut: update state "${mid.update.state}"${mid.update.target ? ` (target ${mid.update.target})` : ""}, slots: ${mid.slots.map((s) => `${s.slot} ${s.state}${s.version ? " " + s.version : ""}`).join("; ")}`);
      out.line("power on again (fota device boot):");
      const rb = runner(pkgBytes);
      const boot = await bootModule({ stateDir: state, linkKbps, clockSpeed, onLine: rb.opts.onLine }).finally(rb.end);
      expectExit(boot, 0, "the boot after the cut");
      const info = moduleInfo(state);
      const verified = info.firmware?.sha256 === shaOf(v2.image);
      out.line(`recovered: ${info.firmware?.version ?? "no"} firmware booted, sha256 ${verified ? "matches" : "DOES NOT match"} the ${v2.version} build`);
      scenes.push({
        name: "power-cut",
        title: "power cut mid-install, recovery",
        model,
        layout: strategy,
        script: "ota_auto_restart.py",
        package: pkgFile,
        before: cut.fromVersion ?? v1.version,
        fullPackageBytes: fullBytes,
        rawImageBytes: v2.image.length,
        ...measure(info),
        cutAfterOps: cutAfter,
        flowOps,
        cutDuring: cut.end === "boot-power-cut" ? "install" : "download",
        recovered: verified && info.firmware?.version === v2.version,
        imageVerified: verified,
      });
    }
    check();

    // 5. A bad image rolled back --------------------------------------------------------------
    const otaState = dir("modules", "ota");
    if (mainStrategy === "ab") {
      out.heading(`5. A bad image: ${v3.version} fails its self test and is rolled back`);
      const pkgFile = `fw-${v2.version}-${v3.version}.fota`;
      const pkgBytes = packages.find((p) => p.file === pkgFile)!.bytes;
      const file = script("ota_manual_restart.py", { PACKAGE_URL: url(pkgFile) });
      out.line(`module   modules/ota again, now on ${moduleInfo(otaState).firmware?.version}`);
      const measure = startStep(otaState);
      const r = runner(pkgBytes);
      const res = await emulate({ stateDir: otaState, scriptPath: file, linkKbps, clockSpeed, ...r.opts }).finally(r.end);
      expectExit(res, 0, "the bad-image run");
      const info = moduleInfo(otaState);
      const rolledBack = /rolled back/.test(res.summary) && info.firmware?.version === v2.version;
      out.line(`${rolledBack ? "rolled back" : "NOT rolled back"}: running ${info.firmware?.version}; LwM2M update result ${info.update.lwm2mResult}${info.update.reason ? ` (${info.update.reason})` : ""}`);
      scenes.push({
        name: "rollback",
        title: "bad image, rolled back",
        model,
        layout: mainStrategy,
        script: "ota_manual_restart.py",
        package: pkgFile,
        before: res.fromVersion ?? v2.version,
        fullPackageBytes: badFullBytes,
        rawImageBytes: v3.image.length,
        ...measure(info),
        rejected: v3.version,
        rolledBack,
        imageVerified: info.firmware?.sha256 === shaOf(v2.image),
      });
    } else {
      const note = `5. rollback skipped: ${model} keeps one image (layout ${mainStrategy}), so there is nothing to roll back to; try --model EC600U`;
      skipped.push(note);
      out.heading(note);
    }
  } finally {
    await server.close();
  }

  return {
    model,
    workDir: o.workDir,
    linkKbps,
    firmware: builds.map((b) => ({ version: b.version, bytes: b.image.length, sha256: toHex(sha256(b.image)), file: `firmware/${b.file}` })),
    packages,
    server: server.httpUrl,
    scenes,
    skipped,
    totalSeconds: (performance.now() - t0) / 1000,
  };
}

function expectExit(r: EmulateResult, code: number, what: string): void {
  if (r.exitCode !== code) throw new Error(`${what} ended with exit code ${r.exitCode} (expected ${code}): ${r.summary}`);
}

/** The summary table (plain text). */
export function summaryTable(s: DemoSummary): string {
  const head = ["step", "module", "firmware", "over the air (vs full)", "full pkg", "raw image", "link time", "flash erases/programs/written", "wall"];
  const rows = s.scenes.map((c) => [
    c.title,
    `${c.model} ${c.layout}`,
    c.name === "rollback" ? `${c.before} -> ${c.rejected} -> ${c.after}` : `${c.before} -> ${c.after}`,
    `${fmtBytes(c.airBytes)} (${((100 * c.airBytes) / c.fullPackageBytes).toFixed(1)}%)`,
    fmtBytes(c.fullPackageBytes),
    fmtBytes(c.rawImageBytes),
    `${c.linkSeconds.toFixed(1)} s`,
    `${c.wear.erases} / ${c.wear.programs} / ${fmtBytes(c.wear.bytesProgrammed)}`,
    `${c.wallSeconds.toFixed(1)} s`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  const out = [line(head), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)];
  const ota = s.scenes.find((c) => c.name === "ota");
  if (ota) {
    const fullS = (ota.fullPackageBytes * 8) / (s.linkKbps * 1000);
    out.push(
      "",
      `The delta sent ${fmtBytes(ota.airBytes)} where the full package is ${fmtBytes(ota.fullPackageBytes)} and the image ${fmtBytes(ota.rawImageBytes)}: ` +
        `${(100 - (100 * ota.airBytes) / ota.fullPackageBytes).toFixed(1)}% fewer bytes, ${ota.linkSeconds.toFixed(1)} s instead of ${fullS.toFixed(1)} s at ${s.linkKbps} kbit/s.`,
    );
  }
  const cut = s.scenes.find((c) => c.name === "power-cut");
  if (cut) out.push(`Power cut after ${cut.cutAfterOps} of ${cut.flowOps} flash operations (during the ${cut.cutDuring}): ${cut.recovered ? `the next power-on finished the install and booted ${cut.after}` : "NOT recovered"}.`);
  const rb = s.scenes.find((c) => c.name === "rollback");
  if (rb) out.push(`Bad image ${rb.rejected}: ${rb.rolledBack ? `failed its self test, rolled back to ${rb.after}` : "NOT rolled back"}.`);
  for (const k of s.skipped) out.push(k.replace(/^\d+\. /, "") + ".");
  out.push(`Whole demo: ${s.totalSeconds.toFixed(1)} s.`);
  return out.join("\n");
}
