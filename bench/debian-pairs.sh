#!/usr/bin/env bash
# Adds RISC-V firmware pairs from Debian's packages (compressed code, RV64GC, as GCC emits it: the
# RISC-V map's halfword windows, PRED.riscvC) to a corpus made by ../shared/corpus/fetch.sh:
#   - u-boot for QEMU's RISC-V machine, the M-mode and the S-mode build (package u-boot-qemu: the same
#     sources, code moved): CORPUS_DIR/debian-riscv/u-boot-qemu-riscv64.bin and -smode.bin;
#   - OpenSBI's generic fw_dynamic.bin from package opensbi and the one qemu-system-data bundles (two
#     builds of about the same version): CORPUS_DIR/debian-riscv/opensbi-package.bin and opensbi-qemu.bin;
# for bench/pairs-riscv.tsv. Needs apt-get (Debian; `apt-get update` first when its lists are empty).
# Files already there are kept; the package versions taken are printed.
#   bash bench/debian-pairs.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-riscv.tsv
set -euo pipefail
OUT=${1:?usage: bench/debian-pairs.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/debian-riscv"
OUT=$(cd "$OUT" && pwd)
D="$OUT/debian-riscv"
if [ -e "$D/u-boot-qemu-riscv64.bin" ] && [ -e "$D/u-boot-qemu-riscv64-smode.bin" ] && [ -e "$D/opensbi-package.bin" ] && [ -e "$D/opensbi-qemu.bin" ]; then
  echo "debian-pairs: all files present in $D"
  exit 0
fi
command -v apt-get >/dev/null || { echo "debian-pairs: needs apt-get (Debian)" >&2; exit 1; }
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
chmod 777 "$t" # apt's download user writes there
(cd "$t" && apt-get download u-boot-qemu opensbi qemu-system-data >/dev/null 2>"$t/err") || {
  cat "$t/err" >&2
  echo "debian-pairs: apt-get download failed (run apt-get update first)" >&2
  exit 1
}
for f in "$t"/*.deb; do
  echo "debian-pairs: $(dpkg-deb -f "$f" Package) $(dpkg-deb -f "$f" Version)"
  dpkg-deb -x "$f" "$t/x"
done
cp -n "$t/x/usr/lib/u-boot/qemu-riscv64/u-boot.bin" "$D/u-boot-qemu-riscv64.bin"
cp -n "$t/x/usr/lib/u-boot/qemu-riscv64_smode/u-boot.bin" "$D/u-boot-qemu-riscv64-smode.bin"
cp -n "$t/x/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin" "$D/opensbi-package.bin"
cp -n "$t/x/usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin" "$D/opensbi-qemu.bin"
echo "debian-pairs: files in $D"
