// Synthetic firmware for delta tests: functions with Thumb-2 BL calls between them and a literal pool
// of absolute pointers, laid out one after another. `relink` rebuilds every branch and pointer after an
// edit, which is what a compiler does when code moves.
import { createHash } from "node:crypto";
import { expect } from "vitest";
import { bytesReader, createDeltaDecoder, createInPlaceApplier, MemoryRegion, peekDeltaHeader, type DeltaResult } from "../../src/delta/index.js";
import { Rng } from "../../src/device/rng.js";

export interface Program {
  bodies: Uint8Array[];
  /** calls[i]: [offset in body i (even), callee index] */
  calls: Array<Array<[number, number]>>;
}

export function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.uniform();
}

export function makeProgram(seed: number, nFuncs = 24, maxBody = 300): Program {
  const r = rng(seed);
  const bodies: Uint8Array[] = [];
  const calls: Array<Array<[number, number]>> = [];
  const vocab = Array.from({ length: 32 }, () => Math.floor(r() * 65536));
  for (let i = 0; i < nFuncs; i++) {
    const len = 8 + 2 * Math.floor((r() * maxBody) / 2);
    const b = new Uint8Array(len);
    for (let k = 0; k < len; k += 2) {
      const hw = r() < 0.7 ? vocab[Math.floor(r() * vocab.length)]! : Math.floor(r() * 65536);
      b[k] = hw & 0xff;
      b[k + 1] = (hw >> 8) & 0x7f; // keep clear of the BL pattern
    }
    const c: Array<[number, number]> = [];
    for (let k = 4; k + 4 <= len; k += 2 + 2 * Math.floor(r() * 20)) {
      c.push([k, Math.floor(r() * nFuncs)]);
      k += 4;
    }
    bodies.push(b);
    calls.push(c);
  }
  return { bodies, calls };
}

/** Lays the program out: bodies, calls patched as Thumb BL, then a table of function addresses. */
export function link(p: Program, base = 0x08000000): Uint8Array {
  const starts: number[] = [];
  let at = 0;
  for (const b of p.bodies) {
    starts.push(at);
    at += b.length;
  }
  const out = new Uint8Array(at + 4 * p.bodies.length);
  p.bodies.forEach((b, i) => out.set(b, starts[i]!));
  p.calls.forEach((list, i) => {
    for (const [off, callee] of list) {
      const pc = starts[i]! + off;
      if (off + 4 > p.bodies[i]!.length) continue;
      const rel = ((starts[callee]! - (pc + 4)) >> 1) & 0x3fffff;
      const hw1 = 0xf000 | (rel >>> 11);
      const hw2 = 0xf800 | (rel & 0x7ff);
      out[pc] = hw1 & 0xff;
      out[pc + 1] = hw1 >> 8;
      out[pc + 2] = hw2 & 0xff;
      out[pc + 3] = hw2 >> 8;
    }
  });
  const dv = new DataView(out.buffer);
  starts.forEach((s, i) => dv.setUint32(at + 4 * i, base + s + 1, true));
  return out;
}

export function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Splits `data` into chunks of sizes drawn from `sizes` (cycled). */
export function chunks(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  for (let o = 0; o < data.length; i++) {
    const n = Math.max(1, sizes[i % sizes.length]!);
    out.push(data.subarray(o, o + n));
    o += n;
  }
  return out;
}

/** link() for 4-byte code: 4-byte aligned bodies, each call the word `call(pc, target)`. */
function linkWords(p: Program, call: (pc: number, target: number) => number): Uint8Array {
  const starts: number[] = [];
  let at = 0;
  for (const b of p.bodies) {
    starts.push(at);
    at += (b.length + 3) & ~3;
  }
  const out = new Uint8Array(at);
  p.bodies.forEach((b, i) => out.set(b, starts[i]!));
  const dv = new DataView(out.buffer);
  p.calls.forEach((list, i) => {
    for (const [off, callee] of list) {
      const pc = starts[i]! + (off & ~3);
      if ((off & ~3) + 4 > p.bodies[i]!.length) continue;
      dv.setUint32(pc, call(pc, starts[callee]!) >>> 0, true);
    }
  });
  return out;
}

/** AArch64 flavour of link(): BL as 32-bit words, 4-byte aligned bodies. */
export const linkArm64 = (p: Program): Uint8Array => linkWords(p, (pc, t) => 0x94000000 | (((t - pc) >> 2) & 0x3ffffff));

/** 32-bit ARM flavour of link(): BL (condition "always") as 32-bit words, 4-byte aligned bodies. */
export const linkArm32 = (p: Program): Uint8Array => linkWords(p, (pc, t) => 0xeb000000 | (((t - pc - 8) >> 2) & 0xffffff));

/**
 * Applies the in-place delta `d` uninterrupted, then once for every step with a power cut at that step
 * (resumed with the steps done, the payload fed again in `chunk`-byte pieces), checking the image each time.
 */
