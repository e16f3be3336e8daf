#!/bin/sh
# ui-stream.sh: a prompt streams to completion on the screen: the status
# line counts the tokens to --max-new-tokens, the hint row comes back, the
# prompt is drawn bold and cyan and the reply plain; the turn is recorded
# with the same output text that line mode produces for the same seed; with
# NO_COLOR set the screen has no colour at all, and with NO_COLOR set but
# empty it has (no-color.org).
. "$LMSH_SRCDIR/tests/ui/common.sh"

opts="--seed 7 --max-new-tokens 30 --eos-token-id -1 --mode fresh"
start -- $opts
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_for " 30 tok "
wait_for "Enter send"
screen | grep -q "^Once upon a time" || fail "prompt not in the transcript"
# the prompt is bold + cyan (SGR 1 and 36), the reply is not
screen_sgr | grep "Once upon a time" | grep -q '36m' || fail "prompt colour"
screen_sgr | grep "Once upon a time" | sed 's/.*Once upon a time//' |
    grep -qE '\[([0-9;]*;)?1m' && fail "reply drawn bold"

history_cmd show 1 > "$T/show" || fail "no history row"
n_prompt=$("$LMSH" tokenize --model "$MODEL" --format count "Once upon a time")
grep -q "$n_prompt prompt + 30 output tokens" "$T/show" || fail "token counts"
# the same turn through line mode gives the same output text (from the
# JSON export: show escapes control characters)
command -v jq >/dev/null 2>&1 || { echo "no jq: skip"; exit 77; }
history_cmd export 1 --format json | jq -r '.[0].output' > "$T/ui.out"
echo "Once upon a time" | "$LMSH" --model "$MODEL" --threads 1 --no-history \
    $opts > "$T/line.out" || fail "line mode"
cmp -s "$T/ui.out" "$T/line.out" || fail "UI and line mode differ"

restart
start NO_COLOR=1 -- $opts
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_for " 30 tok "
if screen_sgr | grep -qE '\[([0-9;]*;)?(3[0-7]|4[0-7]|38;|48;)[0-9;]*m'; then
	fail "colour with NO_COLOR"
fi
screen_sgr | grep "Once upon a time" | grep -qE '\[([0-9;]*;)?1m' ||
    fail "prompt not bold"

# no-color.org: present and empty is as if unset, so the colour stays
restart
start NO_COLOR= -- $opts
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_for " 30 tok "
screen_sgr | grep "Once upon a time" | grep -q '36m' ||
    fail "no colour with NO_COLOR empty"
