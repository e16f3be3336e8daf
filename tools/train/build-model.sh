#!/bin/sh
# Rebuild the bundled model share/tinystories from the TinyStories text in
# ../shared/data/tinystories: split, tokenizer (lmsh bpe-train), token ids
# (lmsh tokenize), weights (train.py, PyTorch on the CPU), model directory
# (lmsh convert), check (lmsh eval).  A maintainer tool; see README.
#
# usage: tools/train/build-model.sh LMSH WORKDIR [OUTDIR]
#   LMSH     a built lmsh binary (e.g. /tmp/build/src/lmsh)
#   WORKDIR  scratch directory for the split, ids and checkpoint
#   OUTDIR   model directory to write (default: share/tinystories)
# Environment: DATA (default ../shared/data/tinystories next to the tree),
# THREADS (PyTorch threads, default 1).
set -eu

if [ $# -lt 2 ]; then
	sed -n 's/^# usage: /usage: /p' "$0"
	exit 2
fi
LMSH=$1
WORK=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
OUT=${3:-$top/share/tinystories}
DATA=${DATA:-$top/../shared/data/tinystories}
THREADS=${THREADS:-1}
PY=/usr/bin/python3
EOT='<|endoftext|>'
V=4096

mkdir -p "$WORK"

# 1. Split: train.txt (train head + first 80% of the valid head) and
#    heldout.txt (the rest of the valid head, never trained on).
$PY "$here/prepare_data.py" "$DATA" "$WORK"

# 2. Tokenizer: byte-level BPE on the training text only.
"$LMSH" bpe-train --vocab-size $V --special-token "$EOT" --threads 1 \
    --no-progress -o "$WORK/tok" "$WORK/train.txt"

# 3. Token ids, exactly as lmsh encodes them.
"$LMSH" tokenize --vocab "$WORK/tok/vocab.json" \
    --merges "$WORK/tok/merges.txt" --special-token "$EOT" \
    --prompt-file "$WORK/train.txt" --format ids >"$WORK/train.ids"
"$LMSH" tokenize --vocab "$WORK/tok/vocab.json" \
    --merges "$WORK/tok/merges.txt" \
    --prompt-file "$WORK/heldout.txt" --format ids >"$WORK/heldout.ids"

# 4. Weights: fixed seed, stops on the held-out loss, keeps the best of
#    the weights and their moving average.
$PY "$here/train.py" --train-ids "$WORK/train.ids" \
    --valid-ids "$WORK/heldout.ids" --valid-text "$WORK/heldout.txt" \
    --out "$WORK/run" --vocab-size $V --context-length 256 \
    --d-model 256 --num-layers 4 --num-heads 8 --d-ff 688 \
    --dropout 0.3 --weight-decay 3.0 --batch-size 16 --lr 3e-3 \
    --min-lr 1e-4 --warmup 50 --max-steps 2700 --eval-every 100 \
    --patience 6 --ema 0.995 --ema-start 0.4 --seed 1234 \
    --bf16 --round-bf16 --threads "$THREADS" | tee "$WORK/train.log"

# 5. Model directory, bf16 weights.
"$LMSH" convert "$WORK/run/checkpoint.pt" \
    --config "$WORK/run/model_config.json" \
    --vocab "$WORK/tok/vocab.json" --merges "$WORK/tok/merges.txt" \
    -o "$OUT" --dtype bf16

# 6. Check: lmsh's figure must match train.py's last line to 1e-3.
"$LMSH" eval --model "$OUT" "$WORK/heldout.txt"
