#!/usr/bin/python3
"""gen-pt-bombs.py DIR [SCALE]: write the two .pt memory bombs of issue 17
to DIR, for measuring lmsh against them (the outputs are not committed;
tests/unit/test-weights.c and test-pickle.c build small ones themselves).

pickle-bomb.pt   data.pkl is 64 MiB * SCALE of EMPTY_LIST opcodes, deflated
                 to about 65 KB: the unpickler's appetite is the only bound.
storage-bomb.pt  a state dict with one 4-byte tensor whose storage entry
                 data/0 is 2 GiB * SCALE of zeros, deflated to about 2 MB.
view-bomb.pt     the same, but the pickle declares the storage's 2 GiB
                 honestly: the one-float tensor is a view of it.
"""
import sys
import zipfile
import zlib

out = sys.argv[1]
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0


def deflated(n, byte):
    """n copies of byte, deflated in 1 MiB chunks (raw deflate stream)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = byte * (1 << 20)
    parts, left, crc = [], n, 0
    while left > 0:
        k = min(left, len(chunk))
        parts.append(c.compress(chunk[:k]))
        crc = zlib.crc32(chunk[:k], crc)
        left -= k
    parts.append(c.flush())
    return b"".join(parts), crc


def write(name, entries):
    """entries: (name, data) stored, or (name, (n, byte)) deflated."""
    with zipfile.ZipFile(f"{out}/{name}", "w") as z:
        for n, d in entries:
            if isinstance(d, bytes):
                z.writestr(zipfile.ZipInfo(n), d)
                continue
            size, byte = d
            comp, crc = deflated(size, byte)
            zi = zipfile.ZipInfo(n)
            zi.compress_type = zipfile.ZIP_DEFLATED
            # write the pre-deflated stream through zipfile's own headers
            zi.file_size, zi.compress_size, zi.CRC = size, len(comp), crc
            with z._lock:
                z._writecheck(zi)
                zi.header_offset = z.fp.tell()
                z.fp.write(zi.FileHeader(zi.file_size > zipfile.ZIP64_LIMIT))
                z.fp.write(comp)
                z.filelist.append(zi)
                z.NameToInfo[zi.filename] = zi
                z.start_dir = z.fp.tell()


# {'w': _rebuild_tensor_v2(storage('0', FloatStorage, numel 1), 0, (1,),
# (1,), False, OrderedDict())}, protocol 2
STATE = (b"\x80\x02}q\x00X\x01\x00\x00\x00wq\x01ctorch._utils\n"
         b"_rebuild_tensor_v2\nq\x02((X\x07\x00\x00\x00storageq\x03"
         b"ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00"
         b"\x00cpuq\x06K\x01tq\x07QK\x00K\x01\x85q\x08K\x01\x85q\t\x89"
         b"ccollections\nOrderedDict\nq\n)Rq\x0btq\x0cRq\rs.")

write("pickle-bomb.pt", [
    ("archive/data.pkl", (int(64 * scale * (1 << 20)), b"]")),
])
write("storage-bomb.pt", [
    ("archive/data.pkl", STATE),
    ("archive/data/0", (int(2 * scale * (1 << 30)), b"\0")),
])
write("view-bomb.pt", [
    ("archive/data.pkl", STATE.replace(b"cpuq\x06K\x01t", b"cpuq\x06J" +
                                       int(2 * scale * (1 << 28)).to_bytes(
                                           4, "little") + b"t")),
    ("archive/data/0", (int(2 * scale * (1 << 30)), b"\0")),
])
