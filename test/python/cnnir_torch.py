"""PyTorch counterpart of a cnnc graph, for oracle tests.

Evaluates the textual IR that `cnnc dump-ir` prints (blocks already
expanded; parsed by cnnc_files.Graph) with torch.nn.functional, independently
of cnnc's C++ code. The graph, safetensors files and random weights come from
cnnc_files.py, which needs no torch.
"""
import math
import re

import torch
import torch.nn.functional as F

# The graph, its files and random weights need no torch (cnnc_files.py).
from cnnc_files import Graph, random_weights, read_safetensors, write_safetensors  # noqa: F401

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


# ---------------------------------------------------------------------------
# test harness output


def summarize(total, failures, worst, what):
    """Prints the closing lines of a harness and returns its exit status.
    worst: (ratio of the tolerance, case name)."""
    print(f"\n{total - len(failures)} of {total} {what}; worst: {worst[0]:.3f} of the tolerance in '{worst[1]}'")
    for f in failures:
        print("FAILED:", f)
    return 1 if failures else 0
