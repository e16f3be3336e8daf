#!/bin/sh
# generate.sh: `lmsh generate` end to end on the tiny fixture model.
# Covers: the reference flags (--checkpoint_path with shape flags,
# --prompt_tokens, --temperature 0, --device cpu) and --model DIR give the
# PyTorch greedy ids of tests/data/models/tiny/ref.json; the same seed gives
# the same text, another seed other text; jsonl has one object per sample
# (prompts x --num-samples) with tokens, text, stop reason and timings (read
# with jq), and every sample's sample_seed, those above 2^63 included,
# regenerates it alone; prompts one per line from stdin
# and --prompt-file; --stop (not printed, stop reason "stop"); EOS stops;
# history turns recorded with --history (sample 6 of a batch replays alone
# as identical), none with --no-history, and an
# unusable history is one warning; Ctrl-C (SIGINT) mid-run prints what was
# generated, exit 1; errors: --device cuda, --top-p 0, bad --prompt-tokens,
# --output xml (exit 2), a prompt longer than the context (exit 1, nothing
# recorded).
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
M="$LMSH_TEST_DATA/models/tiny"
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"' EXIT
H="--history $T/h.db"
# one thread: the machine running the tests is busy with other tests
lmsh() { "$LMSH" "$@" --threads 1; }

need_jq
# the reference's prompt and greedy ids, as "a,b,c"
ref() { jq -r ".$1 | map(tostring) | join(\",\")" "$M/ref.json"; }
prompt=$(ref prompt)
greedy=$(ref greedy)
[ -n "$prompt" ] && [ -n "$greedy" ] || exit 99
n=$(echo "$greedy" | tr ',' '\n' | wc -l)

# reference flags, checkpoint plus shape
out=$("$LMSH" generate --checkpoint_path "$M/model.safetensors" \
    --vocab_size 257 --context_length 64 --d_model 32 --num_layers 2 \
    --num_heads 4 --d_ff 64 --rope_theta 10000 --prompt_tokens "$prompt" \
    --max_new_tokens "$n" --temperature 0 --device cpu --no-history \
    2>"$T/err") || no "reference flags: $(cat "$T/err")"
[ "$out" = "$greedy" ] || no "reference flags: '$out', want '$greedy'"
out=$(lmsh generate --model "$M" --prompt-tokens "$prompt" \
    --max-new-tokens "$n" --temperature 0 --output ids --no-history) ||
    no "--model"
[ "$out" = "$greedy" ] || no "--model: '$out', want '$greedy'"

# seeds
a=$(lmsh generate -m "$M" --prompt "Once upon" --seed 7 -t 1 \
    --max-new-tokens 20 --no-history | od -An -tx1)
b=$(lmsh generate -m "$M" --prompt "Once upon" --seed 7 -t 1 \
    --max-new-tokens 20 --no-history | od -An -tx1)
c=$(lmsh generate -m "$M" --prompt "Once upon" --seed 8 -t 1 \
    --max-new-tokens 20 --no-history | od -An -tx1)
[ -n "$a" ] && [ "$a" = "$b" ] || no "same seed, different text"
[ "$a" != "$c" ] || no "another seed, same text"

# jsonl: 2 prompts from stdin x 3 samples
max=6
printf 'Once upon a time\n\nThe cat\n' | lmsh generate -m "$M" \
    --num_samples 3 --seed 11 --max-new-tokens $max --output jsonl $H \
    >"$T/j" 2>"$T/err" || no "jsonl: $(cat "$T/err")"
[ "$(wc -l <"$T/j")" -eq 6 ] || no "jsonl: $(wc -l <"$T/j") lines, want 6"
jq -e -s 'length == 6 and ([.[] | .sample] == [range(6)]) and
    ([.[] | .prompt] == [0, 0, 0, 1, 1, 1]) and all(.[]; .seed == 11)' \
    "$T/j" >/dev/null || no "jsonl: samples, prompts, seeds"
jq -e -s --argjson max $max 'all(.[]; .stop == "max_tokens" and
    .n_tokens == $max and (.tokens | length) == $max)' "$T/j" >/dev/null ||
    no "jsonl: stop reasons"
jq -e -s 'all(.[]; (.prefill_s | type) == "number" and .prefill_s >= 0 and
    (.decode_s | type) == "number" and .temperature == 0.8 and
    .top_p == 0.9)' "$T/j" >/dev/null || no "jsonl: timings and settings"
