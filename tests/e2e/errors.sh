#!/bin/sh
# Covers: bad input from the user's side of every front end gets exit status
# 1 and one line that names the file and the problem, and nothing recorded is
# touched: a missing model, a truncated safetensors file, a config that does
# not fit the tensors, a malformed vocab.json, a prompt longer than the
# context, a prompt that is not UTF-8 (refused unless --replace-invalid), a
# corrupt history file (left byte for byte as it was; lmsh runs without
# recording), an unknown option and one the subcommand does not take (exit
# 2, with messages that name lmsh, not the path it was run by).
set -u
tiny="$LMSH_TEST_DATA/models/tiny"
tmp=$(mktemp -d) || exit 99
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect STATUS PATTERN -- command...: one line on stderr matching PATTERN
# (two for usage errors: the problem, then where to find --help)
expect() {
	want=$1 pat=$2 lines=1
	[ "$want" -eq 2 ] && lines=2
	shift 3
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: $*: exit $got, expected $want"; cat "$tmp/err"; fail=1
	elif ! grep -q -- "$pat" "$tmp/err"; then
		echo "FAIL: $*: stderr lacks '$pat':"; cat "$tmp/err"; fail=1
	elif [ "$(grep -c '' "$tmp/err")" -ne $lines ]; then
		echo "FAIL: $*: not $lines line(s) on stderr:"; cat "$tmp/err"; fail=1
	fi
}

expect 1 "/nonexistent/m: no such model" -- \
	"$LMSH" generate --no-history --model /nonexistent/m --prompt hi

mkdir "$tmp/trunc" && cp "$tiny"/* "$tmp/trunc/"
head -c 3000 "$tiny/model.safetensors" >"$tmp/trunc/model.safetensors"
expect 1 "$tmp/trunc/model.safetensors: .*truncated" -- \
	"$LMSH" generate --no-history --model "$tmp/trunc" --prompt hi

mkdir "$tmp/shape" && cp "$tiny"/* "$tmp/shape/"
sed 's/"d_model": *[0-9]*/"d_model": 48/' "$tiny/config.json" \
	>"$tmp/shape/config.json"
expect 1 "token_embeddings.weight: expected shape \[257, 48\], got \[257, 32\]" -- \
	"$LMSH" generate --no-history --model "$tmp/shape" --prompt hi

mkdir "$tmp/vocab" && cp "$tiny"/* "$tmp/vocab/"
printf '{"a": 1,\n' >"$tmp/vocab/vocab.json"
expect 1 "$tmp/vocab/vocab.json:[0-9]*: " -- \
	"$LMSH" generate --no-history --model "$tmp/vocab" --prompt hi

long=$(printf 'x%.0s' $(seq 1 100))
expect 1 "prompt is 100 tokens, 36 more than the context length 64" -- \
	"$LMSH" generate --no-history --model "$tiny" --prompt "$long"

# a refused prompt is an error line; the REPL goes on and quits with 0
printf 'ab\377\376cd\n' >"$tmp/bad-utf8"
"$LMSH" --no-history --model "$tiny" --max-new-tokens 3 <"$tmp/bad-utf8" \
	>"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -ne 0 ] || ! grep -q "invalid UTF-8 at byte 2" "$tmp/err"; then
	echo "FAIL: invalid UTF-8 prompt: exit $st"; cat "$tmp/err"; fail=1
fi
"$LMSH" --no-history --model "$tiny" --max-new-tokens 3 --seed 1 \
	--replace-invalid <"$tmp/bad-utf8" >"$tmp/out" 2>"$tmp/err" ||
	{ echo "FAIL: --replace-invalid prompt refused"; cat "$tmp/err"; fail=1; }

head -c 8192 /dev/urandom >"$tmp/bad.db"
sum=$(cksum <"$tmp/bad.db")
echo "Once" | "$LMSH" --model "$tiny" --history "$tmp/bad.db" \
	--max-new-tokens 3 >"$tmp/out" 2>"$tmp/err"
st=$?
[ $st -eq 0 ] || { echo "FAIL: corrupt history stopped the REPL ($st)"; fail=1; }
grep -q "$tmp/bad.db: .*not a database" "$tmp/err" ||
	{ echo "FAIL: corrupt history not named"; cat "$tmp/err"; fail=1; }
[ "$(cksum <"$tmp/bad.db")" = "$sum" ] ||
	{ echo "FAIL: corrupt history file was modified"; fail=1; }

expect 2 "^lmsh generate: unrecognized option '--no-such-flag'" -- \
	"$LMSH" generate --no-such-flag
# the program's path (as the shell found it) is not in the message
expect 2 "^lmsh: unrecognized option '--no-such-flag'" -- \
	"$LMSH" --no-such-flag
expect 2 "^lmsh history: option --temperature does not apply" -- \
	"$LMSH" history -t 9
expect 2 "^lmsh detokenize: option --format does not apply" -- \
	"$LMSH" detokenize --format json

exit $fail
