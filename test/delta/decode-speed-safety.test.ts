// The decoder's fast paths against plain reference forms: the address map's bucketed lookup against a
// linear scan, and streaming applies that must give the same bytes and the same typed errors whatever
// the chunking (the fused loops keep their state in locals between the chunk edges).
import { describe, expect, it } from "vitest";
import { isFotaError } from "../../src/errors.js";
import { bytesReader, createDelta, createDeltaDecoder, DeltaDecoder, type DeltaResult } from "../../src/delta/index.js";
import { AddressMap } from "../../src/delta/predict.js";
import { chunks, link, makeProgram, sha } from "./helpers.js";

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
      const ys: number[] = [];
      for (let q = 0; q < 100; q++) ys.push(Math.floor(rand() * (n * 100 + 2000)) - 1000);
      for (let y = -1000; y < n * 100 + 1000; y += 1 + Math.floor(rand() * 30)) ys.push(y); // forward, as copies go
      for (const y of ys) {
        let best = -1;
        for (let i = 0; i < n; i++) if (st[i]! + sh[i]! <= y && (best < 0 || st[i]! + sh[i]! >= st[best]! + sh[best]!)) best = i;
        expect(m.shiftAtNew(y)).toBe(best < 0 ? NaN : sh[best]!);
      }
    }
  });
});

/** A version jump: functions grown and edited, so copies are short and literal runs many. */
function jumpPair(seed: number): { old: Uint8Array; nw: Uint8Array } {
  const p = makeProgram(seed, 40, 400);
  const old = link(p);
  const r = rng(seed + 1);
  for (let i = 0; i < p.bodies.length; i++) {
    const b = p.bodies[i]!;
    if (r() < 0.5) {
      const grown = new Uint8Array(b.length + 2 * Math.floor(r() * 40));
      grown.set(b);
      for (let k = b.length; k < grown.length; k++) grown[k] = (r() * 128) | 0;
      p.bodies[i] = grown;
    }
    const e = p.bodies[i]!;
    for (let k = 0; k < e.length; k += 2 + Math.floor(r() * 60)) if (!p.calls[i]!.some(([o]) => k >= o && k < o + 4)) e[k] = (r() * 256) | 0;
  }
  return { old, nw: link(p) };
}

/** Applies `d` with the payload cut in pieces of `sizes` (cycled); returns the image or the error. */
function apply(old: Uint8Array, d: DeltaResult, sizes: number[], nw?: Uint8Array, saveEvery = 0): Uint8Array | Error {
  try {
    let dec: DeltaDecoder = createDeltaDecoder(d.encoding, bytesReader(old), nw ? { targetSha256: sha(nw) } : {});
    const parts: Uint8Array[] = [];
    const out = (b: Uint8Array): void => void parts.push(new Uint8Array(b));
    let k = 0;
    for (const c of chunks(d.payload, sizes)) {
      dec.push(c, out);
      if (saveEvery && ++k % saveEvery === 0) dec = DeltaDecoder.restore(dec.saveState(), bytesReader(old), {});
    }
    dec.finish(out);
    return Buffer.concat(parts);
  } catch (e) {
    return e as Error;
  }
}

describe("streaming apply: any chunking, same result", () => {
  const { old, nw } = jumpPair(3);
  const d = createDelta(old, nw);

  it("gives the same image for chunks of 1 byte up to the whole payload, also across save/restore", () => {
    expect(d.payload.length).toBeGreaterThan(1500); // long enough for the carried-bytes path and the chunk after it
    for (const sizes of [[d.payload.length], [1], [7, 300, 2], [639, 640, 641], [1000], [4096], [321, 5000, 13]]) {
      const got = apply(old, d, sizes, nw);
      expect(got).toBeInstanceOf(Uint8Array);
      expect(sha(got as Uint8Array)).toBe(sha(nw));
    }
    const resumed = apply(old, d, [97, 700, 5], undefined, 3);
    expect(sha(resumed as Uint8Array)).toBe(sha(nw));
  });

  it("rejects corrupted and cut patches with the same typed error whatever the chunking", () => {
    const r = rng(9);
    for (let t = 0; t < 40; t++) {
      const bad = new Uint8Array(d.payload);
      const cut = t % 4 === 0 ? Math.floor(r() * bad.length) : bad.length;
      for (let k = 0; k < 1 + (t % 3); k++) bad[4 + Math.floor(r() * (bad.length - 4))]! ^= 1 << Math.floor(r() * 8);
      const dd: DeltaResult = { ...d, payload: bad.subarray(0, cut) };
      const whole = apply(old, dd, [cut || 1], nw);
      const small = apply(old, dd, [1, 13, 640]);
      for (const res of [whole, small]) {
        if (res instanceof Error) expect(isFotaError(res), String(res)).toBe(true);
      }
      // the same bytes decode the same way: a typed error either way, or the same image
      if (whole instanceof Error && small instanceof Error) continue;
      if (!(whole instanceof Error) && !(small instanceof Error)) expect(sha(small)).toBe(sha(whole));
      else expect(whole instanceof Error ? (whole as { reason?: string }).reason : "no error").toBe("digest-mismatch");
    }
  });
});
