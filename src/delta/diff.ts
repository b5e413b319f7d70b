// Host side matching: a suffix array over the (filtered) old image, then a bsdiff-style scan that
// grows exact matches into approximate ones (a copy may carry a few differing bytes, coded as a
// sparse difference) and leaves the rest as literals.

import { suffixArray } from "./sais.js";
import { HISTORY_BYTES, type Op } from "./stream.js";

export interface DiffOptions {
  /** How many more matching bytes a new match must bring over the current alignment (bsdiff: 8; ours 5, tuned on firmware). */
  switchBonus?: number;
  /** Also copy literal bytes from the new image's own recent output (history copies; not for in-place). */
  history?: boolean;
  /** Displacement (old - new) an address map predicts at a new position (NaN: none): cheap to code, so short matches there are taken. */
  predicted?: (newPos: number) => number;
}

/**
 * A second matching's switch bonus, for new images the first one filled with short copies (see
 * shortCopyFill). New code that has no counterpart in the old image (a library linked in) still
 * holds many 6-10 byte runs found somewhere in it, above all in byte-coded instruction sets (a
 * WebAssembly module gaining a library: 34 operations per KiB, 3% literals). With bonus 5 the scan
 * follows each of them, and every such copy pays a far offset and its differing bytes; with 16 that
 * content stays literals and history copies (MicroPython's wasm with ulab: 100,845 -> 67,225 bytes,
 * bsdiff 77,363). On the firmware pairs of the corpus 16 loses 0-9%, so it is a second try, kept
 * only when smaller.
 */
export const WIDE_SWITCH_BONUS = 16;

/**
 * Whether `ops` look like new content filled with short copies: more than 8 copies from the old image
 * per KiB of new image while fewer than a tenth of its bytes are literals (the firmware version jumps
 * of the corpus have as many copies but 20-36% literals; small fixes have under 8 copies a KiB).
 */
export function shortCopyFill(ops: readonly Op[], newLen: number): boolean {
  let copies = 0;
  let lit = 0;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    lit += op.litLen;
    if (op.hist === undefined && op.copyLen > 0) copies++;
  }
  return copies * 1024 > 8 * newLen && lit * 10 < newLen;
}

/** What the matcher needs of an index over the old image (OldIndex, ChainIndex). */
export interface MatchIndex {
  readonly old: Uint8Array;
  /** Longest match of nw[at..] in old: out = [position, length]. */
  search(nw: Uint8Array, at: number, out: Int32Array): void;
  /** Of the occurrences of nw[i, i + len) in old, the one whose displacement is nearest rep0 or `pred` (cheapest to code); `at` if none is nearer. */
  nearest(nw: Uint8Array, i: number, len: number, at: number, rep0: number, pred: number): number;
}

/**
 * First-pass copies at most this many (see fewEdits): the new image is the old one with a few local
 * edits (a bug fix: content moved in few places; bytes changed in place ride along in a copy), and the
 * matcher searches hash chains (ChainIndex) instead of a suffix array. On the bench
 * lists' fixes (Pybricks 4.0.0 -> 4.0.1, 1-11 copies) the patches are the same (EV3's one byte larger), made
 * in half the time, the suffix array having been most of it; from about 50 copies (the 7.27.0 ->
 * 7.28.0 updates, Debian's library fixes) the chains' choices made patches up to 30% larger (a few 3-8% smaller).
 */
const FEW_EDITS_COPIES = 16;
/** ... and they cover this share of the new image or more. */
const FEW_EDITS_COVER = 0.99;

/** Whether first-pass copies (oldPos, newPos, len) show a new image that is the old one with a few local edits. */
export function fewEdits(copies: ReadonlyArray<readonly [number, number, number]>, newLen: number): boolean {
  if (copies.length > FEW_EDITS_COPIES) return false;
  let covered = 0;
  for (const c of copies) covered += c[2];
  return covered >= FEW_EDITS_COVER * newLen;
}

/** Candidates ChainIndex compares per search, the most recent (highest position) first. */
const CHAIN_INDEX_DEPTH = 64;

