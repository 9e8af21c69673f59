#!/usr/bin/env python3
"""Writes the binary bad-input cases of test/errors/E*_*.test into a directory.

Each file is a valid safetensors or .npy file for tiny.json plus one named
mutation, so each case stays reviewable. Standard library only.

  make_bad_files.py OUTDIR [FILE...]   (default: every file; tiny.json, x.npy and
                                        good.safetensors are always written)
"""
import json
import struct
import sys

OUT = sys.argv[1]
WANTED = set(sys.argv[2:])

TINY = {
    "cnnc": 1,
    "inputs": {"x": {"shape": [1, 2, 3, 3]}},
    "layers": [
        {"name": "c", "type": "conv2d", "filters": 2, "kernel": 1},
        {"name": "bn", "type": "batch_norm"},
    ],
}
# name -> (shape, values)
GOOD = {
    "c.weight": ([2, 2, 1, 1], [0.5, -0.25, 1.0, 2.0]),
    "c.bias": ([2], [0.1, -0.1]),
    "bn.gamma": ([2], [1.0, 1.5]),
    "bn.beta": ([2], [0.0, 0.5]),
    "bn.running_mean": ([2], [0.2, -0.3]),
    "bn.running_var": ([2], [1.0, 2.0]),
}


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def safetensors(entries, header_patch=None, raw_header=None, data_patch=None):
    """entries: list of (name, dtype, shape, bytes). Returns the file bytes."""
    header, blobs, off = {}, [], 0
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        off += len(blob)
        blobs.append(blob)
    if header_patch:
        header_patch(header)
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    data = b"".join(blobs)
    if data_patch:
        data = data_patch(data)
    return struct.pack("<Q", len(h)) + h + data


def good_entries(skip=(), extra=(), replace=None):
    out = []
    for name, (shape, vals) in GOOD.items():
        if name in skip:
            continue
        if replace and name in replace:
            out.append(replace[name])
            continue
        out.append((name, "F32", shape, f32(vals)))
    return out + list(extra)


def npy(descr="<f4", fortran=False, shape=(1, 2, 3, 3), data=None, header_len=None, version=1):
    d = "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (
        descr, "True" if fortran else "False", "".join(f"{s}, " for s in shape).rstrip(" ") if len(shape) != 1 else f"{shape[0]},")
    d += " " * ((64 - (10 + len(d) + 1) % 64) % 64) + "\n"
    n = 1
    for s in shape:
        n *= s
    if data is None:
        data = f32([0.1 * i for i in range(n)])
    hl = len(d) if header_len is None else header_len
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", hl) + d.encode() + data
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", hl) + d.encode() + data


def write(name, data):
    """data: bytes, or a function making them (called only when the file is wanted)."""
    if WANTED and name not in WANTED and name not in ("x.npy", "good.safetensors"):
        return
    with open(f"{OUT}/{name}", "wb") as f:
        f.write(data() if callable(data) else data)


json.dump(TINY, open(f"{OUT}/tiny.json", "w"))
write("x.npy", npy())
write("good.safetensors", safetensors(good_entries()))

# E-01 .. E-14: the file format
write("E01_short.safetensors", b"\x10\x00\x00\x00\x00")
write("E02_huge_header.safetensors", struct.pack("<Q", 2**32) + b"{}")
write("E03_header_past_end.safetensors", struct.pack("<Q", 9000) + b'{"a":1}' + b"\x00" * 100)
write("E04_not_object.safetensors", safetensors([], raw_header=b'["c.weight"]'))
write("E05_bad_json.safetensors", safetensors([], raw_header=b'{"c.weight": {"dtype": "F32", "shape": [2,]}}'))
write("E06_duplicate.safetensors", safetensors([], raw_header=b'{"a": {}, "a": {}}'))
write("E07_bloat.safetensors",
      lambda: safetensors([], raw_header=b"{" + b",".join(b'"t%d":0' % i for i in range(1_000_002)) + b"}"))


