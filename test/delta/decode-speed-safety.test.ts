// The decoder's fast paths against plain reference forms: the address map's bucketed lookup against a
// linear scan, and streaming applies that must give the same bytes and the same typed errors whatever
// the chunking (the fused loops keep their state in locals between the chunk edges).
import { describe, expect, it } from "vitest";
import { AddressMap } from "../../src/delta/predict.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** shift() as specified: the segment holding x, else the nearer neighbour (ties to the left). */
function shiftByScan(m: AddressMap, x: number): number {
  const s = m.starts;
  const n = s.length;
  if (n === 0) return 0;
  if (x < s[0]!) return m.shifts[0]!;
  let lo = 0;
  for (let i = 0; i < n; i++) if (s[i]! <= x) lo = i;
  if (x < m.ends[lo]! || lo === n - 1) return m.shifts[lo]!;
  return x - m.ends[lo]! <= s[lo + 1]! - x ? m.shifts[lo]! : m.shifts[lo + 1]!;
}

describe("AddressMap lookups", () => {
  it("shift() agrees with a linear scan on random maps (dense points, long segments, gaps)", () => {
    const rand = rng(11);
    const bad: Array<[number, number, number]> = [];
    const check = (m: AddressMap, x: number): void => {
      const got = m.shift(x);
      const want = shiftByScan(m, x);
      if (got !== want) bad.push([x, got, want]);
    };
    for (let t = 0; t < 300; t++) {
      const n = Math.floor(rand() * 60);
      const st: number[] = [];
      const en: number[] = [];
      const sh: number[] = [];
      let p = Math.floor(rand() * 100);
      for (let i = 0; i < n; i++) {
        const len = 1 + Math.floor(rand() * (rand() < 0.5 ? 3 : 700));
        st.push(p);
        en.push(p + len);
        sh.push(Math.floor(rand() * 4000) - 2000);
        p += len + Math.floor(rand() * (rand() < 0.5 ? 2 : 400));
      }
      const m = new AddressMap(Int32Array.from(st), Int32Array.from(en), Int32Array.from(sh));
      for (let q = 0; q < 300; q++) {
        check(m, Math.floor(rand() * (p + 300)));
      }
      // positions in increasing order too (the lookup keeps the last segment)
      for (let x = 0; x < p + 10; x += 1 + Math.floor(rand() * 50)) check(m, x);
    }
    expect(bad).toEqual([]);
  });

  it("shiftAtNew() finds the segment with the greatest new start at or before the position", () => {
    const rand = rng(5);
    for (let t = 0; t < 100; t++) {
      const n = 1 + Math.floor(rand() * 40);
      const st = Int32Array.from({ length: n }, (_, i) => i * 100);
      const en = Int32Array.from(st, (s) => s + 50);
      const sh = Int32Array.from({ length: n }, () => Math.floor(rand() * 3000) - 1000);
      const m = new AddressMap(st, en, sh);
      for (let q = 0; q < 100; q++) {
        const y = Math.floor(rand() * (n * 100 + 2000)) - 1000;
        let best = -1;
        for (let i = 0; i < n; i++) if (st[i]! + sh[i]! <= y && (best < 0 || st[i]! + sh[i]! >= st[best]! + sh[best]!)) best = i;
        expect(m.shiftAtNew(y)).toBe(best < 0 ? NaN : sh[best]!);
      }
    }
  });
});
