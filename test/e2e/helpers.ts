// Shared pieces of the end-to-end tests: a real `fota serve` process, `fota device info`, and the
// examples/ scripts with only their URL / file-name constants changed.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { expect } from "vitest";
import { FOTA_BIN, runFota } from "../helpers/cli.js";
import { readExample, rewriteConstants } from "../../src/demo/examples.js";

export interface Served {
  url: string;
  stop(): Promise<void>;
}

/** Starts `fota serve DIR --http-port 0 --json` and waits for its "listening" line. */
export function startServe(dir: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [FOTA_BIN, "serve", dir, "--http-port", "0", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`fota serve did not start: ${out} ${err}`));
    }, 30_000);
    child.stderr!.on("data", (d) => (err += d));
    child.stdout!.on("data", (d) => {
      out += d;
      const first = out.split("\n").find((l) => l.includes('"listening"'));
      if (!first) return;
      clearTimeout(timer);
      const url = (JSON.parse(first) as { http: string }).http;
      resolve({
        url,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null) return done();
            child.once("exit", () => done());
            child.kill("SIGTERM");
          }),
      });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`fota serve exited with ${code}: ${err}`));
    });
  });
}

export interface Info {
  model: string;
  strategy: string;
  firmware: { version: string; sha256: string; slot: string; size: number } | null;
  slots: Array<{ slot: string; state: string; version?: string }>;
  recovery?: { state: string; version?: string };
  update: { state: string; lwm2mState: number; lwm2mResult: number; reason?: string };
  wear: { erases: number; programs: number; bytesProgrammed: number };
}

export async function deviceInfo(state: string, cwd?: string): Promise<Info> {
  const r = await runFota(["device", "info", "--state", state, "--json"], { ...(cwd ? { cwd } : {}) });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Info;
}

/**
 * Writes examples/NAME to `file` with only `constants` changed, and checks that nothing else changed:
 * the scripts must run as written for the real module.
 */
export function exampleTo(file: string, name: string, constants: Record<string, string>): string {
  const original = readExample(name);
  const rewritten = rewriteConstants(original, constants);
  const a = original.split("\n");
  const b = rewritten.split("\n");
  expect(b.length).toBe(a.length);
  const changed = a.map((l, i) => (l === b[i] ? undefined : l.split("=")[0]!.trim())).filter((x) => x !== undefined);
  expect(changed.sort()).toEqual(Object.keys(constants).sort());
  writeFileSync(file, rewritten);
  return file;
}
