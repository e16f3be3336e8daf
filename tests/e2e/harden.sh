#!/bin/sh
# harden.sh: small holes of issue 17, end to end.
# Covers: lmsh runs under valgrind (the self re-exec through /proc/self/exe
# is skipped there; skipped when valgrind is missing); a legacy (non-zip)
# torch file is named as such.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
W="$LMSH_TEST_DATA/weights"

# --- valgrind cannot follow the re-exec -------------------------------------
if command -v valgrind >/dev/null 2>&1; then
	valgrind -q --error-exitcode=99 "$LMSH" --version >"$T/out" 2>"$T/err" \
	    || no "under valgrind: exit $?: $(cat "$T/err")"
	grep -q '^lmsh ' "$T/out" || no "under valgrind: $(cat "$T/out" "$T/err")"
else
	echo "valgrind missing: its part skipped"
fi

# --- a legacy torch file ------------------------------------------------------
"$LMSH" convert "$W/legacy.pt" -o "$T/conv" --vocab "$T/none" \
    --merges "$T/none" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "legacy.pt: a legacy PyTorch file (not a zip)" "$T/err" \
    || no "legacy.pt: $rc $(cat "$T/err")"
exit $fail
