// The package commands as a user runs them: keygen, pack, inspect, verify, apply, and one distinct
// error (reason and exit code) per kind of damage.
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REASONS } from "../../src/errors.js";
import { FORMAT } from "../../src/format/index.js";
import { runFota } from "../helpers/cli.js";
import { fixture, makeImage } from "../format/helpers.js";

let dir: string;
const p = (name: string) => join(dir, name);
const exitOf = (reason: keyof typeof REASONS) => REASONS[reason].exit;

/** Runs a command that must fail: one line on stderr naming the reason, and that reason's exit code. */
async function expectFailure(args: string[], reason: keyof typeof REASONS) {
  const r = await runFota(args, { cwd: dir });
  expect(r.stderr, r.stderr).toContain(`(${reason})`);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.code).toBe(exitOf(reason));
  expect(r.stdout).not.toContain("OK");
  return r;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fota-cli-"));
  const old = makeImage(60_000, 20);
  const next = Buffer.concat([old.subarray(0, 20_000), makeImage(700, 5), old.subarray(20_000)]);
  writeFileSync(p("old.bin"), old);
  writeFileSync(p("new.bin"), next);
  const k = await runFota(["keygen", "dev.key"], { cwd: dir });
  expect(k.code).toBe(0);
  const pk = await runFota(
    ["pack", "--key", "dev.key", "--to", "new.bin", "--version", "1.2.0", "--model", "EC600N", "--model", "EC800N", "--security-counter", "4", "--expires", "2099-01-01T00:00:00Z", "-o", "new.fota"],
    { cwd: dir },
  );
  expect(pk.stderr).toBe("");
  expect(pk.code).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fota keygen", () => {
  it("writes a private key (0600) and KEYFILE.pub, and refuses to overwrite without --force", async () => {
    const r = await runFota(["keygen", "a.key"], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/key id [0-9a-f]{16}/);
    expect(readFileSync(p("a.key"), "utf8")).toContain("BEGIN PRIVATE KEY");
    expect(readFileSync(p("a.key.pub"), "utf8")).toContain("BEGIN PUBLIC KEY");
    expect(statSync(p("a.key")).mode & 0o077).toBe(0);
    const before = readFileSync(p("a.key"), "utf8");
    await expectFailure(["keygen", "a.key"], "file-exists");
    expect(readFileSync(p("a.key"), "utf8")).toBe(before);
    const f = await runFota(["keygen", "a.key", "--force", "--json"], { cwd: dir });
    expect(f.code).toBe(0);
    expect(JSON.parse(f.stdout).keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(readFileSync(p("a.key"), "utf8")).not.toBe(before);
  });

  it("creates missing parent folders", async () => {
    expect((await runFota(["keygen", "keys/nested/c.key"], { cwd: dir })).code).toBe(0);
    expect(existsSync(p("keys/nested/c.key.pub"))).toBe(true);
  });

  it("refuses when only the .pub exists, too", async () => {
    writeFileSync(p("b.key.pub"), "x");
    await expectFailure(["keygen", "b.key"], "file-exists");
    expect(existsSync(p("b.key"))).toBe(false);
  });
});

