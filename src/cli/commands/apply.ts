// `fota apply PKG --pub KEY.pub [--base OLD.bin] -o NEW.bin`: rebuilds the target image on the host,
// verifying everything on the way; the output appears (atomically) only if its SHA-256 matched.
import type { Command } from "commander";
import { FormatError } from "../../errors.js";
import { applierInputs, collect, type CheckFlags, progressBar, type Progress } from "./_package-common.js";

interface ApplyOptions extends CheckFlags {
  output: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("apply")
    .description("rebuild the new image from a package (and the base image for a delta), verifying everything")
    .argument("<pkg>", "package file")
    .requiredOption("--pub <keyfile.pub>", "trusted public key (repeat to trust several)", collect)
    .requiredOption("-o, --output <new.bin>", "where to write the image (written only after its SHA-256 matched; may be the --base file)")
    .option("--base <old.bin>", "the image a delta package applies to")
    .option("--model <m>", "refuse the package unless it is for this model")
    .option("--security-counter <n>", "refuse the package if its counter is below this")
    .option("--now <iso>", "check expiry against this time instead of the clock")
    .option("--json", "print the result as one JSON object")
    .addHelpText("after", "\nExample:\n  fota apply fw-1.1.fota --pub release.key.pub -o fw-1.1.bin\n")
    .action(async (pkg: string, opts: ApplyOptions) => {
      const { PackageApplier, streamFile, toHex, writeFileAtomically } = await import("../../format/index.js");
      const { trustedKeys, base, policy, openDecoder } = await applierInputs(opts);
      let bar: Progress | undefined;
      try {
        const result = writeFileAtomically(opts.output, (write) => {
          const applier = new PackageApplier({
            trustedKeys,
            ...(base ? { base } : {}),
            policy,
            openDecoder,
            onManifest: (m) => {
              bar = progressBar("applying", m.target.size, !opts.json);
            },
            onProgress: (done) => bar?.update(done),
            write,
          });
          const size = streamFile(pkg, (bytes) => applier.push(bytes));
          if (size === 0) throw new FormatError("truncated", `${pkg} is empty`);
          return applier.finish();
        });
        bar?.stop();
        const m = result.manifest;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ ok: true, output: opts.output, bytes: result.image.size, sha256: toHex(result.image.sha256), version: m.version, kind: m.kind }) + "\n");
        } else {
          process.stdout.write(`wrote ${opts.output}: ${result.image.size} bytes, sha256 ${toHex(result.image.sha256)} (version ${m.version}, verified)\n`);
        }
      } finally {
        bar?.stop();
        base?.close();
      }
    });
}
