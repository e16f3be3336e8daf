# common.sh: sourced by tests/ui/*.sh.  Each test drives lmsh's curses REPL
# in a private tmux server (its own socket, no config), types with
# send-keys, and polls capture-pane until the expected text shows or a
# deadline passes: there is no sleep that waits for an outcome.  Skips
# (exit 77) when tmux, the program or the tiny model is missing.

TMUX_BIN=${TMUX_BIN:-tmux}
command -v "$TMUX_BIN" >/dev/null 2>&1 || { echo "tmux not found: skip"; exit 77; }
[ -n "$LMSH" ] && [ -x "$LMSH" ] || { echo "LMSH not set: skip"; exit 77; }
MODEL="$LMSH_TEST_DATA/models/tiny"
[ -f "$MODEL/config.json" ] || { echo "no tiny model: skip"; exit 77; }

T=$(mktemp -d "${TMPDIR:-/tmp}/lmsh-ui.XXXXXX")
SOCK="t$$"
tm() { "$TMUX_BIN" -L "$SOCK" -f /dev/null "$@"; }
ui_cleanup() { tm kill-server >/dev/null 2>&1; rm -rf "$T"; }
trap ui_cleanup EXIT
trap 'exit 1' INT TERM HUP
XDG_DATA_HOME="$T/xdg"; export XDG_DATA_HOME	# a private history
unset LMSH_HISTORY LMSH_MODEL
LC_ALL=C.UTF-8; export LC_ALL

# start [ENV=VALUE ...] -- [lmsh options]: run lmsh on the tiny model in an
# 80x24 pane.  When lmsh exits the pane shows EXIT=status.
start() {
	envs=""
	while [ $# -gt 0 ] && [ "$1" != "--" ]; do
		envs="$envs '$1'"; shift
	done
	[ "$1" = "--" ] && shift
	args=""
	for a in "$@"; do args="$args '$a'"; done
	# The shell outlives lmsh when the pane goes (it waits, then runs
	# the trap): had it died first, lmsh's process group would be
	# orphaned, and the kernel's SIGHUP + SIGCONT to an orphaned group
	# with a stopped member cancels the stop that LeakSanitizer's tracer
	# waits for at exit, so sanitizer builds hung there at full CPU.
	cat > "$T/run.sh" <<RUN
trap 'exit 129' HUP
unset NO_COLOR
env$envs "$LMSH" --model "$MODEL" --threads 1$args
echo EXIT=\$?
exec sleep 600
RUN
	tm new-session -d -x 80 -y 24 "sh '$T/run.sh'"
	wait_for "/help lists commands"
}

# restart: end this server and use a fresh socket (a server that is still
# going away must not meet the next one).
restart() {
	tm kill-server >/dev/null 2>&1
	SOCK="${SOCK}x"
}

screen() { tm capture-pane -p; }
screen_sgr() { tm capture-pane -p -e; }
status_line() { screen | sed -n 23p; }
message_line() { screen | sed -n 22p; }

fail() {
	echo "FAIL: $*"
	echo "--- screen:"
	screen
	exit 1
}

# wait_for TEXT [SECONDS]: poll until the screen contains TEXT.
wait_for() {
	_end=$(( $(date +%s) + ${2:-15} ))
	while ! screen | grep -qF -- "$1"; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timeout waiting for '$1'"
		sleep 0.05	# the polling interval
	done
}

# wait_line TEXT [SECONDS]: poll until a whole screen row is TEXT.
wait_line() {
	_end=$(( $(date +%s) + ${2:-15} ))
	while ! screen | grep -qxF -- "$1"; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timeout waiting for the row '$1'"
		sleep 0.05
	done
}

# wait_re REGEX [SECONDS]: the same with an extended regular expression.
wait_re() {
	_end=$(( $(date +%s) + ${2:-15} ))
	while ! screen | grep -qE -- "$1"; do
		[ "$(date +%s)" -lt "$_end" ] || fail "timeout waiting for /$1/"
		sleep 0.05
	done
}

# wait_gone TEXT [SECONDS]: poll until TEXT is no longer on the screen.
wait_gone() {
	_end=$(( $(date +%s) + ${2:-15} ))
	while screen | grep -qF -- "$1"; do
		[ "$(date +%s)" -lt "$_end" ] || fail "'$1' did not go away"
		sleep 0.05
	done
}

# wait_idle: poll until the input line shows its prompt again (a reply
# has ended).
wait_idle() {
	_end=$(( $(date +%s) + ${1:-15} ))
	while ! screen | tail -n 1 | grep -q '^>'; do
		[ "$(date +%s)" -lt "$_end" ] || fail "still generating"
		sleep 0.05
	done
}

# tokens_now: the "N tok" figure of the status line.
tokens_now() {
	status_line | sed -n 's/.* \([0-9][0-9]*\) tok .*/\1/p'
}

history_cmd() { "$LMSH" history "$@"; }
