// `fota demo`: the main job on built-in defaults, offline, in a temporary folder (see src/demo/run.ts).
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { MODELS } from "../../quecpython/profiles.js";

interface DemoFlags {
  keep?: string;
  model: string;
  json?: boolean;
  linkKbps: string;
  sizeKib?: string;
}

function positive(v: string, name: string, integer: boolean): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new UsageError("bad-argument", `${name} must be a ${integer ? "whole " : ""}number above 0, got "${v}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command("demo")
    .description("run the whole flow on built-in defaults, offline: keys, packages, a served OTA on a virtual module, a power cut, a rollback, a summary")
    .option("--keep <dir>", "work in DIR (created, must be empty) and keep it: keys, firmware, packages, scripts, modules")
    .option("--model <m>", `module model (${MODELS.join(", ")})`, "EC600U")
    .option("--link-kbps <n>", "link rate of the virtual module in kbit/s", "100")
    .option("--size-kib <n>", "size of the built-in firmware images in KiB (default 512, or half a slot on small-flash models)")
    .option("--json", "print the summary as one JSON object on stdout (the story goes to stderr)")
    .addHelpText(
      "after",
      `
What it does, in a temporary folder removed at the end (even on failure):
  1. an Ed25519 key; firmware 1.0, 2.0 (a code change) and 2.1 (fails its self test); packages:
     deltas and full packages, built with the library
  2. a local \`fota serve\` on 127.0.0.1 (a free port)
  3. a virtual module on 1.0 runs examples/ota_auto_restart.py (only PACKAGE_URL changed): it pulls
     the delta over HTTP (progress bar), restarts, the bootloader installs, 2.0 boots
  4. a single-slot module loses power in the middle of the bootloader's in-place install; the next
     power-on resumes the install and boots a whole 2.0
  5. examples/ota_manual_restart.py installs 2.1; it fails its self test and the module rolls back
  6. a summary: bytes over the air vs the full package and the raw image, time, flash wear

Examples:
  fota demo
  fota demo --keep demo-out && fota device info --state demo-out/modules/ota
  fota demo --model EC600N --json
`,
    )
    .action(async (o: DemoFlags) => {
      const linkKbps = positive(o.linkKbps, "--link-kbps", false);
      const imageBytes = o.sizeKib === undefined ? undefined : positive(o.sizeKib, "--size-kib", true) * 1024;
      if (!MODELS.includes(o.model)) throw new UsageError("bad-argument", `unknown model "${o.model}"; use one of ${MODELS.join(", ")}`);
      let workDir: string;
      if (o.keep !== undefined) {
        workDir = resolve(o.keep);
        mkdirSync(workDir, { recursive: true });
        if (readdirSync(workDir).length > 0) throw new UsageError("file-exists", `--keep ${o.keep}: the folder is not empty; give a new or empty one`);
      } else {
        workDir = mkdtempSync(join(tmpdir(), "fota-demo-"));
      }
      // Loaded on use: the demo pulls in the server and the emulator.
      const { runDemo, summaryTable } = await import("../../demo/run.js");
      const { streamOutput } = await import("../../demo/output.js");
      const story = o.json ? process.stderr : process.stdout;
      const out = streamOutput(story);
      let aborted = false;
      const onInt = () => {
        aborted = true;
      };
      process.on("SIGINT", onInt);
      try {
        out.line(`fota demo: ${o.keep !== undefined ? `working in ${workDir} (kept)` : `working in a temporary folder, ${workDir} (removed at the end)`}`);
        const summary = await runDemo({ workDir, model: o.model, linkKbps, ...(imageBytes !== undefined ? { imageBytes } : {}), out, aborted: () => aborted });
        out.heading("Summary");
        out.line(summaryTable(summary));
        if (o.json) process.stdout.write(JSON.stringify({ ...summary, kept: o.keep !== undefined }, null, 2) + "\n");
        const ok = summary.scenes.every((s) => s.imageVerified) && summary.scenes.every((s) => s.recovered !== false && s.rolledBack !== false);
        if (!ok) process.exitCode = 1;
      } finally {
        process.off("SIGINT", onInt);
        if (o.keep === undefined) rmSync(workDir, { recursive: true, force: true });
      }
    });
}
