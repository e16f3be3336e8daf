#!/bin/sh
# convert.sh: `lmsh convert` turns the .pt forms CS336 training writes into
# model directories that load and match the PyTorch reference.
# Covers: a training checkpoint ({"model","optimizer","iteration"},
# _orig_mod. keys) with --config -> f32 directory whose eval loss matches
# ref.json and whose config.json has the CS336 keys; a raw state dict with
# shape flags instead of a config; --dtype bf16 (half the size, loss of the
# bfloat16-rounded weights); --dtype f16 (near the fp32 loss); a tokenizer
# larger than the model's vocabulary warned about; errors: missing -o (2),
# a bad --dtype (2), a config that does not fit (1, tensor and shapes named,
# nothing written).  The CS336
# 2024 checkpoint (when ../shared is there) with no config: recognised off
# its tensors, written as "ffn_type": "gelu" with its position embeddings,
# and the directory's eval loss matches the PyTorch reference.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
M="$LMSH_TEST_DATA/models"
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN {
	d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }
jget() { sed -n "s/.*\"$1\": *\\([-0-9.eE+]*\\).*/\\1/p" "$2"; }
TOK="--vocab $M/tiny/vocab.json --merges $M/tiny/merges.txt"

sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$M/pt/ref.json" >"$T/ids"
nll=$(jget nll "$M/pt/ref.json")
nll16=$(jget nll_bf16 "$M/pt/ref.json")

# loss DIR: eval loss of the reference ids
loss() { "$LMSH" eval --tokens --json --model "$1" "$T/ids" |
    sed -n 's/.*"loss": *\([-0-9.eE+]*\).*/\1/p'; }

# --- training checkpoint, f32 -----------------------------------------------
"$LMSH" convert "$M/pt/train.pt" --config "$M/pt/model_config.json" $TOK \
    -o "$T/f32" >"$T/out" 2>"$T/err" || no "convert exit $?: $(cat "$T/err")"
for f in config.json model.safetensors vocab.json merges.txt; do
	[ -s "$T/f32/$f" ] || no "no $f"
done
cmp -s "$T/f32/vocab.json" "$M/tiny/vocab.json" || no "vocab.json copy"
grep -q "257 tokens, more than the model's vocab_size 64" "$T/err" ||
    no "no vocabulary warning: $(cat "$T/err")"
for kv in vocab_size:64 context_length:16 d_model:16 num_layers:2 \
    num_heads:2 d_ff:32 rope_theta:10000; do
	grep -q "\"${kv%%:*}\": ${kv#*:}[,]*\$" "$T/f32/config.json" ||
	    no "config.json ${kv%%:*}"
done
l=$(loss "$T/f32")
near "${l:-0}" "$nll" 1e-4 || no "f32 loss $l, reference $nll"

# --- raw state dict, shape flags, bf16 --------------------------------------
"$LMSH" convert --checkpoint_path "$M/pt/raw.pt" --num-heads 2 \
    --context_length 16 --dtype bf16 $TOK -o "$T/b16" >/dev/null \
    2>"$T/err" || no "convert bf16 exit $?: $(cat "$T/err")"
s32=$(wc -c <"$T/f32/model.safetensors")
s16=$(wc -c <"$T/b16/model.safetensors")
[ $((s16 * 2)) -lt $((s32 + 4096)) ] && [ $((s16 * 2)) -gt $((s32 - 4096)) ] ||
    no "bf16 size $s16 vs f32 $s32"
l=$(loss "$T/b16")
near "${l:-0}" "$nll16" 1e-4 || no "bf16 loss $l, reference $nll16"

# --- f16: no reference of its own; its 11-bit mantissa keeps the loss
# within a few thousandths of fp32's (bf16's 8 bits already give 0.004) ---
"$LMSH" convert "$M/pt/raw.pt" --config "$M/pt/model_config.json" \
    --dtype f16 $TOK -o "$T/f16" >/dev/null 2>"$T/err" ||
    no "convert f16 exit $?: $(cat "$T/err")"
grep -q '"dtype":"F16"' "$T/f16/model.safetensors" || no "f16: not F16"
l=$(loss "$T/f16")
near "${l:-0}" "$nll" 2e-3 || no "f16 loss $l, fp32 reference $nll"

# --- errors ----------------------------------------------------------------
"$LMSH" convert "$M/pt/raw.pt" --config "$M/pt/model_config.json" $TOK \
    >/dev/null 2>&1
[ $? = 2 ] || no "missing -o: not exit 2"
"$LMSH" convert "$M/pt/raw.pt" --config "$M/pt/model_config.json" $TOK \
    --dtype f8 -o "$T/x" >/dev/null 2>"$T/err"
[ $? = 2 ] && grep -q "f8" "$T/err" || no "bad dtype: $(cat "$T/err")"
"$LMSH" convert "$M/pt/raw.pt" --config "$M/pt/model_config.json" $TOK \
    --d_ff 40 -o "$T/x" >/dev/null 2>"$T/err"
[ $? = 1 ] && grep -q "layers.0.ffn.w1.weight: expected shape \[40, 16\], got \[32, 16\]" \
    "$T/err" || no "misfit: $(cat "$T/err")"
[ ! -e "$T/x" ] || no "wrote output for a bad checkpoint"
old="${LMSH_SRCDIR:-.}/../shared/data/cs336-2024-checkpoint/transformer_lm_weights.pt"
if [ -r "$old" ]; then
	# no config beside it: the 2024 layout is read off the tensors
	"$LMSH" convert "$old" --num-heads 2 $TOK -o "$T/y" >/dev/null \
	    2>"$T/err" || no "2024 checkpoint: $(cat "$T/err")"
	grep -q "no model config beside $old: assuming pre-norm (" "$T/err" ||
	    no "2024 checkpoint: notice $(cat "$T/err")"
	grep -q '"ffn_type": "gelu"' "$T/y/config.json" &&
	    grep -q '"remove_rope": true' "$T/y/config.json" &&
	    grep -q '"context_length": 64' "$T/y/config.json" ||
	    no "2024 config.json: $(cat "$T/y/config.json")"
	grep -q '"position_embeddings.weight"' "$T/y/model.safetensors" ||
	    no "2024: no position embeddings written"
	R="$M/cs336-2024-real/ref.json"
	sed -n 's/.*"tokens": \[\([^]]*\)\].*/\1/p' "$R" >"$T/ids24"
	l=$("$LMSH" eval --tokens --json --model "$T/y" "$T/ids24" |
	    sed -n 's/.*"loss": *\([-0-9.eE+]*\).*/\1/p')
	near "${l:-0}" "$(jget nll "$R")" 1e-4 ||
	    no "2024 loss $l, reference $(jget nll "$R")"
else
	echo "skip: $old absent" >&2
	skipped=1
fi

# a part that could not run makes the whole a SKIP (77), unless one failed
[ $fail -eq 0 ] && [ -n "${skipped:-}" ] && exit 77
exit $fail
