// Shared pieces of the package commands (keygen, pack, inspect, verify, apply): option parsing,
// the payload decoder the CLI uses, and a progress bar on interactive terminals.
import { SingleBar } from "cli-progress";
import { UsageError } from "../../errors.js";
import type { DecoderFactory } from "../../format/index.js";
import { openPayloadDecoder } from "../../delta/index.js";

/** The payload decoder factory of `fota verify` and `fota apply`: the delta engine's dispatcher (full and delta). */
export const openDecoder: DecoderFactory = (manifest, base) => openPayloadDecoder(manifest, base);

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function parseCount(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new UsageError("bad-argument", `${what} must be a whole number ≥ 0, got "${v}"`);
  return Number(v);
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
