#!/usr/bin/env bash
# The anchor tools a benchmark compares against, from Debian: installed when missing (as root, with
# apt-get), otherwise the exact command to run is printed and the benchmark does not start.
#   bash bench/setup.sh delta    bsdiff (and bspatch), xdelta3, zstd, xz (npm run bench:delta runs this first)
#   bash bench/setup.sh serve    nginx                       (npm run bench:serve runs this first)
set -euo pipefail
case "${1:-}" in
  delta) tools=(bsdiff:bsdiff bspatch:bsdiff xdelta3:xdelta3 zstd:zstd xz:xz-utils) ;;
  serve) tools=(nginx:nginx-light) ;;
  *)
    echo "usage: bash bench/setup.sh delta|serve" >&2
    exit 2
    ;;
esac
need=()
for t in "${tools[@]}"; do
  command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "bench: missing ${need[*]}; install them first (Debian: sudo apt-get install ${need[*]})" >&2
  exit 2
fi
echo "bench: installing ${need[*]} (apt-get)" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
