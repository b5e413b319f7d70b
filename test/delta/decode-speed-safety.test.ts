// The decoder's fast paths against plain reference forms: the address map's bucketed lookup against a
// linear scan, and streaming applies that must give the same bytes and the same typed errors whatever
// the chunking (the fused loops keep their state in locals between the chunk edges).
import { describe, expect, it } from "vitest";
import { isFotaError } from "../../src/errors.js";
import { bytesReader, createDelta, createDeltaDecoder, DeltaDecoder, type DeltaResult } from "../../src/delta/index.js";
import { AddressMap, mapReferences, PRED } from "../../src/delta/predict.js";
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
      // the scan cache (shiftSeq) between other look-ups, as the reference scans call it
      const y = x + 2;
      const seq = m.shiftSeq(y);
      if (seq !== shiftByScan(m, y)) bad.push([y, seq, shiftByScan(m, y)]);
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
      if (saveEvery && ++k % saveEvery === 0) {
        dec = DeltaDecoder.restore(dec.saveState(), bytesReader(old), nw ? { targetSha256: sha(nw), emitted: bytesReader(Buffer.concat(parts)) } : {});
      }
    }
    dec.finish(out);
    return Buffer.concat(parts);
  } catch (e) {
    return e as Error;
  }
}

describe("reference mapping: the forms the decoder's fast scans must still find", () => {
  // caller in [0, 100) (shift 0), targets in [100, 4096) (shift +8): every form's offset grows by 8
  const map = (): AddressMap => new AddressMap(Int32Array.of(0, 100), Int32Array.of(100, 4096), Int32Array.of(0, 8));
  const at = (bytes: number[], p = 40): Uint8Array => {
    const b = new Uint8Array(256);
    b.set(bytes, p);
    return b;
  };

  it("rewrites Thumb B<c>, B, CBZ/CBNZ and LDR.W (literal) whose caller and target moved apart", () => {
    const cases: Array<[string, number[], number[]]> = [
      // [form, bytes at 40 (target 200 or 120), expected bytes after mapping]
      ["B<c> T1 (BEQ, offset 156 -> 164)", [78, 0xd0], [82, 0xd0]],
      ["B<c> T1 (BLE)", [78, 0xdd], [82, 0xdd]],
      ["B T2 (offset 156 -> 164)", [78, 0xe0], [82, 0xe0]],
      ["CBZ (offset 76 -> 84)", [(6 << 3) | 2, 0xb3], [(10 << 3) | 2, 0xb3]],
      ["CBNZ (offset 76 -> 84)", [(6 << 3) | 1, 0xbb], [(10 << 3) | 1, 0xbb]],
      ["LDR.W literal (imm 156 -> 164)", [0xdf, 0xf8, 156, 0x30], [0xdf, 0xf8, 164, 0x30]],
    ];
    for (const [form, before, after] of cases) {
      const b = at(before);
      mapReferences(PRED.thumb | PRED.thumbRel, b, 0, map(), 4096, 0);
      expect([form, [...b.subarray(40, 40 + after.length)]]).toEqual([form, after]);
    }
  });

  it("rewrites 16-bit LDR (literal) and ADR, and leaves other halfwords alone", () => {
    // LDR r0, [pc, #156]: target Align(44, 4) + 156 = 200 -> word offset 39 -> 41
    const b = at([39, 0x48, 39, 0xa1, 78, 0xdf, 78, 0x47]);
    mapReferences(PRED.thumb | PRED.abs32 | PRED.thumbLdr | PRED.thumbRel, b, 0, map(), 4096, 0x08000000);
    expect([...b.subarray(40, 48)]).toEqual([41, 0x48, 41, 0xa1, 78, 0xdf, 78, 0x47]);
  });

  it("maps absolute pointers whose top byte differs from the load address's", () => {
    // image at 0x08fff000..0x09001000: a pointer to 0x09000100 (offset 0x1100, shift +8) and one to 0x08fff010 (offset 16, shift 0)
    const base = 0x08fff000;
    const m = new AddressMap(Int32Array.of(0, 0x1000), Int32Array.of(0x1000, 0x2000), Int32Array.of(0, 8));
    const b = new Uint8Array(64);
    const dv = new DataView(b.buffer);
    dv.setUint32(16, 0x09000100, true);
    dv.setUint32(32, 0x08fff010, true);
    dv.setUint32(48, 0x09001000, true); // one past the image: left alone
    mapReferences(PRED.abs32, b, 0, m, 0x2000, base);
    expect([dv.getUint32(16, true), dv.getUint32(32, true), dv.getUint32(48, true)]).toEqual([0x09000108, 0x08fff010, 0x09001000]);
  });
});

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
