// The one place where errors become what a person sees: a one-line message and an exit code.
import { CommanderError } from "commander";
import { FotaError } from "../errors.js";

export interface ErrorReport {
  exitCode: number;
  line: string;
}

export function reportError(err: unknown, debug: boolean): ErrorReport {
  if (err instanceof FotaError) {
    const line = `fota: ${err.kind} error (${err.reason}): ${err.message}`;
    return { exitCode: err.exitCode, line: debug && err.stack ? `${line}\n${err.stack}` : line };
  }
  if (err instanceof CommanderError) {
    return { exitCode: err.exitCode === 0 ? 0 : 2, line: "" };
  }
  const e = err instanceof Error ? err : new Error(String(err));
  const base = `fota: internal error: ${e.message} (this is a bug; rerun with --debug and report it)`;
  return { exitCode: 70, line: debug && e.stack ? `${base}\n${e.stack}` : base };
}
