// CLI start-up: each command loads only the libraries it uses, so `fota inspect` and friends do not
// pay for the HTTP/FTP servers, the HTTP client or the MicroPython emulator at start-up. Checked by
// running the real compiled CLI in a child process and listing the CommonJS packages it loaded.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { COMMANDS } from "../../src/cli/commands/index.js";
import { runFota } from "../helpers/cli.js";

const MAIN = pathToFileURL(fileURLToPath(new URL("../../dist/src/cli/main.js", import.meta.url))).href;
const FIX = fileURLToPath(new URL("../fixtures/format/", import.meta.url));
const HEAVY = ["fastify", "@fastify/static", "ftp-srv", "undici", "basic-ftp", "cli-progress", "@micropython"];

const dir = mkdtempSync(join(tmpdir(), "fota-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI in a child node; returns its exit code and the node_modules packages it loaded. */
function runAndList(args: string[]): Promise<{ code: number; packages: string[]; out: string }> {
  const script = `
    import { createRequire } from "node:module";
    const { run } = await import(${JSON.stringify(MAIN)});
    const code = await run(${JSON.stringify(args)});
    const cache = createRequire(process.cwd() + "/x.js").cache;
    const pk = new Set();
    for (const f of Object.keys(cache)) {
      const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(f);
      if (m) pk.add(m[1]);
    }
    process.stderr.write("\\nPACKAGES " + JSON.stringify([...pk]) + " CODE " + code + "\\n");
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { cwd: dir });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("error", reject);
    child.on("close", () => {
      const m = /PACKAGES (\[.*\]) CODE (-?\d+)/.exec(out);
      if (!m) return reject(new Error(out));
      resolve({ code: Number(m[2]), packages: JSON.parse(m[1]!) as string[], out });
    });
  });
}

describe("CLI start-up loads only what the command needs", () => {
  it("every entry of the command list registers a command of that name", async () => {
    for (const entry of COMMANDS) {
      const program = new Command("fota");
      (await entry.load())(program);
      expect(program.commands.map((c) => c.name())).toEqual([entry.name]);
    }
  });

  it("fota --help still lists every command", async () => {
    const r = await runFota(["--help"]);
    expect(r.code).toBe(0);
    for (const entry of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^\\s+${entry.name}\\b`, "m"));
  });

  it.each([
    ["inspect", ["inspect", join(FIX, "full-brotli.fota")]],
    ["inspect --json", ["inspect", "--json", join(FIX, "delta-opaque.fota")]],
    ["verify", ["verify", join(FIX, "full-none.fota"), "--pub", join(FIX, "test.key.pub")]],
    ["keygen", ["keygen", join(dir, "k.key")]],
    ["pack", ["pack", "--key", join(FIX, "test.key"), "--to", join(FIX, "image-v2.bin"), "--version", "2", "--model", "M", "-o", join(dir, "p.fota")]],
    ["apply", ["apply", join(FIX, "full-none.fota"), "--pub", join(FIX, "test.key.pub"), "-o", join(dir, "img.bin")]],
    ["serve --help", ["serve", "--help"]],
    ["fetch --help", ["fetch", "--help"]],
    ["emulate --help", ["emulate", "--help"]],
    ["device info --help", ["device", "info", "--help"]],
  ])("%s loads none of the server/client/emulator libraries", async (_name, args) => {
    const r = await runAndList(args);
    expect(r.code, r.out).toBe(0);
    expect(r.packages.filter((p) => HEAVY.some((h) => p === h || p.startsWith(h + "/")))).toEqual([]);
  });
});

describe("a reader that closes the pipe early", () => {
  it("`fota pack --help | head -1` ends quietly, without an EPIPE stack", async () => {
    const bin = fileURLToPath(new URL("../../bin/fota.js", import.meta.url));
    const r = await new Promise<{ code: number | null; err: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, "pack", "--help"], { stdio: ["ignore", "pipe", "pipe"] });
      let err = "";
      child.stderr.on("data", (d) => (err += d));
      // read nothing and close our end at once: every write of the help text hits a closed pipe
      child.stdout.destroy();
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, err }));
    });
    expect(r.err).not.toMatch(/EPIPE|Unhandled|at .*\(/);
    expect(r.code).toBe(0);
  });
});
