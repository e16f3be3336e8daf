#!/bin/sh
# ui-story.sh: the story on the curses screen.  /undo takes the last turn
# off the screen; /edit puts the last prompt back in the input line and
# Enter reruns it in place of the old turn; text that slid out of the
# context is drawn dim; on /quit the transcript is printed to the normal
# screen (the scrollback), and with --no-scrollback it is not; --resume
# shows the story again, a long one with progress that Ctrl-C cancels.  The redraw after /undo keeps the probability
# colours (/color) of the turns that remain; command output between turns
# does not move the dimmed part by a byte (the same story with and
# without a command's output dims the same text); a reply holding a NUL
# byte is redrawn whole.
. "$LMSH_SRCDIR/tests/ui/common.sh"

start -- --no-history --eos-token-id -1 --max-new-tokens 4 --seed 1
tm send-keys -l "Zebra"
tm send-keys Enter
wait_idle
wait_for "Zebra"
tm send-keys -l "/undo"
tm send-keys Enter
wait_for "undid the last turn"
wait_gone "Zebra"

tm send-keys -l "Quokka"
tm send-keys Enter
wait_idle
tm send-keys -l "/edit"
tm send-keys Enter
wait_line "> Quokka"
tm send-keys -l " Wombat"
tm send-keys Enter
wait_idle
wait_for "Quokka Wombat"
[ "$(screen | grep -c Quokka)" -eq 1 ] || fail "the old turn is still shown"

# the context (64) slides: what it no longer sees is dim (SGR 2)
for i in 1 2 3; do
	tm send-keys -l "pppppppppppppppppppppppppppppp"
	tm send-keys Enter
	wait_idle
done
# the first prompt stays pinned (bright); its reply after it went dim
screen_sgr | grep -F "Quokka Wombat" |
    grep -Eq "$(printf '\033')\\[([0-9;]*;)?2(;[0-9;]*)?m" ||
    fail "nothing dimmed after the slide: $(screen_sgr | grep Quokka)"

tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
wait_for "Quokka Wombat"

restart
start -- --no-history --no-scrollback --eos-token-id -1 --max-new-tokens 4
tm send-keys -l "Zebra"
tm send-keys Enter
wait_idle
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
screen | grep -q Zebra && fail "--no-scrollback left the transcript"

# story PROMPT N: a history holding one turn, PROMPT and N tokens of reply
story() {
	restart
	start -- --eos-token-id -1 --max-new-tokens "$2" --seed 1
	tm send-keys -l "$1"
	tm send-keys Enter
	wait_idle
	tm send-keys -l "/quit"
	tm send-keys Enter
	wait_for "EXIT=0"
}

# --resume: the story comes back on the screen, its context prefilled
story Narwhal 4
restart
start -- --resume --eos-token-id -1 --max-new-tokens 4
wait_for "resumed: 1 turn"
wait_for "Narwhal"
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"

# a longer story is rebuilt in chunks of 16 with progress on the message
# line, and Ctrl-C cancels it (each chunk slowed to 0.8 s)
story Okapi 24
restart
start LMSH_TEST_STEP_MS=800 -- --resume --eos-token-id -1 --max-new-tokens 4
wait_for "rebuilding the context: 16 of"
tm send-keys C-c
wait_for "resume cancelled: the story starts afresh"
screen | grep -q Okapi && fail "the cancelled story is still shown"
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"

# /undo redraws the story: the turn left keeps its colour bands
E=$(printf '\033')
restart
start -- --seed 3 --max-new-tokens 8 --eos-token-id -1
tm send-keys -l "/color on"
tm send-keys Enter
wait_for "green"
tm send-keys -l "Alpha"
tm send-keys Enter
wait_idle
screen_sgr | grep "Alpha" | grep -q "$E\[3[123]m" ||
    fail "no colour bands to begin with: $(screen_sgr | grep Alpha)"
tm send-keys -l "Beta"
tm send-keys Enter
wait_idle
tm send-keys -l "/undo"
tm send-keys Enter
wait_for "undid the last turn"
screen_sgr | grep "Alpha" | grep -q "$E\[3[123]m" ||
    fail "/undo lost the colours: $(screen_sgr | grep Alpha)"

# the dimmed text of a slid story, with and without command output after
# its first turn: SGR 2 on, until a reset or SGR 22
dimmed() {
	screen_sgr | head -n 21 | awk 'BEGIN { RS = "\033"; ORS = "" }
	{
		s = $0
		if (match(s, /^\[[0-9;]*m/)) {
			p = substr(s, 2, RLENGTH - 2)
			s = substr(s, RLENGTH + 1)
			n = split(p, a, ";")
			if (p == "")
				dim = 0
			for (i = 1; i <= n; i++)
				if (a[i] == "0" || a[i] == "22")
					dim = 0
				else if (a[i] == "2")
					dim = 1
		}
		if (dim) {
			gsub(/\n/, "", s)
			print s
		}
	}'
}
slide() {
	restart
	start -- --no-history --seed 1 --max-new-tokens 8 --eos-token-id -1
	tm send-keys -l "Alpha"
	tm send-keys Enter
	wait_idle
	if [ "$1" = command ]; then
		tm send-keys -l "/keep"
		tm send-keys Enter
		wait_for "(the first prompt)"
	fi
	for p in bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb \
	    ccccccccccccccccccccccccccccccccc ddd; do
		tm send-keys -l "$p"
		tm send-keys Enter
		wait_idle
	done
	wait_for "context full"
	dimmed > "$T/dim.$1"
}
slide plain
slide command
[ -s "$T/dim.plain" ] || fail "nothing dimmed"
cmp -s "$T/dim.plain" "$T/dim.command" ||
    fail "command output moved the dimming: '$(cat "$T/dim.plain")' but '$(cat "$T/dim.command")'"

# a reply holding a NUL byte (token 0: seed 10 samples one) is redrawn
# whole after /undo, as it was streamed, not cut at the NUL
restart
start -- --no-history --seed 10 --max-new-tokens 8 --eos-token-id -1
tm send-keys -l "Once upon a time"
tm send-keys Enter
wait_idle
screen | grep -F "Once upon a time" >"$T/nul.before"
tm send-keys -l "Zebra"
tm send-keys Enter
wait_idle
tm send-keys -l "/undo"
tm send-keys Enter
wait_for "undid the last turn"
wait_gone "Zebra"
screen | grep -F "Once upon a time" >"$T/nul.after"
cmp -s "$T/nul.before" "$T/nul.after" ||
    fail "the redraw cut a reply: '$(cat "$T/nul.before")' then '$(cat "$T/nul.after")'"
exit 0
