#!/bin/sh
# fuzz.sh SRCDIR BUILDDIR: what `make fuzz` runs.  Builds each libFuzzer
# harness in tests/fuzz/ (fuzz-safetensors, fuzz-pickle, fuzz-pt) with clang
# and -fsanitize=fuzzer,address,undefined, then runs it for SECONDS_EACH
# seconds from a corpus seeded with its committed seeds (fuzz_seeds[]).
# Corpora and any crash inputs stay in BUILDDIR/tests/fuzz/out/.  The
# harnesses are built with FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which
# turns off the zip CRC check so that mutations inside an entry get past it.
# Environment: CC (clang), SECONDS_EACH, CFLAGS_EXTRA and LIBS_EXTRA (the
# jansson and libzip flags from configure), FUZZ_ONLY (one harness name).
set -eu
src=$1
build=$2
CC=${CC:-clang}
SECONDS_EACH=${SECONDS_EACH:-60}
out=$build/tests/fuzz/out
mkdir -p "$out"

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "make fuzz: $CC not found (install clang)" >&2
	exit 1
fi
probe=$out/probe.c
printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
    'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)' \
    '{ (void)d; (void)n; return 0; }' >"$probe"
if ! "$CC" -fsanitize=fuzzer,address -o "$out/probe" "$probe" 2>/dev/null
then
	echo "make fuzz: $CC cannot link -fsanitize=fuzzer" \
	    "(libclang_rt.fuzzer missing?)" >&2
	exit 1
fi

status=0
for h in ${FUZZ_ONLY:-safetensors pickle pt}; do
	bin=$out/fuzz-$h
	# shellcheck disable=SC2086
	"$CC" -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined \
	    -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -I"$build" -I"$src/src" \
	    ${CFLAGS_EXTRA:-} -o "$bin" "$src/tests/fuzz/fuzz-$h.c" \
	    "$src/src/weights.c" "$src/src/weights_pt.c" "$src/src/pickle.c" \
	    "$src/src/util.c" \
	    ${LIBS_EXTRA:-}
	corpus=$out/corpus-$h
	mkdir -p "$corpus"
	for seed in $(sed -n 's/^[[:space:]]*"\(weights\/[^"]*\)",$/\1/p' \
	    "$src/tests/fuzz/fuzz-$h.c"); do
		cp "$src/tests/data/$seed" "$corpus/"
	done
	echo "fuzz-$h: ${SECONDS_EACH}s"
	if ! "$bin" -max_total_time="$SECONDS_EACH" -max_len=65536 \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix="$out/crash-$h-" "$corpus" \
	    >"$out/fuzz-$h.log" 2>&1; then
		echo "fuzz-$h: FAILED, see $out/fuzz-$h.log" >&2
		status=1
	fi
	grep -E '^stat::number_of_executed_units|^Done|ERROR' \
	    "$out/fuzz-$h.log" || true
done
exit $status
