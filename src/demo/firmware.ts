// Built-in firmware for `fota demo`: synthetic images that look like a Cortex-M application to the
// delta engine (Thumb-2 code with BL calls between functions, PC-relative literal pools holding
// absolute pointers, a vector table, strings and data tables), so that a small code change moves
// code and changes branch and pointer values all over the image, as a real rebuild does.
//
// Every image is made from one seeded program description; versions differ by edits to that
// description (a function inserted, a few bodies changed, new strings), then everything is linked
// again. Deterministic: the same options give the same bytes.

import { SELFTEST_FAIL_MARKER } from "../emulator/module.js";
import { Rng } from "../device/rng.js";

/** Where the image is linked (absolute pointers in the vector table and literal pools). */
export const LOAD_ADDRESS = 0x6001_0000;

interface Func {
  name: string;
  /** Instruction halfwords, with BL calls as placeholders (see `calls`). */
  code: number[];
  /** BL sites: halfword index in `code` -> callee function index. */
  calls: Array<[number, number]>;
  /** Literal pool: what each word points at. */
  pool: Array<{ kind: "func" | "str" | "table"; index: number }>;
  /** Halfword indices of `LDR Rt, [PC, #imm]` instructions and the pool word each loads. */
  loads: Array<[number, number]>;
}

interface Program {
  funcs: Func[];
  strings: string[];
  tables: Uint8Array[];
  /** Initialised data words (.data). */
  data: Uint32Array;
  /** Common instruction sequences the compiler reuses. */
  idioms: number[][];
}

export interface FirmwareOptions {
  /** Version string stored in the image header (what the demo's module reports). */
  version: string;
  /** Approximate image size in bytes (default 512 KiB). */
  size?: number;
  /** 1: the factory image; 2: a code change (function inserted, bodies edited, strings added); 3: 2 plus a change that fails the self test. */
  revision: 1 | 2 | 3;
  seed?: number;
}

function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.uniform();
}

const MESSAGES = [
  "network ready, rssi %d",
  "mqtt connect to %s:%d",
  "publish topic %s qos %d",
  "sensor read failed: %d",
  "battery %d mV",
  "gnss fix: %d satellites",
  "config loaded from /usr/%s",
  "watchdog feed",
  "sleep for %d ms",
  "uart rx overflow",
  "apn %s registered",
  "timer %d expired",
  "heap free %d bytes",
  "sim ready, iccid %s",
  "cell id %x lac %x",
];

