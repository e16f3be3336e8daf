#!/usr/bin/python3
"""Tests of prepare_data.py on a small made-up sample (a maintainer tool:
run by hand, `python3 tools/train/test_prepare.py`; make check does not
need Python).  Covers: the train head's stories split at single newlines;
the boundary model learnt from them marks a blank line before a typical
opener after a typical closing, and not a blank line inside a story; the
split's train.txt puts <|endoftext|> between all the stories, recovered
ones included, and heldout.txt is the valid head's tail byte for byte, cut
at a "Once upon a time" paragraph after 80% of it."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prepare_data as pd  # noqa: E402

OPEN = [b"Once upon a time, there was a cat.", b"One day, a dog ran.",
        b"Once there was a bird."]
MIDDLE = [b"The cat saw a ball.", b"She played all day.",
          b"He was very happy."]
CLOSE = [b"And they lived happily ever after.", b"The end.",
         b"From that day on, they were friends."]


def story(i):
    return pd.PARA.join([OPEN[i % 3], MIDDLE[i % 3], MIDDLE[(i + 1) % 3],
                         CLOSE[i % 3]])


class PrepareTest(unittest.TestCase):
    def test_train_stories(self):
        train = b"\n".join(story(i) for i in range(5)) + b"\n"
        self.assertEqual(pd.train_stories(train),
                         [story(i) for i in range(5)])

    def test_recover(self):
        model = pd.BoundaryModel([story(i) for i in range(30)])
        valid = pd.PARA.join(story(i) for i in range(4))
        self.assertEqual(pd.recover_stories(valid, model),
                         [story(i) for i in range(4)])
        # a blank line inside a story stays
        self.assertLess(model.logit(OPEN[0], MIDDLE[0]), pd.BOUNDARY_LOGIT)
        self.assertGreater(model.logit(CLOSE[1], OPEN[2]),
                           pd.BOUNDARY_LOGIT)

    def test_split(self):
        train = b"\n".join(story(i) for i in range(30)) + b"\n"
        valid = pd.PARA.join(story(i) for i in range(10)) + b"\n"
        text, heldout, note = pd.split(train, valid)
        parts = text.split(pd.EOT)
        self.assertEqual(parts[-1], b"")
        self.assertEqual(parts[:30], [story(i) for i in range(30)])
        self.assertTrue(valid.endswith(heldout))
        self.assertTrue(heldout.startswith(b"Once upon a time"))
        self.assertGreaterEqual(len(valid) - len(heldout),
                                int(len(valid) * 0.8))
        n_train_valid = len(parts) - 1 - 30
        self.assertEqual(parts[30:30 + n_train_valid],
                         [story(i) for i in range(n_train_valid)])
        self.assertIn("stories recovered", note)


if __name__ == "__main__":
    unittest.main()
