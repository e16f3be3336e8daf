#!/bin/sh
# ui-suspend.sh: Ctrl-Z suspends the curses REPL back to an interactive
# shell with the terminal restored (the shell reports the job stopped and
# no status line is left), fg resumes it with the whole screen redrawn,
# and it still works afterwards.
. "$LMSH_SRCDIR/tests/ui/common.sh"
command -v bash >/dev/null 2>&1 || { echo "bash not found: skip"; exit 77; }

tm new-session -d -x 80 -y 24 "env PS1='sh\$ ' bash --norc --noprofile -i"
wait_for "sh\$"
tm send-keys -l "'$LMSH' --model '$MODEL' --threads 1 --max-new-tokens 3"
tm send-keys Enter
wait_for "/help lists commands"
tm send-keys C-z
wait_for "Stopped"
screen | grep -q "temp 0.80" && fail "screen not restored on Ctrl-Z"
tm send-keys -l "fg"
tm send-keys Enter
wait_for "temp 0.80"
wait_for "/help lists commands"
tm send-keys -l "/temp 0.5"
tm send-keys Enter
wait_for "temp 0.50"
tm send-keys C-d
wait_gone "temp 0.50"