/** One function body: Thumb-2 instructions drawn from a compiler-like mix. */
function makeFunc(r: () => number, name: string, nFuncs: number, nStrings: number, nTables: number, halfwords: number, idioms: number[][] = []): Func {
  const pick = (n: number) => Math.floor(r() * n);
  // compilers favour the low registers and small immediates
  const reg = () => (r() < 0.7 ? pick(4) : pick(8));
  const code: number[] = [0xb500 | (0xf0 & (0xf0 << pick(2))) | pick(16)]; // PUSH {r4-r7,..., lr}
  const calls: Func["calls"] = [];
  const pool: Func["pool"] = [];
  const loads: Func["loads"] = [];
  while (code.length < halfwords) {
    const x = r();
    if (idioms.length && r() < 0.3) {
      code.push(...idioms[pick(idioms.length)]!); // a common instruction sequence (prologue setup, struct copy, ...)
    } else if (x < 0.09) {
      calls.push([code.length, pick(nFuncs)]);
      code.push(0, 0); // BL, linked later
    } else if (x < 0.16 && pool.length < 24) {
      const k = r();
      const kind = k < 0.45 ? "str" : k < 0.8 ? "func" : "table";
      const index = pick(kind === "str" ? nStrings : kind === "func" ? nFuncs : nTables);
      let slot = pool.findIndex((p) => p.kind === kind && p.index === index);
      if (slot < 0) slot = pool.push({ kind, index }) - 1;
      loads.push([code.length, slot]);
      code.push(0x4800 | (reg() << 8)); // LDR Rt, [PC, #imm8], linked later
    } else if (x < 0.28) {
      code.push(0x2000 | (reg() << 8) | (r() < 0.6 ? pick(16) : pick(256))); // MOVS Rd, #imm8
    } else if (x < 0.4) {
      code.push(0x6800 | (pick(8) << 6) | (reg() << 3) | reg()); // LDR Rt, [Rn, #imm5]
    } else if (x < 0.5) {
      code.push(0x6000 | (pick(8) << 6) | (reg() << 3) | reg()); // STR Rt, [Rn, #imm5]
    } else if (x < 0.58) {
      code.push(0x2800 | (reg() << 8) | pick(32)); // CMP Rn, #imm8
      code.push(0xd000 | ([0, 1, 10, 11, 12, 13][pick(6)]! << 8) | (r() < 0.5 ? pick(16) : 0xf0 | pick(16))); // Bcc
    } else if (x < 0.66) {
      code.push(0x1800 | (reg() << 6) | (reg() << 3) | reg()); // ADDS Rd, Rn, Rm
    } else if (x < 0.72) {
      code.push(0x4600 | (pick(16) << 3) | reg()); // MOV Rd, Rm
    } else if (x < 0.8) {
      code.push(0xf8d0 | reg(), (reg() << 12) | (pick(64) << 2)); // LDR.W Rt, [Rn, #imm12]
    } else if (x < 0.86) {
      code.push(0xf8c0 | reg(), (reg() << 12) | (pick(64) << 2)); // STR.W Rt, [Rn, #imm12]
    } else if (x < 0.92) {
      code.push(0xf04f, (reg() << 8) | pick(256)); // MOV.W Rd, #imm
    } else if (x < 0.96) {
      code.push(0x3000 | (reg() << 8) | pick(64)); // ADDS Rd, #imm8
    } else {
      code.push(0x4000 | (pick(16) << 6) | (reg() << 3) | reg()); // ALU ops
    }
  }
  code.push(0xbd00 | (code[0]! & 0xff)); // POP {..., pc}
  return { name, code, calls, pool, loads };
}

function makeProgram(seed: number, size: number): Program {
  const r = rng(seed);
  const strings: string[] = [];
  for (let i = 0; strings.length < Math.max(64, size >> 11); i++) {
    const m = MESSAGES[i % MESSAGES.length]!;
    strings.push(`[${["net", "app", "io", "pm", "gnss", "ota"][i % 6]}] ${m} (${(i * 2654435761) >>> 20})`);
  }
  const tables: Uint8Array[] = [];
  // a CRC-32 table, a sine table, a glyph bitmap, calibration curves: typical firmware data
  const crc = new Uint8Array(1024);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    new DataView(crc.buffer).setUint32(n * 4, c >>> 0, true);
  }
  tables.push(crc);
  const sine = new Uint8Array(2048);
  for (let i = 0; i < 1024; i++) new DataView(sine.buffer).setInt16(i * 2, Math.round(32767 * Math.sin((2 * Math.PI * i) / 1024)), true);
  tables.push(sine);
  const glyphs = new Uint8Array(Math.max(4096, size >> 4));
  for (let i = 0; i < glyphs.length; i++) glyphs[i] = r() < 0.55 ? 0 : Math.floor(r() * 256) & Math.floor(r() * 256);
  tables.push(glyphs);
  for (let t = 0; t < 6; t++) {
    const cal = new Uint8Array(Math.max(1024, size >> 7));
    let v = Math.floor(r() * 4000);
    for (let i = 0; i < cal.length; i += 2) {
      v += Math.floor(r() * 9) - 3;
      cal[i] = v & 0xff;
      cal[i + 1] = (v >> 8) & 0xff;
    }
    tables.push(cal);
  }
  const data = new Uint32Array(Math.max(256, size >> 8)).map(() => (r() < 0.5 ? Math.floor(r() * 1024) : Math.floor(r() * 0x1_0000_0000)));
  const fixed = tables.reduce((a, t) => a + t.length, 0) + strings.reduce((a, s) => a + s.length + 4, 0) + data.length * 4 + 512;
  const idioms: number[][] = [];
  for (let i = 0; i < 48; i++) idioms.push(makeFunc(r, "", 1, 1, 1, 3 + Math.floor(r() * 6)).code.slice(1, -1).map((h) => (h === 0 || (h & 0xf800) === 0x4800 ? 0x4608 : h)));
  const funcs: Func[] = [];
  const avg = 120; // halfwords
  const nFuncs = Math.max(16, Math.floor((size - fixed) / (avg * 2 + 40)));
  for (let i = 0; i < nFuncs; i++) funcs.push(makeFunc(r, `f${i}`, nFuncs, strings.length, tables.length, 16 + Math.floor(r() * 2 * avg), idioms));
  return { funcs, strings, tables, data, idioms };
}

