// Power-safe boot state: what the bootloader and the updater agree on, kept in two copies.
//
// The state area is split into two equal copies (each one or more sectors). A copy is a header
// (magic, sequence number, length, CRC-32) and a JSON body, followed by an append-only list of
// progress entries (each sealed by its own CRC). Writing a new state always goes to the OTHER copy
// (erase, then one program), so the copy in use is never touched; a torn write leaves a copy whose
// CRC fails, and the reader falls back to the older valid copy. Progress entries let long installs
// journal "sector N done" with one small program each instead of an erase + program per step; a
// torn entry fails its CRC and ends the list.

import { StorageError } from "../errors.js";
import { crc32 } from "./crc32.js";
import { type Flash } from "./flash.js";
import type { UpdateState } from "./flow.js";

/** State of one image area (application slot or recovery area). */
export type SlotState =
  | "empty" // nothing known to be there
  | "writing" // being written: contents undefined
  | "pending" // a verified new image: boot it next as a trial
  | "trial" // booted, not yet confirmed
  | "confirmed" // a good image (the running one, or the previous one kept for rollback)
  | "bad"; // failed its trial or its verification

/** Identity of a firmware image as the bootloader checks it. */
export interface ImageInfo {
  size: number;
  /** SHA-256, lowercase hex. */
  sha256: string;
  version: string;
  securityCounter: number;
}

export interface SlotRecord {
  state: SlotState;
  image?: ImageInfo;
  /** Trial boots left before the image is given up (pending and trial states). */
  attemptsLeft?: number;
}

/** Where a long operation stands, so it resumes after a power cut. */
export interface JournalRecord {
  /** What is being done: "install" (package area -> app slot), "stage-two", "download". */
  phase: string;
  /** The area being written (e.g. "slot0", "package"). */
  area: string;
  /** Progress unit count that is durable (sectors done for installs). */
  step: number;
  /** A second number recorded with the last progress entry (e.g. the sector a staged step targets). */
  aux?: number;
  /** Image bytes durable in the target area. */
  bytesDone: number;
  /** Opaque decoder state (base64), from PayloadDecoder.saveState(). */
  decoderState?: string;
  /** Download resume facts from the transport side: offset, validator (ETag...), opaque hash state (base64). */
  download?: { offset: number; validator?: string; state?: string };
}

/** Facts about a package stored in the package area. */
export interface StoredPackage {
  /** "writing": bytes arriving; "stored": all bytes written; "verified": verify() passed. */
  state: "writing" | "stored" | "verified";
  /** Declared total size of the package (write(bytes, totalSize)). */
  size: number;
  /** Bytes durable in the package area. */
  written: number;
  /** The target image the package builds (known once verified). */
  target?: ImageInfo;
  kind?: "full" | "delta";
}

export interface UpdateRecord {
  state: UpdateState;
  /** LwM2M Update Result (resource 5/0/5) of the last update. */
  result: number;
  /** fota error reason of the last failure, if any. */
  reason?: string;
  /** The image being installed. */
  target?: ImageInfo;
}

export interface BootState {
  format: 1;
  /** Anti-rollback counter: packages below it are refused. Raised only on confirmation. */
  securityCounter: number;
  /** Index of the slot that holds the image to boot when nothing is pending. */
  active: number;
  slots: SlotRecord[];
  /** Two-stage layouts: the recovery system's area. */
  recovery?: SlotRecord;
  /** Package area contents (inplace, local upgrade). */
  pkg?: StoredPackage;
  update: UpdateRecord;
  journal?: JournalRecord;
  /** A resumable download into the package area (TRANSPORT's journal: header + chunk digests). */
  download?: import("./download.js").DownloadRecord;
  /** Two-stage: stage two still to be fetched by the recovery system (opaque locator, e.g. a URL). */
  stageTwo?: { locator: string };
  /** Boots counted by the bootloader (diagnostics). */
  boots: number;
}

