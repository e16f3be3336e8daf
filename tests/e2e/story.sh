#!/bin/sh
# story.sh: the story in line mode, through stdin, as scripts use it.
# /save writes the story as text (prompts joined with a space; in fresh
# mode, turns as paragraphs) or Markdown (prompts marked), an empty story
# an empty file; /retry gives the same
# reply again for the same seed; /undo drops the last turn from the story
# and the history marks it undone; /edit TEXT and /edit then a line rerun
# the last turn in place; /name, `lmsh history sessions`, and --resume
# (by name, as --resume=NAME, and the latest, also when an option follows
# --resume) bring the story back in a new run with its
# context, rebuilt in chunks with progress (Ctrl-C cancels), and a bad
# --resume exits 1; the context slides through several turns and every
# turn replays identically with lmsh replay; /model lists
# the models of $LMSH_MODEL_PATH and switches to one by name or directory
# (a new session records it, its generation_config.json sets the
# settings), and a bad name leaves the model as it was.
. "$(dirname "$0")/common.sh"
M="$LMSH_TEST_DATA/models/tiny"
[ -f "$M/config.json" ] || exit 77
XDG_DATA_HOME="$T/xdg"
export XDG_DATA_HOME
lm() { "$LMSH" --model "$M" --threads 1 --eos-token-id -1 "$@"; }

# an empty story is an empty file
printf '/save %s\n' "$T/empty.txt" | lm --no-history > /dev/null ||
    no "save empty: status $?"
[ -f "$T/empty.txt" ] && [ ! -s "$T/empty.txt" ] || no "empty story"

# two turns, saved: the replies are stdout's lines
printf 'Once upon a time\nthe end\n/save %s\n/save %s\n' "$T/s.txt" \
    "$T/s.md" | lm --max-new-tokens 8 --seed 3 > "$T/o" 2> "$T/e" ||
    no "save: status $?"
r1=$(sed -n 1p "$T/o")
r2=$(sed -n 2p "$T/o")
[ "$(cat "$T/s.txt")" = "Once upon a time$r1 the end$r2" ] ||
    no "saved text: $(cat "$T/s.txt")"
[ "$(cat "$T/s.md")" = "**Once upon a time**$r1 **the end**$r2" ] ||
    no "saved markdown: $(cat "$T/s.md")"
grep -q "^saved 2 turns" "$T/o" || no "save answer: $(cat "$T/o")"

# fresh mode: each turn is a paragraph of its own
printf 'One\nTwo\n/save %s\n' "$T/f.txt" | lm --no-history --mode fresh \
    --max-new-tokens 4 --seed 3 > "$T/o" || no "fresh: status $?"
[ "$(cat "$T/f.txt")" = "One$(sed -n 1p "$T/o")

Two$(sed -n 2p "$T/o")" ] || no "fresh save: $(cat "$T/f.txt")"

# /retry with the same seed, /undo, /edit
printf 'Once upon a time\nthe end\n/retry\n/undo\n/edit\nthe start\n/save %s\n' \
    "$T/r.txt" | lm --max-new-tokens 8 --seed 3 > "$T/o" 2> "$T/e" ||
    no "retry: status $?"
[ "$(sed -n 3p "$T/o")" = "$r2" ] || no "retry: $(cat "$T/o")"
grep -q "^undid the last turn (the history keeps it, marked undone)$" \
    "$T/o" || no "undo: $(cat "$T/o")"
# /edit alone prints the last prompt; the next line replaces that turn
[ "$(sed -n 5p "$T/o")" = "Once upon a time" ] || no "edit: $(cat "$T/o")"
r3=$(sed -n 6p "$T/o")
[ "$(cat "$T/r.txt")" = "the start$r3" ] || no "edited: $(cat "$T/r.txt")"
printf 'Once\n/edit Twice\n/save %s\n' "$T/e.txt" | lm --no-history \
    --max-new-tokens 2 > "$T/o" || no "edit TEXT: status $?"
case "$(cat "$T/e.txt")" in Twice*) ;; *) no "edit TEXT: $(cat "$T/e.txt")";; esac
if command -v sqlite3 > /dev/null 2>&1; then
	db="$XDG_DATA_HOME/lmsh/history.db"
	[ "$(sqlite3 "$db" "SELECT group_concat(undone, '') FROM turns \
	    WHERE session_id = 2")" = "1110" ] ||
	    no "undone marks: $(sqlite3 "$db" "SELECT id, undone, prompt FROM turns")"
fi

# a named story comes back in a new run, by name and as the latest
printf 'Once upon a time\n/name tale\n' | lm --max-new-tokens 6 --seed 5 \
    > "$T/o" || no "name: status $?"
grep -q "^session 3 is 'tale' (lmsh --resume 'tale')$" "$T/o" ||
    no "name: $(cat "$T/o")"
printf 'More\n' | lm --max-new-tokens 4 --seed 5 --mode fresh > /dev/null
printf '/save %s\n' "$T/res.txt" | lm --resume tale > /dev/null \
    2> "$T/e" || no "resume: status $?"
grep -q "^resumed 'tale': 1 turn, 22 tokens of context$" "$T/e" ||
    no "resume: $(cat "$T/e")"
[ "$(cat "$T/res.txt")" = "Once upon a time$(sed -n 1p "$T/o")" ] ||
    no "resumed story: $(cat "$T/res.txt")"
# the next turn continues the resumed context: 22 + " then"
printf 'then\n' | lm --resume tale --max-new-tokens 2 > /dev/null 2>&1 ||
    no "resume and go on: status $?"
