// The two-copy boot state: newest valid copy wins, a torn write falls back to the older copy,
// progress entries extend the newest copy and a torn entry ends the list.
import { describe, expect, it } from "vitest";
import { BootStore, FlashArea, PowerCut, SimFlash, type BootState } from "../../src/device/index.js";

const geo = { size: 8 * 4096, sectorSize: 4096, pageSize: 256, writeAlign: 4 };

function state(n: number): BootState {
  return {
    format: 1,
    securityCounter: n,
    active: 0,
    slots: [{ state: "confirmed", image: { size: 1, sha256: "00", version: String(n), securityCounter: n } }],
    update: { state: "installing", result: 0 },
    journal: { phase: "install", area: "slot0", step: 0, bytesDone: 0 },
    boots: n,
  };
}

function setup() {
  const flash = new SimFlash(geo);
  const area = new FlashArea(flash, 0, 2 * 4096, "state");
  return { flash, area, store: new BootStore(area) };
}

describe("BootStore", () => {
  it("blank area loads as nothing; saves alternate between the copies; the newest wins", () => {
    const { area, store } = setup();
    expect(store.load()).toBeUndefined();
    store.save(state(1));
    store.save(state(2));
    store.save(state(3));
    const r = new BootStore(area).load()!;
    expect(r.state.securityCounter).toBe(3);
    expect(r.seq).toBe(3);
    expect(r.copy).toBe(0); // 1 -> copy 0, 2 -> copy 1, 3 -> copy 0
  });

  it("a power cut or tear at any operation of a save leaves the old state or the new one", () => {
    for (let op = 0; op < 2; op++) {
      for (const tear of [false, true]) {
        for (let seed = 1; seed <= 20; seed++) {
          const { flash, area, store } = setup();
          store.save(state(1));
          store.save(state(2));
          flash.schedulePowerCut({ afterOps: op, tear, seed });
          expect(() => store.save(state(3))).toThrow(PowerCut);
          flash.powerOn();
          const got = new BootStore(area).load()!.state.securityCounter;
          expect([2, 3]).toContain(got);
          if (!tear || op === 0) expect(got).toBe(2);
        }
      }
    }
  });

  it("progress entries extend the current copy; a torn entry is ignored; after reload the next write is a fresh copy", () => {
    const { flash, area, store } = setup();
    store.save(state(1));
    for (let i = 1; i <= 5; i++) store.appendProgress(i * 10, i);
    const ops = flash.opCount;
    flash.schedulePowerCut({ afterOps: 0, tear: true, seed: 9 });
    expect(() => store.appendProgress(60, 6)).toThrow(PowerCut);
    flash.powerOn();
    const again = new BootStore(area);
    const r = again.load()!;
    expect([50, 60]).toContain(r.state.journal!.step);
    expect(r.state.journal!.aux).toBe(r.state.journal!.step / 10);
    const before = flash.counters.erases;
    again.appendProgress(70, 7);
    expect(flash.counters.erases).toBe(before + 1); // a fresh copy, not an append over torn cells
    expect(new BootStore(area).load()!.state.journal!.step).toBe(70);
    expect(flash.opCount).toBeGreaterThan(ops);
  });

  it("a full copy rolls over into a fresh copy", () => {
    const { area, store } = setup();
    store.save(state(1));
    for (let i = 1; i <= 400; i++) store.appendProgress(i);
    expect(new BootStore(area).load()!.state.journal!.step).toBe(400);
  });
});
