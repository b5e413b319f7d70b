// The list of CLI commands. Add one line per command file.
import type { Command } from "commander";
import { register as demo } from "./demo.js";
import { register as serve } from "./serve.js";
import { register as fetch } from "./fetch.js";

export const COMMANDS: Array<(program: Command) => void> = [demo, serve, fetch];
