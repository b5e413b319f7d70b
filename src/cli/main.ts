// The `fota` command line: one file per command under commands/, each a thin layer over the library.
// Errors from every command are mapped to a message and an exit code in errors.ts.
import { Command } from "commander";
import { reportError } from "./errors.js";
import { COMMANDS } from "./commands/index.js";

export function buildProgram(): Command {
  const program = new Command("fota")
    .description("Firmware-over-the-air toolkit: keys, signed full and delta packages, serving, a virtual module.")
    .option("--debug", "show the stack of an error")
    .showHelpAfterError()
    .exitOverride();
  for (const register of COMMANDS) register(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    const { exitCode, line } = reportError(err, argv.includes("--debug"));
    if (line) process.stderr.write(line + "\n");
    return exitCode;
  }
}