/** An index of hash chains over the old image's 4-byte strings: cheap to build, searches approximate (CHAIN_INDEX_DEPTH candidates). */
export class ChainIndex implements MatchIndex {
  private readonly head: Int32Array;
  private readonly prev: Int32Array;
  private readonly shift: number;
  constructor(readonly old: Uint8Array) {
    const bits = chainBits(Math.max(4, old.length));
    this.shift = 32 - bits;
    this.head = new Int32Array(1 << bits);
    this.prev = new Int32Array(old.length);
    if (old.length >= 4) buildChains(old, this.head, this.prev, this.shift);
  }

  search(nw: Uint8Array, at: number, out: Int32Array): void {
    const old = this.old;
    const n = old.length;
    let len = 0;
    let pos = 0;
    if (at + 4 <= nw.length) {
      const lim0 = nw.length - at;
      for (let c = this.head[hash4(nw, at, this.shift)]! - 1, d = 0; c >= 0 && d < CHAIN_INDEX_DEPTH; c = this.prev[c]! - 1, d++) {
        // (a candidate that cannot beat the longest so far is passed over on its byte after it)
        if (len > 0 && (c + len >= n || len >= lim0 || old[c + len] !== nw[at + len])) continue;
        const k = lcp(old, c, nw, at, 0);
        // (4 bytes at least: a chain also holds strings whose hash only collides with this one's)
        if (k > len && k >= 4) {
          len = k;
          pos = c;
        }
      }
    }
    out[0] = pos;
    out[1] = len;
  }

  nearest(nw: Uint8Array, i: number, len: number, at: number, rep0: number, pred: number): number {
    const old = this.old;
    let best = at;
    let bestCost = displacementCost(at - i, rep0, pred);
    if (i + 4 > nw.length) return best;
    for (let c = this.head[hash4(nw, i, this.shift)]! - 1, d = 0; c >= 0 && d < NEAREST_SCAN; c = this.prev[c]! - 1, d++) {
      if (c + len > old.length || agreeingPrefix(old, c, nw, i, len) < len) continue;
      const v = displacementCost(c - i, rep0, pred);
      if (v < bestCost) {
        bestCost = v;
        best = c;
      }
    }
    return best;
  }
}

/** Bytes old[x..] and nw[y..] have in common from their start, counted up to `lim` (both in range). */
function agreeingPrefix(old: Uint8Array, x: number, nw: Uint8Array, y: number, lim: number): number {
  let k = 0;
  while (k < lim && old[x + k] === nw[y + k]) k++;
  return k;
}

/** An index over an old image for repeated diffing: its suffix array. */
export class OldIndex implements MatchIndex {
  readonly sa: Int32Array;
  /** buckets[k]: suffix-array index of the first suffix whose two-byte key is k or more (see bucket2). */
  private buckets: Int32Array | null = null;
  constructor(readonly old: Uint8Array) {
    this.sa = suffixArray(old);
  }

  /** Suffixes by their first two bytes: key b0 * 257 + 1 + b1 (the last suffix, one byte: b0 * 257). */
  private bucket2(): Int32Array {
    const old = this.old;
    const n = old.length;
    const b = new Int32Array(256 * 257 + 2);
    for (let i = 0; i + 1 < n; i++) b[old[i]! * 257 + 2 + old[i + 1]!]!++;
    b[old[n - 1]! * 257 + 1]!++;
    for (let k = 1; k < b.length; k++) b[k] = b[k]! + b[k - 1]!;
    this.buckets = b;
    return b;
  }

  nearest(nw: Uint8Array, i: number, len: number, at: number, rep0: number, pred: number): number {
    return nearestOccurrence(this, nw, i, len, at, rep0, pred);
  }

