// Option checks for `fota serve` that need no server library (the CLI runs them before loading any).
import * as fs from "node:fs";
import { UsageError } from "../errors.js";

export interface ServeOptionChecks {
  dir: string;
  tlsCert?: string;
  tlsKey?: string;
  ftpUser?: string;
  ftpPassword?: string;
}

/** Check the options without starting anything (cheap: the CLI calls it before loading the servers). */
export function checkServeOptions(o: ServeOptionChecks): string {
  let realRoot: string;
  try {
    realRoot = fs.realpathSync(o.dir);
  } catch (err) {
    throw new UsageError("bad-argument", `cannot serve ${o.dir}: ${(err as Error).message}`, { cause: err });
  }
  if (!fs.statSync(realRoot).isDirectory()) throw new UsageError("bad-argument", `${o.dir} is not a directory`);
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError("bad-argument", "--tls-cert and --tls-key go together");
  if ((o.ftpUser === undefined) !== (o.ftpPassword === undefined)) throw new UsageError("bad-argument", "--ftp-user and --ftp-password go together");
  return realRoot;
}