def gap(h):
    h["c.bias"]["data_offsets"] = [h["c.bias"]["data_offsets"][0] + 4, h["c.bias"]["data_offsets"][1] + 4]


write("E08_gap.safetensors", safetensors(good_entries(), header_patch=gap, data_patch=lambda d: d + b"\x00" * 4))


def overlap(h):
    h["c.bias"]["data_offsets"] = [8, 16]


write("E09_overlap.safetensors", safetensors(good_entries(), header_patch=overlap))


def backwards(h):
    h["c.bias"]["data_offsets"] = [24, 16]


write("E10_backwards.safetensors", safetensors(good_entries(), header_patch=backwards))
write("E11_truncated_data.safetensors", safetensors(good_entries(), data_patch=lambda d: d[:-6]))
write("E11_trailing_bytes.safetensors", safetensors(good_entries(), data_patch=lambda d: d + b"\x00\x00\x00\x00"))
write("E12_size_mismatch.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F32", [2, 2, 1, 1], f32([0.5, -0.25, 1.0]))})))
write("E13_shape_overflow.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F32", [2**40, 2**40], f32([0.5, -0.25, 1.0, 2.0]))})))
write("E14_f64.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F64", [2, 2, 1, 1], struct.pack("<4d", 0.5, -0.25, 1.0, 2.0))})))
# Accepted: F16 and BF16 are widened (0.5, -0.25, 1, 2 are exact in both).
write("F16_ok.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F16", [2, 2, 1, 1], struct.pack("<4e", 0.5, -0.25, 1.0, 2.0))})))
write("BF16_ok.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "BF16", [2, 2, 1, 1],
                                                     b"".join(struct.pack("<f", v)[2:] for v in (0.5, -0.25, 1.0, 2.0)))})))
# E-15 .. E-18: the file against the network
write("E15_missing.safetensors", safetensors(good_entries(skip=("c.bias", "bn.running_var"),
                                                          extra=[("c.biases", "F32", [2], f32([0, 0]))])))
write("E16_wrong_shape.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F32", [2, 2, 3, 3], f32([0.0] * 36))})))
write("E16_channels.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F32", [2, 3, 1, 1], f32([0.0] * 6))})))
write("E17_extra.safetensors", safetensors(good_entries(extra=[("aux.weight", "F32", [3], f32([1, 2, 3]))])))
write("E17_many_extra.safetensors",
      safetensors(good_entries(extra=[(f"aux{i:02d}.weight", "F32", [1], f32([i])) for i in range(25)])))
write("E18_nan.safetensors",
      safetensors(good_entries(replace={"c.weight": ("c.weight", "F32", [2, 2, 1, 1], f32([0.5, float("nan"), 1.0, 2.0]))})))
write("E18_negative_var.safetensors",
      safetensors(good_entries(replace={"bn.running_var": ("bn.running_var", "F32", [2], f32([1.0, -0.2]))})))
# E-19: formats that run code when loaded
write("E19_pickle.pt", b"\x80\x02}q\x00." + b"\x00" * 16)
write("E19_zip.pt", b"PK\x03\x04" + b"\x00" * 32)

# .npy (I-08)
write("npy_shape.npy", npy(shape=(1, 3, 32, 32)))
write("npy_f64.npy", npy(descr="<f8", data=struct.pack("<18d", *[0.0] * 18)))
write("npy_fortran.npy", npy(fortran=True))
write("npy_object.npy", npy(descr="|O", data=b"\x80\x02N."))
write("npy_big_endian.npy", npy(descr=">f4"))
write("npy_truncated.npy", npy(data=f32([0.0] * 17)))
write("npy_huge_header.npy", npy(header_len=2**32 - 1, version=2))
write("npy_not_npy.npy", b"this is text\n")
write("npy_batch3.npy", npy(shape=(3, 2, 3, 3)))
