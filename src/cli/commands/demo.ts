import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("demo")
    .description("run the whole flow on built-in defaults: keys, packages, a served OTA on a virtual module, power cut, rollback")
    .action(() => {
      process.stdout.write("fota demo: not yet available (it arrives with the virtual module, issue 7).\n");
    });
}
