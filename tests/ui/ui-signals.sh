#!/bin/sh
# ui-signals.sh: SIGTERM and SIGHUP in the curses REPL, mid-reply, act as
# Ctrl-C then /quit: the reply is recorded as interrupted, the terminal is
# restored (the status line is gone), and the exit status is 128+signal.
# A pty closed under lmsh (tmux kill-session, mid-reply and idle) ends it
# within a few seconds even when no SIGHUP reaches it (the pane's shell
# survives the hang-up, so the kernel signals nobody else): no process is
# left spinning on a terminal that is gone, and the history keeps the
# interrupted turn.
. "$LMSH_SRCDIR/tests/ui/common.sh"

n=0
for sig in TERM HUP; do
	n=$((n + 1))
	[ $n -eq 1 ] || { tm kill-server; rm -rf "$XDG_DATA_HOME"; }
	start LMSH_TEST_STEP_MS=150 -- --seed 5 --max-new-tokens 40 \
	    --eos-token-id -1
	tm send-keys -l "Once upon a time"
	tm send-keys Enter
	wait_re " ([2-9]|[1-3][0-9]) tok "
	pid=$(tm display -p '#{pane_pid}')
	lp=$(pgrep -P "$pid" | head -1)
	[ -n "$lp" ] || fail "$sig: no lmsh process"
	kill -$sig "$lp"
	wait_for "EXIT=$((128 + $(kill -l $sig)))"
	screen | grep -q "hist on" && fail "$sig: screen not restored"
	history_cmd show 1 > "$T/show" || fail "$sig: no history row"
	grep -q "^stop      interrupted" "$T/show" || fail "$sig: not interrupted"
done

# gone PID: the process has ended (a zombie has)
gone() {
	case "$(ps -o stat= -p "$1" 2>/dev/null)" in
	""|Z*) return 0;;
	esac
	return 1
}
for how in busy idle; do
	for shell in plain nohup; do
		tm kill-server >/dev/null 2>&1
		rm -rf "$XDG_DATA_HOME"
		trap_hup=""
		[ $shell = nohup ] && trap_hup="trap '' HUP"
		cat > "$T/run.sh" <<RUN
$trap_hup
LMSH_TEST_STEP_MS=100 "$LMSH" --model "$MODEL" --threads 1 --seed 5 \
    --max-new-tokens 200 --eos-token-id -1
exec sleep 600
RUN
		tm new-session -d -x 80 -y 24 "sh '$T/run.sh'"
		wait_for "/help lists commands"
		if [ $how = busy ]; then
			tm send-keys -l "Once upon a time"
			tm send-keys Enter
			wait_re " ([2-9]|[1-9][0-9]) tok "
		else
			tm send-keys -l "Once"
			tm send-keys Enter
			wait_idle 30
		fi
		pid=$(tm display -p '#{pane_pid}')
		lp=$(pgrep -P "$pid" | head -1)
		[ -n "$lp" ] || fail "$how/$shell: no lmsh process"
		tm kill-session
		end=$(( $(date +%s) + 5 ))
		while ! gone "$lp"; do
			if [ "$(date +%s)" -ge "$end" ]; then
				ps -o pid,stat,pcpu,args -p "$lp"
				kill "$lp" "$pid" 2>/dev/null
				echo "FAIL: $how/$shell: lmsh still runs after its pty closed"
				exit 1
			fi
			sleep 0.1	# the polling interval
		done
		kill "$pid" 2>/dev/null	# the shell that ignored the hang-up
		history_cmd show 1 > "$T/show" ||
		    { echo "FAIL: $how/$shell: history"; exit 1; }
		if [ $how = busy ]; then
			grep -q "^stop      interrupted" "$T/show" ||
			    { echo "FAIL: $how/$shell: $(cat "$T/show")"; exit 1; }
		fi
	done
done
exit 0
