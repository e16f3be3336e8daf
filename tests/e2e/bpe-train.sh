#!/bin/sh
# bpe-train.sh: `lmsh bpe-train` end to end.
# Covers: training on corpus.en with vocab size 500 and <|endoftext|> (the
# corpus before -o DIR, underscore spelling --vocab_size) gives the CS336
# reference merges in order and the same vocab entries; the written files
# load back (tokenize + detokenize round trip of another text, the special
# token is one id); --threads 1 gives the same files; errors: no corpus or
# no -o (exit 2), a missing corpus file and a vocab size under 257 (exit 1).
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
D="$LMSH_TEST_DATA/bpe"

"$LMSH" bpe-train --vocab_size 500 --special-token '<|endoftext|>' \
    "$D/corpus.en" -o "$T/tok" 2>"$T/err" || no "bpe-train: $(cat "$T/err")"
tail -n +2 "$T/tok/merges.txt" | cmp -s - "$D/train-bpe-reference-merges.txt" ||
    no "merges differ from the reference"
head -1 "$T/tok/merges.txt" | grep -q '^#version' || no "merges header"
# the same "token": id pairs, whatever the indentation
norm() { sed -n 's/^ *\(".*": [0-9]*\),\{0,1\}$/\1/p' "$1" | sort; }
norm "$T/tok/vocab.json" >"$T/v1"
norm "$D/train-bpe-reference-vocab.json" >"$T/v2"
[ "$(wc -l <"$T/v1")" -eq 500 ] || no "500 vocab lines"
cmp -s "$T/v1" "$T/v2" || no "vocab differs from the reference"

"$LMSH" bpe-train --threads 1 --vocab-size 500 \
    --special-token '<|endoftext|>' -o "$T/tok1" "$D/corpus.en" ||
    no "bpe-train --threads 1"
cmp -s "$T/tok/vocab.json" "$T/tok1/vocab.json" &&
    cmp -s "$T/tok/merges.txt" "$T/tok1/merges.txt" || no "--threads 1 differs"

"$LMSH" tokenize --model "$T/tok" --prompt-file "$D/german.txt" >"$T/ids" ||
    no "tokenize with the trained files"
"$LMSH" detokenize --model "$T/tok" <"$T/ids" | cmp -s - "$D/german.txt" ||
    no "round trip with the trained files"
[ "$("$LMSH" tokenize --model "$T/tok" 'x<|endoftext|>')" = "88 0" ] ||
    no "special token id 0 (x is byte id 88, as in the reference vocab)"

"$LMSH" bpe-train --vocab-size 500 -o "$T/x" >/dev/null 2>&1
[ $? -eq 2 ] || no "no corpus should exit 2"
"$LMSH" bpe-train --vocab-size 500 "$D/corpus.en" >/dev/null 2>&1
[ $? -eq 2 ] || no "no -o should exit 2"
"$LMSH" bpe-train --vocab-size 500 "$T/missing.txt" -o "$T/x" 2>"$T/err"
[ $? -eq 1 ] || no "missing corpus should exit 1"
grep -q "missing.txt" "$T/err" || no "missing corpus message"
"$LMSH" bpe-train --vocab-size 200 "$D/corpus.en" -o "$T/x" 2>"$T/err"
[ $? -eq 1 ] || no "vocab size 200 should exit 1"
exit $fail
