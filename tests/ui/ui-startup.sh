#!/bin/sh
# ui-startup.sh: the curses REPL's first screen (banner, hint row, status
# line with model, temperature, top-p, top-k, seed, context, tokens,
# history on/off, input prompt); Ctrl-D on an empty line quits with status
# 0 and the terminal is restored (the screen is gone); --no-history shows
# "hist off"; PgUp/PgDn scroll back and forth; SIGTERM restores the
# terminal; TERM=dumb and --plain give line mode on the same terminal.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --seed 42
screen | grep -q "^lmsh .*: type a prompt and press Enter" || fail "banner"
message_line | grep -q "Enter send  /help  F2 panel" || fail "hint row"
st=$(status_line)
for f in "tiny" "temp 0.80" "top-p 0.90" "seed 42" "ctx 0/64" "0 tok"; do
	echo "$st" | grep -qF "$f" || fail "status line lacks '$f'"
done
screen | sed -n 24p | grep -qx "> *" || fail "input prompt"
tm send-keys C-d
wait_for "EXIT=0"
screen | grep -q "temp 0.80" && fail "the curses screen was not cleared"

restart
start -- --no-history
wait_for "hist off"

# PgUp scrolls back (a marker counts the rows below), PgDn returns
for i in 1 2 3; do
	tm send-keys -l "/help keys"
	tm send-keys Enter
done
wait_for "suspend; fg resumes"
tm send-keys PPage
wait_re "[0-9]+ more \(PgDn\)"
tm send-keys NPage
wait_gone "more (PgDn)"

# a fatal signal restores the terminal too
pid=$(tm display -p '#{pane_pid}')
lp=$(pgrep -P "$pid" | head -1)
[ -n "$lp" ] || fail "no lmsh process"
kill -TERM "$lp"
wait_for "EXIT=143"
screen | grep -q "hist off" && fail "screen not restored after SIGTERM"

# TERM=dumb, and --plain: line mode with readline, no screen
for how in "TERM=dumb" "--plain"; do
	restart
	case $how in
	TERM=*)	tm new-session -d -x 80 -y 24 "env TERM=dumb '$LMSH' --model '$MODEL' --threads 1; echo EXIT=\$?; sleep 60" ;;
	*)	tm new-session -d -x 80 -y 24 "'$LMSH' --model '$MODEL' --threads 1 --plain; echo EXIT=\$?; sleep 60" ;;
	esac
	wait_for ">"
	tm send-keys -l "/temp"
	tm send-keys Enter
	wait_for "temperature    0.80"
	screen | grep -q "Enter send" && fail "$how: the curses screen came up"
	tm send-keys C-d
	wait_for "EXIT=0"
done
exit 0
