#!/bin/sh
# ui-command-error.sh: a bad command is one line on the message row and
# the REPL goes on: a bad value, an unknown command, history when it is
# off; a good command then clears the message and changes the status line,
# is answered with the setting's /show line, and its echo is not drawn in
# the prompt's colour (cyan); /quit after errors exits 0.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --no-history
tm send-keys -l "/temp hot"
tm send-keys Enter
wait_for "error: temperature: 'hot' is not a number in [0, 100]"
tm send-keys -l "/nosuch 1"
tm send-keys Enter
wait_for "error: unknown command '/nosuch' (try /help)"
tm send-keys -l "/history"
tm send-keys Enter
wait_for "error: history is off"
tm send-keys -l "/temp 1.5"
tm send-keys Enter
wait_for "temp 1.50"
wait_gone "error:"
wait_for "temperature    1.50"
echo_sgr=$(screen_sgr | grep -F "/temp 1.5")
[ -n "$echo_sgr" ] || fail "no echo of /temp 1.5"
printf '%s\n' "$echo_sgr" | grep -Eq '(\[|;)36(;|m)' &&
    fail "the command echo is in the prompt's colour: $echo_sgr"
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
