// WebAssembly modules (host side): where the linear memory's initial data lies in the file, for the
// memory-address map (PRED.wasmAddr). A module's code reaches its static data by address (i32.const),
// and the data holds pointers to itself; when code grows, the data moves in the file but not in
// memory, and when data is added, the addresses after it move. Parsing stops at the first thing it
// does not expect (the map is then not used).

/** What the mapper needs (see mapWasmAddresses in predict.ts). */
export interface WasmAddressing {
  /** Memory address minus file offset of the old module's first active data segment. */
  base: number;
  /** The same of the new module, minus `base`: what every address gains besides its data's shift. */
  delta: number;
  /** File offset of the old module's first data byte: code lies before it, data from it on. */
  dataStart: number;
}

/** A ULEB128 at b[p]: [value, next position], or null past the end or over 5 bytes. */
function uleb(b: Uint8Array, p: number): [number, number] | null {
  let v = 0;
  for (let k = 0; k < 5; k++) {
    if (p >= b.length) return null;
    const c = b[p++]!;
    v += (c & 0x7f) * 2 ** (7 * k);
    if ((c & 0x80) === 0) return [v, p];
  }
  return null;
}

/** The first active data segment of memory 0 with a constant offset: its address and the file offset of its bytes. */
export function firstDataSegment(b: Uint8Array): { address: number; offset: number } | null {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d || b[4] !== 1) return null;
  let p = 8;
  while (p < b.length) {
    const id = b[p++]!;
    const size = uleb(b, p);
    if (!size) return null;
    const start = size[1];
    const end = start + size[0];
    if (end > b.length) return null;
    if (id === 11) {
      const count = uleb(b, start);
      if (!count) return null;
      let q = count[1];
      for (let i = 0; i < count[0] && q < end; i++) {
        const kind = uleb(b, q);
        if (!kind) return null;
        q = kind[1];
        if (kind[0] === 1) {
          // passive: no address
          const len = uleb(b, q);
          if (!len) return null;
          q = len[1] + len[0];
          continue;
        }
        if (kind[0] === 2) {
          const mem = uleb(b, q);
          if (!mem || mem[0] !== 0) return null;
          q = mem[1];
        } else if (kind[0] !== 0) return null;
        if (b[q] !== 0x41) return null; // i32.const
        const addr = uleb(b, q + 1);
        if (!addr || addr[0] >= 2 ** 31 || (b[addr[1] - 1]! & 0x40) !== 0 || b[addr[1]] !== 0x0b) return null; // non-negative, then end
        const len = uleb(b, addr[1] + 1);
        if (!len || len[1] + len[0] > end) return null;
        return { address: addr[0], offset: len[1] };
      }
      return null;
    }
    p = end;
  }
  return null;
}

/** The memory-address map's parameters for two WebAssembly modules, or null when either has no such data. */
export function wasmAddressing(old: Uint8Array, nw: Uint8Array): WasmAddressing | null {
  const o = firstDataSegment(old);
  const n = firstDataSegment(nw);
  if (!o || !n) return null;
  const base = o.address - o.offset;
  return { base, delta: n.address - n.offset - base, dataStart: o.offset };
}
