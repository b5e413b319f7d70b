// The `fota` command line: one file per command under commands/, each a thin layer over the library.
// Errors from every command are mapped to a message and an exit code in errors.ts.
import { Command } from "commander";
import { reportError } from "./errors.js";
import { COMMANDS } from "./commands/index.js";

/**
 * The program with its commands. Given the arguments, only the command they name is loaded (so a
 * command's start-up does not pay for the others' libraries); without one (`fota --help`, a typo),
 * every command is registered.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command("fota")
    .description("Firmware-over-the-air toolkit: keys, signed full and delta packages, serving, a virtual module.")
    .option("--debug", "show the stack of an error")
    .showHelpAfterError()
    .exitOverride();
  const named = argv.find((a) => !a.startsWith("-"));
  const only = COMMANDS.find((c) => c.name === named);
  for (const register of await Promise.all((only ? [only] : COMMANDS).map((c) => c.load()))) register(program);
  return program;
}

export async function run(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    const { exitCode, line } = reportError(err, argv.includes("--debug"));
    if (line) process.stderr.write(line + "\n");
    return exitCode;
  }
}
