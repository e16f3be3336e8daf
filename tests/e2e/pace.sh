#!/bin/sh
# pace.sh: --pace and /pace in line mode and generate, and generate's
# --probs (issue 14).
# Covers: line mode and generate run at full speed by default; /pace N and
# --pace N hold 20 tokens back for at least 19/N seconds (a lower bound
# only: a slow machine never fails it) and print the same tokens as at
# full speed; /pace alone shows it, a bad value is refused; --output jsonl
# --probs gives one probability in (0, 1] and its natural log per token.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
M="$LMSH_TEST_DATA/models/tiny"
[ -f "$M/config.json" ] || exit 77
lm() { "$LMSH" --model "$M" --threads 1 --no-history --seed 5 \
    --max-new-tokens 20 --eos-token-id -1 "$@"; }
gen() { "$LMSH" generate --model "$M" --threads 1 --no-history --seed 5 \
    --max-new-tokens 20 --eos-token-id -1 --prompt "Once upon" "$@"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

echo "Once upon" | lm >"$T/fast" || no "line mode"
t0=$(date +%s.%N)
printf '/pace 40\nOnce upon\n' | lm >"$T/slow" 2>"$T/err" || no "paced"
t1=$(date +%s.%N)
[ -s "$T/err" ] && no "stderr: $(cat "$T/err")"
[ "$(awk "BEGIN { print ($(elapsed "$t0" "$t1") >= 0.45) }")" = 1 ] ||
    no "/pace 40 took $(elapsed "$t0" "$t1") s for 20 tokens"
grep -q "^pace 40 tokens/s$" "$T/slow" || no "/pace answer: $(cat "$T/slow")"
[ "$(tail -n 1 "$T/slow")" = "$(cat "$T/fast")" ] || no "/pace changed tokens"
printf '/pace\n/pace -1\n' | lm >"$T/show" 2>"$T/err"
grep -q "^pace 0 (full speed)$" "$T/show" || no "/pace alone: $(cat "$T/show")"
grep -q "pace: '-1' is not a number" "$T/err" || no "bad pace: $(cat "$T/err")"
echo "Once upon" | lm --pace 40 >"$T/slow2" || no "--pace"
[ "$(cat "$T/slow2")" = "$(cat "$T/fast")" ] || no "--pace changed tokens"

gen --output ids >"$T/g.fast" || no "generate"
t0=$(date +%s.%N)
gen --output ids --pace 40 >"$T/g.slow" || no "generate --pace"
t1=$(date +%s.%N)
cmp -s "$T/g.fast" "$T/g.slow" || no "generate --pace changed tokens"
[ "$(awk "BEGIN { print ($(elapsed "$t0" "$t1") >= 0.45) }")" = 1 ] ||
    no "generate --pace 40 took $(elapsed "$t0" "$t1") s"
gen --output jsonl --probs >"$T/p.json" || no "--probs"
[ "$(jq '(.probs | length) == .n_tokens and (.logprobs | length) == .n_tokens
    and all(.probs[]; . > 0 and . <= 1)
    and ([.probs, .logprobs] | transpose | all(((.[0] | log) - .[1]) | fabs < 1e-5))' \
    "$T/p.json")" = true ] || no "probs: $(cat "$T/p.json")"
gen --output jsonl | jq -e 'has("probs") | not' >/dev/null ||
    no "probs without --probs"
exit $fail
