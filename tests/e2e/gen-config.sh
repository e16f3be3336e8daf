#!/bin/sh
# gen-config.sh: per-model generation defaults from the model directory's
# generation_config.json (Hugging Face keys).  The REPL and generate take
# temperature, top_k, repetition_penalty and max_new_tokens from it; the
# command line and /set override them; the history records the values in
# effect; do_sample false means temperature 0; a value out of range and a
# file that is not JSON are warnings that change nothing; other keys are
# ignored.
. "$(dirname "$0")/common.sh"
M="$LMSH_TEST_DATA/models/tiny"
[ -f "$M/config.json" ] || exit 77
XDG_DATA_HOME="$T/xdg"
export XDG_DATA_HOME
cp -r "$M" "$T/m"
cat > "$T/m/generation_config.json" <<'JSON'
{ "temperature": 0.5, "top_k": 7, "repetition_penalty": 1.3,
  "max_new_tokens": 3, "transformers_version": "4.40.0",
  "eos_token_id": [1, 2], "do_sample": true }
JSON
lm() { "$LMSH" --model "$T/m" --threads 1 --eos-token-id -1 "$@"; }

printf '/show\n' | lm --no-history > "$T/o" 2> "$T/e" || no "show: $?"
[ -s "$T/e" ] && no "stderr: $(cat "$T/e")"
grep -qx "temperature    0.50" "$T/o" || no "temperature: $(cat "$T/o")"
grep -qx "top_k          7" "$T/o" || no "top_k"
grep -qx "repeat_penalty 1.3" "$T/o" || no "repeat_penalty"
grep -qx "max            3" "$T/o" || no "max_new_tokens"
grep -qx "top_p          0.90" "$T/o" || no "top_p is not in the file"

# the command line and /set win
printf '/set top_k 2\n/show\n' | lm --no-history -t 0.9 \
    --max-new-tokens 5 > "$T/o" || no "override: $?"
grep -qx "temperature    0.90" "$T/o" || no "-t: $(cat "$T/o")"
grep -qx "max            5" "$T/o" || no "--max-new-tokens"
[ "$(grep -c "^top_k          2$" "$T/o")" -eq 2 ] || no "/set top_k"

# the history records the values in effect
echo "Once" | lm > /dev/null || no "turn: $?"
"$LMSH" history show 1 > "$T/s" || no "history show"
grep -q "4 prompt + 3 output tokens" "$T/s" ||
    no "max_new_tokens in effect: $(grep prompt "$T/s")"
grep -q "temperature=0.5 .*top_k=7" "$T/s" ||
    no "settings recorded: $(grep temp "$T/s")"

# generate takes them too
"$LMSH" generate --model "$T/m" --threads 1 --no-history --eos-token-id -1 \
    --prompt "Once" --output ids > "$T/o" || no "generate: $?"
[ "$(tr ',' '\n' < "$T/o" | grep -c .)" -eq 3 ] || no "generate: $(cat "$T/o")"

# do_sample false is greedy; a bad value and bad JSON are warnings
echo '{ "do_sample": false, "top_p": 7 }' > "$T/m/generation_config.json"
printf '/show\n' | lm --no-history > "$T/o" 2> "$T/e" || no "greedy: $?"
grep -qx "temperature    0.00 (greedy)" "$T/o" || no "do_sample: $(cat "$T/o")"
grep -q "^lmsh: warning: generation_config.json: .*top_p.*(ignored)$" \
    "$T/e" || no "bad top_p: $(cat "$T/e")"
grep -qx "top_p          0.90" "$T/o" || no "top_p changed"
echo '{ "temperature": ' > "$T/m/generation_config.json"
printf '/show\n' | lm --no-history > "$T/o" 2> "$T/e" || no "bad json: $?"
grep -q "generation_config.json:.*(ignored)$" "$T/e" ||
    no "bad json: $(cat "$T/e")"
grep -qx "temperature    0.80" "$T/o" || no "bad json changed temperature"
exit $fail