export function applyWithCuts(old: Uint8Array, nw: Uint8Array, d: DeltaResult, sectorSize: number, chunk: number): void {
  const opts = { baseSha256: sha(old), targetSha256: sha(nw), targetSize: nw.length };
  // (the region the patch needs: both images, and any spare sectors it keeps stashes in)
  const size = peekDeltaHeader(d.payload).regionBytes!;
  const full = new MemoryRegion(old, sectorSize, size);
  const a = createInPlaceApplier(d.encoding, full, opts);
  a.push(d.payload, () => {});
  a.finish(() => {});
  expect(sha(full.bytes.subarray(0, nw.length))).toBe(sha(nw));
  expect(full.writes).toBe(d.inPlace!.steps);
  for (let cut = 0; cut < d.inPlace!.steps; cut++) {
    const region = new MemoryRegion(old, sectorSize, size);
    let done = 0;
    const real = region.writeSector.bind(region);
    region.writeSector = (i, data) => {
      if (done === cut) throw new Error("power cut");
      real(i, data);
      done++;
    };
    const first = createInPlaceApplier(d.encoding, region, opts);
    expect(() => {
      first.push(d.payload, () => {});
      first.finish(() => {});
    }).toThrow("power cut");
    region.writeSector = real;
    region.doneSteps = done;
    const again = createInPlaceApplier(d.encoding, region, opts);
    for (const c of chunks(d.payload, [chunk])) again.push(c, () => {});
    again.finish(() => {});
    expect(sha(region.bytes.subarray(0, nw.length))).toBe(sha(nw));
  }
}

/**
 * A small AArch64 executable image: functions of random words with BL calls, ADRP + ADD and ADRP + LDR
 * pairs addressing a data table, and the table (page-aligned, after the code) of 64-bit pointers to
 * the functions (load address 0x400000), then pairs of 32-bit numbers that look like pointers. `grow` pads function i by grow[i] words, so everything after
 * it, calls, page references and pointers alike, moves.
 */
export function aarch64Image(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  // each function's words from its own generator: growing one leaves the others' bytes alone
  const words = (r: () => number, n: number) => Array.from({ length: n }, () => (Math.floor(r() * 0x100000000) & 0x0fffffff) >>> 0); // no opcode the map rewrites
  const bodies = Array.from({ length: funcs }, (_, i) => words(rng(seed * 1000 + i), 24 + ((i * 7) % 17) + (grow.get(i) ?? 0)));
  const kinds = Array.from({ length: funcs }, (_, i) => (seed + i * 7) % 3);
  const starts: number[] = [];
  let at = 0;
  for (const b of bodies) {
    starts.push(at);
    at += b.length * 4;
  }
  const table = (at + 4095) & ~4095;
  const out = new Uint8Array(table + funcs * 16 + 64);
  const dv = new DataView(out.buffer);
  bodies.forEach((b, i) => b.forEach((w, k) => dv.setUint32(starts[i]! + 4 * k, w, true)));
  for (let i = 0; i < funcs; i++) {
    const pc = starts[i]!;
    const callee = (i * 5 + 3) % funcs;
    dv.setUint32(pc, (0x94000000 | (((starts[callee]! - pc) >> 2) & 0x3ffffff)) >>> 0, true);
    // ADRP x<rd>, entry; then ADD x<rd>, x<rd>, #lo12 or LDR x0, [x<rd>, #lo12]
    const entry = table + 8 * ((i * 11 + 1) % funcs);
    const adrp = pc + 8;
    const page = (entry >> 12) - (adrp >> 12);
    const rd = 1 + (i % 20);
    dv.setUint32(adrp, (0x90000000 | rd | ((page & 3) << 29) | (((page >> 2) & 0x7ffff) << 5)) >>> 0, true);
    const lo = entry & 0xfff;
    dv.setUint32(adrp + 4, kinds[i] === 0 ? (0x91000000 | (lo << 10) | (rd << 5) | rd) >>> 0 : (0xf9400000 | ((lo >> 3) << 10) | (rd << 5)) >>> 0, true);
    dv.setUint32(table + 8 * i, 0x400000 + starts[(i * 3) % funcs]!, true); // high half stays zero
    // then pairs of 32-bit numbers that only look like pointers (both halves in the image's range) and never change
    dv.setUint32(table + 8 * funcs + 8 * i, 0x400000 + ((i * 97) % 16384), true);
    dv.setUint32(table + 8 * funcs + 8 * i + 4, 0x400000 + ((i * 89) % 16384), true);
  }
  return out;
}

/**
 * A small 32-bit ARM image: each function starts with an LDR (literal) of a constant in a pool at
 * its end and a B over a block of data-processing words to the word after it. `grow` adds grow[i]
 * words in the middle of function i's block, so its branch and literal offsets change.
 */
export function armImage(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const words: number[] = [];
  // data-processing words with condition "always" (top byte 0xe0-0xe3: no B, BL or LDR among them)
  const filler = (r: () => number, n: number) => Array.from({ length: n }, () => (0xe0000000 + Math.floor(r() * 0x4000000)) >>> 0);
  for (let i = 0; i < funcs; i++) {
    const r = rng(seed * 1000 + i);
    const half = 8 + (i % 13);
    const block = [...filler(r, half), ...filler(rng(seed * 7777 + i), grow.get(i) ?? 0), ...filler(r, half)];
    const at = words.length;
    const pool = at + 2 + block.length + 1; // LDR, B, block, target word, then the pool
    words.push((0xe59f1000 | ((pool - at - 2) * 4)) >>> 0); // LDR r1, [pc, #off]
    words.push((0xea000000 | ((block.length - 1) & 0xffffff)) >>> 0); // B to the word after the block (offset from pc + 8)
    words.push(...block, ...filler(r, 1), (0x12340000 + i) >>> 0);
  }
  const out = new Uint8Array(words.length * 4);
  const dv = new DataView(out.buffer);
  words.forEach((w, k) => dv.setUint32(4 * k, w, true));
  return out;
}

/**
 * `img` with its first three sectors reading each other in a cycle: new 0 <- old 1, new 1 <- old 2,
 * new 2 <- old 0. In place, one of them is lost unless a free sector can keep it.
 */
export function rotateSectors(img: Uint8Array, S: number): Uint8Array {
  const out = new Uint8Array(img);
  for (const [to, from] of [[0, 1], [1, 2], [2, 0]] as const) out.set(img.subarray(from * S, (from + 1) * S), to * S);
  return out;
}

