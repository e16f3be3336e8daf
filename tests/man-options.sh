#!/bin/sh
# Covers: every long option that `lmsh --help` and `lmsh CMD --help` print
# is documented in man/lmsh.1, and every subcommand has a section there.
man="$LMSH_SRCDIR/man/lmsh.1"
[ -x "$LMSH" ] || exit 99
fail=0
cmds=$("$LMSH" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
[ -n "$cmds" ] || { echo "no subcommands in lmsh --help"; exit 1; }
for c in $cmds; do
	grep -q "^\.It Cm $c\b\|^\.Ss .*\b$c\b\|^\.Nm lmsh $c\b\|^\.Cm $c\b" "$man" ||
		{ echo "subcommand $c is not in the man page"; fail=1; }
done
for c in "" $cmds; do
	"$LMSH" $c --help
done | grep -o -- '--[a-z][a-z0-9-]*' | sort -u | while read -r opt; do
	name=${opt#--}
	grep -q -- "Fl -$name\b" "$man" ||
		{ echo "option $opt (from --help) is not in the man page"; exit 1; }
done || fail=1
exit $fail
