#!/bin/sh
# deps.sh: the layers hold.  Reads the #include "..." lines of src/ and
# follows them through headers, then fails on any dependency the design
# forbids (README, DESIGN):
#   - the model or the generation engine on a front end (cli, commands,
#     REPL, UI, options);
#   - the generation engine on the history;
#   - the tokenizer on the model;
#   - the loaders (weights, pickle) on the model;
#   - the history on the model or the generation engine.
src="${LMSH_SRCDIR:?}/src"
[ -d "$src" ] || exit 99
fail=0

# includes FILE: the local headers FILE includes, directly or not.
includes() {
	seen=" "
	todo=$(basename "$1")
	while [ -n "$todo" ]; do
		set -- $todo
		f=$1; shift; todo="$*"
		for h in $(sed -n 's/^#[ \t]*include[ \t]*"\([^"]*\)".*/\1/p' \
		    "$src/$f" 2>/dev/null); do
			case "$seen" in *" $h "*) continue ;; esac
			[ "$h" = config.h ] && continue
			seen="$seen$h "
			todo="$todo $h"
		done
	done
	echo "$seen"
}

# forbid "FILES" "HEADERS" WHY: no file of FILES may reach a header of
# HEADERS.
forbid() {
	for f in $1; do
		[ -f "$src/$f" ] || continue
		inc=$(includes "$f")
		for h in $2; do
			case "$inc" in
			*" $h "*) echo "src/$f includes $h: $3"; fail=1 ;;
			esac
		done
	done
}

cd "$src" || exit 99
front="cli.h commands.h cmd_int.h repl.h ui.h ui_int.h options.h"
model_files=$(ls model*.c model*.h 2>/dev/null)
gen_files=$(ls generate.c generate.h gen_types.h 2>/dev/null)
bpe_files=$(ls bpe*.c bpe*.h)
loader_files=$(ls weights*.c weights*.h pickle*.c pickle*.h)
history_files=$(ls history*.c history*.h)

forbid "$model_files $gen_files" "$front" "the model or generation on a front end"
forbid "$gen_files" "history.h history_int.h" "generation on the history"
forbid "$bpe_files" "model.h model_int.h" "the tokenizer on the model"
forbid "$loader_files" "model.h model_int.h" "a loader on the model"
forbid "$history_files" "model.h model_int.h generate.h" \
    "the history on the model or generation"
exit $fail