/** `size` random bytes (sectors found nowhere else) and the same rotated (rotateSectors), `edits` bytes of the first three sectors changed. */
export function rotatedCycle(size: number, S: number, seed: number, edits = 9): [Uint8Array, Uint8Array] {
  const r = rng(seed);
  const old = Uint8Array.from({ length: size }, () => Math.floor(r() * 256));
  const nw = rotateSectors(old, S);
  for (let i = 0; i < edits; i++) nw[Math.floor(r() * 3 * S)] ^= 0x5a;
  return [old, nw];
}

/**
 * Decodes `d` in chunks of `chunk` bytes, saving the decoder's state after `cutPct`% of them and
 * finishing with a new decoder made from that state alone; the output must be `nw`.
 */
export function resumeRoundTrip(old: Uint8Array, nw: Uint8Array, d: DeltaResult, chunk: number, cutPct: number, opts: { baseSha256?: string; targetSha256?: string } = {}): void {
  const cs = chunks(d.payload, [chunk]);
  const cut = Math.floor((cs.length * cutPct) / 100);
  const parts: Uint8Array[] = [];
  const out = (b: Uint8Array): void => void parts.push(new Uint8Array(b));
  const a = createDeltaDecoder(d.encoding, bytesReader(old), opts);
  for (const c of cs.slice(0, cut)) a.push(c, out);
  // the first decoder is dropped; a new one continues from the state alone
  const b = createDeltaDecoder(d.encoding, bytesReader(old), { ...opts, state: a.saveState(), emitted: bytesReader(Buffer.concat(parts)) });
  for (const c of cs.slice(cut)) b.push(c, out);
  b.finish(out);
  expect(sha(Buffer.concat(parts))).toBe(sha(nw));
}

/**
 * 4-byte "instructions" from a small vocabulary (opcode byte, register byte, two immediate bytes);
 * the new version renames `renames` register values everywhere, bumps one immediate value and
 * inserts a few words (so copies move).
 */
export function codegenPair(seed: number, words = 6000, renames = 12): [Uint8Array, Uint8Array] {
  const r = rng(seed);
  const old = new Uint8Array(words * 4);
  for (let i = 0; i < words; i++) {
    old[4 * i] = Math.floor(r() * 24); // register
    old[4 * i + 1] = 0x10 + Math.floor(r() * 8) * 4; // immediate, scaled
    old[4 * i + 2] = Math.floor(r() * 256);
    old[4 * i + 3] = 0xa0 + Math.floor(r() * 12); // opcode
  }
  const rename = new Map<number, number>();
  while (rename.size < renames) rename.set(Math.floor(r() * 24), 24 + Math.floor(r() * 40));
  const out: number[] = [];
  for (let i = 0; i < words; i++) {
    if (r() < 0.004) out.push(0x11, 0x22, 0x33, 0x44);
    const w = Array.from(old.subarray(4 * i, 4 * i + 4));
    w[0] = rename.get(w[0]!) ?? w[0]!;
    if (w[1] === 0x18) w[1] = 0x20; // a frame grew by 8: every slot at 0x18 moved
    out.push(...w);
  }
  return [old, Uint8Array.from(out)];
}

/** A Thumb BL at `at` (its first halfword) calling image position `target`. */
function plantCall(img: Uint8Array, at: number, target: number): void {
  const rel = ((target - (at + 4)) >> 1) & 0x3fffff;
  const hw1 = 0xf000 | (rel >>> 11);
  const hw2 = 0xf800 | (rel & 0x7ff);
  img.set([hw1 & 0xff, hw1 >> 8, hw2 & 0xff, hw2 >> 8], at);
}

/**
 * In-place pairs with Thumb calls across sector boundaries. Old: a program with a call across every
 * boundary of `S`-byte sectors past sector 6 (all to one function before it). New: a sector of other
 * code inserted there (or, shrink, removed): the code after it moves by a whole sector, so its calls
 * still straddle boundaries, and their offsets change.
 */
export function straddlePair(seed: number, shrink: boolean, S: number): [Uint8Array, Uint8Array] {
  const base = link(makeProgram(seed, 60, 260));
  const mid = 6 * S;
  const target = 2 * S + 40;
  const old = new Uint8Array(base);
  for (let b = mid + S; b + 2 <= old.length; b += S) plantCall(old, b - 2, target);
  const r = rng(seed + 7);
  const other = Uint8Array.from({ length: S }, () => Math.floor(r() * 128));
  const nw = shrink ? Buffer.concat([old.subarray(0, mid), old.subarray(mid + S)]) : Buffer.concat([old.subarray(0, mid), other, old.subarray(mid)]);
  for (let b = shrink ? mid : mid + 2 * S; b + 2 <= nw.length; b += S) plantCall(nw, b - 2, target);
  return [old, new Uint8Array(nw)];
}

/** Offset of an in-place header's range-limit field (after the magic, the sizes and the sector-size bits). */
export function rangeFieldAt(payload: Uint8Array): number {
  let at = 1;
  for (let k = 0; k < 3; k++) while (payload[at++]! & 0x80);
  return at;
}

/** The value of that field (a varint of one or two bytes: the range limit and the header's flags). */
export function rangeFieldValue(payload: Uint8Array): number {
  const at = rangeFieldAt(payload);
  return payload[at]! & 0x80 ? (payload[at]! & 0x7f) | (payload[at + 1]! << 7) : payload[at]!;
}

/**
 * Byte-coded "instructions" (as in WebAssembly): 48 idioms of 1-4 opcode bytes chosen with a skewed
 * distribution, some followed by a LEB128 operand. `lib` bytes of new code from the same idioms (a
 * library linked in) are inserted in the middle of the old image: that code has no counterpart in
 * the old image but holds many short runs found somewhere in it.
 */
