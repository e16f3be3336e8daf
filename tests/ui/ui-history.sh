#!/bin/sh
# ui-history.sh: `lmsh history` on a terminal.  The list goes through
# $PAGER (here tr, which shouts it), fits the terminal's width (60
# columns, from the terminal, not $COLUMNS), and with an empty $PAGER is
# printed as it is; the default pager (less -FRX) leaves a short list on
# the screen and returns.
. "$LMSH_SRCDIR/tests/ui/common.sh"
FILL="${LMSH%/src/lmsh}/tests/unit/test-history"
[ -x "$FILL" ] || { echo "no $FILL: skip"; exit 77; }
"$FILL" --fill "$T/h.db" || exit 99

run() {	# PAGER-VALUE
	cat > "$T/h.sh" <<RUN
PAGER='$1' LMSH_HISTORY='$T/h.db' COLUMNS=200 "$LMSH" history
echo EXIT=\$?
exec sleep 600
RUN
	tm new-session -d -x 60 -y 24 "sh '$T/h.sh'"
	wait_for "EXIT=0"
}

run "tr a-z A-Z"
screen | grep -q "^ID  " || fail "no header"
screen | grep -q "^ 4 .*UNRELATED$" || fail "not paged"
[ "$(screen | awk 'length($0) > 60' | wc -l)" -eq 0 ] || fail "wider than 60"

restart
run ""
screen | grep -q "^ID  " || fail "no list without a pager"
screen | grep -q "UNRELATED" && fail "paged with PAGER empty"
screen | grep -q "^ 4 .*unrelated$" || fail "no rows without a pager"

if command -v less > /dev/null 2>&1; then
	restart
	cat > "$T/h.sh" <<RUN
unset PAGER
LMSH_HISTORY='$T/h.db' "$LMSH" history
echo EXIT=\$?
exec sleep 600
RUN
	tm new-session -d -x 60 -y 24 "sh '$T/h.sh'"
	wait_for "EXIT=0"
	screen | grep -q "unrelated" || fail "less -F did not leave the list"
fi
exit 0
