#!/usr/bin/env python3
"""Write tests/data/bpe/random.txt: 6000 picks (seed 336) from characters
and pieces that stress the pre-tokenizer (ASCII classes, contractions in
both cases, Unicode letters, numbers, marks and spaces, emoji parts,
<|endoftext|>), for the GPT-2 parity test.  Expected ids come from
gpt2-ids.mjs like the other texts.

U+0085 (NEL) is left out on purpose: JavaScript's \s does not match it, so
js-tiktoken splits it differently from GPT-2's own regex (Python `regex`,
and tiktoken's Rust), which lmsh follows; test-bpe checks those splits
against Python `regex` instead."""
import random
import sys

PIECES = [
    "a", "Z", "q", "xyz", "0", "7", "42", " ", " ", " ", "  ", "\n", "\n\n",
    "\t", "\r\n", "\v", "\f", "'", "'s", "'S", "'t", "'re", "'RE", "'ve",
    "'ll", "'LL", "'d", "'m", "!", ".", ",", "-", "--", "(", ")", "\"",
    "<|endoftext|>", "<|", "|>", "é", "É", "ß", "ñ", "\u00a0", "\u3000",
    "\u2003", "\u2028", "日", "本語", "한", "٣", "١٢", "²", "½",
    "Ⅻ", "\u0301", "\u0308", "\u200d", "\ufe0f", "👍", "👩", "🏽", "🇺🇸",
    "Ω", "π", "∑", "€", "\x01", "\x7f", "ا", "ل", "ع", "Ж", "ж", "ก",
]

rng = random.Random(336)
text = "".join(rng.choice(PIECES) for _ in range(6000))
out = sys.argv[1] if len(sys.argv) > 1 else "tests/data/bpe/random.txt"
with open(out, "w", encoding="utf-8", newline="") as f:
    f.write(text)
