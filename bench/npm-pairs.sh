#!/usr/bin/env bash
# Adds pairs from the npm registry that the engine was not tuned on to a corpus made by
# ../shared/corpus/fetch.sh, in its layout:
#   - MicroPython's WebAssembly build (@micropython/micropython-webassembly-pyscript 1.26.0, 1.27.0,
#     1.28.0-6 with and without ulab): CORPUS_DIR/micropython-wasm/<version>/<file>.wasm,
#     for bench/pairs-wasm.tsv (byte-coded instructions: the WebAssembly address map, PRED.wasmAddr);
#   - rollup's native module for 32-bit ARM and AArch64 Linux (@rollup/rollup-linux-arm-gnueabihf and
#     -arm64-gnu 4.68.7, 4.68.8): CORPUS_DIR/rollup/<platform>/<version>/rollup.node, for
#     bench/pairs-rollup.tsv (2 MB images: its in-place column takes minutes);
#   - x86-64 Linux, for bench/pairs-x86.tsv (the x86-64 reference map, PRED.x86rel): esbuild
#     (@esbuild/linux-x64 0.23.0, 0.24.0, 0.24.1, a Go executable: CORPUS_DIR/esbuild/linux-x64/<version>/esbuild)
#     and rollup's native module (@rollup/rollup-linux-x64-gnu 4.68.7, 4.68.8, a Rust shared library:
#     CORPUS_DIR/rollup/linux-x64-gnu/<version>/rollup.node).
#   - esbuild 0.24.0 and 0.24.1 for six more architectures (@esbuild/linux-ia32, -riscv64, -ppc64,
#     -s390x, -mips64el, -loong64): CORPUS_DIR/esbuild/linux-<arch>/<version>/esbuild, for
#     bench/pairs-arch.tsv (x86 with the x86 map, s390x and MIPS with maps of their own, the others
#     with pointers only: the check that code of any architecture stays within bsdiff + 256 bytes).
#   - Pybricks releases the corpus does not hold (@pybricks/firmware 4.13.0-alpha.5, 4.17.0, 7.2.0: firmware
#     v3.1.0a4, v3.2.0b3 and v3.3.0b3, before fetch.sh's 6.2.0 = v3.2.0b5 and 7.22.0 = v3.6.0b5), every hub
#     (packed into CORPUS_DIR/tgz, then unpacked by bench/hubs.sh):
#     CORPUS_DIR/pybricks/<npm version>/<hub>.bin, for bench/pairs-betas.tsv (Cortex-M firmware updates
#     the engine was not tuned on: beta to beta, and the releases between the corpus's).
# Files already there are kept.
#   bash bench/npm-pairs.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-wasm.tsv
#   (and --pairs bench/pairs-rollup.tsv, bench/pairs-x86.tsv, bench/pairs-arch.tsv, bench/pairs-betas.tsv)
set -euo pipefail
OUT=${1:?usage: bench/npm-pairs.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/tgz"
OUT=$(cd "$OUT" && pwd)
added=0
# unpack one file of an npm package to dest (kept when present)
take() {
  local spec=$1 file=$2 dest=$3 f t
  [ -e "$dest" ] && return 0
  f=$(cd "$OUT/tgz" && npm pack --silent "$spec" | tail -n1)
  t=$(mktemp -d)
  tar -xzf "$OUT/tgz/$f" -C "$t" "package/$file"
  mkdir -p "$(dirname "$dest")"
  mv "$t/package/$file" "$dest"
  rm -rf "$t"
  added=$((added + 1))
}
for v in 1.26.0 1.27.0 1.28.0-6; do
  take "@micropython/micropython-webassembly-pyscript@$v" micropython.wasm "$OUT/micropython-wasm/$v/micropython.wasm"
done
take "@micropython/micropython-webassembly-pyscript@1.28.0-6" micropython-ulab.wasm "$OUT/micropython-wasm/1.28.0-6/micropython-ulab.wasm"
for p in arm-gnueabihf arm64-gnu x64-gnu; do
  for v in 4.68.7 4.68.8; do
    take "@rollup/rollup-linux-$p@$v" "rollup.linux-$p.node" "$OUT/rollup/linux-$p/$v/rollup.node"
  done
done
for v in 0.23.0 0.24.0 0.24.1; do
  take "@esbuild/linux-x64@$v" bin/esbuild "$OUT/esbuild/linux-x64/$v/esbuild"
done
for a in ia32 riscv64 ppc64 s390x mips64el loong64; do
  for v in 0.24.0 0.24.1; do
    take "@esbuild/linux-$a@$v" bin/esbuild "$OUT/esbuild/linux-$a/$v/esbuild"
  done
done
for v in 4.13.0-alpha.5 4.17.0 7.2.0; do
  [ -e "$OUT/tgz/pybricks-firmware-$v.tgz" ] || (cd "$OUT/tgz" && npm pack --silent "@pybricks/firmware@$v" >/dev/null)
done
echo "npm pairs: $added files added under $OUT (micropython-wasm, rollup, esbuild/linux-*)"
# every hub's image of the Pybricks packages in CORPUS_DIR/tgz, these three releases' too
bash "$(dirname "$0")/hubs.sh" "$OUT"
