#!/bin/sh
# line-color.sh: /color in the line-mode REPL.  On a terminal (a pty from
# script(1)) each reply piece is wrapped in its probability band's SGR, as
# history show --color prints it; into a pipe the reply stays byte-exact
# (no SGR), whatever /color says.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
command -v script >/dev/null 2>&1 || { echo "no script(1)"; exit 77; }
M="$LMSH_TEST_DATA/models/tiny"
printf '/color on\nOnce upon a time\n' >"$T/in"
# a high temperature, so that unlikely tokens (coloured bands) come up
run="'$LMSH' --plain --model '$M' --threads 1 --no-history --seed 5 -t 3 --max-new-tokens 40 --eos-token-id -1"
script -qec "$run <'$T/in'" /dev/null </dev/null >"$T/tty" 2>&1 ||
	no "on a pty: $(cat "$T/tty")"
grep -q "$(printf '\033\\[3[123]m')" "$T/tty" || no "no band colour on a pty: $(od -c "$T/tty" | head)"
grep -q "$(printf '\033\\[0m')" "$T/tty" || no "no SGR reset on a pty"
NO_COLOR=1 script -qec "$run <'$T/in'" /dev/null </dev/null >"$T/mono" 2>&1
grep -q "$(printf '\033\\[\\(4\\|1;4\\|7\\)m')" "$T/mono" || no "no mono attributes under NO_COLOR"
grep -q "$(printf '\033\\[3[123]m')" "$T/mono" && no "colour under NO_COLOR"
# into a pipe: the bytes of the reply, no SGR
sh -c "$run" <"$T/in" >"$T/pipe" 2>/dev/null || no "pipe: exit $?"
grep -q "$(printf '\033')" "$T/pipe" && no "SGR into a pipe"
[ -s "$T/pipe" ] || no "no reply into the pipe"
exit $fail
