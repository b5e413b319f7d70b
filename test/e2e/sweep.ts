// Power-cut sweeps over the WHOLE range of N: a clean run counts the flash operations T of a flow;
// then for every N in 0..T-1 a fresh module runs the flow with the power cut after N operations
// (the (N+1)th torn half-way on odd N), `device boot` must bring up a whole image (old or new), and
// running the script again must leave the module on the new one (on the old one it completes the
// upgrade; on the new one, which the boot already confirmed with update result 1, it stays there).
// Library calls (the same code `fota emulate --power-cut-after-ops N` and `fota device boot` run),
// one fresh module copied from a template per N.
import { createHash } from "node:crypto";
import { cpSync, rmSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import { bootModule, emulate, EXIT_POWER_CUT, type EmulateOptions } from "../../src/emulator/emulate.js";
import { moduleInfo } from "../../src/emulator/module.js";

export const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const quiet = { onLine: () => {}, stdout: () => {}, stderr: () => {} } satisfies Partial<EmulateOptions>;

export interface SweepCase {
  label: string;
  /** A provisioned module on v1 (with whatever the script needs in usr/); copied for every N. */
  template: string;
  work: string;
  script: string;
  v1: Uint8Array;
  v2: Uint8Array;
  clockSpeed?: number;
  linkKbps?: number;
}

export interface SweepReport {
  total: number;
  cuts: number;
  /** How many cuts left the module booting the old / the new image. */
  bootedOld: number;
  bootedNew: number;
  /** Cuts that landed in the boot after the restart (the bootloader's install). */
  duringBoot: number;
}

export async function sweepAllCuts(c: SweepCase): Promise<SweepReport> {
  const run = { scriptPath: c.script, clockSpeed: c.clockSpeed ?? 1000, linkKbps: c.linkKbps ?? 0, ...quiet };
  const ref = join(c.work, `${c.label}-ref`);
  cpSync(c.template, ref, { recursive: true });
  const clean = await emulate({ stateDir: ref, ...run });
  expect(clean.exitCode, clean.summary).toBe(0);
  expect(moduleInfo(ref).firmware).toMatchObject({ version: "2.0", sha256: sha(c.v2) });
  const total = clean.flashOps;
  expect(total).toBeGreaterThan(4);
  rmSync(ref, { recursive: true, force: true });

  const report: SweepReport = { total, cuts: 0, bootedOld: 0, bootedNew: 0, duringBoot: 0 };
  for (let n = 0; n < total; n++) {
    const state = join(c.work, `${c.label}-${n}`);
    cpSync(c.template, state, { recursive: true });
    const cut = await emulate({ stateDir: state, ...run, powerCutAfterOps: n, torn: n % 2 === 1 });
    expect(cut.exitCode, `N=${n}: ${cut.summary}`).toBe(EXIT_POWER_CUT);
    if (cut.end === "boot-power-cut") report.duringBoot++;
    const boot = await bootModule({ stateDir: state, ...quiet });
    expect(boot.exitCode, `N=${n}`).toBe(0);
    const after = moduleInfo(state).firmware!;
    expect([sha(c.v1), sha(c.v2)], `N=${n}: booted an image that is neither 1.0 nor 2.0`).toContain(after.sha256);
    const isNew = after.sha256 === sha(c.v2);
    expect(after.version, `N=${n}`).toBe(isNew ? "2.0" : "1.0");
    expect(boot.toVersion, `N=${n}`).toBe(after.version);
    if (isNew) report.bootedNew++;
    else report.bootedOld++;
    if (isNew) {
      // The boot finished the install: the upgrade is complete, nothing is left pending.
      const st = moduleInfo(state).update;
      expect(st.state, `N=${n}`).toBe("confirmed");
      expect(st.lwm2mResult, `N=${n}`).toBe(1);
    }
    // Whatever booted, the user runs the script again: on 1.0 it completes the upgrade; on 2.0 the
    // package no longer applies (or reinstalls 2.0) and the module stays on 2.0.
    const again = await emulate({ stateDir: state, ...run });
    expect(again.exitCode, `N=${n}: ${again.summary}`).toBe(0);
    expect(again.fromVersion, `N=${n}`).toBe(after.version);
    expect(moduleInfo(state).firmware, `N=${n}: after running the script again the module is not on 2.0`).toMatchObject({ version: "2.0", sha256: sha(c.v2) });
    rmSync(state, { recursive: true, force: true });
    report.cuts++;
  }
  console.log(
    `${c.label}: ${report.cuts} power cuts tried (every N in 0..${total - 1} of ${total} flash operations, torn on odd N); ` +
      `${report.duringBoot} in the boot after the restart; booted 1.0 after ${report.bootedOld}, 2.0 after ${report.bootedNew}; running the script again after every cut left the module on 2.0`,
  );
  return report;
}

// ------------------------------------------------------------------------------------------------
// Fixture: small firmware-like images, a key, packages built with the library, a local server.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createDelta } from "../../src/delta/index.js";
import { buildFullPackage, buildPackage, generateSigningKey, publicKeyPem, sha256, type SigningKey } from "../../src/format/index.js";
import { VirtualModule } from "../../src/emulator/module.js";
import { serve, type RunningServer } from "../../src/server/index.js";
import { demoFirmware } from "../../src/demo/firmware.js";
import type { StrategyName } from "../../src/quecpython/profiles.js";
import { exampleTo } from "./helpers.js";

export interface Fixture {
  dir: string;
  key: SigningKey;
  v1: Uint8Array;
  v2: Uint8Array;
  server: RunningServer;
  url(file: string): string;
  /** A module on v1 in `dir/name`. */
  module(name: string, model: string, strategy?: StrategyName): string;
  /** examples/NAME with only `constants` changed, in dir. */
  example(name: string, constants: Record<string, string>): string;
  close(): Promise<void>;
}

/** Small images (a few flash sectors) so a sweep over every N stays short. */
export async function fixture(models: string[], imageBytes = 24 * 1024): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), "fota-sweep-e2e-"));
  const www = join(dir, "www");
  mkdirSync(www);
  const key = generateSigningKey();
  const v1 = demoFirmware({ version: "1.0", revision: 1, size: imageBytes });
  const v2 = demoFirmware({ version: "2.0", revision: 2, size: imageBytes });
  const delta = (inPlace: boolean) => {
    const d = createDelta(v1, v2, { inPlace });
    return buildPackage({ kind: "delta", models, version: "2.0", target: { size: v2.length, sha256: sha256(v2) }, base: { size: v1.length, sha256: sha256(v1) }, encoding: d.encoding, payload: d.payload, keys: [key] }).bytes;
  };
  writeFileSync(join(www, "delta.fota"), delta(false));
  writeFileSync(join(www, "delta-inplace.fota"), delta(true));
  writeFileSync(join(www, "full.fota"), buildFullPackage({ keys: [key], image: v2, version: "2.0", models }).bytes);
  const server = await serve({ dir: www, httpPort: 0 });
  return {
    dir,
    key,
    v1,
    v2,
    server,
    url: (file) => new URL(file, server.httpUrl).href,
    module(name, model, strategy) {
      const state = join(dir, name);
      VirtualModule.create({ stateDir: state, model, firmware: v1, version: "1.0", trust: [publicKeyPem(key)], ...(strategy ? { strategy } : {}) });
      return state;
    },
    example: (name, constants) => exampleTo(join(dir, `${Object.values(constants).join("").replace(/\W+/g, "_")}-${name}`), name, constants),
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
