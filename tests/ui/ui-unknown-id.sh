#!/bin/sh
# ui-unknown-id.sh: with a tokenizer smaller than the model's vocabulary,
# an id it lacks shows in the transcript as <|id N|> instead of nothing.
# (The warning at load is checked by tests/e2e/harden.sh.)
. "$LMSH_SRCDIR/tests/ui/common.sh"
command -v jq >/dev/null 2>&1 || { echo "no jq: skip"; exit 77; }

# the tiny model's vocabulary without its last token, <|endoftext|> (256)
jq 'with_entries(select(.value != 256))' "$MODEL/vocab.json" >"$T/small.json"
start -- --vocab "$T/small.json" --merges "$MODEL/merges.txt" --seed 3 \
    --max-new-tokens 6
tm send-keys -l "a"
tm send-keys Enter
wait_for "<|id 256|>"
tm send-keys C-d
wait_for "EXIT=0"