"$LMSH" history show 9 | grep -q "27 prompt + 2 output tokens" ||
    no "resumed context: $("$LMSH" history show 9 | grep prompt)"
"$LMSH" history sessions > "$T/l" || no "history sessions: status $?"
grep -q "^ *ID  STARTED  *TURNS  NAME" "$T/l" || no "sessions header"
grep -Eq "^ +3  .* +1  tale " "$T/l" || no "sessions: $(cat "$T/l")"
printf '/save %s\n' "$T/res2.txt" | lm --resume > /dev/null 2> "$T/e" ||
    no "resume latest: status $?"
grep -q "^resumed 'tale': 2 turns" "$T/e" || no "latest: $(cat "$T/e")"
lm --resume nosuch < /dev/null > /dev/null 2> "$T/e"
[ $? -eq 1 ] || no "a bad --resume should exit 1"
grep -q "no turns to resume in session nosuch" "$T/e" ||
    no "bad resume: $(cat "$T/e")"
# --resume=SESSION; --resume alone before an option leaves it an option
printf '/save %s\n' "$T/res3.txt" | lm --resume=tale > /dev/null 2> "$T/e" ||
    no "--resume=tale: status $?"
grep -q "^resumed 'tale': 2 turns" "$T/e" || no "--resume=: $(cat "$T/e")"
cmp -s "$T/res2.txt" "$T/res3.txt" || no "--resume=tale: $(cat "$T/res3.txt")"
lm --resume=nosuch < /dev/null > /dev/null 2> "$T/e"
[ $? -eq 1 ] || no "a bad --resume= should exit 1"
grep -q "no turns to resume in session nosuch" "$T/e" ||
    no "bad --resume=: $(cat "$T/e")"
printf '/save %s\n' "$T/res4.txt" | lm --resume --max-new-tokens 1 \
    > /dev/null 2> "$T/e" || no "--resume OPTION: status $?"
cmp -s "$T/res2.txt" "$T/res4.txt" || no "--resume OPTION: $(cat "$T/e")"

# the resumed context is prefilled in chunks of 16 with progress, and
# Ctrl-C (SIGINT) between chunks cancels the resume: 29 + " and" + 6
printf 'and\n' | lm --resume --max-new-tokens 6 > /dev/null 2>&1
printf '' | lm --resume > /dev/null 2> "$T/e" || no "prefill: status $?"
grep -q "^rebuilding the context: 16 of 39 tokens$" "$T/e" &&
    grep -q "^rebuilding the context: 39 of 39 tokens$" "$T/e" ||
    no "no progress: $(cat "$T/e")"
mkfifo "$T/in"
LMSH_TEST_STEP_MS=1000 "$LMSH" --model "$M" --threads 1 --resume \
    < "$T/in" > "$T/o" 2> "$T/ce" &
pid=$!
exec 3> "$T/in"
n=0
until grep -q "^rebuilding the context: 16 of" "$T/ce" 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 300 ] || break
	sleep 0.05	# the polling interval
done
kill -INT $pid
printf '/save %s\n' "$T/c.txt" >&3
exec 3>&-
wait $pid || no "cancel: status $?"
grep -q "^resume cancelled: the story starts afresh$" "$T/ce" ||
    no "not cancelled: $(cat "$T/ce")"
[ -f "$T/c.txt" ] && [ ! -s "$T/c.txt" ] || no "story after cancel"

# the context (64) slides through several turns; each replays exactly
XDG_DATA_HOME="$T/xdg2"
a=aaaaaaaaaaaaaaaaaaaa
printf '%s\n%s\n%s\n%s\n%s%s%s%s\n' "$a" "$a" "$a" "$a" "$a" "$a" "$a" "$a" |
    lm --max-new-tokens 12 --seed 7 > /dev/null 2> "$T/e" ||
    no "slide: status $?"
[ "$(grep -c "^context full: shifted out" "$T/e")" -ge 2 ] ||
    no "no slide: $(cat "$T/e")"
grep -q "^prompt too long for the context: its first" "$T/e" ||
    no "no truncation: $(cat "$T/e")"
for id in 1 2 3 4 5; do
	"$LMSH" replay "$id" --threads 1 > "$T/rp" 2>&1 ||
	    no "replay $id: status $?"
	tail -1 "$T/rp" | grep -q "^identical (12 tokens)$" ||
	    no "replay $id: $(tail -1 "$T/rp")"
done
# /model: the list, a switch by name, a bad one
XDG_DATA_HOME="$T/xdg3"
mkdir -p "$T/models/other" && cp "$M"/* "$T/models/other/"
echo '{ "temperature": 0.3 }' > "$T/models/other/generation_config.json"
printf '/model\n/model other\nOnce\n/model /nowhere\n/model\n/temp\n' |
    LMSH_MODEL_PATH="$T/models" lm --max-new-tokens 3 > "$T/o" 2> "$T/e" ||
    no "model: status $?"
grep -q "^  other  *$T/models/other$" "$T/o" || no "model list: $(cat "$T/o")"
grep -q "^model $T/models/other: context 64, vocabulary 257" "$T/o" ||
    no "switch: $(cat "$T/o")"
[ "$(grep -c "^model          $T/models/other$" "$T/o")" -eq 1 ] ||
    no "after the switch: $(cat "$T/o")"
grep -qx "temperature    0.30" "$T/o" || no "the new model's defaults: $(cat "$T/o")"
grep -q "^lmsh: model: /nowhere: not a model directory" "$T/e" ||
    no "bad model: $(cat "$T/e")"
"$LMSH" history sessions | grep -Eq "^ +2  .* +1  .*$T/models/other$" ||
    no "new session: $("$LMSH" history sessions)"
exit $fail
