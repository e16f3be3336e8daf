#!/bin/sh
# Covers: every long option that `lmsh --help` and `lmsh CMD --help` print
# is documented in man/lmsh.1, and every option the man page names is one
# that some --help lists; every subcommand has a section there; each
# subcommand (and the REPL) accepts exactly the options its --help lists
# and refuses any other with "option --x does not apply" (exit 2); and the
# options a subcommand's man section lists (its .It lines) are ones it
# accepts.  Every --help fits 79 columns.  Also: the LMSH_BLIS_ARCH kernel
# sets agree in code, --help and the man page.
man="$LMSH_SRCDIR/man/lmsh.1"
[ -x "$LMSH" ] || exit 99
fail=0
cmds=$("$LMSH" --help | sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p')
[ -n "$cmds" ] || { echo "no subcommands in lmsh --help"; exit 1; }
for c in $cmds; do
	grep -q "^\.It Cm $c\b\|^\.Ss .*\b$c\b\|^\.Nm lmsh $c\b\|^\.Cm $c\b" "$man" ||
		{ echo "subcommand $c is not in the man page"; fail=1; }
done

# The options one --help lists, one a line, underscores as dashes: the
# names in the option column (before the help text), not those the help
# texts mention.  --checkpoint is --checkpoint-path's other spelling.
help_opts() {
	"$LMSH" $1 --help | grep -e '^  -' -e '^      --' |
		sed 's/^\(  *[^ ].*[^ ]\)  .*/\1/' |
		grep -o -- '--[a-z][a-z0-9_-]*' | tr _ - |
		sed 's/^--checkpoint-path$/&\n--checkpoint/' | sort -u
}
help_all=$(for c in "" $cmds; do help_opts "$c"; done | sort -u)
for opt in $help_all; do
	grep -q -- "Fl -${opt#--}\b" "$man" ||
		{ echo "option $opt (from --help) is not in the man page"; fail=1; }
done
man_all=$(grep -o 'Fl -[a-z][a-z0-9_-]*' "$man" | sed 's/^Fl -/--/' |
	tr _ - | sort -u)
for opt in $man_all; do
	echo "$help_all" | grep -qx -- "$opt" ||
		{ echo "option $opt (from the man page) is in no --help"; fail=1; }
done

# Whether command $1 refuses option $2.  "--x=1 --version" never runs the
# command: the option is refused, or takes the value, or rejects it, and
# --version then ends the parse.
refuses() {
	"$LMSH" $1 "$2=1" --version 2>&1 | grep -q "does not apply"
}
for c in "" $cmds; do
	own=$(help_opts "$c")
	for opt in $help_all; do
		if echo "$own" | grep -qx -- "$opt"; then
			refuses "$c" "$opt" &&
				{ echo "lmsh $c refuses $opt, which its --help lists"; fail=1; }
		else
			refuses "$c" "$opt" ||
				{ echo "lmsh $c takes $opt, which its --help omits"; fail=1; }
		fi
	done
done
# every --help fits an 80-column terminal
for c in "" $cmds; do
	"$LMSH" $c --help | awk -v c="lmsh $c" 'length > 79 {
	    print c " --help: line over 79 columns: " $0; bad = 1 }
	    END { exit bad }' || fail=1
done
out=$("$LMSH" tokenize --temperature 2 2>&1)
[ $? -eq 2 ] && [ "$out" = "lmsh tokenize: option --temperature does not apply
Try 'lmsh tokenize --help'." ] || { echo "refusal: $out"; fail=1; }

# The options each subcommand's section of the man page names.
for c in $cmds; do
	sec=$(sed -n "/^\.Ss lmsh $c\$/,/^\.S[sh] /p" "$man" | grep '^\.It' |
		grep -o 'Fl -[a-z][a-z0-9_-]*' | sed 's/^Fl -/--/' | tr _ - |
		sort -u)
	for opt in $sec; do
		refuses "$c" "$opt" &&
			{ echo "man page: lmsh $c $opt, but it does not apply"; fail=1; }
	done
done

# LMSH_BLIS_ARCH: the kernel sets of blas.c's table, bench --help and both
# places in the man page are the same list.
code=$(grep -o '{ "[a-z0-9]*", \(bli_cntx_init_[a-z0-9]*\|NULL\)' \
	"$LMSH_SRCDIR/src/blas.c" | sed 's/{ "\([a-z0-9]*\)".*/\1/' |
	sort -u | tr '\n' ' ')
helped=$("$LMSH" bench --help | sed -n 's/.*LMSH_BLIS_ARCH=\([a-z0-9|]*\).*/\1/p' |
	tr '|' '\n' | sort -u | tr '\n' ' ')
env_man=$(sed -n '/^\.It Ev LMSH_BLIS_ARCH$/,/^\.It\|^\.El/p' "$man" |
	sed -n 's/^\.Cm \([a-z0-9]*\).*/\1/p' | sort -u | tr '\n' ' ')
desc_man=$(sed -n '/^\.Ev LMSH_BLIS_ARCH$/,/overrides/p' "$man" |
	grep '^\.Cm' | sed 's/^\.Cm //' | tr -d ',' | tr ' ' '\n' |
	grep . | sort -u | tr '\n' ' ')
[ -n "$code" ] || { echo "no kernel sets found in blas.c"; fail=1; }
for l in "bench --help:$helped" "man ENVIRONMENT:$env_man" \
    "man DESCRIPTION:$desc_man"; do
	[ "${l#*:}" = "$code" ] ||
		{ echo "LMSH_BLIS_ARCH in ${l%%:*}: '${l#*:}', code: '$code'"; fail=1; }
done
exit $fail
