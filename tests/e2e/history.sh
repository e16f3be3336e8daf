#!/bin/sh
# history.sh: `lmsh history` on a file holding four known turns (written by
# tests/unit/test-history --fill).
# Covers: list (text, -n, --session, --json parsed with jq, oldest first);
# show (settings, live changes, full prompt); search (FTS5: best match
# first, words from the output, FTS syntax taken as plain text, --json);
# export ID and --all as JSON (jq: texts with quotes, tabs and UTF-8, token
# ids, settings, changes) and as Markdown; delete (gone from list and
# search; `delete 2 999` deletes nothing); a writable file in a read-only
# directory is listed and searched (as an unprivileged user); LMSH_HISTORY and --history; a missing file lists nothing; usage
# errors (2) and a missing turn (1); a corrupt file, another program's file
# and a file from a newer lmsh are refused with a message naming the file
# and are left byte for byte as they were.
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
need_jq
FILL="${LMSH%/src/lmsh}/tests/unit/test-history"
[ -x "$FILL" ] || { echo "no $FILL"; exit 77; }
DB="$T/h.db"
"$FILL" --fill "$DB" || { echo "cannot fill $DB"; exit 99; }
export LMSH_HISTORY="$DB"

# --- list -------------------------------------------------------------------
"$LMSH" history >"$T/list" 2>"$T/err" || no "history exit $?: $(cat "$T/err")"
[ "$(wc -l <"$T/list")" -eq 4 ] || no "list: $(cat "$T/list")"
head -1 "$T/list" | grep -q '^ *1  .*tiny  t=0.7 p=0.95 k=40 .*The quick brown fox\.\.\.$' \
    || no "list line 1: $(head -1 "$T/list")"
"$LMSH" history -n 2 >"$T/list2" || no "history -n 2"
[ "$(awk '{print $1}' "$T/list2" | tr '\n' ' ')" = "3 4 " ] || no "-n 2: $(cat "$T/list2")"
"$LMSH" history --session 1 --json >"$T/s1.json" || no "history --session 1 --json"
[ "$(jq -c '[.[].id]' "$T/s1.json")" = "[1,2,3]" ] || no "--session: $(cat "$T/s1.json")"
[ "$(jq -r '.[0].prompt' "$T/s1.json")" = "$(printf 'The quick brown fox\nsecond line')" ] \
    || no "list --json prompt"
"$LMSH" history --history "$DB" --session 2 -n 5 >"$T/s2" || no "--history"
grep -q unrelated "$T/s2" && [ "$(wc -l <"$T/s2")" -eq 1 ] || no "--session 2: $(cat "$T/s2")"

# --- show -------------------------------------------------------------------
"$LMSH" history show 2 >"$T/show" || no "show 2"
grep -q 'temperature=0.7 top_p=0.95 top_k=41 min_p=0.05 typical_p=1 repeat_penalty=1.1 repeat_window=32 seed=18446744073709551615 max_new_tokens=4 eos_id=256' "$T/show" \
    || no "show settings: $(cat "$T/show")"
grep -q 'step 1: temperature=0.25, step 3: top_k=5' "$T/show" || no "show changes"
grep -q '^there was a fox. The fox ran. Fox!$' "$T/show" || no "show output"

# --- search -----------------------------------------------------------------
"$LMSH" history search --json fox >"$T/fox.json" || no "search fox"
[ "$(jq -c '[.[].id]' "$T/fox.json")" = "[2,1]" ] || no "search ranking: $(cat "$T/fox.json")"
"$LMSH" history search lazy dog >"$T/dog" || no "search lazy dog"
grep -q '^ *1 .*\[lazy\] \[dog\]' "$T/dog" && [ "$(wc -l <"$T/dog")" -eq 1 ] \
    || no "search two words: $(cat "$T/dog")"
"$LMSH" history search 'fox NOT' '"(' >"$T/none" 2>"$T/err" || no "search syntax: $(cat "$T/err")"
[ ! -s "$T/none" ] || no "search syntax matched: $(cat "$T/none")"

# --- export -----------------------------------------------------------------
"$LMSH" history export 3 >"$T/e3.json" || no "export 3"
[ "$(jq -r '.[0].prompt' "$T/e3.json")" = "$(printf 'say "hi" & <b>\303\274</b>\\')" ] \
    || no "export prompt: $(jq '.[0].prompt' "$T/e3.json")"
[ "$(jq -r '.[0].output' "$T/e3.json")" = "$(printf '\346\227\245\346\234\254\350\252\236 text\ttab')" ] \
    || no "export output"
[ "$(jq -c '.[0].prompt_ids' "$T/e3.json")" = "[72,105,0,256,-1,2147483647]" ] \
    || no "export ids: $(jq -c '.[0].prompt_ids' "$T/e3.json")"
[ "$(jq -c '.[0].settings | [.top_k, .max_new_tokens, .eos_id, .stop]' "$T/e3.json")" = \
    '[42,4,256,["\n\n","say \"end\""]]' ] || no "export settings"
# every setting of the sampler's table, typical_p too
[ "$(jq -c '.[0].settings | [.min_p, .typical_p, .repeat_window]' "$T/e3.json")" = \
    '[0.05,1,32]' ] || no "export table settings: $(jq -c '.[0].settings' "$T/e3.json")"
# a seed of all 64 bits, exact (jq 1.6 reads numbers as doubles: the text)
grep -q '"seed": 18446744073709551615,' "$T/e3.json" || no "export seed"
jq -e '.[0].settings | .temperature == 0.7 and .top_p == 0.95 and
    .repeat_penalty == 1.1' "$T/e3.json" >/dev/null || no "export reals"
