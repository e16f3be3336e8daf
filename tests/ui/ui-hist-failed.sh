#!/bin/sh
# ui-hist-failed.sh: when a turn cannot be recorded (the disk fills: here
# a file size limit, with SIGXFSZ ignored, so writes fail with EFBIG), the
# status line says "hist FAILED" instead of "hist on".
. "$LMSH_SRCDIR/tests/ui/common.sh"

H="$T/h.db"
# a history file with its schema, written without a limit
echo "warm up" | "$LMSH" --model "$MODEL" --threads 1 --history "$H" \
    --max-new-tokens 2 >/dev/null 2>&1 || fail "first run"
cat > "$T/run.sh" <<RUN
trap '' XFSZ
ulimit -f 200
"$LMSH" --model "$MODEL" --threads 1 --history "$H" --max-new-tokens 20 \
    --eos-token-id -1 --seed 1 --mode fresh
echo EXIT=\$?
exec sleep 600
RUN
tm new-session -d -x 100 -y 24 "sh '$T/run.sh'"
wait_for "/help lists commands"
status_line | grep -q "hist on" || fail "not on at first: $(status_line)"
i=0
while ! status_line | grep -q "hist FAILED"; do
	i=$((i + 1)); [ $i -lt 20 ] || fail "never failed: $(screen)"
	# no spaces: a Space typed during a reply would pause it
	tm send-keys -l "fill-the-history-file-turn-$i."
	tm send-keys Enter
	wait_re "^fill-the-history-file-turn-$i\\."	# the turn began
	wait_re "Enter send|hist FAILED"		# and ended
done
tm send-keys C-d
wait_for "EXIT="
