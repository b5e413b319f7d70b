#!/usr/bin/env bash
# Adds the other Pybricks hubs to a corpus made by ../shared/corpus/fetch.sh, for bench/pairs-hubs.tsv:
# fetch.sh keeps only primehub and movehub of each release; the npm packages it fetched (CORPUS_DIR/tgz)
# also hold cityhub, technichub, essentialhub (Cortex-M), ev3 (ARM9) and nxt (ARM7TDMI), in the same
# layout: CORPUS_DIR/pybricks/<version>/<hub>.bin. Nothing is downloaded; files already there are kept.
#   bash bench/hubs.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-hubs.tsv
set -euo pipefail
OUT=${1:?usage: bench/hubs.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
shopt -s nullglob
tgzs=("$OUT"/tgz/pybricks-firmware-*.tgz)
if [ ${#tgzs[@]} -eq 0 ]; then
  echo "no $OUT/tgz/pybricks-firmware-*.tgz: make the corpus first with ../shared/corpus/fetch.sh $OUT" >&2
  exit 2
fi
added=0
for f in "${tgzs[@]}"; do
  v=$(basename "$f" .tgz); v=${v#pybricks-firmware-}
  t=$(mktemp -d)
  tar -xzf "$f" -C "$t" package/build
  mkdir -p "$OUT/pybricks/$v"
  for z in "$t"/package/build/*.zip; do
    h=$(basename "$z" .zip)
    [ -e "$OUT/pybricks/$v/$h.bin" ] && continue
    if unzip -p "$z" firmware-base.bin > "$OUT/pybricks/$v/$h.bin.part" 2>/dev/null && [ -s "$OUT/pybricks/$v/$h.bin.part" ]; then
      mv "$OUT/pybricks/$v/$h.bin.part" "$OUT/pybricks/$v/$h.bin"
      added=$((added + 1))
    else
      rm -f "$OUT/pybricks/$v/$h.bin.part"
    fi
  done
  rm -rf "$t"
done
echo "hubs: $added firmware images added under $OUT/pybricks"