export function bytecodePair(seed: number, size: number, lib: number): [Uint8Array, Uint8Array] {
  const r = rng(seed);
  const idioms: number[][] = [];
  for (let k = 0; k < 48; k++) idioms.push(Array.from({ length: 1 + Math.floor(r() * 4) }, () => 0x20 + Math.floor(r() * 200)));
  const code = (n: number): Uint8Array => {
    const out: number[] = [];
    while (out.length < n) {
      out.push(...idioms[Math.floor(idioms.length * r() ** 2.5)]!);
      if (r() < 0.4) {
        let v = Math.floor(r() * 300);
        do {
          out.push((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
          v >>= 7;
        } while (v > 0);
      }
    }
    return Uint8Array.from(out.slice(0, n));
  };
  const old = code(size);
  const half = size >> 1;
  const nw = new Uint8Array(size + lib);
  nw.set(old.subarray(0, half));
  nw.set(code(lib), half);
  nw.set(old.subarray(half), half + lib);
  return [old, nw];
}

/**
 * A small x86-64 executable image: functions of filler bytes (none of them an opcode the x86 map reads)
 * with CALL rel32 to other functions, a Jcc rel32 inside the function, and LEA / MOV with a RIP-relative
 * operand into a data table after the code (page-aligned); the table holds 64-bit pointers to the
 * functions (load address 0x400000). `grow` pads function i by grow[i] bytes, so everything after it,
 * calls, RIP-relative operands and pointers alike, moves. `bits32`: 32-bit code (an ELF32 identification
 * first, load address 0x8048000, the table right after the code): the LEA and MOV operands are absolute
 * addresses, the pointers 32-bit.
 */
export function x86Image(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map(), bits32 = false): Uint8Array {
  const FILL = [0x90, 0x50, 0x51, 0x53, 0x58, 0x59, 0x5b, 0x31, 0xc0, 0x01, 0xd8, 0x29, 0xc8, 0x48, 0x83, 0xc4, 0x10, 0xc3, 0x74, 0x06];
  const filler = (r: () => number, n: number) => Uint8Array.from({ length: n }, () => FILL[Math.floor(r() * FILL.length)]!);
  // each function's filler from its own generator: growing one leaves the others' bytes alone
  const bodies = Array.from({ length: funcs }, (_, i) => filler(rng(seed * 1000 + i), 60 + ((i * 13) % 41) + (grow.get(i) ?? 0)));
  const [starts0, at0] = laidOut(bodies);
  // 32-bit: an ELF32 identification first (the class byte tells 32-bit code), code after it
  const head = bits32 ? 16 : 0;
  const starts = starts0.map((x) => x + head);
  const at = at0 + head;
  const base = bits32 ? 0x8048000 : 0x400000;
  const ptr = bits32 ? 4 : 8;
  // (32-bit: the table right after the code, so that it moves when a function grows)
  const table = bits32 ? (at + 15) & ~15 : (at + 4095) & ~4095;
  const out = new Uint8Array(table + funcs * 8 + 64);
  const dv = new DataView(out.buffer);
  if (bits32) out.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
  bodies.forEach((b, i) => out.set(b, starts[i]!));
  for (let i = 0; i < funcs; i++) {
    const pc = starts[i]!;
    const len = bodies[i]!.length;
    // CALL callee
    const callee = (i * 5 + 3) % funcs;
    out[pc] = 0xe8;
    dv.setInt32(pc + 1, starts[callee]! - (pc + 5), true);
    // LEA rax, [rip + entry]; MOV rcx, [rip + entry'] (32-bit: LEA eax, [entry]; MOV ecx, [entry'], absolute)
    const entry = table + ptr * ((i * 11 + 1) % funcs);
    out.set(bits32 ? [0x90, 0x8d, 0x05] : [0x48, 0x8d, 0x05], pc + 5);
    dv.setInt32(pc + 8, bits32 ? base + entry : entry - (pc + 12), true);
    const entry2 = table + ptr * ((i * 7 + 2) % funcs);
    out.set(bits32 ? [0x90, 0x8b, 0x0d] : [0x48, 0x8b, 0x0d], pc + 12);
    dv.setInt32(pc + 15, bits32 ? base + entry2 : entry2 - (pc + 19), true);
    // JNE to the function's last bytes (moves only when this function grows)
    out.set([0x0f, 0x85], pc + 19);
    dv.setInt32(pc + 21, pc + len - 2 - (pc + 25), true);
    // JMP to another function near the end
    const jt = (i * 3 + 1) % funcs;
    out[pc + len - 7] = 0xe9;
    dv.setInt32(pc + len - 6, starts[jt]! - (pc + len - 2), true);
    dv.setUint32(table + ptr * i, base + starts[(i * 3) % funcs]!, true); // (64-bit: the high half stays zero)
  }
  return out;
}

/** ULEB128 of v, padded with continuation bytes to `pad` bytes when given (as linkers leave relocated fields). */
export function uleb128(v: number, pad = 0): number[] {
  const out: number[] = [];
  do {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  } while (v > 0 || out.length < pad);
  out[out.length - 1]! &= 0x7f;
  return out;
}

/** A signed LEB128 of a non-negative v (a clear sign bit in the last byte), padded like uleb128. */
export function sleb128(v: number, pad = 0): number[] {
  const out = uleb128(v, pad);
  if (out[out.length - 1]! & 0x40) {
    out[out.length - 1]! |= 0x80;
    out.push(0);
  }
  return out;
}

/**
 * A small WebAssembly module: a code section of function bodies (filler opcodes, no 0x41) with
 * i32.const addresses of data items (5-byte padded and minimal LEBs), then one active data segment
 * at address 1024: items of bytes, each starting with a 32-bit pointer to another item. `growCode`
 * pads body i by growCode[i] bytes (the data moves in the file, not in memory); `growData` item i
 * by growData[i] bytes (the addresses after it move). `withData` false leaves the data section out.
 * Bodies also call functions (0x10, the index padded to 5 bytes); `inserted` puts inserted[i] new
 * functions before function i (the indices after them move).
 */
export function wasmModule(seed: number, funcs: number, items: number, growCode: ReadonlyMap<number, number> = new Map(), growData: ReadonlyMap<number, number> = new Map(), withData = true, inserted: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const FILL = [0x20, 0x21, 0x6a, 0x6b, 0x28, 0x36, 0x0d, 0x0c, 0x02, 0x0b, 0x1a, 0x46, 0x47, 0x01];
  const r0 = rng(seed);
  const sizes = Array.from({ length: items }, (_, i) => 8 + Math.floor(r0() * 40) + (growData.get(i) ?? 0));
  const addr: number[] = [];
  let at = 1024;
  for (const s of sizes) {
    addr.push(at);
    at += (s + 3) & ~3;
  }
  const data: number[] = [];
  sizes.forEach((s, i) => {
    const r = rng(seed * 7000 + i);
    const p = addr[(i * 5 + 3) % items]!;
    const item = [p & 0xff, (p >> 8) & 0xff, (p >> 16) & 0xff, p >>> 24];
    while (item.length < ((s + 3) & ~3)) item.push(Math.floor(r() * 256) & 0x3f); // no byte looks like a pointer's top
    data.push(...item);
  });
  // functions by id (ids from funcs on are the inserted ones), in index order
  const order: number[] = [];
  let extra = funcs;
  for (let f = 0; f < funcs; f++) {
    for (let k = 0; k < (inserted.get(f) ?? 0); k++) order.push(extra++);
    order.push(f);
  }
  const index = new Map(order.map((f, i) => [f, i]));
  const bodies = order.map((f) => {
    const r = rng(seed * 1000 + f);
    const b: number[] = [];
    const n = 30 + Math.floor(r() * 60) + (growCode.get(f) ?? 0);
    while (b.length < n) {
      const x = r();
      if (x < 0.15) b.push(0x41, ...sleb128(addr[Math.floor(r() * items)]!, r() < 0.7 ? 5 : 0));
      else if (x < 0.25) b.push(0x10, ...uleb128(index.get(Math.floor(r() * funcs))!, 5)); // call, its index padded
      else b.push(FILL[Math.floor(r() * FILL.length)]!);
    }
    return [...uleb128(0), ...b, 0x0b]; // no locals, the body, end
  });
  const section = (id: number, content: number[]): number[] => [id, ...uleb128(content.length), ...content];
  const code = section(10, [...uleb128(order.length), ...bodies.flatMap((b) => [...uleb128(b.length), ...b])]);
  const dataSec = section(11, [...uleb128(1), 0, 0x41, ...sleb128(1024), 0x0b, ...uleb128(data.length), ...data]);
  return Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, ...code, ...(withData ? dataSec : [])]);
}

