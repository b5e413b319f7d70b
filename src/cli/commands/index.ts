// The list of CLI commands: one entry per command file, loaded on demand (the CLI only imports the
// command it runs; `fota --help` and unknown commands load them all). Add one entry per command file;
// `name` must be the name the file's register() gives its command (test/cli/startup.test.ts checks).
import type { Command } from "commander";

export interface CommandEntry {
  name: string;
  load: () => Promise<(program: Command) => void>;
}

export const COMMANDS: CommandEntry[] = [
  { name: "demo", load: async () => (await import("./demo.js")).register },
  { name: "keygen", load: async () => (await import("./keygen.js")).register },
  { name: "pack", load: async () => (await import("./pack.js")).register },
  { name: "inspect", load: async () => (await import("./inspect.js")).register },
  { name: "verify", load: async () => (await import("./verify.js")).register },
  { name: "apply", load: async () => (await import("./apply.js")).register },
  { name: "serve", load: async () => (await import("./serve.js")).register },
  { name: "fetch", load: async () => (await import("./fetch.js")).register },
  { name: "emulate", load: async () => (await import("./emulate.js")).register },
  { name: "device", load: async () => (await import("./device.js")).register },
];
