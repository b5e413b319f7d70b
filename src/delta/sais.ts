// Suffix array construction by induced sorting (SA-IS, Nong, Zhang & Chan 2009): linear time,
// working on typed arrays only. `suffixArray(bytes)` returns the start offsets of all suffixes of
// `bytes` in lexicographic order (a shorter suffix sorts before a longer one it prefixes).

/** Sorts the suffixes of `s` (length n, last symbol 0 and unique, alphabet 0..k-1) into `sa`. */
function sais(s: Int32Array, sa: Int32Array, n: number, k: number): void {
  const t = new Uint8Array(n); // 1 = S-type, 0 = L-type
  t[n - 1] = 1;
  for (let i = n - 2; i >= 0; i--) {
    const a = s[i]!;
    const b = s[i + 1]!;
    t[i] = a < b || (a === b && t[i + 1] === 1) ? 1 : 0;
  }
  const bkt = new Int32Array(k);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) counts[s[i]!]!++;
  const ends = (): void => {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      sum += counts[c]!;
      bkt[c] = sum;
    }
  };
  const starts = (): void => {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      bkt[c] = sum;
      sum += counts[c]!;
    }
  };
  const isLms = (i: number): boolean => i > 0 && t[i] === 1 && t[i - 1] === 0;
  const induce = (): void => {
    starts();
    for (let i = 0; i < n; i++) {
      const j = sa[i]! - 1;
      if (j >= 0 && t[j] === 0) sa[bkt[s[j]!]!++] = j;
    }
    ends();
    for (let i = n - 1; i >= 0; i--) {
      const j = sa[i]! - 1;
      if (j >= 0 && t[j] === 1) sa[--bkt[s[j]!]!] = j;
    }
  };

  // Stage 1: sort the LMS substrings.
  sa.fill(-1, 0, n);
  ends();
  for (let i = n - 1; i >= 1; i--) if (isLms(i)) sa[--bkt[s[i]!]!] = i;
  induce();
  let n1 = 0;
  for (let i = 0; i < n; i++) {
    const p = sa[i]!;
    if (isLms(p)) sa[n1++] = p;
  }
  sa.fill(-1, n1, n);
  let name = 0;
  let prev = -1;
  for (let i = 0; i < n1; i++) {
    const pos = sa[i]!;
    let differ = false;
    for (let d = 0; ; d++) {
      if (prev === -1 || s[pos + d] !== s[prev + d] || t[pos + d] !== t[prev + d]) {
        differ = true;
        break;
      }
      if (d > 0 && (isLms(pos + d) || isLms(prev + d))) break;
    }
    if (differ) {
      name++;
      prev = pos;
    }
    sa[n1 + (pos >> 1)] = name - 1;
  }
  for (let i = n - 1, j = n - 1; i >= n1; i--) if (sa[i]! >= 0) sa[j--] = sa[i]!;

  // Stage 2: sort the reduced problem (recursively when names repeat).
  const s1 = sa.subarray(n - n1, n);
  const sa1 = sa.subarray(0, n1);
  if (name < n1) sais(s1, sa1, n1, name);
  else for (let i = 0; i < n1; i++) sa1[s1[i]!] = i;

  // Stage 3: induce the full order from the sorted LMS suffixes.
  for (let i = 1, j = 0; i < n; i++) if (isLms(i)) s1[j++] = i;
  for (let i = 0; i < n1; i++) sa1[i] = s1[sa1[i]!]!;
  sa.fill(-1, n1, n);
  ends();
  for (let i = n1 - 1; i >= 0; i--) {
    const j = sa[i]!;
    sa[i] = -1;
    sa[--bkt[s[j]!]!] = j;
  }
  induce();
}

/** The suffix array of `bytes`: an Int32Array of length bytes.length. */
export function suffixArray(bytes: Uint8Array): Int32Array {
  const n = bytes.length;
  if (n === 0) return new Int32Array(0);
  const s = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) s[i] = bytes[i]! + 1;
  s[n] = 0;
  const sa = new Int32Array(n + 1);
  sais(s, sa, n + 1, 257);
  return sa.subarray(1);
}
