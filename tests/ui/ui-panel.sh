#!/bin/sh
# ui-panel.sh: the candidate panel: F2 shows it (empty before any turn);
# after a turn it lists candidates with bars, the tempered and the raw
# probability; F6 (temperature up) redraws it at once from the cached
# logits without a forward pass (token count unchanged): the raw column
# stays, the top candidate's tempered probability falls; F7 (top-p down)
# brings in the cut-off line; F2 hides it.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --seed 1 --max-new-tokens 5 --eos-token-id -1
tm send-keys F2
wait_for "no distribution yet"
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_for " 5 tok "
wait_re "next token  temp 0\.80  top-p 0\.90"
wait_re '%  *[0-9.]+%'
row() { screen | grep -E '^ ".*%  *[0-9.]+%$' | head -1; }
r1=$(row)
temp1=$(echo "$r1" | awk '{print $(NF-1)}' | tr -d %)
raw1=$(echo "$r1" | awk '{print $NF}' | tr -d %)
tm send-keys F6
wait_for "next token  temp 0.90"
r2=$(row)
temp2=$(echo "$r2" | awk '{print $(NF-1)}' | tr -d %)
raw2=$(echo "$r2" | awk '{print $NF}' | tr -d %)
status_line | grep -q " 5 tok " || fail "a forward pass ran"
[ "$raw1" = "$raw2" ] || fail "raw probability changed: $raw1 -> $raw2"
awk -v a="$temp1" -v b="$temp2" 'BEGIN { exit !(b < a) }' ||
    fail "top candidate not flatter at higher temperature: $temp1 -> $temp2"
for i in 1 2 3 4 5 6 7 8; do tm send-keys F7; done
wait_for "top-p 0.50"
wait_for "cut: cumulative"
tm send-keys F2
wait_gone "next token  temp"
