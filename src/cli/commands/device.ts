// `fota device create|boot|info --state DIR`: provision, power on and inspect a virtual module.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { DEFAULT_CONFIG } from "../../config.js";
import type { ModuleInfo } from "../../emulator/module.js";
import { MODELS } from "../../quecpython/profiles.js";
import type { StrategyName } from "../../device/layout.js";
import { addPowerOptions, powerOptions, readBytes, type PowerFlags } from "./_emulator-common.js";

const LWM2M_RESULTS = ["initial", "updated", "not enough flash", "out of RAM", "connection lost", "integrity check failure", "unsupported package", "invalid URI", "update failed", "unsupported protocol", "cancelled", "deferred"];
const LWM2M_STATES = ["idle", "downloading", "downloaded", "updating"];

interface CreateFlags {
  state: string;
  model: string;
  firmware: string;
  version: string;
  trust: string[];
  strategy?: string;
  securityCounter?: string;
  recovery?: string;
  recoveryVersion?: string;
  force?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

function formatInfo(i: ModuleInfo): string {
  const rows: Array<[string, string]> = [
    ["model", `${i.model} (layout ${i.strategy})`],
    ["imei", i.imei],
    ["firmware", i.firmware ? `${i.firmware.version}  sha256 ${i.firmware.sha256}  (${i.firmware.slot}, ${i.firmware.size} bytes)` : "none"],
    ["slots", i.slots.map((s) => `${s.slot} ${s.state}${s.version !== undefined ? ` ${s.version}` : ""}`).join("; ")],
  ];
  if (i.recovery) rows.push(["recovery", `${i.recovery.state}${i.recovery.version !== undefined ? ` ${i.recovery.version}` : ""}`]);
  rows.push(
    ["security counter", String(i.securityCounter)],
    [
      "last update",
      `${i.update.state}${i.update.target ? ` (target ${i.update.target})` : ""}; LwM2M state ${i.update.lwm2mState} (${LWM2M_STATES[i.update.lwm2mState] ?? "?"}), result ${i.update.lwm2mResult} (${LWM2M_RESULTS[i.update.lwm2mResult] ?? "?"})${i.update.reason ? `; reason ${i.update.reason}` : ""}`,
    ],
    ["flash wear", `${i.wear.erases} sector erases (most on one sector: ${i.wear.maxSectorErases} of ${i.wear.sectors} sectors), ${i.wear.programs} programs, ${i.wear.bytesProgrammed} bytes programmed`],
    ["power", `${i.powerOns} power-ons; last power off: ${i.lastPowerOff}`],
  );
  const w = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n";
}

export function register(program: Command): void {
  const device = program.command("device").description("provision, power on and inspect a virtual module (state directory)");

  device
    .command("create")
    .description("provision a virtual module: flash laid out as the model's profile says, IMG installed and confirmed, the key trusted")
    .requiredOption("--state <dir>", "state directory of the module (flash.bin, module.json, usr/)")
    .requiredOption("--model <m>", `module model (${MODELS.join(", ")})`)
    .requiredOption("--firmware <img>", "factory firmware image")
    .requiredOption("--version <v>", "its version string (modem.getDevFwVersion())")
    .requiredOption("--trust <keyfile.pub>", "public key whose packages the module accepts (repeat for several)", collect)
    .option("--strategy <s>", "flash layout when the model has several (e.g. two-stage for mini FOTA)")
    .option("--security-counter <n>", "security counter of the factory image")
    .option("--recovery <img>", "recovery system image (two-stage layout)")
    .option("--recovery-version <v>", "version of the recovery image", "recovery-1")
    .option("--force", "replace a module already in the directory")
    .addHelpText("after", "\nExample:\n  fota device create --state mod1 --model EC600U --firmware fw-1.0.bin --version 1.0 --trust release.key.pub\n")
    .action(async (o: CreateFlags) => {
      const counter = o.securityCounter === undefined ? undefined : Number(o.securityCounter);
      if (counter !== undefined && (!Number.isInteger(counter) || counter < 0)) throw new UsageError("bad-argument", `--security-counter must be a non-negative integer, got ${o.securityCounter}`);
      const trust = o.trust.map((f) => {
        try {
          return readFileSync(f, "utf8");
        } catch (e) {
          throw new UsageError("bad-argument", `cannot read key file ${f}: ${(e as Error).message}`);
        }
      });
      const { VirtualModule } = await import("../../emulator/module.js");
      const rec = VirtualModule.create({
        stateDir: o.state,
        model: o.model,
        firmware: readBytes(o.firmware, "--firmware"),
        version: o.version,
        trust,
        ...(o.strategy !== undefined ? { strategy: o.strategy as StrategyName } : {}),
        ...(counter !== undefined ? { securityCounter: counter } : {}),
        ...(o.recovery !== undefined ? { recovery: { image: readBytes(o.recovery, "--recovery"), version: o.recoveryVersion ?? "recovery-1" } } : {}),
        ...(o.force ? { force: true } : {}),
      });
      process.stdout.write(`created ${rec.model} virtual module in ${o.state} (layout ${rec.strategy}, IMEI ${rec.imei}) running ${o.version}\n`);
    });

  addPowerOptions(
    device
      .command("boot")
      .description("power the module on without a script: bootloader (install, recovery), self test, boot; then power off")
      .requiredOption("--state <dir>", "state directory of the module"),
  )
    .addHelpText("after", `\nExit code ${DEFAULT_CONFIG.emulator.powerCutExitCode} means the simulated power was cut.\n`)
    .action(async (o: PowerFlags) => {
      const { bootModule } = await import("../../emulator/emulate.js");
      const r = await bootModule(powerOptions(o));
      process.exitCode = r.exitCode;
    });

  device
    .command("info")
    .description("model, booted firmware version and SHA-256, slot states, security counter, last update state/result (LwM2M), flash wear")
    .requiredOption("--state <dir>", "state directory of the module")
    .option("--json", "print one JSON object")
    .action(async (o: { state: string; json?: boolean }) => {
      const { moduleInfo } = await import("../../emulator/module.js");
      const info = moduleInfo(o.state);
      process.stdout.write(o.json ? JSON.stringify(info, null, 2) + "\n" : formatInfo(info));
    });
}
