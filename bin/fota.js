#!/usr/bin/env node
// Entry point of the `fota` command: runs the compiled CLI (built by `npm ci` through `prepare`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const main = new URL("../dist/src/cli/main.js", import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("fota: the CLI is not built yet; run `npm ci` (or `npm run build`) in the checkout first.");
  process.exit(1);
}
// a reader that stops early (`fota pack --help | head`) closes the pipe: end quietly, as other tools do
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? 0);
  });
}
const { run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
