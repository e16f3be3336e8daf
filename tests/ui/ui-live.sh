#!/bin/sh
# ui-live.sh: live keys mid-reply: '+' raises the temperature and ']' the
# top-p while tokens stream; the status line shows each at once, the reply
# keeps streaming to the end, Space pauses and resumes it, and the history records each change with the
# step it took effect at (after the first token, before the last).
. "$LMSH_SRCDIR/tests/ui/common.sh"

start LMSH_TEST_STEP_MS=100 -- --seed 3 --max-new-tokens 40 --eos-token-id -1
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " ([3-9]|[1-3][0-9]) tok "
tm send-keys +
wait_for "temp 0.90"
tm send-keys ]
wait_for "top-p 0.95"
n=$(tokens_now)
[ "${n:-40}" -lt 40 ] || fail "the reply ended before the keys were seen"
# Space pauses: the count stands still (checked over ten 100 ms steps),
# then Space resumes
tm send-keys Space
wait_for "PAUSED"
n=$(tokens_now)
for i in 1 2 3 4 5 6 7 8 9 10; do
	sleep 0.1	# a negative check: nothing may happen meanwhile
	[ "$(tokens_now)" = "$n" ] || fail "tokens while paused"
done
tm send-keys Space
wait_gone "PAUSED"
_end=$(( $(date +%s) + 15 ))
while [ "$(tokens_now)" = "$n" ]; do
	[ "$(date +%s)" -lt "$_end" ] || fail "no tokens after resuming"
	sleep 0.05
done
wait_for " 40 tok " 30
wait_idle
history_cmd show 1 > "$T/show" || fail "no history row"
grep "^changes" "$T/show" > "$T/changes" || fail "no changes recorded"
cat "$T/changes"
grep -Eq "temperature[ =:]+0\.9" "$T/changes" || fail "temperature change: $(cat "$T/changes")"
grep -Eq "top_p[ =:]+0\.95" "$T/changes" || fail "top_p change: $(cat "$T/changes")"
# the steps: the numbers after "step" (or "@") lie inside the reply
steps=$(grep -oE "(step|@) ?[0-9]+" "$T/changes" | grep -oE "[0-9]+")
[ -n "$steps" ] || fail "no steps in: $(cat "$T/changes")"
for s in $steps; do
	[ "$s" -ge 1 ] && [ "$s" -lt 40 ] || fail "step $s out of the reply"
done
