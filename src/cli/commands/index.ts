// The list of CLI commands. Add one line per command file.
import type { Command } from "commander";
import { register as demo } from "./demo.js";
import { register as serve } from "./serve.js";
import { register as fetch } from "./fetch.js";
import { register as keygen } from "./keygen.js";
import { register as pack } from "./pack.js";
import { register as inspect } from "./inspect.js";
import { register as verify } from "./verify.js";
import { register as apply } from "./apply.js";
import { register as emulate } from "./emulate.js";
import { register as device } from "./device.js";

export const COMMANDS: Array<(program: Command) => void> = [demo, keygen, pack, inspect, verify, apply, serve, fetch, emulate, device];