/**
 * A small s390x image (big-endian): functions of filler halfwords (none starts a relative-long form)
 * with BRASL to other functions and LARL into a data area after the code. `grow` pads function i by
 * 2 x grow[i] bytes, so every call and address across it changes.
 */
export function s390Image(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const bodies = Array.from({ length: funcs }, (_, i) => {
    const r = rng(seed * 1000 + i);
    return Uint8Array.from({ length: 2 * (30 + ((i * 13) % 41) + (grow.get(i) ?? 0)) }, () => [0x18, 0x41, 0xe3, 0xa7, 0x07, 0xb9, 0x12, 0x58][Math.floor(r() * 8)]!);
  });
  const [starts, at] = laidOut(bodies);
  const data = (at + 255) & ~255;
  const out = new Uint8Array(data + funcs * 8);
  const dv = new DataView(out.buffer);
  bodies.forEach((b, i) => out.set(b, starts[i]!));
  for (let i = 0; i < funcs; i++) {
    const pc = starts[i]!;
    out.set([0xc0, 0xe5], pc); // BRASL %r14, callee
    dv.setInt32(pc + 2, (starts[(i * 5 + 3) % funcs]! - pc) / 2);
    out.set([0xc0, 0x10], pc + 6); // LARL %r1, data entry
    dv.setInt32(pc + 8, (data + 8 * ((i * 7 + 1) % funcs) - (pc + 6)) / 2);
    dv.setUint32(data + 8 * i, 0x5a5a0000 + i); // data that never changes
  }
  return out;
}

/**
 * A small MIPS (little-endian, load address 0x10000) image: functions of filler words (no JAL) with
 * JAL to other functions and a JR RA at the end, then a table of 64-bit pointers to the functions,
 * each with 8 bytes of other data.
 * `grow` pads function i by grow[i] words.
 */