/** A new function inserted at `at`: every function after it moves; callee and pool indices follow. */
function insertFunc(p: Program, at: number, f: Func): void {
  for (const g of p.funcs) {
    for (const c of g.calls) if (c[1] >= at) c[1]++;
    for (const e of g.pool) if (e.kind === "func" && e.index >= at) e.index++;
  }
  p.funcs.splice(at, 0, f);
}

function applyRevision(p: Program, revision: number, seed: number): void {
  if (revision < 2) return;
  const r = rng(seed ^ 0x5a5a5a5a);
  const n = p.funcs.length;
  // A new feature: two functions in the first third of the code, called from a few places.
  const newFn = makeFunc(r, "ota_report", n, p.strings.length, p.tables.length, 300, p.idioms);
  const at = Math.floor(n * 0.3);
  insertFunc(p, at, newFn);
  const helper = makeFunc(r, "ota_report_helper", p.funcs.length, p.strings.length, p.tables.length, 90, p.idioms);
  insertFunc(p, at + 1, helper);
  newFn.calls = newFn.calls.filter(([h]) => h < 6 || h > 9);
  newFn.loads = newFn.loads.filter(([h]) => h < 8 || h > 9);
  newFn.calls.push([8, at + 1]);
  newFn.code.splice(8, 2, 0, 0);
  for (let k = 0; k < 6; k++) {
    const g = p.funcs[Math.floor(r() * p.funcs.length)]!;
    if (g === newFn || g === helper) continue;
    const site = 2 + 2 * Math.floor(r() * 4);
    if (g.calls.some(([h]) => Math.abs(h - site) < 2) || g.loads.some(([h]) => Math.abs(h - site) < 2)) continue;
    g.calls = g.calls.map(([h, c]) => [h >= site ? h + 2 : h, c]);
    g.loads = g.loads.map(([h, w]) => [h >= site ? h + 2 : h, w]);
    g.code.splice(site, 0, 0, 0);
    g.calls.push([site, at]);
  }
  // Bug fixes: a few bodies change a little (constants, a comparison, an extra store).
  for (let k = 0; k < 12; k++) {
    const g = p.funcs[Math.floor(r() * p.funcs.length)]!;
    const i = 1 + Math.floor(r() * (g.code.length - 2));
    const busy = (h: number) => g.calls.some(([c]) => h === c || h === c + 1) || g.loads.some(([l]) => h === l) || (g.code[h - 1]! & 0xf800) >= 0xe800;
    if (busy(i) || (g.code[i]! & 0xf800) >= 0xe800) continue;
    g.code[i] = 0x2000 | (Math.floor(r() * 8) << 8) | Math.floor(r() * 256);
  }
  // A reworked driver: a run of functions compiled anew (same entry points, new bodies).
  const from = Math.floor(p.funcs.length * 0.6);
  for (let i = from; i < from + Math.max(4, Math.floor(p.funcs.length / 40)); i++) {
    const old = p.funcs[i]!;
    p.funcs[i] = makeFunc(r, old.name, p.funcs.length, p.strings.length, p.tables.length, old.code.length + 4 + Math.floor(r() * 24), p.idioms);
  }
  // New calibration data for one sensor.
  const cal = p.tables[p.tables.length - 1]!;
  for (let i = 0; i < cal.length; i += 2) {
    const v = (cal[i]! | (cal[i + 1]! << 8)) + 7 + (i >> 6);
    cal[i] = v & 0xff;
    cal[i + 1] = (v >> 8) & 0xff;
  }
  p.strings.push("[ota] report %s to %s", "[ota] update result %d, version %s");
  p.data[3] = 0x0002_0000;
  if (revision >= 3) {
    // The broken build: a changed start-up path and the marker the virtual module's self test trips on.
    const g = p.funcs[1]!;
    g.code[3] = 0x2000 | 0x0700 | 0x2a;
    p.strings.push(`[boot] ${SELFTEST_FAIL_MARKER}: peripheral init returns an error`);
  }
}

