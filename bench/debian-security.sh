#!/usr/bin/env bash
# Adds pairs of real bug-fix updates to a corpus made by ../shared/corpus/fetch.sh: shared libraries
# from Debian 12's point and security releases, two builds of the same sources a fix or two apart
# (the case a FOTA bug-fix package is for), for bench/pairs-security.tsv:
#   - x86-64: libssl and libcrypto 3.0.17 -> 3.0.20 -> 3.0.22, libcurl, libxml2, libexpat, libc and
#     GLib, each the oldest update Debian still serves against the newest;
#   - AArch64 and 32-bit ARM (Debian's armhf is Thumb-2 code): libssl and libcrypto 3.0.17 -> 3.0.20.
# Files: CORPUS_DIR/debian-security/<lib>-<version>-<arch>.so. Needs apt-get (Debian). The arm64 and
# armhf indexes are fetched with APT::Architectures given on the command line (dpkg's own list of
# architectures is not changed). Files already there are kept; the versions taken are printed.
#   bash bench/debian-security.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-security.tsv
set -euo pipefail
OUT=${1:?usage: bench/debian-security.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/debian-security"
OUT=$(cd "$OUT" && pwd)
D="$OUT/debian-security"
command -v apt-get >/dev/null || { echo "debian-security: needs apt-get (Debian)" >&2; exit 1; }
A=(-o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o APT::Architectures::=armhf)
# package=version arch, then the library files it holds (path in the package -> name in the corpus)
WANT=(
  "libssl3=3.0.17-1~deb12u2 amd64 libssl.so.3:libssl-3.0.17 libcrypto.so.3:libcrypto-3.0.17"
  "libssl3=3.0.20-1~deb12u2 amd64 libssl.so.3:libssl-3.0.20 libcrypto.so.3:libcrypto-3.0.20"
  "libssl3=3.0.22-1~deb12u2 amd64 libssl.so.3:libssl-3.0.22 libcrypto.so.3:libcrypto-3.0.22"
  "libcurl4=7.88.1-10+deb12u5 amd64 libcurl.so.4.8.0:libcurl-deb12u5"
  "libcurl4=7.88.1-10+deb12u15 amd64 libcurl.so.4.8.0:libcurl-deb12u15"
  "libxml2=2.9.14+dfsg-1.3~deb12u4 amd64 libxml2.so.2.9.14:libxml2-deb12u4"
  "libxml2=2.9.14+dfsg-1.3~deb12u6 amd64 libxml2.so.2.9.14:libxml2-deb12u6"
  "libexpat1=2.5.0-1+deb12u2 amd64 libexpat.so.1.8.10:libexpat-deb12u2"
  "libexpat1=2.5.0-1+deb12u5 amd64 libexpat.so.1.8.10:libexpat-deb12u5"
  "libc6=2.36-9+deb12u7 amd64 libc.so.6:libc-deb12u7"
  "libc6=2.36-9+deb12u14 amd64 libc.so.6:libc-deb12u14"
  "libglib2.0-0=2.74.6-2+deb12u2 amd64 libglib-2.0.so.0.7400.6:libglib-deb12u2"
  "libglib2.0-0=2.74.6-2+deb12u9 amd64 libglib-2.0.so.0.7400.6:libglib-deb12u9"
  "libssl3=3.0.17-1~deb12u2 arm64 libssl.so.3:libssl-3.0.17 libcrypto.so.3:libcrypto-3.0.17"
  "libssl3=3.0.20-1~deb12u2 arm64 libssl.so.3:libssl-3.0.20 libcrypto.so.3:libcrypto-3.0.20"
  "libssl3=3.0.17-1~deb12u2 armhf libssl.so.3:libssl-3.0.17 libcrypto.so.3:libcrypto-3.0.17"
  "libssl3=3.0.20-1~deb12u2 armhf libssl.so.3:libssl-3.0.20 libcrypto.so.3:libcrypto-3.0.20"
)
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
chmod 777 "$t" # apt's download user writes there
updated=0
for w in "${WANT[@]}"; do
  read -r pv arch files <<<"$w"
  missing=0
  for f in $files; do [ -e "$D/${f#*:}-$arch.so" ] || missing=1; done
  [ "$missing" = 1 ] || continue
  if [ "$arch" != amd64 ] && [ "$updated" = 0 ]; then
    echo "debian-security: fetching the arm64 and armhf package lists"
    apt-get "${A[@]}" update >/dev/null 2>&1 || true # (a mirror mid-sync fails one index; the versions needed may be in the others)
    updated=1
  fi
  rm -rf "$t/x" "$t"/*.deb
  (cd "$t" && apt-get "${A[@]}" download "${pv%%=*}:$arch=${pv#*=}" >/dev/null 2>"$t/err") || {
    cat "$t/err" >&2
    echo "debian-security: apt-get download $pv ($arch) failed (run apt-get update first; Debian may no longer serve that version)" >&2
    exit 1
  }
  dpkg-deb -x "$t"/*.deb "$t/x"
  echo "debian-security: $pv $arch"
  for f in $files; do
    src=$(find "$t/x" -name "${f%%:*}" -type f | head -1)
    [ -n "$src" ] || { echo "debian-security: ${f%%:*} not in $pv" >&2; exit 1; }
    cp "$src" "$D/${f#*:}-$arch.so"
  done
done
echo "debian-security: files in $D"
