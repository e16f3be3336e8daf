#!/usr/bin/env python3
"""A naive BPE trainer with the CS336 reference semantics, to check lmsh's
incremental one on more merges than the CS336 fixture has.

    python3 train_ref.py CORPUS VOCAB_SIZE OUT_MERGES [SPECIAL...]

Needs the `regex` module (\\p{L}).  Splits on the special tokens, pre-tokenizes
with the GPT-2 pattern, and recounts every pair before each merge (slow on
purpose: nothing is shared with lmsh's bookkeeping).  Ties go to the greater
pair of byte strings.  Writes the merges in GPT-2 byte-to-unicode form, one
per line, without a #version line.
"""
import collections
import sys

import regex

PAT = (r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+"""
       r"""|\s+(?!\S)|\s+""")


def byte_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) +
          list(range(ord("¡"), ord("¬") + 1)) +
          list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def main():
    corpus, vocab_size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    specials = sys.argv[4:]
    text = open(corpus, encoding="utf-8").read()
    if specials:
        alt = "|".join(regex.escape(s) for s in
                       sorted(specials, key=len, reverse=True))
        parts = regex.split(alt, text)
    else:
        parts = [text]
    words = collections.Counter()
    for part in parts:
        for m in regex.finditer(PAT, part):
            words[tuple(bytes([b]) for b in m.group().encode("utf-8"))] += 1
    merges = []
    n_tokens = len(specials) + 256
    seen = set()
    while n_tokens < vocab_size:
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        if best[0] + best[1] not in seen:
            seen.add(best[0] + best[1])
            n_tokens += 1
        new = collections.Counter()
        for w, c in words.items():
            o, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    o.append(best[0] + best[1])
                    i += 2
                else:
                    o.append(w[i])
                    i += 1
            new[tuple(o)] += c
        words = new
    m = byte_to_unicode()
    with open(out, "w", encoding="utf-8") as f:
        for a, b in merges:
            f.write("".join(m[x] for x in a) + " " +
                    "".join(m[x] for x in b) + "\n")


if __name__ == "__main__":
    main()
