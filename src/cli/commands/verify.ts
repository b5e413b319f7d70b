// `fota verify PKG --pub KEY.pub [--base OLD.bin] [--model M]`: exit 0 when the package is authentic,
// intact, not expired, and (with --base) applies to that base; otherwise one line and a non-zero exit.
import type { Command } from "commander";
import { FormatError } from "../../errors.js";
import type { ApplyResult } from "../../format/index.js";
import { applierInputs, collect, type CheckFlags } from "./_package-common.js";

interface VerifyOptions extends CheckFlags {
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("verify")
    .description("check that a package is authentic (signature), intact (digests), not expired, and fits the given base/model")
    .argument("<pkg>", "package file")
    .requiredOption("--pub <keyfile.pub>", "trusted public key (repeat to trust several)", collect)
    .option("--base <old.bin>", "also check that the (delta) package applies to this image")
    .option("--model <m>", "also check that the package is for this device model")
    .option("--security-counter <n>", "also check anti-rollback against this device counter")
    .option("--now <iso>", "check expiry against this time instead of the clock")
    .option("--json", "print the result as one JSON object")
    .addHelpText("after", "\nExample:\n  fota verify fw-1.1.fota --pub release.key.pub --model EC600N && echo good\n")
    .action(async (pkg: string, opts: VerifyOptions) => {
      const { PackageApplier, streamFile, toHex } = await import("../../format/index.js");
      const { trustedKeys, base, policy, openDecoder } = await applierInputs(opts);
      let result: ApplyResult;
      try {
        const applier = new PackageApplier({
          trustedKeys,
          ...(base ? { base } : {}),
          policy,
          openDecoder,
          // A delta without --base cannot be rebuilt: then signatures and payload digests are checked.
          verifyOnly: true,
          write: () => {},
        });
        const size = streamFile(pkg, (bytes) => applier.push(bytes));
        if (size === 0) throw new FormatError("truncated", `${pkg} is empty`);
        result = applier.finish();
      } finally {
        base?.close();
      }
      const m = result.manifest;
      const checks = [
        "signature",
        "payload digests",
        ...(result.imageChecked ? ["image sha256"] : []),
        ...(m.expires !== undefined ? ["expiry"] : []),
        ...(opts.base !== undefined ? ["base"] : []),
        ...(opts.model !== undefined ? ["model"] : []),
        ...(policy.securityCounter !== undefined ? ["security counter"] : []),
      ];
      if (opts.json) {
        process.stdout.write(
          JSON.stringify({ ok: true, file: pkg, kind: m.kind, version: m.version, models: m.models, verifiedKeyIds: result.info.verifiedKeyIds, imageSha256: toHex(m.target.sha256), checked: checks }) + "\n",
        );
      } else {
        process.stdout.write(
          `OK: ${pkg} is authentic and intact (${m.kind} package, version ${m.version} for ${m.models.join(", ")}, signed by ${result.info.verifiedKeyIds.join(", ")}; checked: ${checks.join(", ")})\n`,
        );
      }
    });
}
