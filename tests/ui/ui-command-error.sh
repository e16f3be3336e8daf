#!/bin/sh
# ui-command-error.sh: a bad command is one line on the message row and
# the REPL goes on: a bad value, an unknown command, history when it is
# off; a good command then clears the message and changes the status line.
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
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
