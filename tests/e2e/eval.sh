#!/bin/sh
# eval.sh: `lmsh eval` against the PyTorch references of
# tools/gen-model-fixtures.py.
# Covers: loss, bits per byte and perplexity of a text in windows of the
# context length (tiny model, 191 bytes = 3 windows) in text and --json
# output; --tokens input (whitespace and commas) against ref.json's NLL;
# --dump-logits: a valid .npy header, shape [tokens, vocab] and data within
# 1e-4 of the reference logits; a .pt checkpoint with --config; errors: no
# FILE (2), a missing file, a bad id, an id outside the vocabulary (1).
# One token with --dump-logits: its row written, the loss explained, exit 0
# (without --dump-logits still an error).  Loading as users call it: each
# CS336 variant directory (--model DIR) against its reference NLL; the
# config beside a checkpoint found and named; no config: one error naming
# the missing flags, and with them a notice of what is assumed; the CS336
# reference command exactly as printed, with model_config.json (the
# course's keys) beside checkpoints/model.pt.
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

# --- one token: the row of logits, and no loss --------------------------------
first=$(sed 's/[ ,].*//' "$T/ids")
echo "$first" >"$T/one"
"$LMSH" eval --tokens --dump-logits "$T/one.npy" --model "$M/tiny" "$T/one" \
    >"$T/out" 2>"$T/err" || no "one token: exit $?: $(cat "$T/err")"
grep -q "1 token: its logits are in $T/one.npy; the loss needs at least 2 tokens" \
    "$T/err" || no "one token: $(cat "$T/err")"
[ ! -s "$T/out" ] || no "one token: output $(cat "$T/out")"
hlen=$(od -An -tu2 -j8 -N2 "$T/one.npy" | tr -d ' ')
head -c $((10 + hlen)) "$T/one.npy" | grep -q "'shape': (1, 257)" ||
    no "one token: npy header"
tail -c $((257 * 4)) "$T/one.npy" | od -An -v -tf4 | tr -s ' ' '\n' |
    grep . >"$T/a"
head -c $((257 * 4)) "$M/tiny/ref-logits.bin" | od -An -v -tf4 |
    tr -s ' ' '\n' | grep . >"$T/b"
paste "$T/a" "$T/b" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d }
    END { if (NR != 257 || m > 1e-4) exit 1 }' || no "one token: logits"
"$LMSH" eval --tokens --model "$M/tiny" "$T/one" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "eval needs at least 2" "$T/err" ||
    no "one token without --dump-logits: $(cat "$T/err")"

# --- the CS336 variants, as model directories ------------------------------
for v in nonorm nonorm-final postnorm nope silu cs336-2024; do
	sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$M/$v/ref.json" >"$T/vids"
	"$LMSH" eval --tokens --json --model "$M/$v" "$T/vids" >"$T/out.json" \
	    2>"$T/err" || no "$v: exit $?: $(cat "$T/err")"
	[ ! -s "$T/err" ] || no "$v: stderr $(cat "$T/err")"
	ref=$(sed -n 's/.*"nll": \([-0-9.eE+]*\).*/\1/p' "$M/$v/ref.json")
	near "$(jget loss "$T/out.json")" "$ref" 1e-4 ||
	    no "$v: loss $(jget loss "$T/out.json"), reference $ref"
done

# --- the config beside a checkpoint; no config ------------------------------
"$LMSH" eval --tokens --json --checkpoint_path "$M/pt/train.pt" "$T/pids" \
    >"$T/out.json" 2>"$T/err" || no "config beside: $(cat "$T/err")"
grep -q "^lmsh: model config: $M/pt/model_config.json\$" "$T/err" ||
    no "config beside not named: $(cat "$T/err")"
ref=$(sed -n 's/.*"nll": \([-0-9.eE+]*\),.*/\1/p' "$M/pt/ref.json")
near "$(jget loss "$T/out.json")" "$ref" 1e-4 || no "config beside: loss"
cp "$M/nope/model.safetensors" "$T/nope.safetensors"
"$LMSH" eval --tokens --checkpoint_path "$T/nope.safetensors" "$T/pids" \
    >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "context_length, num_heads unknown.*give --context_length N --num_heads N, or --config FILE" \
    "$T/err" || no "missing flags: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 1 ] || no "missing flags: not one line"
"$LMSH" eval --tokens --checkpoint_path "$T/nope.safetensors" \
    --num_heads 2 --context_length 24 "$T/pids" >/dev/null 2>"$T/err" ||
    no "shape flags: $(cat "$T/err")"
grep -q "no model config beside $T/nope.safetensors: assuming pre-norm with RoPE" \
    "$T/err" || no "no-config notice: $(cat "$T/err")"

# --- the reference command as printed ---------------------------------------
# st FILE NAME:SHAPE ...: a safetensors file of F32 zeros (a model of the
# reference's vocabulary without a large fixture; .pt or not, lmsh reads
# the format off the content).
st() {
	f=$1; shift; h='{'; off=0; sep=
	for t in "$@"; do
		shape=${t#*:}
		n=$(( $(echo "$shape" | tr ',' '*') ))
		h="$h$sep\"${t%%:*}\":{\"dtype\":\"F32\",\"shape\":[$shape],"
		h="$h\"data_offsets\":[$off,$((off + 4 * n))]}"
		off=$((off + 4 * n)); sep=,
	done
	h="$h}"
	while [ $(( ${#h} % 8 )) != 0 ]; do h="$h "; done
	printf "$(printf '\\%03o\\%03o' $((${#h} % 256)) $((${#h} / 256)))" >"$f"
	printf '\000\000\000\000\000\000%s' "$h" >>"$f"
	head -c "$off" /dev/zero >>"$f"
}
mkdir "$T/checkpoints"
L=layers.0
st "$T/checkpoints/model.pt" token_embeddings.weight:10000,8 \
    $L.attn.q_proj.weight:8,8 $L.attn.k_proj.weight:8,8 \
    $L.attn.v_proj.weight:8,8 $L.attn.output_proj.weight:8,8 \
    $L.ln1.weight:8 $L.ln2.weight:8 $L.ffn.w1.weight:16,8 \
    $L.ffn.w2.weight:8,16 $L.ffn.w3.weight:16,8 ln_final.weight:8 \
    lm_head.weight:10000,8
cat >"$T/checkpoints/model_config.json" <<'EOF'
{"vocab_size": 10000, "context_length": 256, "d_model": 8, "num_layers": 1,
 "num_heads": 2, "d_ff": 16, "rope_theta": 10000.0, "remove_rmsnorm": false,
 "use_post_norm": false, "remove_rope": false, "ffn_type": null,
 "batch_size": 32, "learning_rate": 0.001}
EOF
out=$(cd "$T" && "$LMSH" generate --checkpoint_path checkpoints/model.pt --vocab_size 10000 --prompt_tokens "1,2,3" --max_new_tokens 50 --device cpu 2>"$T/err") ||
    no "reference command: $(cat "$T/err")"
[ "$(echo "$out" | tr ',' '\n' | grep -c '^[0-9][0-9]*$')" = 50 ] ||
    no "reference command: '$out'"
[ "$(cat "$T/err")" = "lmsh: model config: checkpoints/model_config.json" ] ||
    no "reference command: stderr $(cat "$T/err")"

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
