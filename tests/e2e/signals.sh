#!/bin/sh
# signals.sh: no silent loss of output, or of the turn being written.
# Covers: the line-mode REPL with stdout /dev/full, closed, or a pipe that
# is gone (SIGPIPE ignored) ends with one line on stderr and status 1;
# SIGTERM and SIGHUP mid-reply in the line-mode REPL and in generate stop
# the reply as Ctrl-C does (recorded as interrupted) and exit 128+signal;
# generate --output ids writes each id as it is sampled (strace counts the
# writes; a kill after the first id loses it not).
. "${LMSH_SRCDIR:?}/tests/e2e/common.sh"
M="$LMSH_TEST_DATA/models/tiny"
lm() { "$LMSH" --model "$M" --threads 1 "$@"; }
# wait until FILE has at least N bytes (polling, at most 15 s); the caller
# removes FILE before it starts the writer, so an old FILE cannot count
wait_bytes() {
	i=0
	while [ "$(wc -c <"$1" 2>/dev/null || echo 0)" -lt "$2" ]; do
		i=$((i + 1)); [ $i -lt 300 ] || return 1
		sleep 0.05
	done
}

# --- stdout that fails -----------------------------------------------------------
one_line() {	# WHAT RC ERRFILE PATTERN
	[ "$2" -eq 1 ] || no "$1: exit $2"
	[ "$(wc -l <"$3")" -eq 1 ] && grep -q "^lmsh: standard output: $4" "$3" \
	    || no "$1: $(cat "$3")"
}
echo hi | lm --no-history >/dev/full 2>"$T/err"
one_line "/dev/full" $? "$T/err" "No space left"
echo hi | lm --no-history >&- 2>"$T/err"
one_line "closed stdout" $? "$T/err" "Bad file descriptor"
(trap '' PIPE
 { echo hi | lm --no-history 2>"$T/err"; echo $? >"$T/rc"; } | true)
one_line "EPIPE" "$(cat "$T/rc")" "$T/err" "Broken pipe"
echo /help | lm --no-history >/dev/full 2>"$T/err"
one_line "/help into /dev/full" $? "$T/err" "No space left"

# --- SIGTERM and SIGHUP mid-reply ------------------------------------------------
n=0
for sig in TERM HUP; do
	n=$((n + 1))
	db="$T/h$n.db"
	want=$((128 + $(kill -l $sig)))
	# the line REPL, stdin held open so that only the signal ends it
	rm -f "$T/in" "$T/o"; mkfifo "$T/in"
	LMSH_TEST_STEP_MS=100 "$LMSH" --model "$M" --threads 1 --history "$db" \
	    --max-new-tokens 40 --eos-token-id -1 <"$T/in" >"$T/o" 2>"$T/e" &
	pid=$!
	exec 3>"$T/in"
	echo "Once upon a time" >&3
	wait_bytes "$T/o" 3 || no "REPL $sig: no output"
	kill -$sig $pid
	wait $pid; rc=$?
	exec 3>&-
	[ $rc -eq $want ] || no "REPL $sig: exit $rc, want $want: $(cat "$T/e")"
	"$LMSH" history --history "$db" show 1 | grep -q "^stop      interrupted" \
	    || no "REPL $sig: the turn is not recorded as interrupted"
	# generate
	rm -f "$T/o"
	LMSH_TEST_STEP_MS=100 "$LMSH" generate --model "$M" --threads 1 \
	    --history "$db" --max-new-tokens 40 --eos-token-id -1 \
	    --prompt "Once upon a time" >"$T/o" 2>"$T/e" &
	pid=$!
	wait_bytes "$T/o" 3 || no "generate $sig: no output"
	kill -$sig $pid
	wait $pid; rc=$?
	[ $rc -eq $want ] || no "generate $sig: exit $rc, want $want: $(cat "$T/e")"
	"$LMSH" history --history "$db" show 2 | grep -q "^stop      interrupted" \
	    || no "generate $sig: the turn is not recorded as interrupted"
done

# --- generate --output ids streams -------------------------------------------------
rm -f "$T/ids"
LMSH_TEST_STEP_MS=200 "$LMSH" generate --model "$M" --threads 1 --no-history \
    --max-new-tokens 40 --eos-token-id -1 --prompt "Once" --output ids \
    >"$T/ids" 2>"$T/e" &
pid=$!
wait_bytes "$T/ids" 1 || no "ids: nothing before the end"
kill -KILL $pid
{ wait $pid; } 2>/dev/null
n=$(tr ',' '\n' <"$T/ids" | grep -c .)
[ "$n" -ge 1 ] && [ "$n" -lt 40 ] || no "ids: $n ids before the kill: $(cat "$T/ids")"
if command -v strace >/dev/null 2>&1 &&
    strace -f -o /dev/null true 2>/dev/null; then
	# (LeakSanitizer cannot run under ptrace)
	ASAN_OPTIONS=detect_leaks=0 \
	    strace -f -e trace=write -o "$T/trace" "$LMSH" generate --model "$M" \
	    --threads 1 --no-history --max-new-tokens 8 --eos-token-id -1 \
	    --prompt "Once" --output ids >"$T/ids" 2>"$T/e" || no "ids: $(cat "$T/e")"
	w=$(grep -c 'write(1,' "$T/trace")
	[ "$w" -ge 8 ] || no "ids: $w writes for 8 ids: $(cat "$T/ids")"
fi
exit $fail
