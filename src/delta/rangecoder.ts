// Binary adaptive range coder (LZMA-style: 11-bit probabilities, carry-propagating encoder) and the
// probability layout of the fota delta stream. One coded stream carries every field of the patch, each
// field with its own context models, so fields are modelled separately yet the stream can be decoded
// strictly in order with a few tens of KiB of state and no decompressor window.

export const PROB_BITS = 15;
export const PROB_INIT = 1 << (PROB_BITS - 1);
export const MOVE_BITS = 4;
const TOP = 0x1000000;

/** Offsets (in probabilities) of every model in the shared Uint16Array. */
export const L = (() => {
  let at = 0;
  const take = (n: number): number => {
    const o = at;
    at += n;
    return o;
  };
  const len = (ctx: number) => ({ tree: take(32 * ctx), mant: take(32 * 8) });
  return {
    copyLen: len(4),
    litLen: len(4),
    offMag: len(2),
    sector: len(1),
    mapN: len(1),
    mapGap: len(1),
    mapLen: len(1),
    mapShift: len(1),
    histDist: len(1),
    zrun: len(64),
    offKind: take(8 * 8),
    offSign: take(2),
    fill: take(6),
    dbyte: take(32 * 256), // DBYTE_CONTEXTS (stream.ts)
    subst: take(32 * 2), // CODING_LANES: DBYTE_CONTEXTS x the last one's bit
    zrunLaneMant: take(4 * 32 * 8), // CODING_LANES: zero-run mantissas per lane of the run's start
    lit: take(16 * 256), // LIT_CONTEXTS (stream.ts)
    total: at,
  };
})();

export type LenModel = { tree: number; mant: number };

/** The "as the table's" bit (CODING_LANES) starts out expecting a miss (7/8): the table starts empty. */
const SUBST_INIT = 28672;

export function newModel(): Uint16Array {
  const m = new Uint16Array(L.total).fill(PROB_INIT);
  m.fill(SUBST_INIT, L.subst, L.subst + 64);
  return m;
}

export class RangeEncoder {
  readonly probs = newModel();
  private low = 0;
  private range = 0xffffffff;
  private cache = 0;
  private cacheSize = 1;
  private buf = new Uint8Array(1 << 16);
  private n = 0;

  private put(b: number): void {
    if (this.n === this.buf.length) {
      const nb = new Uint8Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[this.n++] = b;
  }

  private shiftLow(): void {
    const low = this.low;
    if (low < 0xff000000 || low >= 0x100000000) {
      const carry = low >= 0x100000000 ? 1 : 0;
      let c = this.cache;
      do {
        this.put((c + carry) & 0xff);
        c = 0xff;
      } while (--this.cacheSize !== 0);
      this.cache = Math.floor(low / TOP) & 0xff;
    }
    this.cacheSize++;
    this.low = (low % TOP) * 256;
  }

  bit(i: number, bit: number): void {
    const probs = this.probs;
    const p = probs[i]!;
    const bound = (this.range >>> PROB_BITS) * p;
    if (bit === 0) {
      this.range = bound;
      probs[i] = p + (((1 << PROB_BITS) - p) >> MOVE_BITS);
    } else {
      this.low += bound;
      this.range -= bound;
      probs[i] = p - (p >> MOVE_BITS);
    }
    while (this.range < TOP) {
      this.range = (this.range * 256) >>> 0;
      this.shiftLow();
    }
  }

  direct(value: number, bits: number): void {
    for (let b = bits - 1; b >= 0; b--) {
      this.range = this.range >>> 1;
      if ((value >>> b) & 1) this.low += this.range;
      while (this.range < TOP) {
        this.range = (this.range * 256) >>> 0;
        this.shiftLow();
      }
    }
  }

  tree(base: number, bits: number, value: number): void {
    let m = 1;
    for (let b = bits - 1; b >= 0; b--) {
      const bit = (value >>> b) & 1;
      this.bit(base + m, bit);
      m = (m << 1) | bit;
    }
  }

  /** A non-negative integer (< 2^31) with an Elias-gamma-like adaptive code. */
  len(model: LenModel, ctx: number, v: number, mant = model.mant): void {
    const x = v + 1;
    const k = 31 - Math.clz32(x);
    this.tree(model.tree + ctx * 32, 5, k);
    let m = 1;
    let b = k - 1;
    for (; b >= 0 && m < 8; b--) {
      const bit = (x >>> b) & 1;
      this.bit(mant + k * 8 + m, bit);
      m = (m << 1) | bit;
    }
    if (b >= 0) this.direct(x & ((1 << (b + 1)) - 1), b + 1);
  }

  finish(): Uint8Array {
    for (let i = 0; i < 5; i++) this.shiftLow();
    // The first byte is always 0 (the decoder assumes it) and trailing zeros are implied.
    let end = this.n;
    let strip = 0;
    while (end > 1 && this.buf[end - 1] === 0 && strip < 8) {
      end--;
      strip++;
    }
    if (this.buf[0] !== 0) throw new Error("range coder: first byte not zero");
    return this.buf.slice(1, end);
  }
}
