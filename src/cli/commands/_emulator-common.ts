// Options shared by `fota emulate` and `fota device boot`.
import { readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { UsageError } from "../../errors.js";
import type { PowerOptions } from "../../emulator/emulate.js";

export interface PowerFlags {
  state: string;
  linkKbps?: string;
  clockSpeed?: string;
  powerCutAfterOps?: string;
  torn?: boolean;
  net?: string;
}

export function addPowerOptions(cmd: Command): Command {
  return cmd
    .option("--link-kbps <n>", "link rate of the module in kbit/s (default: the model's radio; 0 = unthrottled)")
    .option("--clock-speed <x>", "virtual clock speed: virtual seconds per real second", "1")
    .option("--power-cut-after-ops <n>", "cut the power after N flash operations (erase/program)")
    .option("--torn", "with --power-cut-after-ops: cut in the middle of the operation (partly written)")
    .addOption(new Option("--net <state>", "network on or off (off: registration fails, downloads cannot connect)").choices(["on", "off"]).default("on"));
}

function num(v: string | undefined, name: string, integer: boolean, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min || (name === "--clock-speed" && n <= 0)) {
    throw new UsageError("bad-argument", `${name} must be a ${integer ? "whole" : ""} number${min === 0 ? " >= 0" : ""}${name === "--clock-speed" ? " above 0" : ""}, got "${v}"`);
  }
  return n;
}

export function powerOptions(o: PowerFlags): PowerOptions {
  const cut = num(o.powerCutAfterOps, "--power-cut-after-ops", true, 0);
  if (o.torn && cut === undefined) throw new UsageError("bad-argument", "--torn needs --power-cut-after-ops N");
  const kbps = num(o.linkKbps, "--link-kbps", false, 0);
  const speed = num(o.clockSpeed, "--clock-speed", false, 0);
  return {
    stateDir: o.state,
    ...(kbps !== undefined ? { linkKbps: kbps } : {}),
    ...(speed !== undefined ? { clockSpeed: speed } : {}),
    ...(cut !== undefined ? { powerCutAfterOps: cut, torn: o.torn ?? false } : {}),
    netOff: o.net === "off",
  };
}

export function readBytes(file: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    throw new UsageError("bad-argument", `cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}
