// `fota emulate --state DIR SCRIPT.py`: run a QuecPython script as the virtual module's application.
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import { DEFAULT_CONFIG } from "../../config.js";
import { addPowerOptions, powerOptions, type PowerFlags } from "./_emulator-common.js";

export function register(program: Command): void {
  addPowerOptions(
    program
      .command("emulate")
      .description("run SCRIPT.py on the virtual module (real MicroPython, QuecPython modules); a restart installs and boots the update")
      .argument("<script.py>", "the application script (QuecPython style)")
      .requiredOption("--state <dir>", "state directory of the module (made by `fota device create`)"),
  )
    .option("--timeout <seconds>", "power the module down after this much virtual time")
    .addHelpText(
      "after",
      `
When the script ends, the module stays on while background work (an asynchronous download) goes
on; a restart (automatic, or misc.Power.powerRestart()) runs the bootloader, boots the new firmware,
prints a one-line summary and exits. Exit codes: the script's status (0, 1 for an uncaught
exception, sys.exit's code), ${DEFAULT_CONFIG.emulator.powerCutExitCode} when the simulated power was cut, ${DEFAULT_CONFIG.emulator.timeoutExitCode} after --timeout.

Example:
  fota emulate --state mod1 --clock-speed 20 ota.py
`,
    )
    .action(async (script: string, o: PowerFlags & { timeout?: string }) => {
      const timeoutS = o.timeout === undefined ? undefined : Number(o.timeout);
      if (timeoutS !== undefined && !(timeoutS > 0)) throw new UsageError("bad-argument", `--timeout must be a number of seconds above 0, got "${o.timeout}"`);
      const { emulate } = await import("../../emulator/emulate.js");
      const r = await emulate({ ...powerOptions(o), scriptPath: script, ...(timeoutS !== undefined ? { timeoutS } : {}) });
      process.exitCode = r.exitCode;
    });
}
