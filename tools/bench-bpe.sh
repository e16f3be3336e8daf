#!/bin/sh
# bench-bpe.sh: tokenizer figures on one machine, in one run (`make bench-bpe`).
# Prints encode throughput (MB/s, single thread, best of 5) on the TinyStories
# text in shared/data for the GPT-2 tokenizer and for a 10k vocabulary
# trained on the same text, js-tiktoken's GPT-2 throughput on that text and
# the ratio, the time `lmsh bpe-train` takes for the 10k vocabulary, and the
# time for 10k merges on about 100 MB (the text repeated; set
# BENCH_BPE_BIG=0 to skip).
#
# Needs $LMSH and $BENCH_BPE (the make target sets them).  js-tiktoken is
# looked up in $NODE_PATH, then /tmp/bpe-node/node_modules
# (npm install --prefix /tmp/bpe-node js-tiktoken); without it that line is
# skipped.
set -u
: "${LMSH:?}" "${BENCH_BPE:?}" "${LMSH_SRCDIR:?}"
DATA=${BENCH_BPE_DATA:-$LMSH_SRCDIR/../shared/data/tinystories}
G="$LMSH_SRCDIR/tests/data/bpe"
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT

if [ ! -f "$DATA/tinystories_v1_train_head.txt" ]; then
	echo "bench-bpe: no TinyStories text in $DATA (set BENCH_BPE_DATA)" >&2
	exit 1
fi
cat "$DATA/tinystories_v1_train_head.txt" "$DATA/tinystories_v1_valid_head.txt" \
    >"$T/ts.txt"
bytes=$(wc -c <"$T/ts.txt")
now() { date +%s.%N; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
mbs() { sed -n 's/^encode \([0-9.]*\) MB\/s.*/\1/p' "$1"; }

echo "text: TinyStories train+valid heads, $bytes bytes; $(nproc) cores"

"$BENCH_BPE" "$G/gpt2_vocab.json" "$G/gpt2_merges.txt" "$T/ts.txt" >"$T/gpt2"
echo "lmsh GPT-2:       $(grep ^encode "$T/gpt2")"
echo "                  $(grep ^load "$T/gpt2")"

t0=$(now)
"$LMSH" bpe-train --no-progress --vocab-size 10000 \
    --special-token '<|endoftext|>' "$T/ts.txt" -o "$T/tok10k" || exit 1
t1=$(now)
echo "lmsh bpe-train 10k vocab on $bytes bytes: $(sub "$t1" "$t0") s" \
    "($(($(wc -l <"$T/tok10k/merges.txt") - 1)) merges)"
"$BENCH_BPE" "$T/tok10k/vocab.json" "$T/tok10k/merges.txt" "$T/ts.txt" \
    >"$T/10k"
echo "lmsh 10k vocab:   $(grep ^encode "$T/10k")"

NP=${NODE_PATH:-}
[ -d /tmp/bpe-node/node_modules ] && NP="${NP:+$NP:}/tmp/bpe-node/node_modules"
if command -v node >/dev/null 2>&1 &&
    NODE_PATH="$NP" node "$LMSH_SRCDIR/tools/bpe-fixtures/bench-tiktoken.mjs" \
    "$T/ts.txt" >"$T/js" 2>/dev/null; then
	echo "js-tiktoken GPT-2: $(cat "$T/js")"
	echo "ratio lmsh/js-tiktoken (GPT-2): $(awk -v a="$(mbs "$T/gpt2")" -v b="$(mbs "$T/js")" 'BEGIN { printf "%.1f", a / b }')x"
else
	echo "js-tiktoken: not installed (npm install --prefix /tmp/bpe-node js-tiktoken)"
fi

if [ "${BENCH_BPE_BIG:-1}" != 0 ]; then
	reps=$((100000000 / bytes + 1))
	i=0
	while [ $i -lt $reps ]; do cat "$T/ts.txt"; i=$((i + 1)); done >"$T/big.txt"
	t0=$(now)
	"$LMSH" bpe-train --no-progress --vocab-size 10257 \
	    --special-token '<|endoftext|>' "$T/big.txt" -o "$T/tokbig" || exit 1
	t1=$(now)
	echo "lmsh bpe-train 10k merges on $(wc -c <"$T/big.txt") bytes" \
	    "(the text x$reps): $(sub "$t1" "$t0") s" \
	    "($(($(wc -l <"$T/tokbig/merges.txt") - 1)) merges; fewer than" \
	    "10000 means the text ran out of pairs)"
fi
