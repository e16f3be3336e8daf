#!/usr/bin/python3
"""Generate the weight-loader fixtures under tests/data/weights/.

Run by hand with Debian's python3-torch (1.13):
    /usr/bin/python3 tools/gen-weights-fixtures.py [OUTDIR]

Independent references for tests/unit/test-weights.c and test-pickle.c:
- *.safetensors are written here by a direct implementation of the format
  (8-byte LE header length, JSON header, data), values converted by torch;
- *.pt are written by torch.save itself (several checkpoint forms);
- hostile and broken files are built from those by editing the zip;
- expected.txt lists, per file and tensor, dtype, shape and the fp32 values
  that torch reads back (".float()"), printed with %.9g.
Everything is seeded, so reruns give the same values.
"""
import io
import json
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
    "weights")
SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "shared", "data", "cs336-2024-checkpoint",
                      "transformer_lm_weights.pt")
expected = []


def path(name):
    return os.path.join(OUT, name)


def record(fname, sd):
    """Write what torch reads back: the reference for the C tests."""
    for k, t in sd.items():
        vals = t.float().flatten().tolist()
        dt = {torch.float32: "F32", torch.float16: "F16",
              torch.bfloat16: "BF16"}[t.dtype]
        shape = ",".join(str(d) for d in t.shape) or "-"
        expected.append("%s %s %s %s %s" % (
            fname, k, dt, shape, " ".join("%.9g" % v for v in vals)))


def st_bytes(sd, align=True, order=None):
    """A safetensors image: header, then the tensors back to back."""
    names = order if order is not None else sorted(sd)
    hdr = {"__metadata__": {"format": "pt"}}
    data = b""
    for k in names:
        t = sd[k].contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype != \
            torch.float32 else t.numpy().tobytes()
        hdr[k] = {"dtype": {torch.float32: "F32", torch.float16: "F16",
                            torch.bfloat16: "BF16"}[t.dtype],
                  "shape": list(t.shape),
                  "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if align:
        h += b" " * (-len(h) % 8)
    else:
        h += b" " * ((-len(h) % 8) + 1)  # data starts at an odd offset
    return struct.pack("<Q", len(h)) + h + data


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


def small_sd(dtype=torch.float32, prefix=""):
    g = torch.Generator().manual_seed(336)
    sd = OrderedDict()
    sd[prefix + "token_embeddings.weight"] = torch.randn(5, 4, generator=g)
    sd[prefix + "layers.0.ln1.weight"] = torch.rand(4, generator=g) + 0.5
    sd[prefix + "lm_head.weight"] = torch.randn(5, 4, generator=g) * 0.1
    sd[prefix + "scalar"] = torch.tensor(2.5)
    return OrderedDict((k, v.to(dtype)) for k, v in sd.items())


def special_values():
    """Values that exercise f16/bf16 rounding: ties, subnormals, overflow."""
    v = [0.0, -0.0, 1.0, -2.0, 65504.0, 65520.0, 1e5, -1e5, 6e-8, 3e-8,
         2.9e-8, 1e-7, 5.96e-8, 6.1e-5, 1.0009765625, 1.00048828125,
         1.00146484375, 3.14159265, -1e-40, 1e38, 3.4e38, float("inf"),
         float("-inf"), 1.00390625, 1.01171875, 0.333333343]
    g = torch.Generator().manual_seed(7)
    r = (torch.randn(38, generator=g) * 10).tolist()
    return torch.tensor(v + r, dtype=torch.float32)


def gen_safetensors():
    sd = small_sd()
    write("f32.safetensors", st_bytes(sd))
    record("f32.safetensors", sd)
    # unsorted header, data at an odd offset: the loader must copy to align
    write("f32-unaligned.safetensors",
          st_bytes(sd, align=False, order=list(reversed(list(sd)))))
    record("f32-unaligned.safetensors", sd)
    for dt, nm in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        s = small_sd(dt)
        write(nm + ".safetensors", st_bytes(s))
        record(nm + ".safetensors", s)
    sp = OrderedDict(special=special_values())
    write("special-f32.safetensors", st_bytes(sp))
    record("special-f32.safetensors", sp)
    for dt, nm in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        s = OrderedDict(special=sp["special"].to(dt))
        write("special-%s.safetensors" % nm, st_bytes(s))
        record("special-%s.safetensors" % nm, s)
    pre = small_sd(prefix="_orig_mod.")
    write("orig-mod.safetensors", st_bytes(pre))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen_safetensors()
    with open(path("expected.txt"), "w") as f:
        f.write("# file tensor dtype shape values (torch's .float())\n")
        f.write("\n".join(expected) + "\n")


if __name__ == "__main__":
    main()