function align(n: number, a: number): number {
  return (n + a - 1) & ~(a - 1);
}

/** Lays the program out and resolves every BL, literal load and pointer. */
function link(p: Program, version: string): Uint8Array {
  const VECTORS = 64;
  const header = VECTORS * 4 + 64;
  // .text: each function, then its literal pool (4-byte aligned)
  const funcAt: number[] = [];
  const poolAt: number[] = [];
  let at = header;
  for (const f of p.funcs) {
    funcAt.push(at);
    at += f.code.length * 2;
    at = align(at, 4);
    poolAt.push(at);
    at += f.pool.length * 4;
  }
  const stringAt: number[] = [];
  for (const s of p.strings) {
    stringAt.push(at);
    at = align(at + s.length + 1, 4);
  }
  const tableAt: number[] = [];
  for (const t of p.tables) {
    tableAt.push(at);
    at = align(at + t.length, 4);
  }
  const dataAt = at;
  at += p.data.length * 4;
  const total = align(at, 4);
  const img = new Uint8Array(total);
  const dv = new DataView(img.buffer);
  const addr = (off: number) => (LOAD_ADDRESS + off) >>> 0;
  // vector table: initial stack pointer, then handlers (Thumb bit set)
  dv.setUint32(0, 0x2002_0000, true);
  for (let v = 1; v < VECTORS; v++) dv.setUint32(v * 4, (addr(funcAt[(v * 7) % p.funcs.length]!) | 1) >>> 0, true);
  // image header: magic, version, sizes
  const h = VECTORS * 4;
  img.set(new TextEncoder().encode("FWIMG1"), h);
  img.set(new TextEncoder().encode(version.slice(0, 23)), h + 8);
  dv.setUint32(h + 32, total, true);
  dv.setUint32(h + 36, p.funcs.length, true);
  dv.setUint32(h + 40, addr(dataAt), true);
  p.funcs.forEach((f, i) => {
    const base = funcAt[i]!;
    f.code.forEach((hw, k) => dv.setUint16(base + 2 * k, hw, true));
    for (const [k, callee] of f.calls) {
      const pc = base + 2 * k;
      const rel = ((funcAt[callee]! - (pc + 4)) >> 1) & 0x3fffff;
      dv.setUint16(pc, 0xf000 | (rel >>> 11), true); // BL (J1 = J2 = 1)
      dv.setUint16(pc + 2, 0xf800 | (rel & 0x7ff), true);
    }
    for (const [k, word] of f.loads) {
      const pc = base + 2 * k;
      const imm = (poolAt[i]! + 4 * word - align(pc + 4, 4)) >> 2;
      dv.setUint16(pc, (f.code[k]! & 0xff00) | (imm & 0xff), true);
    }
    f.pool.forEach((e, w) => {
      const target = e.kind === "func" ? addr(funcAt[e.index]!) | 1 : e.kind === "str" ? addr(stringAt[e.index]!) : addr(tableAt[e.index]!);
      dv.setUint32(poolAt[i]! + 4 * w, target >>> 0, true);
    });
  });
  const enc = new TextEncoder();
  p.strings.forEach((s, i) => img.set(enc.encode(s), stringAt[i]!));
  p.tables.forEach((t, i) => img.set(t, tableAt[i]!));
  p.data.forEach((w, i) => dv.setUint32(dataAt + 4 * i, w, true));
  return img;
}

const SIZE_SCALE = 0.99;

/** A firmware image of the demo (see FirmwareOptions). */
export function demoFirmware(o: FirmwareOptions): Uint8Array {
  const size = o.size ?? 512 * 1024;
  const seed = o.seed ?? 2026;
  // The program is sized so that the factory image comes out close to `size`; later revisions grow a little.
  const p = makeProgram(seed, Math.floor(size * SIZE_SCALE));
  applyRevision(p, o.revision, seed);
  return link(p, o.version);
}
