#!/bin/sh
# Covers: the README's list of the library's process-wide state is the
# truth.  Every writable variable of src/liblmsh.a with static storage (nm's
# b, B, C: zero-initialised data, where mutable state lives) belongs to an
# object the README names: blas.o and blas_mv.o (the kernel choices), util.o (the
# fatal hook and the log file) and weights.o (the mapped files the SIGBUS
# handler names).  A new one fails here until the README's
# DESIGN section says why it exists.
lib="${LMSH%/src/lmsh}/src/liblmsh.a"
[ -f "$lib" ] || { echo "no $lib"; exit 99; }
command -v nm >/dev/null 2>&1 || { echo "nm not found: skip"; exit 77; }
fail=0
nm -A "$lib" 2>/dev/null | awk '$2 ~ /^[bBC]$/ { print $1, $3 }' |
	sed 's/^[^:]*:\([^:]*\):[^ ]* /\1 /' |
	grep -v ' [._]' >"${TMPDIR:-/tmp}/gs.$$"
while read -r obj sym; do
	case "$obj" in
	blas.o|blas_mv.o|util.o|weights.o)
		grep -q "^    ${obj%.o}.c " "$LMSH_SRCDIR/README" ||
			{ echo "README lacks $obj's state ($sym)"; fail=1; } ;;
	*)
		echo "global state not in the README: $obj $sym"; fail=1 ;;
	esac
done <"${TMPDIR:-/tmp}/gs.$$"
[ -s "${TMPDIR:-/tmp}/gs.$$" ] || { echo "nm listed nothing"; fail=1; }
rm -f "${TMPDIR:-/tmp}/gs.$$"
exit $fail
