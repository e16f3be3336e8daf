#!/bin/sh
# replay.sh: a turn recorded by `lmsh generate --history` on the tiny model
# replays token for token.
# Covers: generate records one turn per sample with its prompt, seed and
# settings (checked with jq); `lmsh replay ID` prints the same text and
# `identical (N tokens)` with N the recorded output length; --history PATH;
# a relative --model path replays from another directory; a .pt checkpoint
# replays with the recorded config; a turn recorded from --prompt-tokens
# without a tokenizer replays without one, as ids;
# --no-history records nothing.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
DB="$T/h.db"
M="$LMSH_TEST_DATA/models/tiny"

"$LMSH" generate --threads 1 --model "$M" --prompt "Once upon a time" --seed 7 \
    --temperature 0.9 --top-k 50 --max-new-tokens 16 --history "$DB" \
    >"$T/gen" 2>"$T/err"; rc=$?
if [ $rc -ne 0 ] && grep -q "not implemented" "$T/err"; then
	cat "$T/err"; exit 77
fi
[ $rc -eq 0 ] || no "generate exit $rc: $(cat "$T/err")"
"$LMSH" history --history "$DB" --json >"$T/list.json" 2>"$T/err" \
    || no "history: $(cat "$T/err")"
[ "$(jq length "$T/list.json")" = 1 ] || no "generate recorded: $(cat "$T/list.json")"
id=$(jq '.[0].id' "$T/list.json")
"$LMSH" history --history "$DB" export "$id" >"$T/turn.json" || no "export"
[ "$(jq -c '.[0] | [.prompt, .settings.seed, .settings.temperature, .settings.top_k, .settings.max_new_tokens]' "$T/turn.json")" = \
    '["Once upon a time",7,0.9,50,16]' ] || no "recorded: $(jq -c '.[0].settings' "$T/turn.json")"
n=$(jq '.[0].n_output' "$T/turn.json")

"$LMSH" replay --threads 1 "$id" --history "$DB" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || no "replay exit $rc: $(cat "$T/err")"
[ "$(tail -1 "$T/out")" = "identical ($n tokens)" ] || no "verdict: $(tail -1 "$T/out")"
jq -r '.[0].output' "$T/turn.json" >"$T/want"
sed '$d' "$T/out" >"$T/got"
cmp -s "$T/want" "$T/got" || no "replayed text differs"

# a relative model path is recorded absolute: the replay works elsewhere
(cd "$LMSH_TEST_DATA/models" && "$LMSH" generate --threads 1 --model tiny \
    --prompt "rel" --seed 3 --max-new-tokens 5 --history "$DB" >/dev/null) \
    || no "generate --model tiny"
id=$("$LMSH" history --history "$DB" --json | jq '.[-1].id')
(cd "$T" && "$LMSH" replay --threads 1 "$id" --history "$DB") >"$T/out" \
    2>"$T/err" || no "replay from elsewhere: $(cat "$T/err")"
tail -1 "$T/out" | grep -q '^identical' || no "relative: $(tail -1 "$T/out")"
[ ! -s "$T/err" ] || no "relative path warnings: $(cat "$T/err")"

# a .pt checkpoint: its shape comes from the recorded config, the tokenizer
# from the command line
P="$LMSH_TEST_DATA/models/pt"
TOK="--vocab $M/vocab.json --merges $M/merges.txt"
"$LMSH" generate --threads 1 --checkpoint-path "$P/raw.pt" --config \
    "$P/model_config.json" $TOK --prompt-tokens 1,2,3 --eos-token-id -1 \
    --seed 5 --max-new-tokens 8 --history "$T/pt.db" >/dev/null 2>"$T/err" \
    || no "generate .pt: $(cat "$T/err")"
"$LMSH" replay --threads 1 1 --history "$T/pt.db" $TOK >"$T/out" 2>"$T/err" \
    || no "replay .pt: $(cat "$T/err")"
[ "$(tail -1 "$T/out")" = "identical (8 tokens)" ] || no ".pt: $(tail -1 "$T/out")"

# no tokenizer at all: the ids, as generate printed them
"$LMSH" generate --threads 1 --checkpoint-path "$P/raw.pt" --config \
    "$P/model_config.json" --prompt-tokens 1,2,3 --eos-token-id -1 \
    --seed 5 --max-new-tokens 8 --history "$T/ids.db" >"$T/gen" 2>"$T/err" \
    || no "generate without a tokenizer: $(cat "$T/err")"
"$LMSH" replay --threads 1 1 --history "$T/ids.db" >"$T/out" 2>"$T/err" \
    || no "replay without a tokenizer: $(cat "$T/err")"
[ "$(tail -1 "$T/out")" = "identical (8 tokens)" ] || no "ids: $(cat "$T/out")"
[ "$(head -1 "$T/out")" = "$(cat "$T/gen")" ] || no "ids: $(head -1 "$T/out")"

"$LMSH" generate --threads 1 --model "$M" --prompt "x" --max-new-tokens 2 \
    --history "$T/off.db" --no-history >/dev/null 2>&1 || no "generate --no-history"
[ ! -e "$T/off.db" ] || no "--no-history recorded"
exit $fail
