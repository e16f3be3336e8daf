#!/bin/sh
# ui-signals.sh: SIGTERM and SIGHUP in the curses REPL, mid-reply, act as
# Ctrl-C then /quit: the reply is recorded as interrupted, the terminal is
# restored (the status line is gone), and the exit status is 128+signal.
. "$LMSH_SRCDIR/tests/ui/common.sh"

n=0
for sig in TERM HUP; do
	n=$((n + 1))
	[ $n -eq 1 ] || { tm kill-server; rm -rf "$XDG_DATA_HOME"; }
	start LMSH_TEST_STEP_MS=150 -- --seed 5 --max-new-tokens 40 \
	    --eos-token-id -1
	tm send-keys -l "Once upon a time"
	tm send-keys Enter
	wait_re " ([2-9]|[1-3][0-9]) tok "
	pid=$(tm display -p '#{pane_pid}')
	lp=$(pgrep -P "$pid" | head -1)
	[ -n "$lp" ] || fail "$sig: no lmsh process"
	kill -$sig "$lp"
	wait_for "EXIT=$((128 + $(kill -l $sig)))"
	screen | grep -q "hist on" && fail "$sig: screen not restored"
	history_cmd show 1 > "$T/show" || fail "$sig: no history row"
	grep -q "^stop      interrupted" "$T/show" || fail "$sig: not interrupted"
done
exit 0
