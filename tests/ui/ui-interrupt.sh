#!/bin/sh
# ui-interrupt.sh: Ctrl-C mid-reply stops it and keeps it: a notice says
# how many tokens were kept, the history records the turn as interrupted
# with that many tokens; Ctrl-C on an empty line says how to quit, on a
# line with text clears it; Ctrl-D on an empty line quits with status 0.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start LMSH_TEST_STEP_MS=150 -- --seed 5 --max-new-tokens 40 --eos-token-id -1
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " ([2-9]|[1-3][0-9]) tok "
tm send-keys C-c
wait_for "interrupted after"
n=$(message_line | sed -n 's/.*interrupted after \([0-9]*\) tokens.*/\1/p')
[ -n "$n" ] && [ "$n" -lt 40 ] || fail "kept token count"
history_cmd show 1 > "$T/show" || fail "no history row"
grep -q "interrupted" "$T/show" || fail "not recorded as interrupted"
n_prompt=$("$LMSH" tokenize --model "$MODEL" --format count "Once upon a time")
grep -q "$n_prompt prompt + $n output tokens" "$T/show" || fail "kept $n tokens?"

tm send-keys C-c
wait_for "type /quit or press Ctrl-D"
tm send-keys -l "some text"
wait_for "> some text"
tm send-keys C-c
wait_for "line cleared"
screen | sed -n 24p | grep -qx "> *" || fail "line not cleared"
tm send-keys C-d
wait_for "EXIT=0"
