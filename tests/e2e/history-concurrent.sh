#!/bin/sh
# history-concurrent.sh: several lmsh processes and one history file.
# Covers: two `lmsh generate --history` runs writing the same file at once
# both succeed, with no warning, and every turn of both is recorded (two
# sessions); an lmsh killed with SIGKILL in the middle of a run leaves a
# file that opens cleanly with all the turns finished before, that the
# next run records into and whose turns still replay identically.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
DB="$T/h.db"
M="$LMSH_TEST_DATA/models/tiny"
export LMSH_HISTORY="$DB"
count() { "$LMSH" history -n 0 --json | jq length; }

# --- two writers at once ------------------------------------------------------
"$LMSH" generate --threads 1 --model "$M" --prompt "writer one" --num-samples 8 \
    --max-new-tokens 12 --seed 1 >/dev/null 2>"$T/err1" &
p1=$!
"$LMSH" generate --threads 1 --model "$M" --prompt "writer two" --num-samples 8 \
    --max-new-tokens 12 --seed 2 >/dev/null 2>"$T/err2" &
p2=$!
wait $p1; r1=$?
wait $p2; r2=$?
if grep -q "not implemented" "$T/err1"; then cat "$T/err1"; exit 77; fi
[ $r1 -eq 0 ] && [ $r2 -eq 0 ] || no "writers exit $r1 $r2: $(cat "$T/err1" "$T/err2")"
[ ! -s "$T/err1" ] && [ ! -s "$T/err2" ] || no "writer warnings: $(cat "$T/err1" "$T/err2")"
[ "$(count)" = 16 ] || no "turns after two writers: $(count)"
[ "$("$LMSH" history -n 0 --json | jq '[.[].session] | unique | length')" = 2 ] \
    || no "sessions"
[ "$("$LMSH" history search --json writer two -n 0 | jq length)" = 8 ] || no "search"

# --- SIGKILL in the middle of a run -------------------------------------------
"$LMSH" generate --threads 1 --model "$M" --prompt "killed" --num-samples 1024 \
    --max-new-tokens 60 >/dev/null 2>&1 &
pk=$!
sleep 0.2
kill -9 $pk 2>/dev/null
{ wait $pk; } 2>/dev/null
n=$(count)
[ "$n" = 16 ] || [ "$n" = 1040 ] || no "turns after SIGKILL: $n"
"$LMSH" history show 1 >/dev/null || no "show after SIGKILL"
"$LMSH" generate --threads 1 --model "$M" --prompt "after" --max-new-tokens 4 >/dev/null \
    2>"$T/err" || no "generate after SIGKILL"
[ ! -s "$T/err" ] || no "warning after SIGKILL: $(cat "$T/err")"
[ "$(count)" = $((n + 1)) ] || no "turns after the next run: $(count)"
k=$("$LMSH" history export 9 | jq '.[0].n_output')
"$LMSH" replay --threads 1 9 >"$T/out" 2>"$T/err" || no "replay 9: $(cat "$T/err")"
[ "$(tail -1 "$T/out")" = "identical ($k tokens)" ] || no "replay: $(tail -1 "$T/out")"
exit $fail
