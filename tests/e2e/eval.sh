#!/bin/sh
# eval.sh: `lmsh eval` against the PyTorch references of
# tools/gen-model-fixtures.py.
# Covers: loss, bits per byte and perplexity of a text in windows of the
# context length (tiny model, 191 bytes = 3 windows) in text and --json
# output; --tokens input (whitespace and commas) against ref.json's NLL;
# --dump-logits: a valid .npy header, shape [tokens, vocab] and data within
# 1e-4 of the reference logits; a .pt checkpoint with --config; errors: no
# FILE (2), a missing file, a bad id, an id outside the vocabulary (1).
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
M="$LMSH_TEST_DATA/models"

# near A B TOL: |A - B| <= TOL
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
	d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
need_jq
# jget KEY FILE: a value of a JSON object
jget() { jq -r ".$1" "$2"; }

# --- text, --json ---------------------------------------------------------
"$LMSH" eval --json --model "$M/tiny" "$M/eval.txt" >"$T/out.json" \
    2>"$T/err" || no "eval --json exit $?: $(cat "$T/err")"
R="$M/tiny/eval-ref.json"
for k in loss:mean_nll:1e-4 bits_per_byte:bits_per_byte:2e-4 \
    perplexity:perplexity:2; do
	ours=$(jget "${k%%:*}" "$T/out.json")
	rest=${k#*:}
	ref=$(jget "${rest%%:*}" "$R")
	near "$ours" "$ref" "${rest#*:}" ||
	    no "${k%%:*}: $ours, reference $ref"
done
[ "$(jget predicted "$T/out.json")" = "$(jget n_tokens "$R")" ] ||
    no "predicted tokens: $(jget predicted "$T/out.json")"
[ "$(jget bytes "$T/out.json")" = "$(wc -c <"$M/eval.txt" | tr -d ' ')" ] ||
    no "bytes: $(jget bytes "$T/out.json")"

# --- text, plain output -----------------------------------------------------
"$LMSH" eval --model "$M/tiny" "$M/eval.txt" >"$T/out.txt" ||
    no "eval exit $?"
loss=$(sed -n 's/^loss: \([0-9.]*\) nats\/token$/\1/p' "$T/out.txt")
near "${loss:-0}" "$(jget mean_nll "$R")" 1e-4 || no "plain loss: $loss"
bytes=$(wc -c <"$M/eval.txt" | tr -d ' ')
grep -q "^bits per byte: [0-9.]* ($bytes bytes)\$" "$T/out.txt" || no "bpb line"
grep -q '^perplexity: [0-9.]*$' "$T/out.txt" || no "perplexity line"

# --- --tokens and --dump-logits ----------------------------------------------
sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$M/tiny/ref.json" |
    sed 's/, / /g; s/ \([0-9]*\) \([0-9]*\)/ \1,\2/' >"$T/ids"
"$LMSH" eval --tokens --json --dump-logits "$T/l.npy" --model "$M/tiny" \
    "$T/ids" >"$T/out.json" 2>"$T/err" || no "eval --tokens: $(cat "$T/err")"
ref=$(sed -n 's/.*"nll": \([-0-9.eE+]*\).*/\1/p' "$M/tiny/ref.json")
near "$(jget loss "$T/out.json")" "$ref" 1e-4 ||
    no "--tokens loss $(jget loss "$T/out.json"), reference $ref"
# bytes of byte-level tokens: one each
[ "$(jget bytes "$T/out.json")" = 64 ] || no "--tokens bytes"
head -c 6 "$T/l.npy" | od -An -c | grep -q 'N   U   M   P   Y' || no "npy magic"
hlen=$(od -An -tu2 -j8 -N2 "$T/l.npy" | tr -d ' ')
head -c $((10 + hlen)) "$T/l.npy" | grep -q "'descr': '<f4', 'fortran_order': False, 'shape': (64, 257)" ||
    no "npy header: $(head -c $((10 + hlen)) "$T/l.npy")"
[ $(( (10 + hlen) % 64 )) = 0 ] || no "npy header not aligned"
[ "$(wc -c <"$T/l.npy")" = $((10 + hlen + 64 * 257 * 4)) ] || no "npy size"
tail -c $((64 * 257 * 4)) "$T/l.npy" | od -An -v -tf4 | tr -s ' ' '\n' |
    grep . >"$T/a"
od -An -v -tf4 "$M/tiny/ref-logits.bin" | tr -s ' ' '\n' | grep . >"$T/b"
[ "$(wc -l <"$T/a")" = $((64 * 257)) ] || no "dumped values"
paste "$T/a" "$T/b" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
    END { if (m > 1e-4) { print "max diff " m; exit 1 } }' || no "dumped logits"

# --- a .pt checkpoint with its config ---------------------------------------
sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$M/pt/ref.json" >"$T/pids"
"$LMSH" eval --tokens --json --checkpoint_path "$M/pt/train.pt" \
    --config "$M/pt/model_config.json" "$T/pids" >"$T/out.json" \
    2>"$T/err" || no "eval .pt: $(cat "$T/err")"
ref=$(jget nll "$M/pt/ref.json")
near "$(jget loss "$T/out.json")" "$ref" 1e-4 ||
    no ".pt loss $(jget loss "$T/out.json"), reference $ref"
jq -e '.bits_per_byte == null' "$T/out.json" >/dev/null ||
    no "bpb without tokenizer"

# --- errors -----------------------------------------------------------------
"$LMSH" eval --model "$M/tiny" >/dev/null 2>"$T/err"
[ $? = 2 ] || no "no FILE: not exit 2"
"$LMSH" eval --model "$M/tiny" "$T/nope" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "$T/nope" "$T/err" || no "missing file: $(cat "$T/err")"
printf '1 2 x3\n' >"$T/bad"
"$LMSH" eval --tokens --model "$M/tiny" "$T/bad" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "bad: byte 4: '[^']*' is not a token id" "$T/err" ||
    no "bad id: $(cat "$T/err")"
printf '1 2 257\n' >"$T/bad"
"$LMSH" eval --tokens --model "$M/tiny" "$T/bad" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "257" "$T/err" || no "id out of range: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 1 ] || no "more than one error line"

exit $fail