  /** Longest match of nw[at..] in old: [position, length]. */
  search(nw: Uint8Array, at: number, out: Int32Array): void {
    if (this.old.length === 0) {
      out[0] = 0;
      out[1] = 0;
      return;
    }
    const lo = this.locate(nw, at, out);
    const sa = this.sa;
    const lcpLo = out[0]!;
    const lcpHi = out[1]!;
    if (lcpLo >= lcpHi) {
      out[0] = sa[lo]!;
      out[1] = lcpLo;
    } else {
      out[0] = sa[lo + 1]!;
      out[1] = lcpHi;
    }
  }

  /**
   * Where nw[at..] sorts among the old image's suffixes (old not empty): the suffix-array index lo of
   * the last suffix smaller than it (0 when none is) such that the longest matches are the suffixes at
   * lo and lo + 1 (or lo alone, the last); out[0] and out[1] get their match lengths.
   */
  locate(nw: Uint8Array, at: number, out: Int32Array): number {
    const old = this.old;
    const sa = this.sa;
    const n = old.length;
    const m = nw.length;
    let lo = 0;
    let hi = n - 1;
    if (at + 1 < m) {
      // start from the suffixes sharing the first two bytes: the entry before them is smaller than
      // the query and the one after them larger, so the search ends on the same pair as a full one
      const b = this.buckets ?? this.bucket2();
      const key = nw[at]! * 257 + 1 + nw[at + 1]!;
      lo = Math.max(0, b[key]! - 1);
      hi = Math.min(n - 1, b[key + 1]!);
    }
    let lcpLo = lcp(old, sa[lo]!, nw, at, 0);
    let lcpHi = lcp(old, sa[hi]!, nw, at, 0);
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      const s = sa[mid]!;
      const k = lcp(old, s, nw, at, Math.min(lcpLo, lcpHi));
      // old suffix < new suffix?
      if (s + k >= n || (at + k < m && old[s + k]! < nw[at + k]!)) {
        lo = mid;
        lcpLo = k;
      } else {
        hi = mid;
        lcpHi = k;
      }
    }
    out[0] = lcpLo;
    out[1] = hi > lo ? lcpHi : 0;
    return lo;
  }
}

/** Bytes a[i..] and b[j..] have in common from their start, known to be at least k (the matchers' match length). */
export function lcp(a: Uint8Array, i: number, b: Uint8Array, j: number, k: number): number {
  const n = Math.min(a.length - i, b.length - j);
  while (k < n && a[i + k] === b[j + k]) k++;
  return k;
}

/** bsdiff-style operations turning `old` into `nw` (both already filtered). */
export function diffOps(index: MatchIndex, nw: Uint8Array, opts: DiffOptions = {}): Op[] {
  const old = index.old;
  const oldLen = old.length;
  const newLen = nw.length;
  const bonus = opts.switchBonus ?? 5;
  const ops: Op[] = [];
  const res = new Int32Array(2);
  const ext = new Int32Array(2);
  const seen = new SearchCache(newLen);
  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newLen) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newLen; scan++) {
      seen.searchNew(index, nw, scan, res);
      pos = res[0]!;
      len = res[1]!;
      if (scsc < scan + len) {
        oldScore += agreeing(old, nw, scsc, scan + len, lastOffset);
        scsc = scan + len;
      }
      if ((len === oldScore && len !== 0) || len > oldScore + bonus) break;
      const q = scan + lastOffset;
      if (q >= 0 && q < oldLen && old[q] === nw[scan]) oldScore--;
    }
    if (len !== oldScore || scan === newLen) {
      extendMatches(old, nw, lastScan, lastPos, scan, pos, ext);
      const lenf = ext[0]!;
      const lenb = ext[1]!;
      ops.push(newOp(lenf, lastPos, scan - lenb - (lastScan + lenf), undefined));
      lastScan = scan - lenb;
      lastPos = pos - lenb;
      lastOffset = pos - scan;
    }
  }
  return splitLiterals(index, nw, mergeOps(ops), opts.history ?? false, opts.predicted, seen);
}

/**
 * One operation. Every operation the matcher makes has the same four fields (`hist` undefined unless
 * a history copy) so that the code reading them sees one object shape.
 */
function newOp(copyLen: number, oldPos: number, litLen: number, hist: number | undefined): Op {
  return { copyLen, oldPos, litLen, hist };
}

