// Power cuts through `fota emulate --power-cut-after-ops N` during the documented local upgrade:
// after every cut the module boots a whole image (old or new), and running the script again
// completes the upgrade. Spread over the range of N here (FOTA_SWEEP=full: every N).
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, publicKeyPem, buildFullPackage } from "../../src/format/index.js";
import { bootModule, emulate, EXIT_POWER_CUT, type EmulateOptions } from "../../src/emulator/emulate.js";
import { VirtualModule, moduleInfo } from "../../src/emulator/module.js";

let dir: string;
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fw1 = new Uint8Array(40 * 1024).map((_, i) => (i * 13 + (i >> 7)) & 0xff);
const fw2 = new Uint8Array(44 * 1024).map((_, i) => (i * 17 + (i >> 6)) & 0xff);
let pub: string;

const SCRIPT = `
import fota, uos, utime
from misc import Power
f = fota()
size = uos.stat("/usr/FotaFile.bin")[6]
with open("/usr/FotaFile.bin", "rb") as fh:
    while 1:
        c = fh.read(1024)
        if not c:
            break
        f.write(c, size)
if f.flush() == 0 and f.verify() == 0:
    utime.sleep(1)
    Power.powerRestart()
`;

const quiet = { onLine: () => {}, stdout: () => {}, stderr: () => {} } satisfies Partial<EmulateOptions>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "fota-sweep-"));
  const key = generateSigningKey();
  pub = publicKeyPem(key);
  writeFileSync(join(dir, "local.py"), SCRIPT);
  pkg = buildFullPackage({ keys: [key], image: fw2, version: "2.0", models: ["EC600N", "EC600U"] }).bytes;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let pkg: Uint8Array;

function fresh(name: string, model: string): string {
  const state = join(dir, name);
  rmSync(state, { recursive: true, force: true });
  VirtualModule.create({ stateDir: state, model, firmware: fw1, version: "1.0", trust: [pub] });
  writeFileSync(join(state, "usr", "FotaFile.bin"), pkg);
  return state;
}

function points(total: number, count: number): number[] {
  if (process.env.FOTA_SWEEP === "full") return Array.from({ length: total }, (_, i) => i);
  const out = new Set<number>([0, 1, total - 1]);
  for (let k = 1; k < count; k++) out.add(Math.floor((k * total) / count));
  return [...out].filter((n) => n >= 0 && n < total).sort((a, b) => a - b);
}

describe.each([
  ["EC600N", 6],
  ["EC600U", 3],
])("power-cut sweep of the local upgrade on %s", (model, count) => {
  it("boots a whole image after every cut, and the script then completes the upgrade", async () => {
    const ref = fresh(`${model}-ref`, model);
    const clean = await emulate({ stateDir: ref, scriptPath: join(dir, "local.py"), clockSpeed: 1000, ...quiet });
    expect(clean.exitCode).toBe(0);
    expect(clean.toVersion).toBe("2.0");
    const total = clean.flashOps;
    expect(total).toBeGreaterThan(4);
    for (const n of points(total, count)) {
      const state = fresh(`${model}-${n}`, model);
      const cut = await emulate({ stateDir: state, scriptPath: join(dir, "local.py"), clockSpeed: 1000, powerCutAfterOps: n, torn: n % 2 === 1, ...quiet });
      expect(cut.exitCode, `N=${n}`).toBe(EXIT_POWER_CUT);
      const boot = await bootModule({ stateDir: state, ...quiet });
      expect(boot.exitCode, `N=${n}`).toBe(0);
      const after = moduleInfo(state);
      expect([sha(fw1), sha(fw2)], `N=${n}`).toContain(after.firmware!.sha256);
      expect(after.firmware!.version, `N=${n}`).toBe(after.firmware!.sha256 === sha(fw1) ? "1.0" : "2.0");
      const again = await emulate({ stateDir: state, scriptPath: join(dir, "local.py"), clockSpeed: 1000, ...quiet });
      expect(again.exitCode, `N=${n}`).toBe(0);
      expect(moduleInfo(state).firmware, `N=${n}`).toMatchObject({ version: "2.0", sha256: sha(fw2) });
    }
  }, 240_000);
});
