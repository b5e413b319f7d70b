#!/usr/bin/env bash
# Builds RISC-V firmware pairs that no one tuned the engine on: SQLite (the amalgamation better-sqlite3
# ships on npm: 11.0.0 = SQLite 3.46.0, 12.2.0 = 3.50.2, 12.4.1 = 3.50.4) compiled for a bare-metal
# RV32IMAC microcontroller by Debian's riscv64-unknown-elf-gcc with picolibc (-Os, flash at 0x20000000:
# compressed code, data addressed by LUI pairs, as RV32 firmware is built), into
# CORPUS_DIR/riscv-sqlite/sq-<version>.bin, for the last two rows of bench/pairs-riscv.tsv.
# Installs gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf when missing (apt-get, as root).
# Files already there are kept.
#   bash bench/riscv-sqlite.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-riscv.tsv
set -euo pipefail
OUT=${1:?usage: bench/riscv-sqlite.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/riscv-sqlite"
D=$(cd "$OUT/riscv-sqlite" && pwd)
if ! command -v riscv64-unknown-elf-gcc >/dev/null || [ ! -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ]; then
  echo "riscv-sqlite: installing gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf (apt-get)"
  apt-get install -y -qq gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf >/dev/null || {
    echo "riscv-sqlite: apt-get install failed (run apt-get update first, as root)" >&2
    exit 1
  }
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cat >"$t/main.c" <<'C'
#include "sqlite3.h"
int sqlite3_os_init(void) { return 0; }
int sqlite3_os_end(void) { return 0; }
static int row(void *p, int n, char **v, char **c) { (void)p; (void)n; (void)v; (void)c; return 0; }
int main(void) {
  sqlite3 *db;
  if (sqlite3_open(":memory:", &db)) return 1;
  sqlite3_exec(db, "create table t(a, b); insert into t values (1, 2); select * from t;", row, 0, 0);
  sqlite3_close(db);
  return 0;
}
C
for v in 11.0.0 12.2.0 12.4.1; do
  [ -e "$D/sq-$v.bin" ] && continue
  (cd "$t" && npm pack --silent "better-sqlite3@$v" >/dev/null)
  mkdir -p "$t/$v"
  tar -xzf "$t/better-sqlite3-$v.tgz" -C "$t/$v" package/deps/sqlite3
  src="$t/$v/package/deps/sqlite3"
  echo "riscv-sqlite: SQLite $(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' "$src/sqlite3.h") from better-sqlite3 $v"
  riscv64-unknown-elf-gcc --specs=picolibc.specs -march=rv32imac -mabi=ilp32 -Os -w \
    -DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE \
    -ffunction-sections -fdata-sections -Wl,--gc-sections \
    -Wl,--defsym=__flash=0x20000000 -Wl,--defsym=__flash_size=0x200000 -Wl,--defsym=__ram=0x80000000 -Wl,--defsym=__ram_size=0x100000 \
    -I"$src" -o "$t/sq-$v.elf" "$t/main.c" "$src/sqlite3.c"
  riscv64-unknown-elf-objcopy -O binary "$t/sq-$v.elf" "$D/sq-$v.bin"
done
echo "riscv-sqlite: images in $D"