describe.concurrent("pack -> inspect -> verify -> apply", () => {
  it("round-trips to the exact image", async () => {
    const v = await runFota(["verify", "new.fota", "--pub", "dev.key.pub", "--model", "EC800N", "--security-counter", "4"], { cwd: dir });
    expect(v.stderr).toBe("");
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^OK: /);
    const a = await runFota(["apply", "new.fota", "--pub", "dev.key.pub", "-o", "out.bin"], { cwd: dir });
    expect(a.code).toBe(0);
    expect(readFileSync(p("out.bin")).equals(readFileSync(p("new.bin")))).toBe(true);
    // (its own temporary file only: tests running alongside in this folder have theirs while they write)
    expect(readdirSync(dir).filter((f) => f.startsWith(".out.bin.") && f.endsWith(".tmp"))).toEqual([]);
  });

  it("inspect prints the manifest; --json prints one JSON object", async () => {
    const h = await runFota(["inspect", "new.fota"], { cwd: dir });
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("EC600N, EC800N");
    expect(h.stdout).toContain("1.2.0");
    expect(h.stdout).toContain("security counter  4");
    const j = await runFota(["inspect", "new.fota", "--json"], { cwd: dir });
    expect(j.code).toBe(0);
    expect(j.stdout.trim().split("\n")).toHaveLength(1);
    const o = JSON.parse(j.stdout);
    expect(o.manifest).toMatchObject({ kind: "full", models: ["EC600N", "EC800N"], version: "1.2.0", securityCounter: 4, expires: "2099-01-01T00:00:00.000Z" });
    expect(o.manifest.target.size).toBe(60_700);
    expect(o.complete).toBe(true);
    expect(o.layout.totalBytes).toBe(statSync(p("new.fota")).size);
    expect(o.signatures).toHaveLength(1);
  });

  it("signs with several keys and verifies with any trusted one", async () => {
    const pk = await runFota(["pack", "--key", "dev.key", "--key", fixture("test.key"), "--to", "new.bin", "--version", "1", "--model", "M", "--compression", "deflate", "-o", "two.fota", "--json"], { cwd: dir });
    expect(pk.code).toBe(0);
    expect(JSON.parse(pk.stdout).keyIds).toHaveLength(2);
    expect((await runFota(["verify", "two.fota", "--pub", fixture("test.key.pub")], { cwd: dir })).code).toBe(0);
  });

  it("apply may overwrite its own --base file (atomic rename)", async () => {
    copyFileSync(p("old.bin"), p("device.bin"));
    const a = await runFota(["apply", "new.fota", "--pub", "dev.key.pub", "--base", "device.bin", "-o", "device.bin"], { cwd: dir });
    expect(a.code).toBe(0);
    expect(readFileSync(p("device.bin")).equals(readFileSync(p("new.bin")))).toBe(true);
  });
});

describe.concurrent("rejections: each with its own reason", () => {
  const damaged = (name: string, edit: (b: Buffer) => Buffer) => writeFileSync(p(name), edit(Buffer.from(readFileSync(p("new.fota")))));
  const payloadOffset = (b: Buffer) => FORMAT.headerBytes + b.readUInt16BE(6) + b.readUInt32BE(8);

  it("flipped payload byte -> digest-mismatch (and apply writes nothing)", async () => {
    damaged("flip-payload.fota", (b) => {
      b[Math.floor((payloadOffset(b) + b.length) / 2)] ^= 0x01;
      return b;
    });
    await expectFailure(["verify", "flip-payload.fota", "--pub", "dev.key.pub"], "digest-mismatch");
    await expectFailure(["apply", "flip-payload.fota", "--pub", "dev.key.pub", "-o", "bad.bin"], "digest-mismatch");
    expect(existsSync(p("bad.bin"))).toBe(false);
    // (only this output's temporary file: the other tests of this block run at the same time in dir)
    expect(readdirSync(dir).filter((f) => f.startsWith(".bad.bin.") && f.endsWith(".tmp"))).toEqual([]);
  });

  it("flipped manifest byte -> bad-signature", async () => {
    damaged("flip-manifest.fota", (b) => {
      const at = b.indexOf(Buffer.from("1.2.0"));
      b[at + 2] ^= 0x01; // "1.2.0" -> "1.3.0"
      return b;
    });
    await expectFailure(["verify", "flip-manifest.fota", "--pub", "dev.key.pub"], "bad-signature");
  });

  it("truncated file -> truncated", async () => {
    damaged("short.fota", (b) => b.subarray(0, b.length - 100));
    await expectFailure(["verify", "short.fota", "--pub", "dev.key.pub"], "truncated");
    const i = await runFota(["inspect", "short.fota"], { cwd: dir });
    expect(i.stdout).toContain("TRUNCATED");
  });

  it("wrong key -> untrusted-key", async () => {
    await expectFailure(["verify", "new.fota", "--pub", fixture("other.key.pub")], "untrusted-key");
  });

  it("unknown critical field -> unknown-critical; unknown version -> unsupported-version", async () => {
    await expectFailure(["verify", fixture("unknown-critical.fota"), "--pub", fixture("test.key.pub")], "unknown-critical");
    damaged("v2.fota", (b) => {
      b[4] = 2;
      return b;
    });
    await expectFailure(["verify", "v2.fota", "--pub", "dev.key.pub"], "unsupported-version");
  });

  it("oversize length fields -> limit-exceeded", async () => {
    damaged("huge-manifest.fota", (b) => {
      b.writeUInt32BE(0x7fffffff, 8);
      return b;
    });
    await expectFailure(["verify", "huge-manifest.fota", "--pub", "dev.key.pub"], "limit-exceeded");
    await expectFailure(["inspect", "huge-manifest.fota"], "limit-exceeded");
  });

  it("expired manifest -> expired", async () => {
    await expectFailure(["verify", "new.fota", "--pub", "dev.key.pub", "--now", "2099-01-01T00:00:01Z"], "expired");
    await expectFailure(["apply", "new.fota", "--pub", "dev.key.pub", "--now", "2100-01-01T00:00:00Z", "-o", "late.bin"], "expired");
    expect(existsSync(p("late.bin"))).toBe(false);
  });

  it("wrong base for a delta -> wrong-base", async () => {
    const pkg = fixture("delta-opaque.fota");
    const ok = await runFota(["verify", pkg, "--pub", fixture("test.key.pub")], { cwd: dir });
    expect(ok.code).toBe(0); // authentic and intact without --base
    await expectFailure(["verify", pkg, "--pub", fixture("test.key.pub"), "--base", fixture("image-v2.bin")], "wrong-base");
    await expectFailure(["apply", pkg, "--pub", fixture("test.key.pub"), "-o", "x.bin"], "wrong-base");
  });

  it("wrong model and rollback", async () => {
    await expectFailure(["verify", "new.fota", "--pub", "dev.key.pub", "--model", "BG95"], "wrong-model");
    await expectFailure(["verify", "new.fota", "--pub", "dev.key.pub", "--security-counter", "5"], "security-counter");
  });

  it("a private key given as --pub, or a public key given as --key -> bad-key", async () => {
    await expectFailure(["verify", "new.fota", "--pub", "dev.key"], "bad-key");
    await expectFailure(["pack", "--key", "dev.key.pub", "--to", "new.bin", "--version", "1", "--model", "M", "-o", "x.fota"], "bad-key");
  });

  it("not a package at all -> malformed", async () => {
    await expectFailure(["inspect", "new.bin"], "malformed");
  });
});

