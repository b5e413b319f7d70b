// Our resumable SHA-256 (the decoder's running digest of its output) against node:crypto, on lengths
// around the block and padding edges, fed in random pieces with save/restore between them.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256, SHA256_STATE_BYTES } from "../../src/delta/sha256.js";

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe("Sha256", () => {
  it("matches node:crypto for lengths around the block edges, in any pieces, across save/restore", () => {
    const rand = rng(7);
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 128, 129, 1000, 4096 + 17, 70001]) {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = (rand() * 256) | 0;
      const want = createHash("sha256").update(data).digest("hex");
      for (let trial = 0; trial < 4; trial++) {
        let s = new Sha256();
        for (let o = 0; o < n; ) {
          const k = Math.min(n - o, trial === 0 ? n : Math.floor(rand() * 300));
          s.update(data.subarray(o, o + k));
          o += k;
          if (rand() < 0.3) {
            const st = s.saveState();
            expect(st.length).toBe(SHA256_STATE_BYTES);
            s = Sha256.restore(st);
          }
        }
        expect(Buffer.from(s.digest()).toString("hex")).toBe(want);
      }
    }
  });

  it("matches node:crypto on the standard test vectors", () => {
    const hex = (s: string): string => Buffer.from(new Sha256().update(new TextEncoder().encode(s)).digest()).toString("hex");
    expect(hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const long = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    expect(hex(long)).toBe(createHash("sha256").update(long).digest("hex"));
  });

  it("rejects a saved state with an impossible length", () => {
    const st = new Sha256().update(new Uint8Array(10)).saveState();
    new DataView(st.buffer).setFloat64(96, -1);
    expect(() => Sha256.restore(st)).toThrow(RangeError);
  });
});
