#!/usr/bin/python3
"""Split the TinyStories text in shared/data/tinystories into the training
text and the held-out text of the bundled model.  Deterministic: the same
input files always give the same output bytes.

  train.txt    the train head, its stories joined by "<|endoftext|>", then
               "<|endoftext|>", then the first ~80% of the valid head with
               the story boundaries recovered there as "<|endoftext|>" too
  heldout.txt  the last ~20% of the valid head, bytes unchanged: never
               trained on; `lmsh eval` and train.py measure on it

The train head separates stories by a single newline (paragraphs by a blank
line), so its story boundaries are known and become <|endoftext|>.  The valid
head separates stories and paragraphs alike by a blank line, so its story
boundaries are not written down.  They are recovered by a small model learnt
from the train head's known boundaries: how often a paragraph that begins
with the same first words ("Once upon a time", "One day, a") begins a
story, and how often a paragraph that ends with the same last words ("ever
after.", "the end.") ends one, each backing off from three words to one
and combined as log-odds (naive Bayes).  A blank line becomes
<|endoftext|> where the odds are above e (BOUNDARY_LOGIT): measured by
training on half the train head's stories and testing on the other half,
about 95% of the boundaries it marks are true and it finds about 2/3 of
them (`prepare_data.py --measure DATADIR` prints the figures).  A boundary
it misses leaves two stories joined, as the whole valid head was before;
one it marks wrongly ends a story early, which is why it errs that way.

The held-out cut is made at the first paragraph that begins "Once upon a
time" at or after 80% of the valid head's bytes (a story start; about the
last 20% of its ~900 stories).

usage: prepare_data.py DATADIR OUTDIR | --measure DATADIR
"""
import collections
import hashlib
import math
import os
import re
import sys

EOT = b"<|endoftext|>"
TRAIN = "tinystories_v1_train_head.txt"
VALID = "tinystories_v1_valid_head.txt"
SHA = {
    TRAIN: "c56cfd24fb1c542b141a396184b822a4db3672abdb4c49c6aa843171c5e822a5",
    VALID: "5fc1fb0113df62b567fb271806cd645ce8d75f59c58ca0b764c03d3b6ff34ca6",
}
HELDOUT_FRACTION = 0.2
PARA = b"\n\n"
WORDS = (3, 2, 1)       # the first (last) words looked at, longest first
MIN_SEEN = 3            # a key seen fewer times backs off to fewer words
BOUNDARY_LOGIT = 1.0    # log-odds above which a blank line ends a story


def read(datadir, name):
    path = os.path.join(datadir, name)
    with open(path, "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA[name]:
        sys.exit("%s: sha256 %s, expected %s" % (path, got, SHA[name]))
    return data


def train_stories(train):
    """The train head's stories: a single newline (not part of a blank
    line) ends one."""
    stories = [s.strip(b"\n") for s in re.split(rb"(?<!\n)\n(?!\n)", train)]
    return [s for s in stories if s]


def first_words(par, k):
    return b" ".join(par.split()[:k])


def last_words(par, k):
    return b" ".join(par.split()[-k:])


class BoundaryModel:
    """P(a paragraph starts a story | its first words) and P(a paragraph
    ends one | its last words), counted over stories whose boundaries are
    known."""

    def __init__(self, stories):
        self.seen = collections.Counter()
        self.hits = collections.Counter()
        n_par = 0
        for story in stories:
            pars = story.split(PARA)
            n_par += len(pars)
            for i, par in enumerate(pars):
                for k in WORDS:
                    self._count(("first", k, first_words(par, k)), i == 0)
                    self._count(("last", k, last_words(par, k)),
                                i == len(pars) - 1)
        self.prior = len(stories) / n_par if n_par else 0.5

    def _count(self, key, hit):
        self.seen[key] += 1
        if hit:
            self.hits[key] += 1

    def _p(self, kind, words):
        for k in WORDS:
            key = (kind, k, words(k))
            if self.seen[key] >= MIN_SEEN:
                return (self.hits[key] + 0.5) / (self.seen[key] + 1)
        return self.prior

    def logit(self, prev, par):
        """Log-odds that a story ends after prev and par begins one."""
        def lo(p):
            p = min(max(p, 1e-4), 1 - 1e-4)
            return math.log(p / (1 - p))
        p_first = self._p("first", lambda k: first_words(par, k))
        p_last = self._p("last", lambda k: last_words(prev, k))
        return lo(p_first) + lo(p_last) - lo(self.prior)


def recover_stories(text, model):
    """Split text whose stories and paragraphs are both separated by blank
    lines into stories, at the blank lines the model calls boundaries."""
    pars = text.split(PARA)
    stories, cur = [], [pars[0]]
    for prev, par in zip(pars, pars[1:]):
        if model.logit(prev, par) > BOUNDARY_LOGIT:
            stories.append(PARA.join(cur))
            cur = []
        cur.append(par)
    stories.append(PARA.join(cur))
    return stories


def split(train, valid):
    """The bytes of train.txt and heldout.txt, and a line for the log."""
    stories = train_stories(train)
    marker = b"\n\nOnce upon a time"
    cut = valid.find(marker, int(len(valid) * (1 - HELDOUT_FRACTION)))
    if cut < 0:
        raise ValueError("%s: no story start after the 80%% mark" % VALID)
    cut += 2  # the blank line stays with the training part
    valid_train, heldout = valid[:cut], valid[cut:]
    recovered = recover_stories(valid_train.rstrip(b"\n"),
                                BoundaryModel(stories))
    text = EOT.join(stories) + EOT + EOT.join(recovered) + EOT
    note = ("train head: %d stories; valid head: cut at byte %d of %d, "
            "%d stories recovered before it; held out %d bytes (%d "
            "paragraphs starting 'Once upon a time')"
            % (len(stories), cut, len(valid), len(recovered), len(heldout),
               heldout.count(b"Once upon a time")))
    return text, heldout, note


def measure(stories):
    """Precision and recall of the recovered boundaries: learn on every
    other story, recover the rest run together with blank lines, swap."""
    tp = fp = fn = 0
    for learn, test in ((stories[0::2], stories[1::2]),
                        (stories[1::2], stories[0::2])):
        model = BoundaryModel(learn)
        truth, pos = set(), 0
        for s in test[:-1]:
            pos += len(s) + len(PARA)
            truth.add(pos)
        found, pos = set(), 0
        for s in recover_stories(PARA.join(test), model)[:-1]:
            pos += len(s) + len(PARA)
            found.add(pos)
        tp += len(truth & found)
        fp += len(found - truth)
        fn += len(truth - found)
    return tp / (tp + fp), tp / (tp + fn)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        p, r = measure(train_stories(read(sys.argv[2], TRAIN)))
        print("story boundaries recovered: precision %.3f, recall %.3f"
              % (p, r))
        return
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    datadir, outdir = sys.argv[1], sys.argv[2]
    try:
        text, heldout, note = split(read(datadir, TRAIN), read(datadir, VALID))
    except ValueError as e:
        sys.exit(str(e))
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "train.txt"), "wb") as f:
        f.write(text)
    with open(os.path.join(outdir, "heldout.txt"), "wb") as f:
        f.write(heldout)
    print(note)


if __name__ == "__main__":
    main()
