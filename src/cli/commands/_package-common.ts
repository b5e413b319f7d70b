// Shared pieces of the package commands (keygen, pack, inspect, verify, apply): option parsing,
// the payload decoder the CLI uses, and a progress bar on interactive terminals.
// Nothing heavy is imported at module load (the CLI starts fast): the format and delta libraries are
// loaded by the actions that need them, cli-progress only when a bar is shown.
import { createRequire } from "node:module";
import { UsageError } from "../../errors.js";
import type { DecoderFactory, ManifestPolicy, RandomAccessReader, TrustedKey } from "../../format/index.js";

/** The payload decoder factory of `fota verify` and `fota apply`: the delta engine's dispatcher (full and delta), loaded on first use. */
export async function loadDecoder(): Promise<DecoderFactory> {
  const { openPayloadDecoder } = await import("../../delta/index.js");
  return (manifest, base) => openPayloadDecoder(manifest, base);
}

/** The flags `fota verify` and `fota apply` share. */
export interface CheckFlags {
  pub: string[];
  base?: string;
  model?: string;
  securityCounter?: string;
  now?: string;
}

/** Trusted keys, base image, policy and decoder for a PackageApplier, from the shared flags. */
export async function applierInputs(opts: CheckFlags): Promise<{
  trustedKeys: TrustedKey[];
  base: (RandomAccessReader & { close(): void }) | undefined;
  policy: Omit<ManifestPolicy, "base">;
  openDecoder: DecoderFactory;
}> {
  const { openFileReader, readTrustedKey } = await import("../../format/index.js");
  const now = parseTime(opts.now, "--now");
  const counter = parseCount(opts.securityCounter, "--security-counter");
  const trustedKeys = opts.pub.map((p) => readTrustedKey(p));
  const openDecoder = await loadDecoder();
  const policy: Omit<ManifestPolicy, "base"> = {
    ...(opts.model !== undefined ? { model: opts.model } : {}),
    ...(counter !== undefined ? { securityCounter: counter } : {}),
    ...(now ? { now: now.getTime() } : {}),
  };
  return { trustedKeys, base: opts.base !== undefined ? openFileReader(opts.base) : undefined, policy, openDecoder };
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseCount(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError("bad-argument", `${what} must be a whole number ≥ 0, got "${v}"`);
  return Number(v);
}

/** Parses a byte count: a whole number, hex (0x...), or with a K/M/G suffix (KiB, MiB, GiB: powers of 1024). */
export function parseBytes(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(0x[0-9a-f]+|\d+)\s*(k|kib|m|mib|g|gib)?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * 1024 ** ({ k: 1, m: 2, g: 3 }[(m[2] ?? "")[0]?.toLowerCase() as "k" | "m" | "g"] ?? 0) : NaN;
  if (!Number.isSafeInteger(n)) throw new UsageError("bad-argument", `${what} must be a byte count like 1048576, 0x100000, 256K or 1M; got "${v}"`);
  return n;
}

/** Parses an ISO 8601 time (or seconds since the epoch) into a Date. */
export function parseTime(v: string | undefined, what: string): Date | undefined {
  if (v === undefined) return undefined;
  const d = /^\d+$/.test(v) ? new Date(Number(v) * 1000) : new Date(v);
  if (Number.isNaN(d.getTime()) || d.getTime() < 0) throw new UsageError("bad-argument", `${what} must be an ISO 8601 time like 2027-01-31T00:00:00Z, got "${v}"`);
  return d;
}

export interface Progress {
  update(done: number): void;
  stop(): void;
}

/** A progress bar on stderr when it is a terminal (and not in --json mode); silent otherwise. */
export function progressBar(label: string, total: number, enabled = true): Progress {
  if (!enabled || !process.stderr.isTTY || total <= 0) return { update() {}, stop() {} };
  const { SingleBar } = createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");
  const bar = new SingleBar({ format: `${label} [{bar}] {percentage}% {value}/{total} bytes`, stream: process.stderr, hideCursor: true });
  bar.start(total, 0);
  return {
    update: (done) => bar.update(done),
    stop: () => bar.stop(),
  };
}

export function shortHex(hex: string): string {
  return hex.length > 16 ? `${hex.slice(0, 16)}…` : hex;
}
