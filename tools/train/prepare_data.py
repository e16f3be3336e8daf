#!/usr/bin/python3
"""Split the TinyStories text in shared/data/tinystories into the training
text and the held-out text of the bundled model.  Deterministic: the same
input files always give the same output bytes.

  train.txt    the train head, its stories joined by "<|endoftext|>", then
               "<|endoftext|>", then the first ~80% of the valid head as it is
  heldout.txt  the last ~20% of the valid head, bytes unchanged: never
               trained on; `lmsh eval` and train.py measure on it

The train head separates stories by a single newline (paragraphs by a blank
line), so its story boundaries are known and become <|endoftext|>.  The valid
head separates stories and paragraphs alike by a blank line, so its story
boundaries are not known exactly: the cut is made at the first paragraph that
begins "Once upon a time" at or after 80% of its bytes (a story start; about
the last 20% of its ~900 stories), and the part before the cut is kept as
plain text.

usage: prepare_data.py DATADIR OUTDIR
"""
import hashlib
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


def read(datadir, name):
    path = os.path.join(datadir, name)
    with open(path, "rb") as f:
        data = f.read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA[name]:
        sys.exit("%s: sha256 %s, expected %s" % (path, got, SHA[name]))
    return data


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    datadir, outdir = sys.argv[1], sys.argv[2]
    train = read(datadir, TRAIN)
    valid = read(datadir, VALID)

    # A single newline (not part of a blank line) ends a story.
    stories = [s.strip(b"\n") for s in re.split(rb"(?<!\n)\n(?!\n)", train)]
    stories = [s for s in stories if s]

    marker = b"\n\nOnce upon a time"
    cut = valid.find(marker, int(len(valid) * (1 - HELDOUT_FRACTION)))
    if cut < 0:
        sys.exit("%s: no story start after the 80%% mark" % VALID)
    cut += 2  # the blank line stays with the training part
    valid_train, heldout = valid[:cut], valid[cut:]

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "train.txt"), "wb") as f:
        f.write(EOT.join(stories) + EOT + valid_train.rstrip(b"\n") + EOT)
    with open(os.path.join(outdir, "heldout.txt"), "wb") as f:
        f.write(heldout)
    print("train head: %d stories; valid head: cut at byte %d of %d; "
          "held out %d bytes (%d paragraphs starting 'Once upon a time')"
          % (len(stories), cut, len(valid), len(heldout),
             heldout.count(b"Once upon a time")))


if __name__ == "__main__":
    main()
