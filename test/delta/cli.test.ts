// `fota pack --from` / `fota apply --base` / `fota verify --base` with delta packages, run as a user would.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeDeltaFlags } from "../../src/delta/index.js";
import { runFota } from "../helpers/cli.js";
import { link, makeProgram, rotatedCycle, sha } from "./helpers.js";

describe("fota pack --from (delta packages)", () => {
  it("builds a delta, applies it to the base, refuses another base, and falls back to full when smaller", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fota-delta-cli-"));
    const p = makeProgram(77, 30, 400);
    const old = link(p);
    p.bodies[4] = new Uint8Array(p.bodies[4]!.length + 64);
    const nw = link(p);
    writeFileSync(join(dir, "old.bin"), old);
    writeFileSync(join(dir, "new.bin"), nw);
    expect((await runFota(["keygen", "k.key"], { cwd: dir })).code).toBe(0);
    const packed = await runFota(["pack", "--key", "k.key", "--from", "old.bin", "--to", "new.bin", "--version", "2", "--model", "M", "-o", "d.fota", "--json"], { cwd: dir });
    expect(packed.code, packed.stderr).toBe(0);
    expect(JSON.parse(packed.stdout).kind).toBe("delta");
    const applied = await runFota(["apply", "d.fota", "--pub", "k.key.pub", "--base", "old.bin", "-o", "out.bin"], { cwd: dir });
    expect(applied.code, applied.stderr).toBe(0);
    expect(sha(readFileSync(join(dir, "out.bin")))).toBe(sha(nw));
    // inspect shows what the payload's header says: the sizes, the reference map's kinds, the coding
    const shown = JSON.parse((await runFota(["inspect", "d.fota", "--json"], { cwd: dir })).stdout);
    expect(shown.delta).toMatchObject({ oldSize: old.length, newSize: nw.length, filter: shown.manifest.encoding.filter });
    expect(shown.delta.referenceMap).toEqual(describeDeltaFlags(shown.delta.flags).map);
    expect(shown.delta.referenceMap.length).toBeGreaterThan(0); // linked code with calls: mapped
    expect(shown.inPlace).toBeUndefined();
    const text = (await runFota(["inspect", "d.fota"], { cwd: dir })).stdout;
    expect(text).toContain(`delta header      ${old.length} -> ${nw.length} bytes; reference map: ${shown.delta.referenceMap.join(", ")}`);
    const wrong = await runFota(["verify", "d.fota", "--pub", "k.key.pub", "--base", "new.bin"], { cwd: dir });
    expect(wrong.code).toBe(6); // compatibility: wrong-base
    // unrelated images and a new one that repeats itself farther back than the delta's 16 KiB history
    // window (but within the full-image compressor's): the full package is smaller, so it is built
    const block = Uint8Array.from({ length: 20_000 }, (_, i) => (Math.imul(i + 7, 2246822519) >>> 13) & 0xff);
    writeFileSync(join(dir, "text.bin"), Buffer.concat([block, block, block]));
    writeFileSync(join(dir, "rand.bin"), Uint8Array.from({ length: 4000 }, (_, i) => (i * 2654435761) >>> 24));
    const full = await runFota(["pack", "--key", "k.key", "--from", "rand.bin", "--to", "text.bin", "--version", "2", "--model", "M", "-o", "f.fota", "--json"], { cwd: dir });
    expect(full.code, full.stderr).toBe(0);
    expect(JSON.parse(full.stdout).kind).toBe("full");
    expect(full.stderr).toMatch(/larger than the compressed full image/);
    const forced = await runFota(["pack", "--key", "k.key", "--from", "old.bin", "--to", "new.bin", "--version", "2", "--model", "M", "-o", "ip.fota", "--in-place", "--kind", "delta"], { cwd: dir });
    expect(forced.code, forced.stderr).toBe(0);
    const ip = await runFota(["apply", "ip.fota", "--pub", "k.key.pub", "--base", "old.bin", "-o", "out2.bin"], { cwd: dir });
    expect(ip.code, ip.stderr).toBe(0);
    expect(sha(readFileSync(join(dir, "out2.bin")))).toBe(sha(nw));
    const bad = await runFota(["pack", "--key", "k.key", "--from", "old.bin", "--to", "new.bin", "--version", "2", "--model", "M", "-o", "x.fota", "--filter", "mips"], { cwd: dir });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/filter/);
  });
});

