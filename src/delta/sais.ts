// Suffix array construction by induced sorting (SA-IS, Nong, Zhang & Chan 2009): linear time, on
// typed arrays only. `suffixArray(bytes)` returns the start offsets of all suffixes of `bytes` in
// lexicographic order (a shorter suffix sorts before a longer one it prefixes).
//
// The end of the text is a virtual sentinel (smaller than every symbol): it is never stored, it only
// seeds the left-to-right induction with the last suffix. The reduced problems (names of LMS
// substrings) live in the upper part of the output array. Level 0 reads the bytes themselves (a
// quarter of the memory traffic of a copy to 32 bits), the reduced levels Int32Arrays. Every loop is
// a small function of its own, so each is optimised as soon as it runs hot (the first call is part of
// what users wait for).

type Text = Uint8Array | Int32Array;

/**
 * types[i] = 1 when suffix i is S-type (smaller than the suffix after it), 0 when L-type; counts the
 * symbols; returns the number of LMS positions (S-type after L-type).
 */
function classify(s: Text, n: number, types: Uint8Array, counts: Int32Array): number {
  types[n - 1] = 0; // the sentinel follows the last symbol
  let next = s[n - 1]!;
  counts[next]!++;
  let t = 0;
  let lms = 0;
  for (let i = n - 2; i >= 0; i--) {
    const c = s[i]!;
    const ti = c < next || (c === next && t === 1) ? 1 : 0;
    if (ti === 0 && t === 1) lms++;
    types[i] = ti;
    counts[c]!++;
    t = ti;
    next = c;
  }
  return lms;
}

function bucketStarts(counts: Int32Array, bkt: Int32Array, k: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    bkt[c] = sum;
    sum += counts[c]!;
  }
}

function bucketEnds(counts: Int32Array, bkt: Int32Array, k: number): void {
  let sum = 0;
  for (let c = 0; c < k; c++) {
    sum += counts[c]!;
    bkt[c] = sum;
  }
}

/** Lists the LMS positions in text order in `lms` and puts each at the end of its bucket (sa is all -1). */
function placeLms(s: Text, sa: Int32Array, n: number, types: Uint8Array, bkt: Int32Array, lms: Int32Array): void {
  let j = 0;
  let prevType = types[0]!;
  for (let i = 1; i < n; i++) {
    const t = types[i]!;
    if (t === 1 && prevType === 0) {
      lms[j++] = i;
      sa[--bkt[s[i]!]!] = i;
    }
    prevType = t;
  }
}

/**
 * Left to right: every L-type suffix from the suffix after it (bkt = bucket starts). Only LMS and
 * L-type suffixes are met, so suffix j = p - 1 is L-type exactly when s[j] >= s[p]: no type lookup.
 */
function induceL(s: Text, sa: Int32Array, n: number, bkt: Int32Array): void {
  sa[bkt[s[n - 1]!]!++] = n - 1; // induced by the sentinel
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (p <= 0) continue;
    const c = s[p - 1]!;
    if (c >= s[p]!) sa[bkt[c]!++] = p - 1;
  }
}

/**
 * Right to left: every S-type suffix from the suffix after it (bkt = bucket ends). Suffix j = p - 1
 * is S-type when s[j] < s[p], or when they are equal and p is S-type itself, which is when p sits in
 * the part of its bucket already filled by this pass (i >= bkt[s[p]]).
 */
function induceS(s: Text, sa: Int32Array, n: number, bkt: Int32Array): void {
  for (let i = n - 1; i >= 0; i--) {
    const p = sa[i]!;
    if (p <= 0) continue;
    const c = s[p - 1]!;
    const d = s[p]!;
    if (c < d || (c === d && i >= bkt[d]!)) sa[--bkt[c]!] = p - 1;
  }
}

function induce(s: Text, sa: Int32Array, n: number, counts: Int32Array, bkt: Int32Array, k: number): void {
  bucketStarts(counts, bkt, k);
  induceL(s, sa, n, bkt);
  bucketEnds(counts, bkt, k);
  induceS(s, sa, n, bkt);
}

/** Moves the LMS positions of sa (in their sorted order) to sa[0, count). */
function compactLms(sa: Int32Array, n: number, types: Uint8Array): void {
  let m = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (p > 0 && types[p] === 1 && types[p - 1] === 0) sa[m++] = p;
  }
}

/**
 * Stores at sa[n1 + p/2] the length of the LMS substring at each LMS position p (up to and including
 * the next LMS position); the last one runs into the sentinel and gets 0 (it equals no other).
 */