grep -q '"min_p": 0.05,' "$T/e3.json" || no "export: shortest reals"
"$LMSH" history export --all --format json >"$T/all.json" || no "export --all"
[ "$(jq -c '[.[] | .id]' "$T/all.json")" = "[1,2,3,4]" ] || no "export --all ids"
[ "$(jq -c '.[1].changes | map([.step, .name, .value])' "$T/all.json")" = \
    '[[1,"temperature",0.25],[3,"top_k",5]]' ] || no "export changes"
"$LMSH" history export 1 4 --format markdown >"$T/md" || no "export markdown"
grep -q '^## Turn 4$' "$T/md" && grep -q '^jumps over the lazy dog$' "$T/md" \
    || no "markdown: $(cat "$T/md")"

# --- delete -----------------------------------------------------------------
"$LMSH" history delete 1 >/dev/null || no "delete 1"
"$LMSH" history | grep -q 'quick brown' && no "deleted turn listed"
[ "$("$LMSH" history search --json lazy)" = "[]" ] || no "deleted turn found"
"$LMSH" history show 1 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$DB: no turn 1" "$T/err" || no "show deleted: $rc $(cat "$T/err")"
# all or nothing: a missing id deletes none of them
"$LMSH" history delete 2 999 >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "$DB: no turn 999; nothing deleted" "$T/err" \
    || no "delete 2 999: $rc $(cat "$T/err")"
[ ! -s "$T/out" ] || no "delete 2 999 printed: $(cat "$T/out")"
"$LMSH" history show 2 >/dev/null 2>&1 || no "delete 2 999 deleted turn 2"

# --- a writable file in a read-only directory: readers still read ----------
# (as root, through setpriv as nobody; a read-only directory binds no root)
RO="$T/ro"
mkdir "$RO" && cp "$DB" "$RO/h.db" && chmod 755 "$T"
as_user() { "$@"; }
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$RO/h.db"
	as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
fi
chmod 555 "$RO"
if as_user test -w "$RO/h.db" && ! as_user test -w "$RO" &&
    as_user test -x "$LMSH"; then
	as_user "$LMSH" history --history "$RO/h.db" >"$T/out" 2>"$T/err" \
	    || no "read-only directory: list: $(cat "$T/err")"
	grep -q 'Once upon a time' "$T/out" || no "read-only directory list: $(cat "$T/out")"
	as_user "$LMSH" history --history "$RO/h.db" search fox >"$T/out" 2>"$T/err" \
	    || no "read-only directory: search: $(cat "$T/err")"
	grep -q 'The \[fox\] ran' "$T/out" || no "read-only directory search"
	[ ! -e "$RO/h.db-wal" ] || no "read-only directory: a -wal file"
else
	echo "skipped the read-only directory test (no unprivileged user)"
fi
chmod 755 "$RO"

# --- usage errors -------------------------------------------------------------
"$LMSH" history show 2>/dev/null; [ $? -eq 2 ] || no "show without id"
"$LMSH" history show x 2>/dev/null; [ $? -eq 2 ] || no "show x"
"$LMSH" history export 2>/dev/null; [ $? -eq 2 ] || no "export without ids"
"$LMSH" history export 2 --format yaml 2>/dev/null; [ $? -eq 2 ] || no "--format yaml"
"$LMSH" history frobnicate 2>/dev/null; [ $? -eq 2 ] || no "unknown action"

# --- no file yet: empty lists -------------------------------------------------
LMSH_HISTORY="$T/none.db" "$LMSH" history >"$T/out" || no "missing file list"
[ ! -s "$T/out" ] && [ ! -e "$T/none.db" ] || no "missing file: $(cat "$T/out")"
[ "$(LMSH_HISTORY="$T/none.db" "$LMSH" history --json)" = "[]" ] || no "missing --json"

# --- refused files: one message naming the file, not a byte changed -----------
refused() {	# FILE WHAT PATTERN
	cp "$1" "$T/before"
	"$LMSH" history --history "$1" >"$T/out" 2>"$T/err"; rc=$?
	[ $rc -eq 1 ] || no "$2: exit $rc"
	[ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "^lmsh: $1: .*$3" "$T/err" \
	    || no "$2: message: $(cat "$T/err")"
	cmp -s "$1" "$T/before" || no "$2: file changed"
	[ ! -e "$1-wal" ] || no "$2: a -wal file appeared"
}
printf 'SQLite format 3\000 but then garbage follows here, nothing more\n' >"$T/junk.db"
refused "$T/junk.db" "corrupt file" "corrupt"
head -c 100000 /dev/urandom >"$T/random.db" 2>/dev/null || dd if=/dev/urandom of="$T/random.db" bs=1k count=100 2>/dev/null
refused "$T/random.db" "random bytes" "."
# a newer lmsh: schema version 99 in the header's user_version (offset 60)
"$FILL" --fill "$T/new.db" || no "fill new.db"
printf '\000\000\000\143' | dd of="$T/new.db" bs=1 seek=60 conv=notrunc 2>/dev/null
refused "$T/new.db" "newer file" "newer lmsh (schema version 99"
# another program's database: application_id (offset 68) not ours
"$FILL" --fill "$T/other.db" || no "fill other.db"
printf 'XXXX' | dd of="$T/other.db" bs=1 seek=68 conv=notrunc 2>/dev/null
refused "$T/other.db" "foreign file" "not an lmsh history"
exit $fail