const HEADER_MAGIC = 0x53544f46; // "FOTS"
const ENTRY_MAGIC = 0x5250; // "PR": low half of word 0; the high half is the copy's seq (low 16 bits)
const HEADER_BYTES = 16;

/** Forget an update that will not finish: half-written areas become empty, and the stored package,
 * install journal, download journal and target are dropped. */
export function dropUpdateWork(s: BootState): void {
  for (const slot of s.slots) if (slot.state === "writing") slot.state = "empty";
  if (s.recovery?.state === "writing") s.recovery.state = "empty";
  delete s.pkg;
  delete s.journal;
  delete s.download;
  delete s.update.target;
}

export interface LoadedState {
  state: BootState;
  /** Sequence number of the copy read. */
  seq: number;
  /** Which copy (0 or 1) it came from. */
  copy: number;
  /** Whether the other copy was invalid (a torn or never-written copy). */
  fallback: boolean;
}

function entryWord0(seq: number): number {
  return (ENTRY_MAGIC | ((seq & 0xffff) << 16)) >>> 0;
}

function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * The two-copy state store over a flash area. All writes go through save() (a fresh copy) or
 * appendProgress() (one small program into the current copy).
 */
export class BootStore {
  readonly area: Flash;
  readonly copySize: number;
  private readonly entrySize: number;
  private current: { copy: number; seq: number; state: BootState; appendAt: number | undefined } | undefined;

  constructor(area: Flash) {
    const g = area.geometry;
    if (area.geometry.size < 2 * g.sectorSize || (area.geometry.size / g.sectorSize) % 2 !== 0) {
      throw new StorageError("no-space", `the state area needs an even number of sectors (at least 2); it has ${area.geometry.size / g.sectorSize}`);
    }
    this.area = area;
    this.copySize = area.geometry.size / 2;
    this.entrySize = Math.max(16, g.writeAlign);
  }

  /** The state last loaded or saved (undefined before load() on a blank area). */
  get state(): BootState | undefined {
    return this.current?.state;
  }
  get seq(): number {
    return this.current?.seq ?? 0;
  }

  private parseCopy(copy: number): { seq: number; state: BootState; entriesAt: number } | undefined {
    const base = copy * this.copySize;
    const h = this.area.read(base, HEADER_BYTES);
    const dv = new DataView(h.buffer, h.byteOffset, h.byteLength);
    if (dv.getUint32(0, true) !== HEADER_MAGIC) return undefined;
    const seq = dv.getUint32(4, true);
    const len = dv.getUint32(8, true);
    const crc = dv.getUint32(12, true);
    if (len === 0 || HEADER_BYTES + len > this.copySize) return undefined;
    const body = this.area.read(base + HEADER_BYTES, len);
    const check = crc32(body, crc32(h.subarray(4, 12)));
    if (check !== crc) return undefined;
    let state: BootState;
    try {
      state = JSON.parse(new TextDecoder().decode(body)) as BootState;
    } catch {
      return undefined;
    }
    if (state === null || typeof state !== "object" || state.format !== 1) return undefined;
    return { seq, state, entriesAt: roundUp(HEADER_BYTES + len, this.entrySize) };
  }

  /** Last valid progress entry appended to a copy (undefined if none). */
  private scanEntries(copy: number, seq: number, entriesAt: number): { step: number | undefined; aux: number; end: number } {
    const base = copy * this.copySize;
    let step: number | undefined;
    let aux = 0;
    let at = entriesAt;
    while (at + this.entrySize <= this.copySize) {
      const e = this.area.read(base + at, 16);
      const dv = new DataView(e.buffer, e.byteOffset, 16);
      if (dv.getUint32(0, true) !== entryWord0(seq)) break;
      if (crc32(e.subarray(0, 12)) !== dv.getUint32(12, true)) break;
      const s = dv.getUint32(4, true);
      if (step !== undefined && s < step) break;
      step = s;
      aux = dv.getUint32(8, true);
      at += this.entrySize;
    }
    return { step, aux, end: at };
  }

