#!/bin/sh
# ui-pace.sh: pace, step mode, the keys after a reply and /color, driven as
# a person would (issue 14).
# Covers: the screen's default pace (30 tokens/s, /pace) holds
# a 40-token reply for over a second, so '+' typed 250 ms after Enter turns
# the temperature instead of landing in the input line; while paused, each
# '.' lets exactly one token through; Tab on an empty line right after the
# reply opens the panel and lists no files; a paced turn replays
# identically; /color shows its legend and colours the reply (red, yellow
# or green SGR), and /show-turn of it the same way; with NO_COLOR it uses
# underline or reverse instead.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --seed 3 --max-new-tokens 40 --eos-token-id -1
tm send-keys -l "/pace"
tm send-keys Enter
wait_for "pace 30 tokens/s"
t0=$(date +%s.%N)
tm send-keys -l "Once upon a time"
tm send-keys Enter
sleep 0.25	# the moment of the report: a key 250 ms after Enter
tm send-keys +
wait_for "temp 0.90"
# step mode
tm send-keys Space
wait_for "PAUSED"
n=$(tokens_now)
[ "${n:-40}" -lt 39 ] || fail "the reply ended before the pause"
tm send-keys .
_end=$(( $(date +%s) + 10 ))
while [ "$(tokens_now)" != $((n + 1)) ]; do
	[ "$(date +%s)" -lt "$_end" ] || fail "'.' did not step one token"
	sleep 0.05
done
tm send-keys .
_end=$(( $(date +%s) + 10 ))
while [ "$(tokens_now)" != $((n + 2)) ]; do
	[ "$(date +%s)" -lt "$_end" ] || fail "a second '.' did not step"
	sleep 0.05
done
sleep 0.3	# a negative check: still paused, no more tokens
[ "$(tokens_now)" = $((n + 2)) ] || fail "a step let more than one through"
tm send-keys Space
wait_for " 40 tok " 30
wait_idle
t1=$(date +%s.%N)
# 40 tokens at 30 a second take over a second, pauses aside
awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.2) }' ||
    fail "the reply was not paced"
screen | tail -n 1 | grep -q '^> *$' || fail "a key reached the input line"
# Tab on the empty line: the panel, never a list of files
touch "$T/zz-file-for-tab"
tm send-keys Tab
wait_for "next token  temp"
screen | grep -q "zz-file-for-tab\|Makefile" && fail "Tab listed files"
tm send-keys Tab
wait_gone "next token  temp"
# pacing changed nothing: the turn replays
tm send-keys -l "/replay 1"
wait_re "^> /replay 1"
tm send-keys Enter
wait_for "identical (40 tokens)" 30
wait_idle
# /color: the legend, and the reply's tokens in colour
tm send-keys -l "/color"
tm send-keys Enter
wait_for "p>=.5 .2+ green"
screen_sgr | grep -q "$(printf '\033')\[3[123]m" || fail "no colour bands"
# an old turn colours the same in /show-turn
tm send-keys -l "/clear"
tm send-keys Enter
wait_gone "Once upon a time"
tm send-keys -l "/show-turn 1"
tm send-keys Enter
wait_for "--- output"
screen_sgr | sed -n '/--- output/,$p' | grep -q "$(printf '\033')\[3[123]m" ||
    fail "/show-turn is not coloured"
restart
start NO_COLOR=1 -- --seed 3 --max-new-tokens 40 --eos-token-id -1 --pace 0
tm send-keys -l "/color on"
tm send-keys Enter
wait_for "underline .05+ bold reverse"
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_re " 40 tok( |$)"
wait_idle
screen_sgr | grep -q "$(printf '\033')\[[0-9;]*[47]m" || fail "no mono bands"
exit 0
