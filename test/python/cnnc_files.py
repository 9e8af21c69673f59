"""cnnc's files from Python without torch: safetensors, the textual IR that
`cnnc dump-ir` prints, and random weights for a graph. Shared by the oracle
harnesses (cnnir_torch.py) and the random-network tester (test/fuzz)."""
import json
import math
import re
import struct

import numpy as np

# ---------------------------------------------------------------------------
# safetensors


def write_safetensors(path, tensors):
    """tensors: list of (name, np.float32 array)."""
    header, offset, blobs = {}, 0, []
    for name, a in tensors:
        a = np.ascontiguousarray(a, dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", e
        b, en = e["data_offsets"]
        out[name] = np.frombuffer(body[b:en], dtype="<f4").reshape(e["shape"]).copy()
    return out


# ---------------------------------------------------------------------------
# textual IR

NODE = re.compile(r"^\s*%(\S+) = (\w+)\(([^)]*)\)(?: \{(.*)\})?: (\S+)")


def parse_value(v):
    v = v.strip()
    if v.startswith("["):
        return [int(x) for x in v[1:-1].split(",")]
    if v in ("true", "false"):
        return v == "true"
    if re.fullmatch(r"-?[0-9][0-9.e+-]*", v):
        return float(v) if any(c in v for c in ".e") else int(v)
    return v  # an enum or an epilogue such as residual+relu


def split_attrs(text):
    """'a=1, b=[1,2], c=x' -> dict, respecting brackets and parentheses."""
    out, depth, cur = {}, 0, ""
    for ch in text + ",":
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        if ch == "," and depth == 0:
            if cur.strip():
                k, v = cur.split("=", 1)
                out[k.strip()] = parse_value(v)
            cur = ""
        else:
            cur += ch
    return out


class Graph:
    def __init__(self, text):
        self.inputs, self.params, self.nodes, self.outputs = [], [], [], []
        self.shapes = {}  # result name -> shape
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("input %"):
                m = re.match(r"input %(\S+): f32\[([0-9,]*)\]", s)
                self.inputs.append((m.group(1), [int(d) for d in m.group(2).split(",")]))
            elif s.startswith("param @"):
                m = re.match(r"param @(\S+): f32\[([0-9,]*)\]", s)
                self.params.append((m.group(1), [int(d) for d in m.group(2).split(",")]))
            elif s.startswith("output %"):
                self.outputs.append(s[len("output %"):])
            elif s.startswith("%") and re.match(r"%\S+, %", s):
                continue  # a backward op with several results: not evaluated here
            elif s.startswith("%"):
                m = NODE.match(s)
                assert m, s
                operands = [o.strip() for o in m.group(3).split(",") if o.strip()]
                self.nodes.append((m.group(1), m.group(2), operands, split_attrs(m.group(4) or "")))
                t = re.match(r"f32\[([0-9,]*)\]", m.group(5))
                if t:
                    self.shapes[m.group(1)] = [int(d) for d in t.group(1).split(",")]


def random_weights(graph, rng):
    """Random parameters that exercise every op: BN statistics away from 0/1."""
    out = []
    for name, shape in graph.params:
        if name.endswith("running_var"):
            a = rng.uniform(0.5, 2.0, shape)
        elif name.endswith("gamma"):
            a = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("weight"):
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
            a = rng.normal(0, 1 / math.sqrt(fan_in), shape)
        else:
            a = rng.normal(0, 0.5, shape)
        out.append((name, a.astype(np.float32)))
    return out