export function mipsImage(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const base = 0x10000;
  const bodies = Array.from({ length: funcs }, (_, i) => {
    const r = rng(seed * 1000 + i);
    return Array.from({ length: 20 + ((i * 7) % 23) + (grow.get(i) ?? 0) }, () => (Math.floor(r() * 0x100000000) & 0x03ffffff | 0x24000000) >>> 0); // ADDIU-like words
  });
  const starts: number[] = [];
  let at = 0;
  for (const b of bodies) {
    starts.push(at);
    at += 4 * (b.length + 2);
  }
  const table = (at + 7) & ~7;
  const out = new Uint8Array(table + funcs * 16);
  const dv = new DataView(out.buffer);
  bodies.forEach((b, i) => {
    b.forEach((w, k) => dv.setUint32(starts[i]! + 4 * k, w, true));
    const end = starts[i]! + 4 * b.length;
    dv.setUint32(end, 0x03e00008, true); // JR RA
    dv.setUint32(end + 4, 0, true); // its delay slot
    dv.setUint32(starts[i]! + 4, (0x0c000000 | ((base + starts[(i * 5 + 3) % funcs]!) >>> 2)) >>> 0, true); // JAL callee
    // entries of a pointer (the high half stays zero) and 8 bytes that never change
    dv.setUint32(table + 16 * i, base + starts[(i * 3) % funcs]!, true);
    dv.setUint32(table + 16 * i + 8, 0x7e000000 + i * 977, true);
    dv.setUint32(table + 16 * i + 12, 0x7d000000 + i * 131, true);
  });
  return out;
}

/** Start offsets of bodies laid out one after another, and the end of the last. */
function laidOut(bodies: ReadonlyArray<{ length: number }>): [number[], number] {
  const starts: number[] = [];
  let at = 0;
  for (const b of bodies) {
    starts.push(at);
    at += b.length;
  }
  return [starts, at];
}

/** Instruction sets of wordImage: the maps of src/delta/wordmaps.ts. */
export type WordArch = "riscv" | "riscvc" | "rv32c" | "loong" | "power" | "mips";

/**
 * A small image of 32-bit little-endian code of `arch` (load address 0x400000, file offset 0 there: the
 * pointer map takes addresses below 1 MiB for small numbers):
 * functions of filler words that match no reference pattern, each with a call of another function and
 * the address of a 16-byte data entry built by the architecture's high/low pair, then the data entries
 * (a 64-bit pointer to a function and 8 bytes that never change). MIPS calls are JAL (absolute) and its
 * functions end in JR RA; its address is LUI, DADDU gp, DADDIU as Go emits it. "riscvc" is RISC-V
 * compressed code: filler of 16-bit instructions, and every other function starts with a C.NOP, so its
 * 32-bit instructions fall between words; "rv32c" the same as RV32 firmware builds it: addresses by LUI
 * and ADDI (absolute), not AUIPC.
 * `grow` pads function i by grow[i] words.
 */
export function wordImage(arch: WordArch, seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const base = 0x400000;
  const filler = { riscv: [0x33, 0xfffff80], riscvc: [0x00010001, 0xfffcfffc], rv32c: [0x00010001, 0xfffcfffc], loong: [0, 0x3fffff], power: [0x7c000000, 0x3ffffff], mips: [0x24000000, 0x3ffffff] }[arch];
  const pad = (i: number): number => ((arch === "riscvc" || arch === "rv32c") && i % 2 === 1 ? 2 : 0);
  const bodies = Array.from({ length: funcs }, (_, i) => {
    const r = rng(seed * 1000 + i);
    return Array.from({ length: 24 + ((i * 7) % 23) + (grow.get(i) ?? 0) }, () => (filler[0]! | (Math.floor(r() * 0x100000000) & filler[1]!)) >>> 0);
  });
  const starts: number[] = [];
  let at = 0;
  bodies.forEach((b, i) => {
    starts.push(at + pad(i));
    at += 4 * (b.length + 2) + pad(i);
  });
  const data = (at + 15) & ~15;
  const out = new Uint8Array(data + funcs * 16);
  const dv = new DataView(out.buffer);
  const put = (p: number, w: number): void => dv.setUint32(p, w >>> 0, true);
  bodies.forEach((b, i) => {
    const s = starts[i]!;
    if (pad(i)) dv.setUint16(s - 2, 0x0001, true); // C.NOP
    b.forEach((w, k) => put(s + 4 * k, w));
    put(s + 4 * b.length, arch === "mips" ? 0x03e00008 : b[0]!); // JR RA (MIPS)
    put(s + 4 * b.length + 4, arch === "mips" ? 0 : b[1]!); // its delay slot
    const call = s + 4;
    const callee = starts[(i * 5 + 3) % funcs]!;
    const d = callee - call;
    const rv = arch === "riscv" || arch === "riscvc" || arch === "rv32c";
    if (rv) put(call, (((d >> 20) & 1) << 31) | (((d >> 1) & 0x3ff) << 21) | (((d >> 11) & 1) << 20) | (((d >> 12) & 0xff) << 12) | 0x0ef); // JAL ra
    else if (arch === "loong") put(call, (0x15 << 26) | (((d >> 2) & 0xffff) << 10) | ((d >> 18) & 0x3ff)); // BL
    else if (arch === "power") put(call, (18 << 26) | (d & 0x03fffffc) | 1); // BL
    else put(call, 0x0c000000 | ((base + callee) >>> 2)); // JAL
    const p = s + 12;
    const t = data + 16 * ((i * 7 + 1) % funcs);
    if (arch === "rv32c") {
      const a = base + t;
      const hi = (a + 0x800) >> 12;
      put(p, (hi << 12) | (10 << 7) | 0x37); // LUI a0
      put(p + 4, ((a - hi * 4096) << 20) | (10 << 15) | (10 << 7) | 0x13); // ADDI a0, a0, lo
    } else if (rv) {
      const hi = (t - p + 0x800) >> 12;
      put(p, (hi << 12) | (10 << 7) | 0x17); // AUIPC a0
      put(p + 4, ((t - p - hi * 4096) << 20) | (10 << 15) | (10 << 7) | 0x13); // ADDI a0, a0, lo
    } else if (arch === "loong") {
      const lo = ((t & 0xfff) << 20) >> 20;
      put(p, (0x0d << 25) | ((((t - lo) >> 12) - (p >> 12)) & 0xfffff) << 5 | 4); // PCALAU12I a0
      put(p + 4, (0x0b << 22) | ((lo & 0xfff) << 10) | (4 << 5) | 4); // ADDI.D a0, a0, lo
    } else {
      const a = base + t;
      const hi = (a + 0x8000) >> 16;
      if (arch === "power") {
        put(p, (15 << 26) | (6 << 21) | (hi & 0xffff)); // LIS r6
        put(p + 4, (14 << 26) | (6 << 21) | (6 << 16) | ((a - hi * 65536) & 0xffff)); // ADDI r6, r6, lo
      } else {
        put(p, 0x3c000000 | (23 << 16) | (hi & 0xffff)); // LUI s7
        put(p + 4, (23 << 21) | (28 << 16) | (23 << 11) | 0x2d); // DADDU s7, s7, gp
        put(p + 8, (0x19 << 26) | (23 << 21) | (4 << 16) | ((a - hi * 65536) & 0xffff)); // DADDIU a0, s7, lo
      }
    }
    // the data entry: a pointer (the high half stays zero) and 8 bytes that never change
    put(data + 16 * i, base + starts[(i * 3) % funcs]!);
    put(data + 16 * i + 8, 0x7e000000 + i * 977);
    put(data + 16 * i + 12, 0x7d000000 + i * 131);
  });
  return out;
}

