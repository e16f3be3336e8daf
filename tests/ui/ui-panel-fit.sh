#!/bin/sh
# ui-panel-fit.sh: the candidate panel at 80x24 and 120x40 (issue 14).
# Covers: at 80x24 the panel sits under the transcript, which keeps at
# least 10 rows, and its header shows temperature and top-p; at 120x40 it
# sits on the right and its header still shows both values (the column
# heads no longer cover them); the top-p cut stays in view: either its
# line is drawn or the last row says how many candidates lie above it.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --seed 1 --max-new-tokens 5 --eos-token-id -1 --pace 0
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " 5 tok( |$)"
wait_idle
tm send-keys F2
wait_for "next token  temp 0.80  top-p 0.90"
top=$(screen | grep -n "next token  temp" | cut -d: -f1)
[ "$top" -ge 11 ] || fail "the transcript has $((top - 1)) rows with the panel open"
cut_in_view() {
	screen | grep -Eq "cut: cumulative|more above the top-p cut" ||
	    fail "the top-p cut is not in view"
}
cut_in_view
tm resize-window -x 120 -y 40
_end=$(( $(date +%s) + 10 ))
while [ "$(tm display -p '#{pane_width}')" != 120 ]; do
	[ "$(date +%s)" -lt "$_end" ] || fail "pane not resized"
	sleep 0.05
done
wait_re "temp 0\.80  top-p 0\.90 +temp +raw"
cut_in_view
# a wider nucleus pushes the cut further down; it stays in view
tm send-keys -l "/top_p 1"
tm send-keys Enter
wait_re "temp 0\.80  top-p 1\.00"
cut_in_view
exit 0
