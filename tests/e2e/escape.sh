#!/bin/sh
# escape.sh: control characters never reach a terminal raw (issue 17).
# Covers: a model whose greedy reply holds ESC (its vocabulary tampered
# with) - generate, replay and the line-mode REPL write it byte-exact into
# a pipe, escaped (\x1b) on a terminal (a pty from script(1)), raw there
# with --raw; detokenize likewise; a stored prompt with OSC 52, a title
# change and U+009B is escaped by history list, show and export --format
# markdown, even into a pipe, and JSON escapes it per JSON; an error that
# quotes a file name with ESC in it, or what was typed in the REPL, is
# escaped.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
command -v script >/dev/null 2>&1 || { echo "no script(1)"; exit 77; }
M="$LMSH_TEST_DATA/models/tiny"
export LMSH_HISTORY="$T/h.db"
ESC=$(printf '\033')
has_esc() { od -An -c "$1" | grep -q '033'; }
has_c1() { od -An -tx1 "$1" | grep -q 'c2 9b'; }
# run a command line on a pseudo-terminal; its output into FILE
on_tty() {	# FILE COMMAND
	f=$1; shift
	script -qec "$*" /dev/null </dev/null >"$f" 2>&1
}

# --- a tampered model: the first greedy token (123) is now the byte ESC (27)
E="$T/evil"
mkdir "$E" && cp "$M/config.json" "$M/model.safetensors" "$M/merges.txt" "$E/"
jq 'with_entries(if .value == 123 then .value = 27
    elif .value == 27 then .value = 123 else . end)' "$M/vocab.json" \
    >"$E/vocab.json" || no "jq"
GEN="$LMSH generate --model $E --prompt a -t 0 --max-new-tokens 5 --seed 1"

$GEN >"$T/pipe" 2>"$T/err" || no "generate: $(cat "$T/err")"
has_esc "$T/pipe" || no "generate into a pipe is not byte-exact: $(od -c "$T/pipe")"
on_tty "$T/tty" "$GEN --no-history" || no "generate on a tty: $(cat "$T/tty")"
has_esc "$T/tty" && no "generate on a tty: raw ESC: $(od -c "$T/tty")"
grep -q '\\x1b' "$T/tty" || no "generate on a tty: $(cat "$T/tty")"
on_tty "$T/raw" "$GEN --no-history --raw" || no "generate --raw"
has_esc "$T/raw" || no "generate --raw on a tty: escaped: $(cat "$T/raw")"

# the REPL in line mode (stdin a pipe, stdout the terminal)
on_tty "$T/repl" "printf 'a\\n' | $LMSH --plain --model $E -t 0 --max-new-tokens 5 --no-history" \
    || no "line REPL on a tty: $(cat "$T/repl")"
has_esc "$T/repl" && no "line REPL on a tty: raw ESC: $(od -c "$T/repl")"
grep -q '\\x1b' "$T/repl" || no "line REPL on a tty: $(cat "$T/repl")"
printf 'a\n' | "$LMSH" --model "$E" -t 0 --max-new-tokens 5 --no-history \
    >"$T/repl-pipe" 2>/dev/null
has_esc "$T/repl-pipe" || no "line REPL into a pipe: not byte-exact"

# replay's text, of the turn generate recorded
"$LMSH" replay 1 --model "$E" >"$T/rp" 2>"$T/err" || no "replay: $(cat "$T/err")"
has_esc "$T/rp" || no "replay into a pipe: not byte-exact"
on_tty "$T/rp-tty" "$LMSH replay 1 --model $E" || no "replay on a tty: $(cat "$T/rp-tty")"
has_esc "$T/rp-tty" && no "replay on a tty: raw ESC: $(od -c "$T/rp-tty")"

# detokenize
"$LMSH" detokenize --model "$M" 64 27 93 >"$T/dt" || no "detokenize"
has_esc "$T/dt" || no "detokenize into a pipe: not byte-exact"
on_tty "$T/dt-tty" "$LMSH detokenize --model $M 64 27 93" || no "detokenize on a tty"
[ "$(cat "$T/dt-tty")" = '@\x1b]' ] || no "detokenize on a tty: $(od -c "$T/dt-tty")"

# --- a stored prompt: clipboard (OSC 52), window title, a C1 CSI -------------
P=$(printf 'x\033]52;c;aGk=\007 \033]0;pwned\007 \302\2332J end')
"$LMSH" generate --model "$M" --prompt "$P" --max-new-tokens 2 --seed 1 \
    >/dev/null 2>"$T/err" || no "record: $(cat "$T/err")"
"$LMSH" history >"$T/list" || no "list"
"$LMSH" history show 2 >"$T/show" || no "show"
"$LMSH" history export 2 --format markdown >"$T/md" || no "markdown"
for f in list show md; do
	has_esc "$T/$f" && no "history $f: raw ESC: $(od -c "$T/$f" | head)"
	has_c1 "$T/$f" && no "history $f: raw U+009B"
done
grep -q '\\x1b\]52;c;aGk=\\x07 \\x1b\]0;pwned\\x07 \\u009b2J end' "$T/show" \
    || no "show: $(cat "$T/show")"
grep -q '\\x1b\]52' "$T/md" || no "markdown: $(cat "$T/md")"
grep -q '\\u009b2J' "$T/list" || no "list: $(cat "$T/list")"
[ "$("$LMSH" history export 2 --format json | jq -r '.[0].prompt')" = "$P" ] \
    || no "JSON does not round-trip the prompt"

# --- an error quoting a file name ---------------------------------------------
"$LMSH" generate --model "$T/m${ESC}]0;pwned" --prompt a 2>"$T/err" >/dev/null
has_esc "$T/err" && no "error: raw ESC: $(od -c "$T/err")"
grep -q 'm\\x1b\]0;pwned' "$T/err" || no "error: $(cat "$T/err")"
# and one from the line REPL quoting what was typed
printf '/temp x\033]0;pwned\007\n' | "$LMSH" --model "$M" --no-history \
    >/dev/null 2>"$T/err"
has_esc "$T/err" && no "REPL error: raw ESC: $(od -c "$T/err")"
grep -qF "'x\\x1b]0;pwned\\x07'" "$T/err" || no "REPL error: $(cat "$T/err")"
exit $fail