/**
 * Results of OldIndex.search kept by the scan for the literal split, which searches the same
 * positions again. Direct-mapped by new position (a position not held, or overwritten, is searched
 * again): the answers are the same, the work is not.
 */
export class SearchCache {
  /** 1 + the position a slot holds (0: none; fresh zeroed memory, nothing to fill). */
  private readonly at: Int32Array;
  private readonly pos: Int32Array;
  private readonly len: Int32Array;
  private readonly mask: number;
  constructor(newLen: number) {
    const size = 2 ** Math.min(20, Math.max(4, Math.ceil(Math.log2(newLen + 1))));
    this.at = new Int32Array(size);
    this.pos = new Int32Array(size);
    this.len = new Int32Array(size);
    this.mask = size - 1;
  }

  put(i: number, pos: number, len: number): void {
    const k = i & this.mask;
    this.at[k] = i + 1;
    this.pos[k] = pos;
    this.len[k] = len;
  }

  /** index.search(nw, i, out), kept for a later search(). */
  searchNew(index: MatchIndex, nw: Uint8Array, i: number, out: Int32Array): void {
    index.search(nw, i, out);
    this.put(i, out[0]!, out[1]!);
  }

  /** index.search(nw, i, out), from the cache when it holds position i. */
  search(index: MatchIndex, nw: Uint8Array, i: number, out: Int32Array): void {
    const k = i & this.mask;
    if (this.at[k] === i + 1) {
      out[0] = this.pos[k]!;
      out[1] = this.len[k]!;
    } else index.search(nw, i, out);
  }
}

/**
 * Bytes of nw[from, to) equal to old at displacement `offset` (old[y + offset]; positions outside old
 * do not count). The scans' per-byte work, in a small function of its own: it is compiled early and
 * cheaply, while the scan loop around it runs once per search.
 */
export function agreeing(old: Uint8Array, nw: Uint8Array, from: number, to: number, offset: number): number {
  const lo = Math.max(from, -offset);
  const hi = Math.min(to, old.length - offset);
  let count = 0;
  for (let y = lo; y < hi; y++) if (old[y + offset] === nw[y]) count++;
  return count;
}

/**
 * bsdiff's approximate extension between two exact matches: the previous one (new lastScan, old
 * lastPos) grows forwards and the next one (new scan, old pos) backwards while more than half their
 * bytes agree; where they overlap, the split that keeps most agreeing bytes. out = [forward length,
 * backward length].
 */
export function extendMatches(old: Uint8Array, nw: Uint8Array, lastScan: number, lastPos: number, scan: number, pos: number, out: Int32Array): void {
  // each loop in a function of its own that returns right after it: a long first run of a loop is
  // compiled on stack (OSR), and code after the loop that has not run yet then has no type feedback;
  // in one function, that cost a deoptimisation on almost every call (40 in a cold run)
  let lenf = forwardExtent(old, nw, lastScan, lastPos, scan);
  let lenb = scan < nw.length ? backwardExtent(old, nw, lastScan, scan, pos) : 0;
  if (lastScan + lenf > scan - lenb) {
    const overlap = lastScan + lenf - (scan - lenb);
    const lens = overlapSplit(old, nw, lastScan + lenf - overlap, lastPos + lenf - overlap, scan - lenb, pos - lenb, overlap);
    lenf += lens - overlap;
    lenb -= lens;
  }
  out[0] = lenf;
  out[1] = lenb;
}

/** Forward growth of the previous match (new lastScan, old lastPos) up to new position `scan`. */
function forwardExtent(old: Uint8Array, nw: Uint8Array, lastScan: number, lastPos: number, scan: number): number {
  let s = 0;
  let sf = 0;
  let lenf = 0;
  for (let i = 0; lastScan + i < scan && lastPos + i < old.length; ) {
    if (old[lastPos + i] === nw[lastScan + i]) s++;
    i++;
    if (s * 2 - i > sf * 2 - lenf) {
      sf = s;
      lenf = i;
    }
  }
  return lenf;
}

