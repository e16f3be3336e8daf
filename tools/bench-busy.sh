#!/bin/bash
# How lmsh's default thread count holds up on a machine where another
# program spins on one core, and how close it comes to the best explicit
# --threads on an idle one (issue 12, "steady on a busy machine").
#
#   bench-busy.sh LMSH [MODEL] [ROUNDS=5] [TOKENS=256]
#
# MODEL (empty: the default) defaults to the 15m random weights of ../shared/peers (made by
# vs-llama2c.sh under ${TMPDIR:-/tmp}/lmsh-peers) when they exist, else the
# bundled model.  Greedy decoding of one sequence, runs alternating, medians.
# Prints, last:
#   busy: default/--threads 1 = R (default A tok/s, --threads 1 B tok/s,
#         prefill of a 4-token prompt C ms)
#   idle: default/best --threads = R (default A tok/s, --threads 1 B,
#         --threads N C)
set -eu
LMSH=$(readlink -f "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
P=${TMPDIR:-/tmp}/lmsh-peers/15m
if [ -n "${2:-}" ]; then M=$2
elif [ -f "$P/model.safetensors" ]; then M=$P
else M=$HERE/../share/tinystories
fi
ROUNDS=${3:-5}; N=${4:-256}
NCPU=$(nproc)
T=$(mktemp -d); SPIN=
trap '[ -n "$SPIN" ] && kill "$SPIN" 2>/dev/null; rm -rf "$T"' EXIT

# tok/s and prefill ms of one run; $@: extra options
run() {
	"$LMSH" generate --model "$M" "$@" --prompt-tokens 4 --temperature 0 \
	    --max-new-tokens "$N" --eos-token-id -1 --output jsonl \
	    --no-history 2>/dev/null | awk '
	    { match($0, /"n_tokens": *[0-9]+/); n = substr($0, RSTART, RLENGTH)
	      sub(/.*: */, "", n)
	      match($0, /"decode_s": *[0-9.e-]+/); d = substr($0, RSTART, RLENGTH)
	      sub(/.*: */, "", d)
	      match($0, /"prefill_s": *[0-9.e-]+/); p = substr($0, RSTART, RLENGTH)
	      sub(/.*: */, "", p) }
	    END { printf "%.1f %.2f\n", (n - 1) / d, p * 1000 }'
}
med() { sort -g | awk '{a[NR]=$1} END{print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

run >/dev/null	# the page cache
echo "model: $M; $NCPU CPUs; $ROUNDS rounds of $N tokens"

# busy: one spinning process, as a browser on the other core
( while :; do :; done ) & SPIN=$!
sleep 0.5
: >"$T/bd"; : >"$T/b1"; : >"$T/bp"
for r in $(seq "$ROUNDS"); do
	if [ $((r % 2)) = 1 ]; then
		d=$(run); o=$(run --threads 1)
	else
		o=$(run --threads 1); d=$(run)
	fi
	echo "${d% *}" >>"$T/bd"; echo "${o% *}" >>"$T/b1"; echo "${d#* }" >>"$T/bp"
	echo "busy round $r: default ${d% *} tok/s (prefill ${d#* } ms), --threads 1 ${o% *} tok/s"
done
kill "$SPIN"; wait "$SPIN" 2>/dev/null || true; SPIN=
sleep 0.5

: >"$T/id"; : >"$T/i1"; : >"$T/in"
for r in $(seq "$ROUNDS"); do
	d=$(run); o=$(run --threads 1); a=$(run --threads "$NCPU")
	echo "${d% *}" >>"$T/id"; echo "${o% *}" >>"$T/i1"; echo "${a% *}" >>"$T/in"
	echo "idle round $r: default ${d% *}, --threads 1 ${o% *}, --threads $NCPU ${a% *} tok/s"
done

bd=$(med <"$T/bd"); b1=$(med <"$T/b1"); bp=$(med <"$T/bp")
id=$(med <"$T/id"); i1=$(med <"$T/i1"); in=$(med <"$T/in")
awk -v d="$bd" -v o="$b1" -v p="$bp" 'BEGIN{printf "busy: default/--threads 1 = %.2f (default %.0f tok/s, --threads 1 %.0f tok/s, prefill of a 4-token prompt %.1f ms)\n", d/o, d, o, p}'
awk -v d="$id" -v o="$i1" -v a="$in" -v n="$NCPU" 'BEGIN{b = o > a ? o : a; printf "idle: default/best --threads = %.2f (default %.0f tok/s, --threads 1 %.0f, --threads %d %.0f)\n", d/b, d, o, n, a}'