# Every sample regenerates alone from its sample_seed, those above 2^63
# included (about half of them).  jq 1.6 reads numbers as doubles, so the
# seed is read from the text itself.
big=0
for k in 0 1 2 3 4 5; do
	line=$(sed -n "$((k + 1))p" "$T/j")
	sk=$(echo "$line" | sed 's/.*"sample_seed": \([0-9]*\),.*/\1/')
	tk=$(echo "$line" | jq -r '.tokens | map(tostring) | join(",")')
	pk=$(echo "$line" | jq -r 'if .prompt == 0 then "Once upon a time"
	    else "The cat" end')
	alone=$(lmsh generate -m "$M" --prompt "$pk" --seed "$sk" \
	    --max-new-tokens $max --output ids --no-history)
	[ "$alone" = "$tk" ] || no "sample $k alone: '$alone', want '$tk'"
	awk 'BEGIN { exit !(ARGV[1] >= 9223372036854775808) }' "$sk" &&
	    big=$((big + 1))
done
[ $big -gt 0 ] || no "no sample seed above 2^63 was tried"
# each sequence is a history turn
if "$LMSH" history list --history "$T/h.db" >"$T/l" 2>"$T/err"; then
	[ "$(wc -l <"$T/l")" -eq 6 ] || no "history: $(wc -l <"$T/l") turns"
else
	no "history list: $(cat "$T/err")"
fi
# a sample of the batch replays alone from its turn
"$LMSH" replay 6 --history "$T/h.db" --threads 1 >"$T/r" 2>&1 ||
    no "replay of sample 6: $(cat "$T/r")"
grep -q "^identical ($max tokens)" "$T/r" ||
    no "replay of sample 6: $(cat "$T/r")"
lmsh generate -m "$M" --prompt x --max-new-tokens 2 --history "$T/h2.db" \
    --no-history >/dev/null
[ ! -e "$T/h2.db" ] || no "--no-history wrote a history"
: >"$T/file"
out=$(lmsh generate -m "$M" --prompt x --max-new-tokens 2 -t 0 \
    --history "$T/file/h.db" 2>"$T/err") ||
    no "unusable history is fatal"
[ "$(grep -c warning "$T/err")" -eq 1 ] || no "history warning: $(cat "$T/err")"
[ -n "$out" ] || no "no output with an unusable history"

# prompt file, ids
printf 'ab\ncd\n' >"$T/p"
lmsh generate -m "$M" --prompt-file "$T/p" --max-new-tokens 3 \
    --output ids --no-history >"$T/o" || no "--prompt-file"
[ "$(wc -l <"$T/o")" -eq 2 ] || no "--prompt-file: two lines"

# stop strings and EOS on the greedy continuation (bytes '%' 0xBD 0xD4 'S'
# 'O' ...): "SO" ends it before the S, once the token that completes it
# has been generated
so=$("$LMSH" tokenize -m "$M" --format json SO)
n_so=$(jq -n --argjson g "[$greedy]" --argjson so "$so" \
    '[range($g | length) | select($g[.:. + 2] == $so)][0] + 2')
lmsh generate -m "$M" --prompt-tokens "$prompt" -t 0 --stop SO \
    --max-new-tokens "$n" --output jsonl --no-history >"$T/s" ||
    no "--stop"
jq -e --argjson n "$n_so" '.stop == "stop" and .n_tokens == $n and
    (.text | startswith("%") and (contains("S") | not))' "$T/s" \
    >/dev/null || no "--stop: $(cat "$T/s")"
third=$(echo "$greedy" | cut -d, -f3)
out=$(lmsh generate -m "$M" --prompt-tokens "$prompt" -t 0 \
    --eos_token_id "$third" --max-new-tokens "$n" --output jsonl \
    --no-history)
echo "$out" | jq -e --argjson g "[$greedy]" '.tokens == $g[0:3] and
    .stop == "eos"' >/dev/null || no "eos: $out"

# Ctrl-C: slow steps, wait for streamed text, interrupt
LMSH_TEST_STEP_MS=100 "$LMSH" generate --threads 1 -m "$M" --prompt-tokens 1 -t 1 \
    --max-new-tokens 60 --eos-token-id -1 --no-history \
    >"$T/int" 2>"$T/interr" &
pid=$!
i=0
while [ ! -s "$T/int" ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
[ -s "$T/int" ] || no "nothing streamed before the end"
kill -INT "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 1 ] || no "SIGINT: exit $rc, want 1"
grep -q interrupted "$T/interr" || no "SIGINT: $(cat "$T/interr")"
[ -s "$T/int" ] || no "SIGINT: output lost"

# errors
lmsh generate -m "$M" --prompt x --device cuda 2>"$T/err"
[ $? -eq 2 ] && grep -q cpu "$T/err" || no "--device cuda"
lmsh generate -m "$M" --prompt x --top-p 0 2>/dev/null
[ $? -eq 2 ] || no "--top-p 0"
lmsh generate -m "$M" --prompt-tokens "1,x" 2>"$T/err"
[ $? -eq 2 ] && grep -q prompt-tokens "$T/err" || no "bad --prompt-tokens"
lmsh generate -m "$M" --prompt x --output xml 2>/dev/null
[ $? -eq 2 ] || no "--output xml"
ctx=$(jq .context_length "$M/config.json")
long=$(printf "%0$((ctx + 6))d" 0)
n_long=$("$LMSH" tokenize -m "$M" --format count "$long")
lmsh generate -m "$M" --prompt "$long" $H 2>"$T/err"
[ $? -eq 1 ] && grep -q "$n_long tokens, $((n_long - ctx)) more than the \
context length $ctx" "$T/err" || no "long prompt: $(cat "$T/err")"
n=$("$LMSH" history list --history "$T/h.db" | wc -l)
[ "$n" -eq 6 ] || no "a failed run recorded turns ($n)"
exit $fail