/** Backward growth of the next match (new scan, old pos) down to new position `lastScan`. */
function backwardExtent(old: Uint8Array, nw: Uint8Array, lastScan: number, scan: number, pos: number): number {
  let s = 0;
  let sb = 0;
  let lenb = 0;
  for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
    if (old[pos - i] === nw[scan - i]) s++;
    if (s * 2 - i > sb * 2 - lenb) {
      sb = s;
      lenb = i;
    }
  }
  return lenb;
}

/**
 * Where two grown matches overlap (`overlap` new bytes from a in the first, from b in the second;
 * old positions oa and ob): how many of them the first keeps, the split keeping most agreeing bytes.
 */
function overlapSplit(old: Uint8Array, nw: Uint8Array, a: number, oa: number, b: number, ob: number, overlap: number): number {
  let s = 0;
  let ss = 0;
  let lens = 0;
  for (let i = 0; i < overlap; i++) {
    if (nw[a + i] === old[oa + i]) s++;
    if (nw[b + i] === old[ob + i]) s--;
    if (s > ss) {
      ss = s;
      lens = i + 1;
    }
  }
  return lens;
}

/**
 * Literal runs often contain short exact matches anywhere in the old image (bsdiff's scan only takes
 * matches that beat the current alignment by 8 bytes) or in the recent output. Each position takes
 * the copy with the largest estimated saving over literals (lazily: a clearly better copy one byte
 * later wins), or stays a literal.
 */
function splitLiterals(index: MatchIndex, nw: Uint8Array, ops: Op[], history: boolean, predicted: ((newPos: number) => number) | undefined, seen: SearchCache): Op[] {
  if (index.old.length === 0 && !history) return ops;
  const hist = history ? new HistoryFinder(nw) : undefined;
  const hres = new Int32Array(2);
  const out: Op[] = [];
  const res = new Int32Array(2);
  const old = index.old;
  let rep0 = 0;
  let rep1 = 0;
  let pos = 0;
  /** The copy at i that saves the most (estimated bits against literals); gain <= 0: none. */
  // two candidate records, reused (one per position was most of the garbage of a cold run): best()
  // fills the one the caller does not hold
  const ca: Candidate = { len: 0, at: 0, hist: 0, gain: 0 };
  const cb: Candidate = { len: 0, at: 0, hist: 0, gain: 0 };
  const best = (i: number, end: number, c: Candidate): Candidate => {
    c.len = 0;
    c.at = 0;
    c.hist = 0;
    c.gain = 0;
    seen.search(index, nw, i, res);
    const len = Math.min(res[1]!, end - i);
    let at = res[0]!;
    // a small integer (displacements are 32-bit): -0 and doubles from the map would make positions
    // computed from it doubles, and the code using them deoptimise
    const pr0 = predicted ? predicted(i) : NaN;
    const pr = Number.isNaN(pr0) ? NaN : pr0 | 0;
    if (len >= 4 && at - i !== rep0 && at - i !== rep1 && at - i !== pr) at = index.nearest(nw, i, len, at, rep0, pr);
    if (len >= 4) {
      c.len = len;
      c.at = at;
      c.gain = len * LIT_BITS - OP_BITS - offsetBits(at - i, rep0, rep1, pr);
    }
    // a short match at a recent or predicted displacement is cheap to code
    for (let t = 0; t < 3; t++) {
      const r = t === 0 ? rep0 : t === 1 ? rep1 : pr;
      if (Number.isNaN(r)) break;
      let k = 0;
      while (i + k < end && i + r + k >= 0 && i + r + k < old.length && old[i + r + k] === nw[i + k]) k++;
      const g = k * LIT_BITS - OP_BITS - 2;
      if (k >= 4 && g > c.gain) {
        c.len = k;
        c.at = i + r;
        c.gain = g;
      }
    }
    if (hist) {
      hist.find(i, end, hres);
      const hl = hres[0]!;
      const g = hl * LIT_BITS - OP_BITS - 3 - 1.3 * Math.log2(hres[1]! + 1);
      if (hl >= 4 && g > c.gain) {
        c.len = hl;
        c.hist = hres[1]!;
        c.gain = g;
      }
    }
    return c;
  };
  for (let n = 0; n < ops.length; n++) {
    const op = ops[n]!;
    pos += op.copyLen;
    const end = pos + op.litLen;
    let cur: Op = newOp(op.copyLen, op.oldPos, 0, undefined);
    out.push(cur);
    if (op.copyLen > 0 && op.oldPos - (pos - op.copyLen) !== rep0) {
      rep1 = rep0;
      rep0 = op.oldPos - (pos - op.copyLen);
    }
    let ahead: Candidate | undefined;
    let aheadAt = -1;
    for (let i = pos; i < end; ) {
      // (the lookahead of the last position is reused: a literal changes nothing best() reads)
      const c = ahead !== undefined && aheadAt === i ? ahead : best(i, end, ahead === ca ? cb : ca);
      ahead = undefined;
      // lazy: a clearly better copy one byte later wins over this one (the byte becomes a literal)
      if (c.gain > 0 && i + 1 < end && c.len < 64) {
        const c1 = best(i + 1, end, c === ca ? cb : ca);
        if (c1.gain > c.gain + LIT_BITS) {
          ahead = c1;
          aheadAt = i + 1;
          cur.litLen++;
          i++;
          continue;
        }
      }
      if (c.gain <= 0) {
        cur.litLen++;
        i++;
        continue;
      }
      if (c.hist > 0) cur = newOp(c.len, 0, 0, c.hist);
      else {
        cur = newOp(c.len, c.at, 0, undefined);
        if (c.at - i !== rep0) {
          rep1 = rep0;
          rep0 = c.at - i;
        }
      }
      out.push(cur);
      i += c.len;
    }
    pos = end;
  }
  return mergeOps(out);
}

