// `fota keygen KEYFILE [--force]`: a new Ed25519 signing key (KEYFILE) and its public key (KEYFILE.pub).
import type { Command } from "commander";

export function register(program: Command): void {
  program
    .command("keygen")
    .description("create an Ed25519 signing key: the private key in KEYFILE, the public key in KEYFILE.pub")
    .argument("<keyfile>", "where to write the private key (PKCS#8 PEM, mode 0600)")
    .option("--force", "replace an existing key (the old key can no longer sign)")
    .option("--json", "print the key id and paths as JSON")
    .addHelpText("after", "\nExample:\n  fota keygen keys/release.key      # writes keys/release.key and keys/release.key.pub\n")
    .action(async (keyfile: string, opts: { force?: boolean; json?: boolean }) => {
      const { writeKeyPair } = await import("../../format/files.js");
      const key = writeKeyPair(keyfile, { force: opts.force === true });
      if (opts.json) process.stdout.write(JSON.stringify({ privateKey: keyfile, publicKey: `${keyfile}.pub`, keyId: key.keyIdHex }) + "\n");
      else process.stdout.write(`wrote ${keyfile} (private, keep it secret) and ${keyfile}.pub (public); key id ${key.keyIdHex}\n`);
    });
}
