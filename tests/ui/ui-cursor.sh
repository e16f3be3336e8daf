#!/bin/sh
# ui-cursor.sh: the token cursor, driven as a person would (issue 14).
# Covers: F4 puts the cursor on the last token of the reply (status line
# and panel header say where, the panel opens, the token shows in reverse
# video); Left moves it back; Down picks the second candidate and Enter
# takes it: a branch recorded with parent, branch_step and forced_token,
# streamed where the cursor cut the transcript, replaying identically;
# then 'r' at the cursor samples afresh from there (no forced token);
# Esc leaves the cursor and keys go back to the input line.  A /branch
# whose temperature is turned while it streams replays identically, the
# forced token and the live change included.
. "$LMSH_SRCDIR/tests/ui/common.sh"
need() { command -v jq >/dev/null 2>&1 || { echo "no jq: skip"; exit 77; }; }
need

start -- --seed 1 --max-new-tokens 10 --eos-token-id -1 --pace 0
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " 10 tok( |$)"
wait_idle
tm send-keys F4
wait_for "CURSOR 10/10"
wait_for "token 10/10  temp 0.80  top-p 0.90"
screen_sgr | grep "Once upon a time" | grep -q "$(printf '\033')\[[0-9;]*7m" ||
    fail "the cursor's token is not shown in reverse"
tm send-keys Left Left
wait_for "CURSOR 8/10"
wait_for "token 8/10"
tm send-keys Down Enter
wait_re " 3 tok( |$)"
wait_idle
screen | grep -q CURSOR && fail "the cursor stayed on after the branch"
history_cmd --json >"$T/list.json" || fail "history"
[ "$(jq -c '.[1] | [.parent, .branch_step, (.forced_token != null)]' \
    "$T/list.json")" = '[1,7,true]' ] ||
    fail "branch record: $(jq -c . "$T/list.json")"
"$LMSH" replay --threads 1 2 >"$T/r2" 2>&1 || fail "replay: $(cat "$T/r2")"
grep -q "identical (3 tokens)" "$T/r2" || fail "replay: $(cat "$T/r2")"
# the branch's text follows the transcript where the cursor cut it
line=$(screen | grep "^Once upon a time")
[ -n "$line" ] || fail "the transcript lost its prompt"
# r: sample afresh from the cursor
tm send-keys F4
wait_for "CURSOR 3/3"
tm send-keys Left r
wait_idle
history_cmd --json >"$T/list2.json" || fail "history"
[ "$(jq -c '.[2] | [.parent, .branch_step, .forced_token]' \
    "$T/list2.json")" = '[2,1,null]' ] ||
    fail "resample record: $(jq -c '.[2]' "$T/list2.json")"
# Esc leaves; typing goes to the input line again
tm send-keys F4
wait_for "CURSOR"
tm send-keys Escape
wait_gone "CURSOR"
tm send-keys -l "abc"
wait_re "^> abc"

restart
start LMSH_TEST_STEP_MS=100 -- --seed 2 --max-new-tokens 30 \
    --eos-token-id -1 --pace 0
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " 30 tok( |$)" 30
wait_idle
tm send-keys -l "/branch 4 5 33"
tm send-keys Enter
wait_re " ([3-9]|1[0-9]) tok( |$)"
tm send-keys +
wait_for "temp 0.90"
wait_re " 25 tok( |$)" 30
wait_idle
id=$(history_cmd --json | jq '.[-1].id')
history_cmd show "$id" | grep -q "^changes .*temperature=0.9" ||
    fail "no live change in the branch: $(history_cmd show "$id")"
"$LMSH" replay --threads 1 "$id" >"$T/rb" 2>&1 || fail "replay: $(cat "$T/rb")"
grep -q "identical (25 tokens)" "$T/rb" || fail "replay: $(cat "$T/rb")"
exit 0
