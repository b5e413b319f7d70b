// Reversible instruction filters (in the spirit of xz's BCJ filters): relative branch targets are
// rewritten as absolute ones so that code which moved between two firmware versions looks the same
// again. Every filter here is *stateless*: whether the 4-byte window at an aligned position p is
// converted depends only on bits the conversion never changes, and converted windows never overlap.
// So a filter can be applied to any slice of an image (random access into the base image) and undone
// on the output as it streams out.

export const FILTERS = {
  none: 0,
  /** ARM Thumb-2 (Cortex-M): BL, BLX and B.W (T4) with the ±4 MiB encodings (J1 = J2 = 1). */
  thumb: 1,
  /** 32-bit ARM: BL (condition "always"). */
  arm: 2,
  /** AArch64: BL, B and ADRP. */
  arm64: 3,
  /** AArch64: BL and B only. */
  "arm64-branch": 4,
} as const;

export type FilterName = keyof typeof FILTERS;
export const FILTER_NAMES = Object.keys(FILTERS) as FilterName[];

export function filterName(id: number): FilterName | undefined {
  return FILTER_NAMES.find((n) => FILTERS[n] === id);
}

/** Alignment of the windows a filter looks at (0 for none). */
export function filterAlign(id: number): number {
  return id === FILTERS.thumb ? 2 : id === FILTERS.none ? 0 : 4;
}

/**
 * Applies filter `id` in place to `buf`, whose byte 0 is at image position `pos0`. Only windows
 * lying wholly inside `buf[from, to)` (buffer indices) are touched. `encode` true converts relative
 * to absolute (before diffing), false undoes it (after patching).
 * `barrier` (in-place patches: the sector size) keeps windows from straddling its multiples.
 * Returns the buffer index of the first aligned window that was not examined.
 */
export function applyFilter(id: number, buf: Uint8Array, pos0: number, encode: boolean, from = 0, to = buf.length, barrier = 0): number {
  if (id === FILTERS.none) return to;
  const align = filterAlign(id);
  let i = from + ((align - ((pos0 + from) % align)) % align);
  const last = to - 4;
  if (id === FILTERS.thumb) {
    for (; i <= last; i += 2) {
      const b1 = buf[i + 1]!;
      if ((b1 & 0xf8) !== 0xf0) {
        // most halfwords start no window: two at a time (the same decisions, half the iterations)
        if (i + 2 <= last && (buf[i + 3]! & 0xf8) !== 0xf0) i += 2;
        continue;
      }
      if (barrier !== 0 && (pos0 + i + 2) % barrier === 0) continue; // window would straddle a sector
      const b3 = buf[i + 3]!;
      const top = b3 & 0xf8;
      if (top !== 0xf8 && top !== 0xe8 && top !== 0xb8) continue;
      const v = ((b1 & 7) << 19) | (buf[i]! << 11) | ((b3 & 7) << 8) | buf[i + 2]!;
      const rel = (pos0 + i + 4) >>> 1;
      const w = (encode ? v + rel : v - rel) & 0x3fffff;
      buf[i + 1] = 0xf0 | ((w >>> 19) & 7);
      buf[i] = (w >>> 11) & 0xff;
      buf[i + 3] = top | ((w >>> 8) & 7);
      buf[i + 2] = w & 0xff;
      i += 2; // the second halfword can never start another window
    }
    return i;
  }
  if (id === FILTERS.arm) {
    for (; i <= last; i += 4) {
      if (buf[i + 3] !== 0xeb) continue;
      const v = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16);
      const rel = (pos0 + i + 8) >>> 2;
      const w = (encode ? v + rel : v - rel) & 0xffffff;
      buf[i] = w & 0xff;
      buf[i + 1] = (w >>> 8) & 0xff;
      buf[i + 2] = (w >>> 16) & 0xff;
    }
    return i;
  }
  const adrp = id === FILTERS.arm64;
  for (; i <= last; i += 4) {
    const b3 = buf[i + 3]!;
    const op = b3 & 0xfc;
    if (op === 0x94 || op === 0x14) {
      const v = buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | ((b3 & 3) << 24);
      const rel = (pos0 + i) >>> 2;
      const w = (encode ? v + rel : v - rel) & 0x3ffffff;
      buf[i] = w & 0xff;
      buf[i + 1] = (w >>> 8) & 0xff;
      buf[i + 2] = (w >>> 16) & 0xff;
      buf[i + 3] = op | ((w >>> 24) & 3);
    } else if (adrp && (b3 & 0x9f) === 0x90) {
      const insn = (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (b3 << 24)) >>> 0;
      const imm = (((insn >>> 5) & 0x7ffff) << 2) | ((insn >>> 29) & 3);
      const rel = Math.floor((pos0 + i) / 4096);
      const w = (encode ? imm + rel : imm - rel) & 0x1fffff;
      const out = ((insn & 0x9f00001f) | ((w & 3) << 29) | ((w >>> 2) << 5)) >>> 0;
      buf[i] = out & 0xff;
      buf[i + 1] = (out >>> 8) & 0xff;
      buf[i + 2] = (out >>> 16) & 0xff;
      buf[i + 3] = out >>> 24;
    }
  }
  return i;
}

/** A filtered copy of a whole image. */
export function filterImage(id: number, image: Uint8Array, encode = true, barrier = 0): Uint8Array {
  const out = new Uint8Array(image); // a copy (Buffer.slice would share memory)
  applyFilter(id, out, 0, encode, 0, out.length, barrier);
  return out;
}

/** Bytes of margin a random-access reader must add on each side of a slice to filter it exactly. */
export const FILTER_MARGIN = 8;
