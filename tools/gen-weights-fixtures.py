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
fuzz-*.pt are not generated here: they are inputs that `make fuzz` once
found troublesome, kept as regression tests.
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


def save(name, obj, **kw):
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    write(name, b.getvalue())


def gen_pt():
    torch.manual_seed(336)      # nn.Linear's initialisation
    # a raw state dict; "view" shares "big"'s storage at offset 12
    sd = small_sd()
    big = torch.randn(10, 4, generator=torch.Generator().manual_seed(1))
    sd["big"] = big
    sd["view"] = big[3:6]
    save("raw.pt", sd)
    record("raw.pt", sd)
    save("proto4.pt", sd, pickle_protocol=4)
    record("proto4.pt", sd)
    # a training checkpoint of a torch.compile'd model, with AdamW state
    model = torch.nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    msd = OrderedDict(("_orig_mod." + k, v.detach().clone())
                      for k, v in model.state_dict().items())
    save("train.pt", {"model": msd, "optimizer": opt.state_dict(),
                      "iteration": 1234})
    record("train.pt", OrderedDict((k[len("_orig_mod."):], v)
                                   for k, v in msd.items()))
    for dt, nm in ((torch.bfloat16, "bf16"), (torch.float16, "f16")):
        s = small_sd(dt)
        s["view"] = torch.randn(
            6, 2, generator=torch.Generator().manual_seed(2)).to(dt)[2:5]
        save(nm + ".pt", s)
        record(nm + ".pt", s)
    # nn.Parameter values pickle through _rebuild_parameter
    save("param.pt", {"w": torch.nn.Parameter(torch.arange(6.).view(2, 3))})
    record("param.pt", {"w": torch.arange(6.).view(2, 3)})
    save("noncontig.pt", {"w": big.t()})
    save("long.pt", {"ids": torch.arange(3)})
    save("list.pt", [torch.ones(2)])


def zip_entries(name):
    z = zipfile.ZipFile(path(name))
    return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_zip(name, entries, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path(name), "w", method) as z:
        for n, d in entries:
            z.writestr(zipfile.ZipInfo(n), d, compress_type=method)


class FakeStorage:
    def __init__(self, key, numel, kind="FloatStorage"):
        self.key, self.numel, self.kind = key, numel, kind


class FakeTensor:
    """Pickles as torch does, with any size/stride/offset we like."""
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class FakePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", getattr(torch, obj.kind), obj.key, "cpu",
                    obj.numel)
        return None


def fake_pkl(obj):
    b = io.BytesIO()
    FakePickler(b, protocol=2).dump(obj)
    return b.getvalue()


def with_pkl(src, name, pkl=None, drop=(), replace=None):
    out = []
    entries = zip_entries(src)
    prefix = entries[0][0].split("/", 1)[0]
    for base in (replace or {}):
        if base not in [n.split("/", 1)[1] for n, _ in entries]:
            entries.append((prefix + "/" + base, b""))
    for n, d in entries:
        base = n.split("/", 1)[1]
        if base in drop:
            continue
        if base == "data.pkl" and pkl is not None:
            d = pkl
        if replace and base in replace:
            d = replace[base]
        out.append((n, d))
    write_zip(name, out)


def gen_hostile():
    raw = dict(zip_entries("raw.pt"))
    # os.system("touch /tmp/lmsh-pwned"): torch.load would run it
    evil = (b"\x80\x02cos\nsystem\nq\x00X\x15\x00\x00\x00"
            b"touch /tmp/lmsh-pwnedq\x01\x85q\x02Rq\x03.")
    with_pkl("raw.pt", "evil-global.pt", evil)
    # protocol 4 STACK_GLOBAL of builtins.eval
    evil4 = (b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"
             b"\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.")
    with_pkl("raw.pt", "evil-stack-global.pt", evil4)
    # INST: an opcode a state dict never needs
    with_pkl("raw.pt", "evil-opcode.pt",
             b"\x80\x02(X\x01\x00\x00\x00xios\nsystem\n.")
    with_pkl("raw.pt", "no-pkl.pt", drop=("data.pkl",))
    with_pkl("raw.pt", "missing-storage.pt", drop=("data/0",))
    key0 = [n for n in raw if n.endswith("/data/0")][0]
    with_pkl("raw.pt", "short-storage.pt",
             replace={"data/0": raw[key0][:-4]})
    with_pkl("raw.pt", "big-endian.pt", replace={"byteorder": b"big"})
    # sizes that overflow, offsets past the storage, a wrong storage type
    st = FakeStorage("0", 20)
    with_pkl("raw.pt", "absurd-shape.pt", fake_pkl(OrderedDict(
        w=FakeTensor(st, 0, (1 << 40, 1 << 40, 1 << 40), (1 << 62, 1 << 40,
                                                           1)))))
    with_pkl("raw.pt", "bad-offset.pt", fake_pkl(OrderedDict(
        w=FakeTensor(st, 18, (4,), (1,)))))
    with_pkl("raw.pt", "neg-offset.pt", fake_pkl(OrderedDict(
        w=FakeTensor(st, -1, (4,), (1,)))))
    # a flipped bit in a storage: the zip's CRC catches it
    entries = zip_entries("raw.pt")
    out = []
    for n, d in entries:
        if n == key0:
            d = bytes([d[0] ^ 1]) + d[1:]
        out.append((n, d))
    write_zip("bad-crc.pt", out)
    data = open(path("bad-crc.pt"), "rb").read()
    good = open(path("raw.pt"), "rb").read()
    # rewrite the CRCs of the first file as raw.pt had them
    z = zipfile.ZipFile(path("raw.pt"))
    crc = struct.pack("<I", z.getinfo(key0).CRC)
    bad = struct.pack("<I", zipfile.ZipFile(path("bad-crc.pt"))
                      .getinfo(key0).CRC)
    assert good != data
    write("bad-crc.pt", data.replace(bad, crc))


