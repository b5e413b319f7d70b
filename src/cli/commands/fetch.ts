// `fota fetch URL -o FILE`: the device-side fetcher from the command line (resumable: a journal
// next to the output survives a kill; run the same command again to continue).
import type { Command } from "commander";
import * as fs from "node:fs";
import { UsageError } from "../../errors.js";
import type { FetchEvent } from "../../transport/index.js";

function num(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError("bad-argument", `${what} must be a non-negative number, got ${v}`);
  return n;
}

export function register(program: Command): void {
  program
    .command("fetch")
    .description("download a package over http(s), ftp or file URLs, resuming after drops and restarts")
    .argument("<url>", "http://, https://, ftp://user:pass@host:port/path or file:// URL")
    .requiredOption("-o, --output <file>", "where to write the bytes")
    .option("--journal <file>", "resume journal (default: OUTPUT.journal; removed after success)")
    .option("--ca <pem>", "extra trusted CA certificate for HTTPS")
    .option("--cert <pem>", "client certificate for HTTPS")
    .option("--key <pem>", "client key for HTTPS")
    .option("--expect-size <bytes>", "fail with bad-length unless the server declares exactly this size")
    .option("--max-bytes <bytes>", "hard cap on the download size")
    .option("--retries <n>", "consecutive failed attempts before giving up")
    .option("--timeout <ms>", "connect and read timeout in milliseconds")
    .option("--chunk <bytes>", "journal chunk size (multiple of 64)")
    .option("--json", "print events and the result as JSON lines")
    .addHelpText("after", "\nExample:\n  fota fetch http://127.0.0.1:8080/fw.pkg -o fw.pkg   # rerun after a kill: it resumes\n")
    .action(async (url: string, opts: Record<string, string | boolean | undefined>) => {
      const { fetchTo, FileJournal, FileSink } = await import("../../transport/index.js");
      const json = opts.json === true;
      const out = (o: unknown) => process.stdout.write((typeof o === "string" ? o : JSON.stringify(o)) + "\n");
      const pem = (f: unknown, what: string) => {
        if (typeof f !== "string") return undefined;
        try {
          return fs.readFileSync(f);
        } catch (err) {
          throw new UsageError("bad-argument", `cannot read ${what} ${f}: ${(err as Error).message}`, { cause: err });
        }
      };
      const timeout = num(opts.timeout as string | undefined, "--timeout");
      const output = String(opts.output);
      const journalFile = typeof opts.journal === "string" ? opts.journal : `${output}.journal`;
      const journal = new FileJournal(journalFile);
      const sink = new FileSink(output);
      const ca = pem(opts.ca, "CA certificate");
      const cert = pem(opts.cert, "client certificate");
      const key = pem(opts.key, "client key");
      const ac = new AbortController();
      const onSig = () => ac.abort();
      process.once("SIGINT", onSig);
      let lastPct = -1;
      try {
        const r = await fetchTo(url, sink, {
          journal,
          signal: ac.signal,
          expectedSize: num(opts.expectSize as string | undefined, "--expect-size"),
          maxBytes: num(opts.maxBytes as string | undefined, "--max-bytes"),
          retries: num(opts.retries as string | undefined, "--retries"),
          chunkBytes: num(opts.chunk as string | undefined, "--chunk"),
          timeouts: timeout === undefined ? undefined : { connectMs: timeout, headersMs: timeout, readMs: timeout },
          tls: { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) },
          onEvent: (e: FetchEvent) => {
            if (json && e.type !== "chunk") out({ event: e.type, ...e });
            else if (!json && (e.type === "retry" || e.type === "restart" || e.type === "resume"))
              process.stderr.write(`fota fetch: ${e.type}${"offset" in e ? ` at ${e.offset}` : ""}${"reason" in e ? ` (${e.reason})` : ""}\n`);
          },
          onProgress: (p) => {
            if (json || p.percent === undefined || p.percent === lastPct || !process.stderr.isTTY) return;
            lastPct = p.percent;
            process.stderr.write(`\r${p.percent}% ${p.received}/${p.total}`);
          },
        });
        journal.clear();
        if (!json && process.stderr.isTTY && lastPct >= 0) process.stderr.write("\n");
        if (json) out({ event: "done", output, ...r });
        else out(`fetched ${r.size} bytes to ${output}  sha256 ${r.sha256 ?? "(unknown)"}${r.resumedFrom ? `  (resumed at ${r.resumedFrom})` : ""}`);
      } finally {
        process.off("SIGINT", onSig);
        sink.close();
      }
    });
}
