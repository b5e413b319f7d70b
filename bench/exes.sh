#!/usr/bin/env bash
# Adds more Linux executables to a corpus made by ../shared/corpus/fetch.sh, for bench/pairs-exes.tsv:
# esbuild for 32-bit ARM (0.23.0, 0.24.0, 0.24.1) and for AArch64 0.23.0 (fetch.sh has 0.24.0 and
# 0.24.1), packed from the npm registry into CORPUS_DIR/tgz, in fetch.sh's layout
# (CORPUS_DIR/esbuild/<platform>/<version>/esbuild). Files already there are kept.
#   bash bench/exes.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-exes.tsv
set -euo pipefail
OUT=${1:?usage: bench/exes.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/tgz"
OUT=$(cd "$OUT" && pwd)
added=0
for pv in linux-arm@0.23.0 linux-arm@0.24.0 linux-arm@0.24.1 linux-arm64@0.23.0; do
  platform=${pv%@*}
  v=${pv#*@}
  dest="$OUT/esbuild/$platform/$v/esbuild"
  [ -e "$dest" ] && continue
  f=$(cd "$OUT/tgz" && npm pack --silent "@esbuild/$pv" | tail -n1)
  t=$(mktemp -d)
  tar -xzf "$OUT/tgz/$f" -C "$t" package/bin/esbuild
  mkdir -p "$(dirname "$dest")"
  mv "$t/package/bin/esbuild" "$dest"
  rm -rf "$t"
  added=$((added + 1))
done
echo "exes: $added executables added under $OUT/esbuild"
