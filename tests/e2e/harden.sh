#!/bin/sh
# harden.sh: small holes of issue 17, end to end.
# Covers: lmsh runs under valgrind (the self re-exec through /proc/self/exe
# is skipped there; skipped when valgrind is missing); a legacy (non-zip)
# torch file is named as such; an empty merges.txt and a tokenizer smaller
# than the model's vocabulary are warned about; the line-mode REPL refuses a
# line with a NUL byte rather than cutting the prompt at it.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
W="$LMSH_TEST_DATA/weights"

# --- valgrind cannot follow the re-exec -------------------------------------
# (not an ASan build: ASan and valgrind do not mix)
if command -v valgrind >/dev/null 2>&1 && ! ldd "$LMSH" | grep -q libasan; then
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

# --- tokenizer warnings ---------------------------------------------------------
M="$LMSH_TEST_DATA/models/tiny"
: >"$T/empty.txt"
"$LMSH" tokenize --vocab "$M/vocab.json" --merges "$T/empty.txt" --prompt hi \
    >"$T/out" 2>"$T/err" || no "empty merges: exit $?"
grep -q "empty.txt: no merges: every byte is a token" "$T/err" \
    || no "empty merges: $(cat "$T/err")"
"$LMSH" tokenize --vocab "$M/vocab.json" --merges "$M/merges.txt" --prompt hi \
    >"$T/out" 2>"$T/err" || no "merges with a #version line: exit $?"
[ ! -s "$T/err" ] || no "merges with a #version line: $(cat "$T/err")"
# the tiny model's vocabulary less its last token (257 -> 256)
sed 's/, *"[^"]*": *256 *}/}/; /"[^"]*": *256$/d' "$M/vocab.json" >"$T/small.json"
"$LMSH" generate --model "$M" --vocab "$T/small.json" --merges "$M/merges.txt" \
    --no-history --max-new-tokens 2 --seed 1 --prompt hi >"$T/out" 2>"$T/err" \
    || no "small tokenizer: exit $?: $(cat "$T/err")"
grep -q "the tokenizer has 256 tokens, the model's vocab_size is 257" "$T/err" \
    || no "small tokenizer: $(cat "$T/err")"

# --- a NUL byte in a line-mode prompt ---------------------------------------------
printf 'one\000two\n/quit\n' | "$LMSH" --model "$M" --no-history \
    --max-new-tokens 2 --seed 1 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "a line with a NUL byte: skipped" "$T/err" \
    || no "NUL line: $rc $(cat "$T/err")"
[ ! -s "$T/out" ] || no "NUL line ran a turn: $(cat "$T/out")"
exit $fail