/**
 * A small Xtensa image (ESP8266-like, load address 0x40210000): functions that start with ADDI a1, a1, -16
 * (the CALL0 ABI's prologue) and hold 16-bit filler instructions and a CALL0 of another function at a
 * byte position that varies, then a literal pool of 32-bit pointers to the functions. `grow` pads
 * function i by grow[i] bytes. With `near`, as code built with -mtext-section-literals: each function
 * has three literals (pointers to functions) in the words before it, loaded by L32Rs spread over its
 * code, and a jump (J) back to its start; the padding goes after the first 19 bytes of code (so the
 * later loads and the jump cross it).
 */
export function xtensaImage(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map(), near = false): Uint8Array {
  const base = 0x40210000;
  const lit = near ? 12 : 0;
  const lens = Array.from({ length: funcs }, (_, i) => 40 + ((i * 13) % 37) + (grow.get(i) ?? 0) + (near ? 120 : 0));
  const starts: number[] = [];
  let at = 0;
  for (const len of lens) {
    starts.push(at + lit);
    at = (at + lit + len + 3) & ~3; // function entries are word-aligned
  }
  const pool = at;
  const out = new Uint8Array(pool + 4 * funcs);
  const dv = new DataView(out.buffer);
  const put3 = (q: number, w: number): void => out.set([w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff], q);
  const call0 = (q: number, t: number): void => put3(q, 0x05 | ((((t - (q & ~3) - 4) / 4) & 0x3ffff) << 6));
  lens.forEach((len, i) => {
    const s = starts[i]!;
    const r = rng(seed * 1000 + i);
    // 16-bit instructions (op0 8-15 in the low nibble; the high byte anything but a call's low nibble)
    for (let k = 3; k + 2 <= len; k += 2) out.set([0x08 | Math.floor(r() * 8) | (Math.floor(r() * 16) << 4), Math.floor(r() * 256) & 0xf0 | 0x0a], s + k);
    out.set([0x12, 0xc1, 0xf0], s); // ADDI a1, a1, -16
    dv.setUint32(pool + 4 * i, base + starts[(i * 7 + 1) % funcs]!, true);
    if (!near) {
      // CALL0 callee at an odd or even byte, 2 or 3 bytes in
      call0(s + 3 + (i % 3), starts[(i * 5 + 3) % funcs]!);
      return;
    }
    for (let k = 0; k < 3; k++) dv.setUint32(s - 12 + 4 * k, base + starts[(i * 3 + k + 2) % funcs]!, true);
    const g = grow.get(i) ?? 0;
    // the padding is new code: the filler after it moves on by g (it was drawn for the whole length)
    out.copyWithin(s + 19 + g, s + 19, s + len - g);
    const rp = rng(seed * 7 + i);
    for (let k = 0; k < g; k++) out[s + 19 + k] = k % 2 === 0 ? 0x08 | Math.floor(rp() * 8) | (Math.floor(rp() * 16) << 4) : 0x0a | (Math.floor(rp() * 16) << 4);
    let q = s + 19 + g;
    const l32r = (reg: number, k: number): void => {
      put3(q, 0x01 | (reg << 4) | (((s - 12 + 4 * k - ((q + 3) & ~3)) / 4 + 65536) << 8));
      q += 27; // and 24 bytes of filler
    };
    l32r(2, 0);
    l32r(3, 1);
    call0(q, starts[(i * 5 + 3) % funcs]!);
    q += 27;
    l32r(4, 2);
    put3(q, 0x06 | (((s + 3 - q - 4) & 0x3ffff) << 6)); // J back to the code after the prologue
  });
  return out;
}

/**
 * A small Thumb-2 image as LLVM builds Cortex-M code (load address 0x08000000): functions of 16-bit
 * filler (MOV Rd, Rm), each with a BL to another function and the address of a data entry built by
 * MOVW r3, #lo16 then, one instruction on, MOVT r3, #hi16; then the data entries (a pointer to a
 * function, and 4 bytes that never change). `grow` pads function i by grow[i] halfwords.
 */