  /**
   * Read the newest valid copy. Returns undefined on a blank (never provisioned) area. The state's
   * journal.step includes the progress entries appended to that copy.
   */
  load(): LoadedState | undefined {
    const copies = [0, 1].map((c) => this.parseCopy(c));
    let pick = -1;
    for (const c of [0, 1]) {
      const p = copies[c];
      if (!p) continue;
      // sequence numbers compare with wrap-around: the newer is "ahead" by less than 2^31
      if (pick < 0 || ((p.seq - copies[pick]!.seq) | 0) > 0) pick = c;
    }
    if (pick < 0) {
      this.current = undefined;
      return undefined;
    }
    const p = copies[pick]!;
    const state = p.state;
    const { step, aux } = this.scanEntries(pick, p.seq, p.entriesAt);
    if (step !== undefined && state.journal && step >= state.journal.step) {
      state.journal.step = step;
      state.journal.aux = aux;
    }
    // After a reboot the next write is always a fresh copy: a torn entry may have left cells that
    // read erased but cannot be programmed again.
    this.current = { copy: pick, seq: p.seq, state, appendAt: undefined };
    return { state: structuredClone(state), seq: p.seq, copy: pick, fallback: copies[1 - pick] === undefined };
  }

  /** Write `state` as a fresh copy into the copy not in use. */
  save(state: BootState): void {
    const copy = this.current ? 1 - this.current.copy : 0;
    const seq = ((this.current?.seq ?? 0) + 1) >>> 0;
    const body = new TextEncoder().encode(JSON.stringify(state));
    const g = this.area.geometry;
    const recLen = roundUp(HEADER_BYTES + body.length, g.writeAlign);
    if (roundUp(HEADER_BYTES + body.length, this.entrySize) > this.copySize) {
      throw new StorageError("no-space", `boot state of ${body.length} bytes does not fit a state copy of ${this.copySize} bytes`);
    }
    const rec = new Uint8Array(recLen).fill(0xff);
    const dv = new DataView(rec.buffer);
    dv.setUint32(0, HEADER_MAGIC, true);
    dv.setUint32(4, seq, true);
    dv.setUint32(8, body.length, true);
    rec.set(body, HEADER_BYTES);
    dv.setUint32(12, crc32(body, crc32(rec.subarray(4, 12))), true);
    const base = copy * this.copySize;
    for (let off = 0; off < this.copySize; off += g.sectorSize) this.area.eraseSector(base + off);
    this.area.program(base, rec);
    this.current = { copy, seq, state: structuredClone(state), appendAt: roundUp(HEADER_BYTES + body.length, this.entrySize) };
  }

  /**
   * Record that the journal reached `step` (monotonic). One small program when the current copy has
   * room and was written in this power cycle; otherwise a fresh copy with journal.step = step.
   */
  appendProgress(step: number, aux = 0): void {
    const cur = this.current;
    if (!cur || !cur.state.journal) throw new StorageError("flash-failed", "no journal to append progress to");
    if (cur.appendAt === undefined || cur.appendAt + this.entrySize > this.copySize) {
      const next = structuredClone(cur.state);
      next.journal!.step = step;
      next.journal!.aux = aux;
      this.save(next);
      return;
    }
    const e = new Uint8Array(this.entrySize).fill(0xff);
    const dv = new DataView(e.buffer);
    dv.setUint32(0, entryWord0(cur.seq), true);
    dv.setUint32(4, step >>> 0, true);
    dv.setUint32(8, aux >>> 0, true);
    dv.setUint32(12, crc32(e.subarray(0, 12)), true);
    const at = cur.appendAt;
    // advance first: should the program throw, this slot is never reused in this power cycle
    cur.appendAt += this.entrySize;
    this.area.program(cur.copy * this.copySize + at, e);
    cur.state.journal!.step = step;
    cur.state.journal!.aux = aux;
  }
}