/** Occurrences a search for the one nearest the current displacement looks at. */
const NEAREST_SCAN = 256;

/** How far displacement d is from rep0 or the predicted one (NaN: none): what nearest() minimises. */
function displacementCost(d: number, rep0: number, pred: number): number {
  return Math.min(Math.abs(d - rep0), Number.isNaN(pred) ? Infinity : Math.abs(d - pred));
}

/**
 * Of the occurrences of nw[i, i + len) in old (a suffix-array interval), the one whose displacement
 * is nearest rep0 or the predicted displacement (cheapest to code); `at` if none is nearer.
 */
function nearestOccurrence(index: OldIndex, nw: Uint8Array, i: number, len: number, at: number, rep0: number, pred: number, scan = NEAREST_SCAN): number {
  const { sa, old } = index;
  const n = old.length;
  // order of the pattern against the suffix at sa[r]: < 0 when the suffix sorts before it
  const cmp = (r: number): number => {
    const s = sa[r]!;
    for (let k = 0; k < len; k++) {
      if (s + k >= n) return -1;
      const d = old[s + k]! - nw[i + k]!;
      if (d !== 0) return d;
    }
    return 0;
  };
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(mid) < 0) lo = mid + 1;
    else hi = mid;
  }
  let best = at;
  let bestCost = displacementCost(at - i, rep0, pred);
  for (let r = lo; r < n && r < lo + scan && cmp(r) === 0; r++) {
    const c = displacementCost(sa[r]! - i, rep0, pred);
    if (c < bestCost) {
      bestCost = c;
      best = sa[r]!;
    }
  }
  return best;
}

/**
 * Estimated bits of a literal byte (new material codes at ~6.9 bits a byte on firmware) and of a
 * copy operation's framing (its length, kind and zero-run end, the literal run it splits); tuned on
 * firmware pairs.
 */
const LIT_BITS = 6.9;
const OP_BITS = 5;

/** Estimated bits of displacement d: a repeat or predicted one is cheap, else a change from rep0 or the prediction. */
function offsetBits(d: number, rep0: number, rep1: number, pr: number): number {
  if (d === rep0 || d === rep1 || d === pr) return 2;
  return 5 + 1.6 * Math.log2(1 + Math.min(Math.abs(d - rep0), Number.isNaN(pr) ? Infinity : Math.abs(d - pr)));
}