export function thumbMovwImage(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map()): Uint8Array {
  const base = 0x08000000;
  const lens = Array.from({ length: funcs }, (_, i) => 2 * (24 + ((i * 7) % 19) + (grow.get(i) ?? 0)));
  const starts: number[] = [];
  let at = 0;
  for (const len of lens) {
    starts.push(at);
    at += len;
  }
  const data = (at + 7) & ~7;
  const out = new Uint8Array(data + 8 * funcs);
  const dv = new DataView(out.buffer);
  const h = (p: number, v: number): void => dv.setUint16(p, v, true);
  const mov = (p: number, top: number, v: number, rd: number): void => {
    h(p, top | (((v >> 11) & 1) << 10) | ((v >> 12) & 15));
    h(p + 2, (((v >> 8) & 7) << 12) | (rd << 8) | (v & 0xff));
  };
  lens.forEach((len, i) => {
    const s = starts[i]!;
    const r = rng(seed * 1000 + i);
    for (let k = 0; k < len; k += 2) h(s + k, 0x4600 | Math.floor(r() * 256)); // MOV Rd, Rm
    const off = starts[(i * 5 + 3) % funcs]! - (s + 2 + 4);
    h(s + 2, (off < 0 ? 0xf400 : 0xf000) | ((off >> 12) & 0x3ff)); // BL
    h(s + 4, 0xf800 | ((off >> 1) & 0x7ff));
    const a = base + data + 8 * ((i * 7 + 1) % funcs);
    mov(s + 8, 0xf240, a & 0xffff, 3); // MOVW r3
    mov(s + 14, 0xf2c0, a >>> 16, 3); // MOVT r3 (a MOV between)
    dv.setUint32(data + 8 * i, (base + starts[(i * 3) % funcs]!) | 1, true);
    dv.setUint32(data + 8 * i + 4, 0x7e000000 + i * 977, true);
  });
  return out;
}

/**
 * A small 64-bit little-endian ELF image with unwind tables, as a shared library has them: code (functions
 * of random bytes; `grow` pads function i by grow[i] bytes), then .eh_frame_hdr (its 12-byte head, then
 * per function the offsets of its start and of its FDE from the header's start), then .eh_frame (a CIE,
 * then per function an FDE whose initial location is pc-relative), a table of 64-bit pointers to the
 * functions (as a shared library's relocated data has them: loaded at 0, so they are file offsets),
 * .shstrtab and the section headers. Its ELF type is a shared object (3) unless `type` says otherwise.
 */
export function ehElf(seed: number, funcs: number, grow: ReadonlyMap<number, number> = new Map(), type = 3): Uint8Array {
  const r = rng(seed);
  const lens = Array.from({ length: funcs }, (_, i) => 24 + Math.floor(r() * 80) + (grow.get(i) ?? 0));
  const starts: number[] = [];
  let at = 64;
  for (const len of lens) {
    starts.push(at);
    at += len;
  }
  const hdr = (at + 3) & ~3;
  const hdrLen = 12 + 8 * funcs;
  const eh = (hdr + hdrLen + 7) & ~7;
  const cie = 20;
  const ehLen = cie + 20 * funcs + 4;
  const names = "\0.text\0.eh_frame_hdr\0.eh_frame\0.shstrtab\0";
  const ptrs = (eh + ehLen + 7) & ~7;
  const strs = ptrs + 8 * funcs;
  const sh = (strs + names.length + 7) & ~7;
  const out = new Uint8Array(sh + 5 * 64);
  const dv = new DataView(out.buffer);
  out.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  dv.setUint16(16, type, true);
  dv.setUint16(18, 62, true);
  dv.setBigUint64(0x28, BigInt(sh), true);
  dv.setUint16(0x3a, 64, true);
  dv.setUint16(0x3c, 5, true);
  dv.setUint16(0x3e, 4, true);
  lens.forEach((len, i) => {
    const rf = rng(seed * 1000 + i);
    for (let k = 0; k < len; k++) out[starts[i]! + k] = Math.floor(rf() * 256);
  });
  // .eh_frame_hdr: version 1, eh_frame_ptr pcrel sdata4, fde_count udata4, table datarel sdata4
  out.set([1, 0x1b, 0x03, 0x3b], hdr);
  dv.setInt32(hdr + 4, eh - (hdr + 4), true);
  dv.setUint32(hdr + 8, funcs, true);
  out.set([0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0x7a, 0x52, 0, 1, 0x78, 0x10, 1, 0x1b, 0x0c, 7, 8], eh); // CIE
  starts.forEach((s, i) => {
    const f = eh + cie + 20 * i;
    dv.setUint32(f, 16, true);
    dv.setUint32(f + 4, f + 4 - eh, true); // back to the CIE
    dv.setInt32(f + 8, s - (f + 8), true);
    dv.setUint32(f + 12, lens[i]!, true);
    out.set([0, 0x41, 0x0e, 0x10], f + 16);
    dv.setInt32(hdr + 12 + 8 * i, s - hdr, true);
    dv.setInt32(hdr + 16 + 8 * i, f - hdr, true);
    dv.setBigUint64(ptrs + 8 * i, BigInt(starts[(i * 7 + 3) % funcs]!), true);
  });
  for (let k = 0; k < names.length; k++) out[strs + k] = names.charCodeAt(k);
  const section = (i: number, name: number, type: number, offset: number, size: number): void => {
    const o = sh + 64 * i;
    dv.setUint32(o, name, true);
    dv.setUint32(o + 4, type, true);
    dv.setBigUint64(o + 0x18, BigInt(offset), true);
    dv.setBigUint64(o + 0x20, BigInt(size), true);
  };
  section(1, 1, 1, 64, at - 64);
  section(2, 7, 1, hdr, hdrLen);
  section(3, 21, 1, eh, ehLen);
  section(4, 31, 3, strs, names.length);
  return out;
}
