"""PyTorch counterpart of a cnnc graph, for oracle tests.

Parses the textual IR that `cnnc dump-ir` prints (blocks already expanded) and
evaluates it with torch.nn.functional, independently of cnnc's C++ code. Also
reads and writes safetensors files (the format is small enough to do by hand,
and Debian has no python3-safetensors).
"""
import json
import math
import re
import struct

import numpy as np
import torch
import torch.nn.functional as F

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
            elif s.startswith("%"):
                m = NODE.match(s)
                assert m, s
                operands = [o.strip() for o in m.group(3).split(",") if o.strip()]
                self.nodes.append((m.group(1), m.group(2), operands, split_attrs(m.group(4) or "")))


# ---------------------------------------------------------------------------
# evaluation


def activate(name, x, alpha=None, beta=None):
    if name == "relu":
        return F.relu(x)
    if name == "leaky_relu":
        return F.leaky_relu(x, alpha)
    if name == "elu":
        return F.elu(x, alpha)
    if name == "selu":
        return F.selu(x)
    if name == "gelu":
        return F.gelu(x)
    if name == "sigmoid":
        return torch.sigmoid(x)
    if name == "tanh":
        return torch.tanh(x)
    if name == "clip":
        return torch.clamp(x, alpha, beta)
    raise ValueError(name)


def epilogue(text, y, residual):
    if not text:
        return y
    for part in text.split("+"):
        if part == "residual":
            y = y + residual
            continue
        m = re.fullmatch(r"(\w+)(?:\(([^)]*)\))?", part)
        args = [float(a) for a in m.group(2).split(",")] if m.group(2) else []
        y = activate(m.group(1), y, *args)
    return y


def out_size(n, k, s, p0, p1, ceil):
    """The pooling output size rule, written out again from the spec."""
    span = n + p0 + p1 - k
    o = (-(-span // s) if ceil else span // s) + 1
    if ceil and (o - 1) * s >= n + p0:
        o -= 1
    return o


def pool(op, x, a):
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    top, bottom, left, right = a["pad"]
    ceil = a["ceil_mode"]
    include = a.get("count_include_pad", True)
    if top == bottom and left == right:  # PyTorch itself
        if op == "max_pool":
            return F.max_pool2d(x, (kh, kw), (sh, sw), (top, left), ceil_mode=ceil)
        return F.avg_pool2d(x, (kh, kw), (sh, sw), (top, left), ceil_mode=ceil, count_include_pad=include)
    # Asymmetric padding (PyTorch has none): pad by hand, then pool without padding.
    H, W = x.shape[2], x.shape[3]
    oh, ow = out_size(H, kh, sh, top, bottom, ceil), out_size(W, kw, sw, left, right, ceil)
    eh = max(0, (oh - 1) * sh + kh - (H + top + bottom))  # beyond the padded input
    ew = max(0, (ow - 1) * sw + kw - (W + left + right))
    if op == "max_pool":
        xp = F.pad(x, (left, right + ew, top, bottom + eh), value=-math.inf)
        return F.max_pool2d(xp, (kh, kw), (sh, sw))[:, :, :oh, :ow]
    xp = F.pad(x, (left, right + ew, top, bottom + eh))
    sums = F.avg_pool2d(xp, (kh, kw), (sh, sw), divisor_override=1)[:, :, :oh, :ow]
    ones = torch.ones(1, 1, H, W, dtype=x.dtype)
    if include:  # the padding counts, the region beyond it does not
        cnt = F.pad(F.pad(ones, (left, right, top, bottom), value=1.0), (0, ew, 0, eh))
    else:
        cnt = F.pad(ones, (left, right + ew, top, bottom + eh))
    counts = F.avg_pool2d(cnt, (kh, kw), (sh, sw), divisor_override=1)[:, :, :oh, :ow]
    return sums / counts


def run(graph, weights, inputs, training=False):
    """Evaluates the graph. Returns (outputs, updated running statistics) as numpy arrays."""
    params = {name: torch.from_numpy(weights[name].copy()) for name, _ in graph.params}
    env = {name: torch.from_numpy(inputs[name]) for name, _ in graph.inputs}
    outs, state = run_torch(graph, params, env, training)
    return {o: t.detach().numpy() for o, t in outs.items()}, state


def run_torch(graph, params, inputs, training=False):
    """Evaluates the graph on torch tensors (params may require gradients).
    Returns (outputs, updated running statistics as numpy arrays)."""
    env = dict(inputs)
    state = {}

    def val(ref):
        return params[ref[1:]] if ref.startswith("@") else env[ref[1:]]

    for name, op, operands, a in graph.nodes:
        ins = [val(o) for o in operands]
        x = ins[0]
        ep = a.get("epilogue", "")
        residual = ins[-1] if "residual" in str(ep) else None
        if op == "conv2d":
            t, b, l, r = a["pad"]
            y = F.conv2d(F.pad(x, (l, r, t, b)), ins[1], ins[2] if a["bias"] else None, tuple(a["stride"]), 0,
                         tuple(a["dilation"]), a["groups"])
        elif op == "linear":
            y = F.linear(x.flatten(1), ins[1], ins[2] if a["bias"] else None)
        elif op == "batch_norm":
            rm, rv = ins[3].clone(), ins[4].clone()
            y = F.batch_norm(x, rm, rv, ins[1], ins[2], training, a["momentum"], a["eps"])
            if training:
                state[operands[3][1:]] = rm.detach().numpy()
                state[operands[4][1:]] = rv.detach().numpy()
        elif op in ("relu", "selu", "gelu", "sigmoid", "tanh"):
            y = activate(op, x)
        elif op == "leaky_relu" or op == "elu":
            y = activate(op, x, a["alpha"])
        elif op == "clip":
            y = activate(op, x, a["min"], a["max"])
        elif op in ("max_pool", "avg_pool"):
            y = pool(op, x, a)
        elif op == "global_avg_pool":
            y = x.mean((2, 3), keepdim=True)
        elif op == "lrn":
            y = F.local_response_norm(x, a["size"], a["alpha"], a["beta"], a["k"])
        elif op == "dropout":
            if training:  # only rate 0 is deterministic: every unit kept, unscaled
                assert a["rate"] == 0, "dropout in training mode with rate > 0 is checked by its mask"
                y = x
            else:
                y = x if a["scaling"] == "inverted" else x * (1 - a["rate"])
        elif op == "flatten":
            y = x.flatten(1)
        elif op == "concat":
            y = torch.cat(ins, a["axis"])
        elif op == "add":
            y = sum(ins[1:], ins[0])
        elif op == "softmax":
            y = F.softmax(x, a["axis"])
        else:
            raise ValueError(f"op {op} has no torch counterpart")
        env[name] = epilogue(ep, y, residual)
    return {o: env[o] for o in graph.outputs}, state


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


# ---------------------------------------------------------------------------
# test harness output


def summarize(total, failures, worst, what):
    """Prints the closing lines of a harness and returns its exit status.
    worst: (ratio of the tolerance, case name)."""
    print(f"\n{total - len(failures)} of {total} {what}; worst: {worst[0]:.3f} of the tolerance in '{worst[1]}'")
    for f in failures:
        print("FAILED:", f)
    return 1 if failures else 0