function lmsLengths(sa: Int32Array, n: number, n1: number, lms: Int32Array): void {
  sa.fill(-1, n1, n);
  // the last one first: nothing may follow the loop (a loop compiled on stack during its first run
  // finds no type feedback for code after it and deoptimises there)
  sa[n1 + (lms[n1 - 1]! >> 1)] = 0;
  for (let j = 0; j + 1 < n1; j++) sa[n1 + (lms[j]! >> 1)] = lms[j + 1]! - lms[j]! + 1;
}

/** Names the sorted LMS substrings sa[0, n1) (equal substrings share a name) at sa[n1 + p/2]; returns the count of names. */
function nameLms(s: Text, sa: Int32Array, n1: number): number {
  let names = 0;
  let prev = 0;
  let prevLen = 0;
  for (let i = 0; i < n1; i++) {
    const p = sa[i]!;
    const slot = n1 + (p >> 1);
    const len = sa[slot]!;
    let same = len !== 0 && len === prevLen;
    if (same) {
      for (let d = 0; d < len; d++) {
        if (s[p + d] !== s[prev + d]) {
          same = false;
          break;
        }
      }
    }
    if (!same) names++;
    prev = p;
    prevLen = len;
    sa[slot] = names - 1;
  }
  return names;
}

/** Gathers the names (in text order) into sa[n - n1, n): the reduced text. */
function gatherNames(sa: Int32Array, n: number, n1: number): void {
  let j = n - 1;
  for (let i = n - 1; i >= n1; i--) {
    const v = sa[i]!;
    if (v >= 0) {
      sa[i] = -1;
      sa[j--] = v;
    }
  }
}

/** sa[i] = pos[sa[i]] for i < n1. */
function mapRanks(sa: Int32Array, pos: Int32Array, n1: number): void {
  for (let i = 0; i < n1; i++) sa[i] = pos[sa[i]!]!;
}

/** Moves the sorted LMS suffixes sa[0, n1) to their buckets' ends (bkt = bucket ends; sa[n1, n) is -1). */
function placeSorted(s: Text, sa: Int32Array, n1: number, bkt: Int32Array): void {
  for (let i = n1 - 1; i >= 0; i--) {
    const p = sa[i]!;
    sa[i] = -1;
    sa[--bkt[s[p]!]!] = p;
  }
}

function direct(sa: Int32Array, s1: Int32Array, n1: number): void {
  for (let i = 0; i < n1; i++) sa[s1[i]!] = i;
}

/** Sorts the suffixes of s[0, n) (symbols 0..k-1, virtual sentinel after the end) into sa[0, n). */
function sais(s: Text, sa: Int32Array, n: number, k: number): void {
  if (n === 1) {
    sa[0] = 0;
    return;
  }
  const types = new Uint8Array(n);
  const counts = new Int32Array(k);
  const n1 = classify(s, n, types, counts);
  const bkt = new Int32Array(k);
  const lms = new Int32Array(n1);

  // Stage 1: LMS positions at their buckets' ends, induce: the LMS substrings come out sorted.
  sa.fill(-1, 0, n);
  bucketEnds(counts, bkt, k);
  placeLms(s, sa, n, types, bkt, lms);
  induce(s, sa, n, counts, bkt, k);
  if (n1 === 0) return; // the text never rises: all suffixes are L-type, sorted by induction alone

  // Name the LMS substrings; the names in text order are the reduced text.
  compactLms(sa, n, types);
  lmsLengths(sa, n, n1, lms);
  const names = nameLms(s, sa, n1);
  gatherNames(sa, n, n1);

  // Stage 2: sort the reduced text (recursively when names repeat).
  const s1 = sa.subarray(n - n1, n);
  if (names < n1) sais(s1, sa, n1, names);
  else direct(sa, s1, n1);

  // Stage 3: the sorted LMS suffixes at their buckets' ends, induce the rest.
  mapRanks(sa, lms, n1);
  sa.fill(-1, n1, n);
  bucketEnds(counts, bkt, k);
  placeSorted(s, sa, n1, bkt);
  induce(s, sa, n, counts, bkt, k);
}

/** The suffix array of `bytes`: an Int32Array of length bytes.length. */
export function suffixArray(bytes: Uint8Array): Int32Array {
  const n = bytes.length;
  const sa = new Int32Array(n);
  if (n > 0) sais(bytes, sa, n, 256);
  return sa;
}
