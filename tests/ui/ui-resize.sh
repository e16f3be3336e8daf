#!/bin/sh
# ui-resize.sh: SIGWINCH reflows the transcript at word boundaries (a
# 76-column line "/stop" + a 70-column word becomes "/stop", 50 and 20
# columns at width 50: a word wider than the screen starts its own row and
# is cut there) and redraws the status line at the new width; below the
# minimum size a message says so; growing back restores the full screen.
. "$LMSH_SRCDIR/tests/ui/common.sh"

x44=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
x26=xxxxxxxxxxxxxxxxxxxxxxxxxx
start --
tm send-keys -l "/stop $x44$x26"
tm send-keys Enter
wait_for "/stop $x44$x26"
tm resize-window -x 50 -y 20
wait_line "/stop"
wait_line "$x44xxxxxx"
wait_line "xxxxxxxxxxxxxxxxxxxx"
[ "$(tm display -p '#{pane_width}')" = 50 ] || fail "pane not resized"
screen | sed -n 19p | grep -q "temp 0.80" || fail "status line at width 50"
tm resize-window -x 30 -y 6
wait_for "lmsh needs at least 40x8"
tm resize-window -x 80 -y 24
wait_for "/stop $x44$x26"
wait_for "temp 0.80"
tm send-keys C-d
wait_for "EXIT=0"
