#!/bin/sh
# ui-story.sh: the story on the curses screen.  /undo takes the last turn
# off the screen; /edit puts the last prompt back in the input line and
# Enter reruns it in place of the old turn; text that slid out of the
# context is drawn dim; on /quit the transcript is printed to the normal
# screen (the scrollback), and with --no-scrollback it is not; --resume
# shows the story again.
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

# --resume: the story comes back on the screen, its context prefilled
restart
start -- --eos-token-id -1 --max-new-tokens 4 --seed 1
tm send-keys -l "Narwhal"
tm send-keys Enter
wait_idle
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
restart
start -- --resume --eos-token-id -1 --max-new-tokens 4
wait_for "resumed: 1 turn"
wait_for "Narwhal"
tm send-keys -l "/quit"
tm send-keys Enter
wait_for "EXIT=0"
exit 0
