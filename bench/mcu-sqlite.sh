#!/usr/bin/env bash
# Builds microcontroller firmware pairs that no one tuned the engine on: SQLite (the amalgamation
# better-sqlite3 ships on npm: 11.0.0 = SQLite 3.46.0, 12.2.0 = 3.50.2, 12.4.1 = 3.50.4, with a small
# main) compiled -Os by Debian's cross compilers for three microcontroller cores:
#   - Cortex-M4 (arm-none-eabi-gcc, picolibc; flash at 0x08000000): CORPUS_DIR/mcu-sqlite/cortexm-<v>.bin
#   - the same by clang and lld (LLVM, as Rust's embedded targets build: addresses by MOVW/MOVT pairs,
#     not literal pools), with picolibc's library: CORPUS_DIR/mcu-sqlite/cortexm-clang-<v>.bin
#   - RV32IMAC (riscv64-unknown-elf-gcc, picolibc; flash at 0x20000000: compressed code, data
#     addressed by LUI pairs): CORPUS_DIR/mcu-sqlite/rv32-<v>.bin
#   - Xtensa LX106, the ESP8266's (xtensa-lx106-elf-gcc, -mlongcalls, text at 0x40210000; Debian has
#     no C library for it, so picolibc's headers and no library: calls into libc stay unresolved, at 0):
#     CORPUS_DIR/mcu-sqlite/xtensa-<v>.bin (.text, .literal and .rodata)
# for bench/pairs-mcu.tsv. Installs the compilers when missing (apt-get, as root). Files already there
# are kept.
#   bash bench/mcu-sqlite.sh CORPUS_DIR && npm run bench:delta -- CORPUS_DIR --pairs bench/pairs-mcu.tsv
set -euo pipefail
OUT=${1:?usage: bench/mcu-sqlite.sh CORPUS_DIR   (a corpus made by ../shared/corpus/fetch.sh)}
mkdir -p "$OUT/mcu-sqlite"
D=$(cd "$OUT/mcu-sqlite" && pwd)
need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi)
[ -e /usr/lib/picolibc/arm-none-eabi/picolibc.specs ] || need+=(picolibc-arm-none-eabi)
command -v riscv64-unknown-elf-gcc >/dev/null || need+=(gcc-riscv64-unknown-elf)
[ -e /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || need+=(picolibc-riscv64-unknown-elf)
command -v xtensa-lx106-elf-gcc >/dev/null || need+=(gcc-xtensa-lx106)
command -v clang >/dev/null || need+=(clang)
command -v ld.lld >/dev/null || need+=(lld)
if [ ${#need[@]} -gt 0 ]; then
  echo "mcu-sqlite: installing ${need[*]} (apt-get)"
  apt-get install -y -qq "${need[@]}" >/dev/null || {
    echo "mcu-sqlite: apt-get install failed (run apt-get update first, as root)" >&2
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
SQL=(-Os -w -DSQLITE_OS_OTHER=1 -DSQLITE_THREADSAFE=0 -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE -ffunction-sections -fdata-sections -Wl,--gc-sections)
for v in 11.0.0 12.2.0 12.4.1; do
  [ -e "$D/cortexm-$v.bin" ] && [ -e "$D/cortexm-clang-$v.bin" ] && [ -e "$D/rv32-$v.bin" ] && [ -e "$D/xtensa-$v.bin" ] && continue
  (cd "$t" && npm pack --silent "better-sqlite3@$v" >/dev/null)
  mkdir -p "$t/$v"
  tar -xzf "$t/better-sqlite3-$v.tgz" -C "$t/$v" package/deps/sqlite3
  src="$t/$v/package/deps/sqlite3"
  echo "mcu-sqlite: SQLite $(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' "$src/sqlite3.h") from better-sqlite3 $v"
  arm-none-eabi-gcc --specs=picolibc.specs -mcpu=cortex-m4 -mthumb "${SQL[@]}" \
    -Wl,--defsym=__flash=0x08000000 -Wl,--defsym=__flash_size=0x200000 -Wl,--defsym=__ram=0x20000000 -Wl,--defsym=__ram_size=0x40000 \
    -I"$src" -o "$t/cortexm.elf" "$t/main.c" "$src/sqlite3.c"
  arm-none-eabi-objcopy -O binary "$t/cortexm.elf" "$D/cortexm-$v.bin"
  P=/usr/lib/picolibc/arm-none-eabi
  for c in main sqlite3; do
    f="$t/main.c"
    [ "$c" = sqlite3 ] && f="$src/sqlite3.c"
    clang --target=thumbv7em-none-eabi -mcpu=cortex-m4 -mthumb -ffreestanding -isystem "$P/include" "${SQL[@]}" -I"$src" -c -o "$t/$c.o" "$f"
  done
  ld.lld -o "$t/clang.elf" --gc-sections -e main -Ttext=0x08000000 --defsym=__heap_start=0x20000000 --defsym=__heap_end=0x20040000 \
    "$t/main.o" "$t/sqlite3.o" "$P/lib/release/thumb/v7e-m/nofp/libc.a" "$(arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -print-libgcc-file-name)"
  arm-none-eabi-objcopy -O binary "$t/clang.elf" "$D/cortexm-clang-$v.bin"
  riscv64-unknown-elf-gcc --specs=picolibc.specs -march=rv32imac -mabi=ilp32 "${SQL[@]}" \
    -Wl,--defsym=__flash=0x20000000 -Wl,--defsym=__flash_size=0x200000 -Wl,--defsym=__ram=0x80000000 -Wl,--defsym=__ram_size=0x100000 \
    -I"$src" -o "$t/rv32.elf" "$t/main.c" "$src/sqlite3.c"
  riscv64-unknown-elf-objcopy -O binary "$t/rv32.elf" "$D/rv32-$v.bin"
  xtensa-lx106-elf-gcc -mlongcalls -mtext-section-literals -isystem /usr/lib/picolibc/arm-none-eabi/include "${SQL[@]}" \
    -nostdlib -Wl,--unresolved-symbols=ignore-all -Wl,-e,main -Wl,-Ttext=0x40210000 -Wl,-Tdata=0x3ffe8000 \
    -I"$src" -o "$t/xtensa.elf" "$t/main.c" "$src/sqlite3.c"
  xtensa-lx106-elf-objcopy -O binary -j .text -j .literal -j .rodata "$t/xtensa.elf" "$D/xtensa-$v.bin"
done
echo "mcu-sqlite: images in $D"