def gen_bombs():
    """A legacy (non-zip) torch file, and small cousins of the two memory bombs of issue 17 (the full-size ones
    come from tools/gen-pt-bombs.py), as refusal tests and fuzz seeds:
    data.pkl of 1 MiB of EMPTY_LIST opcodes, and a storage entry of 16 MiB
    of zeros behind a pickle that declares one float.  Both deflate to a
    few KB."""
    # torch.save before 1.6 wrote a bare pickle stream, not a zip (its
    # storage keys differ from run to run; only its magic matters here)
    torch.save({"w": torch.ones(2)}, path("legacy.pt"),
               _use_new_zipfile_serialization=False)
    write_zip("bomb-pickle.pt", [("archive/data.pkl", b"]" * (1 << 20))],
              zipfile.ZIP_DEFLATED)
    pkl = fake_pkl(OrderedDict(w=FakeTensor(FakeStorage("0", 1), 0, (1,),
                                            (1,))))
    write_zip("bomb-storage.pt", [("archive/data.pkl", pkl),
                                  ("archive/data/0", bytes(16 << 20))],
              zipfile.ZIP_DEFLATED)


def gen_cs336():
    """The real 2024 CS336 checkpoint's data.pkl (another PyTorch version)
    with zeroed, deflated storages: small enough to commit."""
    if not os.path.exists(SHARED):
        print("skipping cs336-2024-zeros.pt: %s missing" % SHARED)
        return
    z = zipfile.ZipFile(SHARED)
    out = []
    for i in z.infolist():
        d = z.read(i.filename)
        if "/data/" in i.filename:
            d = bytes(len(d))
        out.append((i.filename, d))
    write_zip("cs336-2024-zeros.pt", out, zipfile.ZIP_DEFLATED)
    # for the real file, when a test finds it: shapes, a few values, sums
    sd = torch.load(SHARED)
    with open(path("cs336-2024.txt"), "w") as f:
        f.write("# tensor shape sum first-values, from torch.load of %s\n"
                % os.path.basename(SHARED))
        for k, t in sd.items():
            f.write("%s %s %.9g %s\n" % (
                k, ",".join(str(d) for d in t.shape),
                t.double().sum().item(),
                " ".join("%.9g" % v for v in t.flatten()[:3].tolist())))


def gen_pickles():
    """Plain-data pickles for test-pickle.c."""
    obj = {"a": 1, "b": [1.5, -2, None, True, False], "c": (1, 2, 3),
           "big": 2 ** 40, "neg": -5, "negbig": -2 ** 40, "s": "h\u00e9llo",
           "i4": -70000, "u2": 65535, "t4": (1, 2, 3, 4), "long": 2 ** 62}
    write("plain-p2.pkl", pickle.dumps(obj, protocol=2))
    obj["bytes"] = b"xy"
    write("plain-p4.pkl", pickle.dumps(obj, protocol=4))
    write("plain-p5.pkl", pickle.dumps(obj, protocol=5))
    z = zipfile.ZipFile(path("train.pt"))
    write("train-data.pkl", z.read([n for n in z.namelist()
                                    if n.endswith("data.pkl")][0]))


def main():
    os.makedirs(OUT, exist_ok=True)
    gen_safetensors()
    gen_pt()
    gen_hostile()
    gen_bombs()
    gen_cs336()
    gen_pickles()
    with open(path("expected.txt"), "w") as f:
        f.write("# file tensor dtype shape values (torch's .float())\n")
        f.write("\n".join(expected) + "\n")


if __name__ == "__main__":
    main()
