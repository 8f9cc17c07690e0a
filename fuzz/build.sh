#!/bin/sh
# Build the libFuzzer targets of fuzz/ with clang into build-fuzz/ (or
# $1): ASan + UBSan + libFuzzer, compiled straight from the sources (no
# meson: the fuzzer flags must apply to every object). See
# docs/reliability.md.
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-fuzz}
cc=${CLANG:-clang}
mkdir -p "$out"
flags="-std=c11 -D_GNU_SOURCE -g -O1
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-Wall -Wextra -Werror -Wno-unused-parameter -Iinclude -Isrc"
core="src/core/vector.c src/core/pagemap.c
	src/core/access.c src/core/sppt.c src/core/walk.c"

# shellcheck disable=SC2086 # the flag and source lists, split
build() { # TARGET SOURCES...
	t=$1
	shift
	$cc $flags -o "$out/$t" "$@"
}

# shellcheck disable=SC2086
build fuzz_access fuzz/fuzz_access.c $core
build fuzz_elf fuzz/fuzz_elf.c src/vmm/elf_load.c src/kvm/guest_mem.c
build fuzz_policy fuzz/fuzz_policy.c tools/spp/options.c -Itools/spp
build fuzz_kallsyms fuzz/fuzz_kallsyms.c src/core/kallsyms.c src/core/ksym.c \
	-llzma -lzstd -lz
