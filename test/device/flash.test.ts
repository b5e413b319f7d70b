import { describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FileFlash, FlashArea, PowerCut, SimFlash, isPowerCut } from "../../src/device/index.js";
import { FotaError, StorageError } from "../../src/errors.js";

const geo = { size: 64 * 1024, sectorSize: 4096, pageSize: 256, writeAlign: 4 };

describe("SimFlash", () => {
  it("programs only erased bytes and counts operations", () => {
    const f = new SimFlash(geo);
    f.program(0, new Uint8Array([1, 2, 3, 4]));
    expect(Array.from(f.read(0, 6))).toEqual([1, 2, 3, 4, 0xff, 0xff]);
    expect(() => f.program(0, new Uint8Array([0, 0, 0, 0]))).toThrow(StorageError);
    // programming 0xFF still counts as written: a second program is refused
    f.program(8, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(() => f.program(8, new Uint8Array([1, 1, 1, 1]))).toThrow(/not erased/);
    f.eraseSector(0);
    f.program(0, new Uint8Array([9, 9, 9, 9]));
    expect(f.counters).toMatchObject({ erases: 1, programs: 3, bytesProgrammed: 12, bytesErased: 4096 });
    expect(f.opCount).toBe(4);
  });

  it("checks alignment and bounds", () => {
    const f = new SimFlash(geo);
    expect(() => f.eraseSector(100)).toThrow(/sector start/);
    expect(() => f.program(2, new Uint8Array(4))).toThrow(/aligned/);
    expect(() => f.program(0, new Uint8Array(3))).toThrow(/aligned/);
    expect(() => f.read(geo.size - 1, 2)).toThrow(/outside/);
    expect(() => new SimFlash({ size: 5000, sectorSize: 4096 })).toThrow(/multiple/);
  });

  it("a power cut stops the operation and keeps the device dead until powerOn", () => {
    const f = new SimFlash(geo);
    f.schedulePowerCut({ afterOps: 1 });
    f.program(0, new Uint8Array([1, 2, 3, 4]));
    let caught: unknown;
    try {
      f.program(4, new Uint8Array([5, 6, 7, 8]));
    } catch (e) {
      caught = e;
    }
    expect(isPowerCut(caught)).toBe(true);
    expect(caught).toBeInstanceOf(PowerCut);
    expect(caught).not.toBeInstanceOf(FotaError);
    expect(() => f.read(0, 4)).toThrow(PowerCut);
    f.powerOn();
    expect(Array.from(f.read(0, 8))).toEqual([1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff]);
  });

  it("a torn erase leaves part old, part erased, deterministically from the seed", () => {
    const results: string[] = [];
    for (const seed of [7, 7, 8]) {
      const f = new SimFlash(geo);
      f.program(0, new Uint8Array(4096).fill(0x00));
      f.schedulePowerCut({ afterOps: 0, tear: true, seed });
      expect(() => f.eraseSector(0)).toThrow(PowerCut);
      f.powerOn();
      const b = f.read(0, 4096);
      const erased = b.filter((x) => x === 0xff).length;
      expect(erased).toBeLessThan(4096);
      results.push(Buffer.from(b).toString("hex"));
      // after a torn erase the sector must be erased again before programming
      f.eraseSector(0);
      f.program(0, new Uint8Array(4096).fill(0x11));
    }
    expect(results[0]).toBe(results[1]);
    expect(results[0]).not.toBe(results[2]);
  });

  it("a torn program leaves the range unprogrammable until erased", () => {
    const f = new SimFlash(geo);
    f.schedulePowerCut({ afterOps: 0, tear: true, seed: 3 });
    expect(() => f.program(0, new Uint8Array(256).fill(0))).toThrow(PowerCut);
    f.powerOn();
    expect(() => f.program(0, new Uint8Array(256).fill(0))).toThrow(StorageError);
  });

  it("failing sectors throw StorageError", () => {
    const f = new SimFlash(geo);
    f.failSector(4096, { erase: true });
    expect(() => f.eraseSector(4096)).toThrow(/failed/);
    f.eraseSector(0);
  });

  it("persists and loads, and FileFlash reads the same image", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fota-flash-"));
    try {
      const f = new SimFlash(geo);
      f.program(4096, new Uint8Array([0xde, 0xad, 0xbe, 0xef]));
      const p = path.join(dir, "flash.bin");
      f.persist(p);
      const g = SimFlash.load(p, geo);
      expect(Array.from(g.read(4096, 4))).toEqual([0xde, 0xad, 0xbe, 0xef]);
      expect(() => g.program(4096, new Uint8Array(4))).toThrow(StorageError);
      const ff = new FileFlash(p, geo);
      expect(Array.from(ff.read(4096, 4))).toEqual([0xde, 0xad, 0xbe, 0xef]);
      expect(() => ff.program(4096, new Uint8Array(4))).toThrow(/not erased/);
      ff.eraseSector(4096);
      ff.program(4096, new Uint8Array([1, 2, 3, 4]));
      ff.close();
      expect(Array.from(SimFlash.load(p, geo).read(4096, 5))).toEqual([1, 2, 3, 4, 0xff]);
      const created = new FileFlash(path.join(dir, "new.bin"), { ...geo, create: true });
      expect(created.read(0, 2)).toEqual(new Uint8Array([0xff, 0xff]));
      created.close();
      expect(() => new FileFlash(path.join(dir, "missing.bin"), geo)).toThrow(/does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("FlashArea offsets and bounds are relative to the area", () => {
    const f = new SimFlash(geo);
    const a = new FlashArea(f, 8192, 8192, "slot");
    a.program(0, new Uint8Array([1, 2, 3, 4]));
    expect(Array.from(f.read(8192, 4))).toEqual([1, 2, 3, 4]);
    expect(() => a.eraseSector(8192)).toThrow(/sector start/);
    expect(() => new FlashArea(f, 100, 4096)).toThrow(/whole sectors/);
  });
});