describe("fota pack --in-place --slot-size / --borrow-sectors (spare sectors past the images)", () => {
  it("uses a spare sector of the slot for a read cycle, says how large the slot must be, and refuses bad sizes", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fota-spare-cli-"));
    // seven 256-byte sectors of unique bytes, the first three read each other in a cycle
    const [old, nw] = rotatedCycle(7 * 256, 256, 91, 1);
    writeFileSync(join(dir, "old.bin"), old);
    writeFileSync(join(dir, "new.bin"), nw);
    expect((await runFota(["keygen", "k.key"], { cwd: dir })).code).toBe(0);
    const pack = (out: string, ...more: string[]) =>
      runFota(["pack", "--key", "k.key", "--from", "old.bin", "--to", "new.bin", "--version", "2", "--model", "M", "-o", out, "--kind", "delta", ...more], { cwd: dir });
    // --borrow-sectors 0: a device that lends nothing past its slot
    const plain = await pack("plain.fota", "--in-place", "--sector-size", "256", "--borrow-sectors", "0", "--json");
    expect(plain.code, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout).slotBytesNeeded).toBeUndefined();
    const spare = await pack("spare.fota", "--in-place", "--sector-size", "256", "--slot-size", "4K", "--borrow-sectors", "0", "--json");
    expect(spare.code, spare.stderr).toBe(0);
    const j = JSON.parse(spare.stdout);
    expect(j.slotBytesNeeded).toBe(8 * 256);
    expect(j.regionBytesNeeded).toBe(8 * 256);
    expect(j.bytes).toBeLessThan(JSON.parse(plain.stdout).bytes - 150);
    const text = await pack("spare2.fota", "--in-place", "--sector-size", "256", "--slot-size", "0x1000");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/the device's region \(its slot, then the sectors it lends past it\) must hold 2048 bytes/);
    // by default the device lends one sector past its slot (fota's inplace devices: their package
    // area's): the same patch without --slot-size
    const lent = await pack("lent.fota", "--in-place", "--sector-size", "256", "--json");
    expect(lent.code, lent.stderr).toBe(0);
    expect(JSON.parse(lent.stdout)).toMatchObject({ regionBytesNeeded: 8 * 256, bytes: j.bytes });
    // inspect reads it from the payload's header: the sector size and the region the device must have
    const shown = await runFota(["inspect", "spare.fota"], { cwd: dir });
    expect(shown.stdout).toMatch(/in place\s+256-byte sectors; the device's region must hold 2048 bytes \(spare sectors/);
    const plainShown = JSON.parse((await runFota(["inspect", "plain.fota", "--json"], { cwd: dir })).stdout);
    expect(plainShown.inPlace).toMatchObject({ sectorSize: 256, regionBytes: old.length });
    expect(plainShown.inPlace.rangeSectors).toBeGreaterThanOrEqual(1);
    expect(plainShown.inPlace.plan).not.toContain("1 spare sector past the images");
    expect(shown.stdout).toMatch(/in-place plan\s+steps of up to \d+ sectors?; .*1 spare sector past the images/);
    expect(plainShown.delta).toMatchObject({ sectorSize: 256, regionBytes: old.length, oldSize: old.length, newSize: nw.length });
    const applied = await runFota(["apply", "spare.fota", "--pub", "k.key.pub", "--base", "old.bin", "-o", "out.bin"], { cwd: dir });
    expect(applied.code, applied.stderr).toBe(0);
    expect(sha(readFileSync(join(dir, "out.bin")))).toBe(sha(nw));
    for (const [args, msg] of [
      [["--slot-size", "4K"], /add --in-place/],
      [["--in-place", "--slot-size", "lots"], /--slot-size must be a byte count/],
      [["--in-place", "--sector-size", "1000"], /--sector-size must be a power of two/],
      [["--in-place", "--sector-size", "64K"], /needs at least \d+ bytes of device working memory/],
      [["--in-place", "--sector-size", "256", "--slot-size", "1000"], /smaller than the images/],
      [["--borrow-sectors", "1"], /add --in-place/],
      [["--in-place", "--borrow-sectors", "-1"], /--borrow-sectors must be a whole number/],
      [["--in-place", "--borrow-sectors", "two"], /--borrow-sectors must be a whole number/],
    ] as const) {
      const bad = await pack("bad.fota", ...args);
      expect(bad.code, args.join(" ")).toBe(2);
      expect(bad.stderr).toMatch(msg);
    }
  });
});