describe.concurrent("pack: delta, usage errors, help", () => {
  it("--from builds a delta that verifies and applies only against its base", async () => {
    const pk = await runFota(["pack", "--key", "dev.key", "--from", "old.bin", "--to", "new.bin", "--version", "2", "--model", "M", "--kind", "delta", "-o", "d.fota", "--json"], { cwd: dir });
    expect(pk.code, pk.stderr).toBe(0);
    expect(JSON.parse(pk.stdout).kind).toBe("delta");
    expect((await runFota(["verify", "d.fota", "--pub", "dev.key.pub", "--base", "old.bin"], { cwd: dir })).code).toBe(0);
    const a = await runFota(["apply", "d.fota", "--pub", "dev.key.pub", "--base", "old.bin", "-o", "d.bin"], { cwd: dir });
    expect(a.code, a.stderr).toBe(0);
    expect(readFileSync(p("d.bin")).equals(readFileSync(p("new.bin")))).toBe(true);
    await expectFailure(["apply", "d.fota", "--pub", "dev.key.pub", "--base", "new.bin", "-o", "d2.bin"], "wrong-base");
    expect(existsSync(p("d2.bin"))).toBe(false);
  });

  it("bad option values and missing files", async () => {
    await expectFailure(["pack", "--key", "dev.key", "--to", "new.bin", "--version", "2", "--model", "M", "--security-counter", "-1", "-o", "x.fota"], "bad-argument");
    await expectFailure(["pack", "--key", "dev.key", "--to", "missing.bin", "--version", "2", "--model", "M", "-o", "x.fota"], "bad-argument");
    const r = await runFota(["pack", "--key", "dev.key", "--to", "new.bin", "-o", "x.fota"], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--version");
  });

  it("every package command has a useful --help", async () => {
    for (const cmd of ["keygen", "pack", "inspect", "verify", "apply"]) {
      const r = await runFota([cmd, "--help"]);
      expect(r.code, cmd).toBe(0);
      expect(r.stdout, cmd).toContain(`Usage: fota ${cmd}`);
      expect(r.stdout, cmd).toContain("Example");
    }
  });
});
