// `fota serve DIR`: host packages over HTTP(S) (and FTP) until SIGINT/SIGTERM.
import type { Command } from "commander";
import { UsageError } from "../../errors.js";
import type { DownloadRecord } from "../../server/index.js";
import { checkServeOptions } from "../../server/options.js";

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError("bad-argument", `not a port number: ${v}`);
  return n;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve a directory of packages over HTTP(S) (Range, If-Range, ETag, HEAD) and optionally FTP (passive, REST, SIZE)")
    .argument("<dir>", "directory whose files are served (nothing outside it, symlinks out refused)")
    .requiredOption("--http-port <n>", "HTTP(S) port (0 = pick a free one and print it)")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--tls-cert <file>", "PEM certificate: serve HTTPS instead of HTTP")
    .option("--tls-key <file>", "PEM private key for --tls-cert")
    .option("--ftp-port <n>", "also serve FTP on this port (0 = pick a free one)")
    .option("--ftp-user <name>", "FTP user (without it only anonymous logins are accepted)")
    .option("--ftp-password <pw>", "FTP password for --ftp-user")
    .option("--pasv-range <min-max>", "FTP passive data ports", "30400-30599")
    .option("--cache-mib <n>", "memory for answering small hot files (up to 8 MiB each) from RAM; 0 = always read from disk", "64")
    .option("--json", "log one JSON object per line (startup, each download, stop)")
    .addHelpText(
      "after",
      "\nExamples:\n  fota serve ./out --http-port 8080\n  fota serve ./out --http-port 0 --ftp-port 0 --ftp-user fw --ftp-password secret --json\n" +
        "\nEach finished download prints one line: client, file, status, bytes, duration. Stop with Ctrl-C.",
    )
    .action(async (dir: string, opts: Record<string, string | boolean | undefined>) => {
      const json = opts.json === true;
      const out = (line: string) => process.stdout.write(line + "\n");
      const pr = /^(\d+)-(\d+)$/.exec(String(opts.pasvRange));
      if (!pr || Number(pr[1]) > Number(pr[2])) throw new UsageError("bad-argument", `--pasv-range must look like 30400-30599, got ${String(opts.pasvRange)}`);
      const cacheMib = Number(opts.cacheMib);
      if (!/^\d+$/.test(String(opts.cacheMib)) || cacheMib > 65536) throw new UsageError("bad-argument", `--cache-mib must be a whole number of MiB (0..65536), got ${String(opts.cacheMib)}`);
      const onDownload = (r: DownloadRecord) => {
        if (json) out(JSON.stringify({ event: "download", time: new Date().toISOString(), ...r, durationMs: Math.round(r.durationMs * 10) / 10 }));
        else
          out(
            `${new Date().toISOString()} ${r.client} ${r.proto.toUpperCase()} ${r.file} ${r.status}${r.range ? ` ${r.range}` : ""} ` +
              `${r.bytes} bytes in ${r.durationMs.toFixed(1)} ms${r.complete ? "" : " (aborted by client)"}`,
          );
      };
      checkServeOptions({
        dir,
        tlsCert: opts.tlsCert as string | undefined,
        tlsKey: opts.tlsKey as string | undefined,
        ftpUser: opts.ftpUser as string | undefined,
        ftpPassword: opts.ftpPassword as string | undefined,
      });
      // Loaded on use: fastify and ftp-srv are heavy, and other commands do not need them.
      const { serve } = await import("../../server/index.js");
      const s = await serve({
        dir,
        host: opts.host as string,
        httpPort: port(String(opts.httpPort)),
        tlsCert: opts.tlsCert as string | undefined,
        tlsKey: opts.tlsKey as string | undefined,
        ftpPort: opts.ftpPort === undefined ? undefined : port(String(opts.ftpPort)),
        ftpUser: opts.ftpUser as string | undefined,
        ftpPassword: opts.ftpPassword as string | undefined,
        pasvMin: Number(pr[1]),
        pasvMax: Number(pr[2]),
        cacheBytes: cacheMib * 1024 * 1024,
        onDownload,
      });
      if (json) {
        out(JSON.stringify({ event: "listening", root: s.root, http: s.httpUrl, httpPort: s.httpPort, ftp: s.ftpUrl ?? null, ftpPort: s.ftpPort ?? null, files: s.files }));
      } else {
        out(`fota serve: serving ${s.root} (${s.files.length} file${s.files.length === 1 ? "" : "s"})`);
        out(`  ${s.httpUrl}`);
        if (s.ftpUrl) out(`  ${s.ftpUrl}${opts.ftpUser ? ` (user ${String(opts.ftpUser)})` : " (anonymous)"}`);
        for (const f of s.files.slice(0, 50)) out(`  ${f.name}  ${fmtBytes(f.size)}`);
        if (s.files.length > 50) out(`  ... and ${s.files.length - 50} more`);
        out("Press Ctrl-C to stop.");
      }
      await new Promise<void>((resolve) => {
        const stop = (sig: string) => {
          process.off("SIGINT", onInt);
          process.off("SIGTERM", onTerm);
          if (json) out(JSON.stringify({ event: "stopping", signal: sig }));
          else out(`fota serve: ${sig}, stopping`);
          void s.close().then(resolve, resolve);
        };
        const onInt = () => stop("SIGINT");
        const onTerm = () => stop("SIGTERM");
        process.on("SIGINT", onInt);
        process.on("SIGTERM", onTerm);
      });
    });
}
