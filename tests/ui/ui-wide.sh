#!/bin/sh
# ui-wide.sh: CJK and emoji: the input line shows them with the cursor
# after their two columns each; the transcript shows them intact and wraps
# a line of them at the right column (never half a character at the edge).
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --max-new-tokens 1 --mode fresh
tm send-keys -l "日本"
wait_for "> 日本"
[ "$(tm display -p '#{cursor_x}')" = 6 ] || fail "cursor after 2 CJK: $(tm display -p '#{cursor_x}')"
tm send-keys -l "語のテキスト😀🎉 ok"
tm send-keys Enter
wait_for "日本語のテキスト😀🎉 ok"
# 45 CJK characters after "/stop ": 6 + 90 columns; at 80 the first row
# holds 37 of them (80 columns), the second the other 8
k37=$(printf '漢%.0s' $(seq 37))
k8=$(printf '漢%.0s' $(seq 8))
tm send-keys -l "/stop $k37$k8"
tm send-keys Enter
wait_line "/stop $k37"
wait_line "$k8"