/** A copy found inside a literal run: an old position (`at`) or a history distance (`hist` > 0). */
interface Candidate {
  len: number;
  at: number;
  hist: number;
  /** Estimated bits saved against coding the bytes as literals. */
  gain: number;
}

/** Multiplicative hash of the 4 bytes at b[i], in the top 32 - `shift` bits (the matchers' hash chains). */
export function hash4(b: Uint8Array, i: number, shift: number): number {
  return hashWord(b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24), shift);
}

/** hash4 of the little-endian 4-byte word w (for scans that roll the word along). */
export function hashWord(w: number, shift: number): number {
  return Math.imul(w, 0x9e3779b1) >>> shift;
}

/** Hash bits of the chains over an old image of n bytes: a table that stays in cache. */
export function chainBits(n: number): number {
  return Math.min(20, Math.max(12, Math.ceil(Math.log2(n)) - 3));
}

/** Hash chains over the 4-byte strings of `old`: head[h] and prev[x] hold a position + 1 (0 ends a chain). */
export function buildChains(old: Uint8Array, head: Int32Array, prev: Int32Array, shift: number): void {
  // hash4 with the 4-byte word rolled along (one byte read per position)
  let w = (old[0]! << 8) | (old[1]! << 16) | (old[2]! << 24);
  for (let x = 0; x + 4 <= old.length; x++) {
    w = (w >>> 8) | (old[x + 3]! << 24);
    const h = hashWord(w, shift);
    prev[x] = head[h]!;
    head[h] = x + 1;
  }
}

/**
 * Chains positions [from, to) of nw into head/prev (hash of 4 bytes); returns where it stopped. A
 * function of its own with typed arrays in and a number out: a long first run of this loop is compiled
 * on stack (OSR), and inside a method the code after it, never run before, dropped back to the
 * interpreter call after call (measured: over a thousand deoptimisations in one cold run).
 */
function chainUpTo(nw: Uint8Array, head: Int32Array, prev: Int32Array, from: number, to: number): number {
  let p = from;
  for (; p < to && p + 4 <= nw.length; p++) {
    const h = hash4(nw, p, 16);
    prev[p] = head[h]!;
    head[h] = p;
  }
  return p;
}

/** Longest earlier occurrence (within HISTORY_BYTES) of the new image at a position: hash chains over 4-byte prefixes. */
class HistoryFinder {
  private readonly head = new Int32Array(1 << 16).fill(-1);
  private readonly prev: Int32Array;
  private next = 0;
  constructor(private readonly nw: Uint8Array) {
    this.prev = new Int32Array(nw.length);
  }


  /** out = [length, distance] of the longest match of nw[i, end) starting before i (length 0: none). */
  find(i: number, end: number, out: Int32Array): void {
    const nw = this.nw;
    if (this.next < i) this.next = chainUpTo(this.nw, this.head, this.prev, this.next, i);
    out[0] = 0;
    out[1] = 0;
    if (i + 4 > end) return;
    let best = 3;
    for (let j = this.head[hash4(this.nw, i, 16)]!, depth = 0; j >= 0 && i - j <= HISTORY_BYTES && depth < 48; j = this.prev[j]!, depth++) {
      if (j >= i || nw[j + best] !== nw[i + best] || i + best >= end) continue;
      let k = 0;
      while (i + k < end && nw[j + k] === nw[i + k]) k++;
      if (k > best) {
        best = k;
        out[0] = k;
        out[1] = i - j;
      }
    }
  }
}

/** Drops empty operations (joining their literals with the previous operation). */
function mergeOps(ops: Op[]): Op[] {
  const out: Op[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.copyLen === 0 && out.length > 0) out[out.length - 1]!.litLen += op.litLen;
    else if (op.copyLen > 0 || op.litLen > 0) out.push(newOp(op.copyLen, op.oldPos, op.litLen, op.hist));
  }
  return out;
}
