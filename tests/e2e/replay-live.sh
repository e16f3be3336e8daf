#!/bin/sh
# replay-live.sh: `lmsh replay` of a turn whose temperature and top-k were
# changed while it ran (recorded on the tiny model by
# tests/unit/test-replay --record).
# Covers: exact replay (`identical (24 tokens)`, the same text as recorded,
# exit 0); a variation (--temperature 0.5) is recorded as a new turn with
# replay_of, the new temperature, the recorded seed, and only the live
# changes of settings it did not override, and itself replays identically;
# a model directory whose config.json or weights differ is a warning naming
# the file; a missing turn (1); no id or two ids (2).
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
REC="${LMSH%/src/lmsh}/tests/unit/test-replay"
[ -x "$REC" ] || { echo "no $REC"; exit 77; }
DB="$T/h.db"
export LMSH_HISTORY="$DB"
id=$("$REC" --record "$DB" "Once upon a time" 2>"$T/err"); rc=$?
[ $rc -eq 77 ] && { cat "$T/err"; exit 77; }
[ $rc -eq 0 ] || { echo "record: $(cat "$T/err")"; exit 99; }

# --- exact replay -------------------------------------------------------------
"$LMSH" replay --threads 1 "$id" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || no "replay exit $rc: $(cat "$T/err")"
[ "$(tail -1 "$T/out")" = "identical (24 tokens)" ] || no "verdict: $(tail -1 "$T/out")"
"$LMSH" history export "$id" >"$T/orig.json" || no "export $id"
jq -r '.[0].output' "$T/orig.json" >"$T/want"
sed '$d' "$T/out" >"$T/got"
cmp -s "$T/want" "$T/got" || no "replayed text differs from the recorded text"
[ "$(jq -c '.[0].changes | map([.step, .name])' "$T/orig.json")" = \
    '[[5,"temperature"],[12,"temperature"],[12,"top_k"]]' ] \
    || no "recorded changes: $(jq -c '.[0].changes' "$T/orig.json")"
[ ! -s "$T/err" ] || no "warnings on the same model: $(cat "$T/err")"

# --- a variation is a new, linked turn ----------------------------------------
"$LMSH" replay --threads 1 "$id" --temperature 0.5 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] || no "variation exit $rc: $(cat "$T/err")"
new=$(sed -n 's/^recorded as turn \([0-9]*\) (replay of '"$id"')$/\1/p' "$T/out")
[ -n "$new" ] || no "variation not recorded: $(cat "$T/out")"
if [ -n "$new" ]; then
	"$LMSH" history export "$new" >"$T/new.json" || no "export $new"
	[ "$(jq -c '.[0] | [.replay_of, .settings.temperature, .settings.seed, .settings.top_k]' "$T/new.json")" = \
	    "[$id,0.5,1234,0]" ] || no "variation: $(jq -c '.[0].settings' "$T/new.json")"
	[ "$(jq -c '.[0].changes | map([.step, .name, .value])' "$T/new.json")" = \
	    '[[12,"top_k",20]]' ] || no "variation changes: $(jq -c '.[0].changes' "$T/new.json")"
	"$LMSH" replay --threads 1 "$new" >"$T/out2" || no "replay of the variation"
	tail -1 "$T/out2" | grep -q '^identical (24 tokens)$' || no "variation replay: $(tail -1 "$T/out2")"
fi

# --- another model ------------------------------------------------------------
cp -r "$LMSH_TEST_DATA/models/tiny" "$T/m"
sed 's/:/ : /g' "$LMSH_TEST_DATA/models/tiny/config.json" >"$T/m/config.json"
"$LMSH" replay --threads 1 "$id" --model "$T/m" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && tail -1 "$T/out" | grep -q '^identical' || no "same weights, new config.json: $rc"
grep -q "warning: .*differs.*: config.json$" "$T/err" || no "config warning: $(cat "$T/err")"
grep -q "recorded with .*tiny, replaying with $T/m" "$T/err" || no "path warning: $(cat "$T/err")"
# the last float of the last tensor becomes 8.0
size=$(wc -c <"$T/m/model.safetensors")
printf '\000\000\000\101' | dd of="$T/m/model.safetensors" bs=1 seek=$((size - 4)) conv=notrunc 2>/dev/null
"$LMSH" replay --threads 1 "$id" --model "$T/m" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -le 1 ] || no "changed weights exit $rc"
grep -q "warning: .*differs.*: config.json, model.safetensors$" "$T/err" || no "weights warning: $(cat "$T/err")"
tail -1 "$T/out" | grep -Eq '^(identical \(24 tokens\)|diverged at step [0-9]+: recorded [0-9]+ ".*", replayed [0-9]+ ".*")$' \
    || no "verdict: $(tail -1 "$T/out")"

# --- errors -------------------------------------------------------------------
"$LMSH" replay 999 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no turn 999" "$T/err" || no "missing turn: $rc $(cat "$T/err")"
"$LMSH" replay 2>/dev/null; [ $? -eq 2 ] || no "no id"
"$LMSH" replay 1 2 2>/dev/null; [ $? -eq 2 ] || no "two ids"
exit $fail
