// WebAssembly modules (host side): where the linear memory's initial data lies in the file, and where
// each function body starts, for the WebAssembly map (PRED.wasmAddr). A module's code reaches its
// static data by address (i32.const) and its functions by index (call); the data holds pointers into
// itself. When code grows, the data moves in the file but not in memory; when data is added, the
// addresses after it move; when functions are added, the indices after them move. Parsing stops at
// the first thing it does not expect (the map is then not used).

/** What the mapper needs (see mapWasmAddresses in predict.ts). */
export interface WasmAddressing {
  /** Memory address minus file offset of the old module's first active data segment. */
  base: number;
  /** The same of the new module, minus `base`: what every address gains besides its data's shift. */
  delta: number;
  /** File offset of the old module's first data byte: code lies before it, data from it on. */
  dataStart: number;
  /** File offset of the old module's code section: calls are mapped from there to dataStart. */
  codeStart: number;
  /**
   * Function indices (imports first) in runs from index 0: run length, then what the run's indices
   * gain, for each run. Indices past the runs stay as they are.
   */
  calls: Int32Array;
}

/** Most runs of function indices a stream may carry (the decoder keeps them: 8 bytes each). */
export const WASM_MAX_CALL_RUNS = 1024;

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

/** What fota reads from a module: its first active data segment, its function imports and bodies. */
export interface WasmFacts {
  /** Memory address and file offset of the first active data segment of memory 0 with a constant offset. */
  data: { address: number; offset: number } | null;
  /** Function imports (they come first in the index space). */
  funcImports: number;
  /** File offset of the code section's contents (0 without one), and of each function body. */
  codeStart: number;
  bodies: number[];
}

/** Skips a limits field (flags, min, [max]); the next position or -1. */
function skipLimits(b: Uint8Array, q: number): number {
  const flags = uleb(b, q);
  const min = flags && uleb(b, flags[1]);
  if (!flags || !min) return -1;
  if ((flags[0] & 1) === 0) return min[1];
  const max = uleb(b, min[1]);
  return max ? max[1] : -1;
}

/** The function imports of an import section's contents [q, end), or -1. */
function functionImports(b: Uint8Array, q: number, end: number): number {
  const count = uleb(b, q);
  if (!count) return -1;
  q = count[1];
  let funcs = 0;
  for (let i = 0; i < count[0]; i++) {
    for (let k = 0; k < 2; k++) {
      const len = uleb(b, q); // module, then field name
      if (!len) return -1;
      q = len[1] + len[0];
    }
    const kind = b[q++];
    if (kind === 0 || kind === 4) {
      if (kind === 4) q++; // tag attribute
      const t = uleb(b, q);
      if (!t) return -1;
      q = t[1];
      if (kind === 0) funcs++;
    } else if (kind === 1) q = skipLimits(b, q + 1);
    else if (kind === 2) q = skipLimits(b, q);
    else if (kind === 3) q += 2;
    else return -1;
    if (q < 0 || q > end) return -1;
  }
  return funcs;
}

/** The facts of a WebAssembly module (version 1), or null when it is not one fota can read. */
export function wasmFacts(b: Uint8Array): WasmFacts | null {
  if (b.length < 8 || b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d || b[4] !== 1) return null;
  const facts: WasmFacts = { data: null, funcImports: 0, codeStart: 0, bodies: [] };
  let p = 8;
  while (p < b.length) {
    const id = b[p++]!;
    const size = uleb(b, p);
    if (!size) return null;
    const start = size[1];
    const end = start + size[0];
    if (end > b.length) return null;
    if (id === 2) {
      facts.funcImports = functionImports(b, start, end);
      if (facts.funcImports < 0) return null;
    } else if (id === 10) {
      const count = uleb(b, start);
      if (!count) return null;
      facts.codeStart = start;
      let q = count[1];
      for (let i = 0; i < count[0]; i++) {
        const len = uleb(b, q);
        if (!len || len[1] + len[0] > end) return null;
        facts.bodies.push(len[1]);
        q = len[1] + len[0];
      }
    } else if (id === 11) {
      facts.data = firstSegment(b, start, end);
      return facts; // nothing fota reads follows the data
    }
    p = end;
  }
  return facts;
}

/** The first active data segment of memory 0 with a constant address in a data section's contents [start, end). */
function firstSegment(b: Uint8Array, start: number, end: number): { address: number; offset: number } | null {
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

/** The first active data segment of a module (see WasmFacts.data). */
export function firstDataSegment(b: Uint8Array): { address: number; offset: number } | null {
  return wasmFacts(b)?.data ?? null;
}

/**
 * The WebAssembly map's parameters for two modules, or null when either has no data fota can read.
 * `shift` is the address map (old file position -> new minus old): an old function whose body start
 * lands on a new body's start becomes that function; one that lands on none keeps the change of the
 * function before it. Imports keep their indices when both modules import as many functions.
 */
export function wasmAddressing(old: Uint8Array, nw: Uint8Array, shift: (x: number) => number, maxRuns = WASM_MAX_CALL_RUNS): WasmAddressing | null {
  const o = wasmFacts(old);
  const n = wasmFacts(nw);
  if (!o?.data || !n?.data) return null;
  const base = o.data.address - o.data.offset;
  const runs: number[] = [];
  if (o.funcImports === n.funcImports && o.bodies.length > 0) {
    const newIndex = new Map(n.bodies.map((s, j) => [s, j + n.funcImports]));
    let last = 0;
    const change = (v: number): number => {
      if (v < o.funcImports) return 0;
      const s = o.bodies[v - o.funcImports]!;
      const j = newIndex.get(s + shift(s));
      if (j !== undefined) last = j - v;
      return last;
    };
    for (let v = 0; v < o.funcImports + o.bodies.length; v++) {
      const c = change(v);
      if (runs.length > 0 && runs[runs.length - 1] === c) runs[runs.length - 2]!++;
      else runs.push(1, c);
    }
    if (runs.length / 2 > Math.min(maxRuns, WASM_MAX_CALL_RUNS)) runs.length = 0;
  }
  return { base, delta: n.data.address - n.data.offset - base, dataStart: o.data.offset, codeStart: o.codeStart || o.data.offset, calls: Int32Array.from(runs) };
}
