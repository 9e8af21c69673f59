#!/usr/bin/python3
"""The reference backend against PyTorch: every op, every example network.

Each case is a network (a spec, or textual IR for fused ops). The case gets
random weights and inputs; `cnnc run` computes it on the reference backend and
cnnir_torch evaluates the same graph with torch.nn.functional. A case passes
when every element agrees (|cnnc - torch| <= 1e-5 |torch| + 1e-6 max |torch|,
NaN and infinities in the same places), outputs and (training mode)
batch-norm running statistics alike. Activations, pooling, softmax, LRN and
batch norm also run on NaN, infinite, huge and denormal inputs. Dropout in training mode is checked
through what is deterministic: rate 0 is the identity, and every output is 0 or
the input times the scale, with the kept fraction near 1 - rate.

  check_reference.py --cnnc build/release/tools/cnnc --examples examples [--full] [--filter S]

--full also runs the example networks at their full input size (224x224).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import cnnir_torch as ct  # noqa: E402
from numeric_compare import compare  # noqa: E402

# Both sides compute in double; cnnc's outputs are written as float32, and
# folded or float32 parameters round: per element |cnnc - torch| <= RTOL *
# |torch| + FLOOR * max |torch|, NaN and infinities exactly where torch has
# them (numeric_compare.py).
RTOL, FLOOR = 1e-5, 1e-6


def spec(layers, inputs=None, outputs=None):
    s = {"cnnc": 1, "inputs": inputs or {"x": {"shape": [1, 4, 9, 7]}}, "layers": layers}
    if outputs:
        s["outputs"] = outputs
    return s


def one(layer, shape=(1, 4, 9, 7)):
    layer = dict(layer)
    layer.setdefault("name", "l")
    return spec([layer], {"x": {"shape": list(shape)}})


def op_cases():
    """(name, spec or IR text, mode) for every op and attribute."""
    cases = []
    add = lambda name, s, mode="inference": cases.append((name, s, mode))
    # conv2d: kernel, stride, padding forms, dilation, groups incl. depthwise, bias, batch, odd sizes.
    shapes = [(1, 4, 9, 7), (3, 6, 11, 8)]
    for k in (1, 3, 5):
        for stride in (1, 2, 3):
            for pad in (0, 1, [2, 1], [0, 1, 2, 1], "same"):
                for shape in shapes:
                    add(f"conv k{k} s{stride} p{pad} {shape}",
                        one({"type": "conv2d", "filters": 6, "kernel": k, "stride": stride, "pad": pad}, shape))
    # Convolutions whose filters divide by 8 run blocked over output channels:
    # input channels that divide the block, 8, 4 or nothing; strides, padding
    # forms, a batch, and widths shorter than a register tile.
    for filters, shape in ((16, (1, 16, 9, 7)), (16, (2, 8, 7, 6)), (8, (1, 12, 6, 5)), (24, (3, 6, 11, 3))):
        for k, stride, pad in ((1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, [0, 1, 2, 1]), (5, 1, "same"), (3, 3, 0)):
            add(f"conv blocked f{filters} k{k} s{stride} p{pad} {shape}",
                one({"type": "conv2d", "filters": filters, "kernel": k, "stride": stride, "pad": pad}, shape))
    for c, k, stride, pad in ((16, 3, 1, 1), (24, 3, 2, [0, 1, 2, 1]), (8, 5, 1, "same")):
        add(f"conv blocked depthwise c{c} k{k} s{stride} p{pad}",
            one({"type": "conv2d", "filters": c, "kernel": k, "stride": stride, "pad": pad, "groups": c},
                (2, c, 9, 7)))
    add("conv blocked dilation", one({"type": "conv2d", "filters": 16, "kernel": 3, "dilation": [2, 1], "pad": 2},
                                     (1, 16, 9, 9)))
    for dil in (2, [1, 3]):
        add(f"conv dilation {dil}", one({"type": "conv2d", "filters": 5, "kernel": 3, "dilation": dil, "pad": 2}))
    for groups, filters in ((2, 6), (4, 4), (4, 8)):
        add(f"conv groups {groups} filters {filters}",
            one({"type": "conv2d", "filters": filters, "kernel": 3, "pad": 1, "groups": groups}))
    add("conv depthwise s2 no bias",
        one({"type": "conv2d", "filters": 6, "kernel": 3, "stride": 2, "pad": 1, "groups": 6, "bias": False},
            (3, 6, 11, 8)))
    add("conv 7x7/2 non-square kernel", one({"type": "conv2d", "filters": 3, "kernel": [7, 3], "stride": [2, 1],
                                             "pad": [3, 1]}, (1, 3, 15, 10)))
    # batch_norm (2-d and 4-d), inference and training (running statistics compared).
    for mode in ("inference", "training"):
        add(f"batch_norm 4d {mode}", one({"type": "batch_norm", "eps": 1e-3, "momentum": 0.3}, (3, 5, 4, 6)), mode)
        add(f"batch_norm 2d {mode}", one({"type": "batch_norm"}, (3, 7)), mode)
    # activations
    for act in ({"type": "relu"}, {"type": "leaky_relu", "alpha": 0.2}, {"type": "elu", "alpha": 0.7},
                {"type": "selu"}, {"type": "gelu"}, {"type": "sigmoid"}, {"type": "tanh"},
                {"type": "clip", "min": -0.5, "max": 0.8}):
        for mode in ("inference", "training"):
            add(f"{act['type']} {mode}", one(act, (3, 4, 5, 3)), mode)
    # pooling: kernel, stride, padding, ceil_mode, count_include_pad, asymmetric ("same") padding
    for op in ("max_pool", "avg_pool"):
        for k, s, p in ((2, 2, 0), (3, 2, 1), (3, 1, 1), (3, 3, 0), (2, 1, 1), ([3, 2], [2, 1], [1, 0])):
            for ceil in (False, True):
                layer = {"type": op, "kernel": k, "stride": s, "pad": p, "ceil_mode": ceil}
                includes = (True, False) if op == "avg_pool" else (None,)
                for inc in includes:
                    l2 = dict(layer)
                    if inc is not None:
                        l2["count_include_pad"] = inc
                    for shape in ((1, 3, 9, 7), (3, 2, 10, 11)):
                        add(f"{op} k{k} s{s} p{p} ceil={ceil} include={inc} {shape}", one(l2, shape))
        for k, s in ((3, 2), (2, 2), (3, 3)):
            add(f"{op} same k{k} s{s}", one({"type": op, "kernel": k, "stride": s, "pad": "same"}, (1, 2, 10, 7)))
            add(f"{op} same k{k} s{s} ceil", one({"type": op, "kernel": k, "stride": s, "pad": "same",
                                                  "ceil_mode": True}, (1, 2, 9, 8)))
    # ceil_mode windows that would start in the right/bottom padding are
    # dropped (5 + 1 padded: the 4th window would start at 6).
    for op in ("max_pool", "avg_pool"):
        add(f"{op} ceil, last window starting in the padding",
            one({"type": op, "kernel": 2, "stride": 2, "pad": 1, "ceil_mode": True}, (1, 2, 5, 5)))
    add("global_avg_pool", one({"type": "global_avg_pool"}, (3, 5, 7, 4)))
    for size, alpha, beta, k in ((5, 1e-4, 0.75, 2.0), (3, 0.5, 0.6, 1.0), (1, 2.0, 1.2, 0.5)):
        add(f"lrn size {size}", one({"type": "lrn", "size": size, "alpha": alpha, "beta": beta, "k": k}, (2, 7, 3, 4)))
    for scaling in ("inverted", "at_test_time"):
        add(f"dropout {scaling} inference", one({"type": "dropout", "rate": 0.3, "scaling": scaling}))
        add(f"dropout {scaling} training rate 0", one({"type": "dropout", "rate": 0.0, "scaling": scaling}),
            "training")
    for bias in (True, False):
        add(f"linear 4d bias={bias}", one({"type": "linear", "units": 5, "bias": bias}, (3, 2, 3, 4)))
        add(f"linear 2d bias={bias}", one({"type": "linear", "units": 7, "bias": bias}, (2, 9)))
    # Batches tiled 8 rows at a time, with a tail.
    add("linear batch 11", one({"type": "linear", "units": 21}, (11, 19)))
    add("flatten", spec([{"name": "f", "type": "flatten"}, {"name": "s", "type": "softmax"}]))
    for axis in (1, 2, 3, -1):
        add(f"concat axis {axis}", spec(
            [{"name": "a", "type": "relu", "input": "x"}, {"name": "b", "type": "sigmoid", "input": "x"},
             {"name": "c", "type": "tanh", "input": "x"}, {"name": "cat", "type": "concat",
                                                          "inputs": ["a", "b", "c"], "axis": axis}]))
    for n in (2, 3):
        names = ["a", "b", "c"][:n]
        add(f"add {n}", spec([{"name": nm, "type": t, "input": "x"} for nm, t in zip(names, ["relu", "tanh", "elu"])]
                             + [{"name": "s", "type": "add", "inputs": names}]))
    for axis, shape in ((1, (3, 10)), (-1, (2, 4, 3, 5)), (1, (2, 4, 3, 5)), (2, (2, 4, 3, 5))):
        add(f"softmax axis {axis} {shape}", one({"type": "softmax", "axis": axis}, shape))
    # Fused ops, as passes will produce them (textual IR).
    add("fused conv+residual+relu", FUSED_CONV)
    add("fused blocked conv+residual+relu", FUSED_CONV.replace("6", "16"))
    add("blocked layout between convolutions", BLOCKED_CHAIN)
    add("blocked layout through depthwise convolutions", BLOCKED_MOBILE)
    add("blocked layout through concatenations b1", BLOCKED_FIRE)
    add("blocked layout through concatenations b2", BLOCKED_FIRE.replace("f32[1,", "f32[2,"))
    add("concatenations built in place b2", DENSE_CHAIN)
    add("blocked winograd 3x3 convolutions b1", WINOGRAD)
    add("blocked winograd 3x3 convolutions b2", WINOGRAD.replace("f32[1,", "f32[2,"))
    add("fused depthwise conv+clip", FUSED_DW)
    add("fused linear+leaky_relu, add+sigmoid", FUSED_LINEAR)
    return cases


FUSED_CONV = """graph "fused" {
  input %x: f32[2,6,7,5]
  param @c.weight: f32[6,6,3,3]
  param @c.bias: f32[6]
  %c = conv2d(%x, @c.weight, @c.bias, %x) {filters=6, kernel=[3,3], pad=[1,1,1,1], epilogue=residual+relu}
  output %c
}
"""
# Convolutions that pass blocked tensors to each other: residuals in either
# layout, outputs in either layout, strided 1x1s reading blocked inputs,
# blocks of 16 feeding blocks of 8 and back.
BLOCKED_CHAIN = """graph "blocked_chain" {
  input %x: f32[2,16,7,5]
  param @a.weight: f32[16,16,3,3]
  param @a.bias: f32[16]
  param @b.weight: f32[16,16,1,1]
  param @b.bias: f32[16]
  param @c.weight: f32[8,16,3,3]
  param @d.weight: f32[16,8,1,1]
  param @d.bias: f32[16]
  param @e.weight: f32[24,16,1,1]
  param @e.bias: f32[24]
  param @e2.weight: f32[24,24,1,1]
  param @e2.bias: f32[24]
  %a = conv2d(%x, @a.weight, @a.bias, %x) {filters=16, kernel=[3,3], pad=[1,1,1,1], epilogue=residual+relu}
  %b = conv2d(%a, @b.weight, @b.bias, %a) {filters=16, kernel=[1,1], epilogue=residual+relu}
  %c = conv2d(%b, @c.weight) {filters=8, kernel=[3,3], stride=[2,2], pad=[1,1,1,1], bias=false}
  %d = conv2d(%c, @d.weight, @d.bias) {filters=16, kernel=[1,1], stride=[2,2]}
  %e = conv2d(%b, @e.weight, @e.bias) {filters=24, kernel=[1,1], stride=[2,1]}
  %f = conv2d(%e, @e2.weight, @e2.bias, %e) {filters=24, kernel=[1,1], epilogue=residual}
  output %d
  output %f
}
"""
# Pointwise and depthwise convolutions in blocks, as in MobileNetV2.
BLOCKED_MOBILE = """graph "blocked_mobile" {
  input %x: f32[1,8,9,9]
  param @p.weight: f32[32,8,1,1]
  param @d.weight: f32[32,1,3,3]
  param @d.bias: f32[32]
  param @q.weight: f32[16,32,1,1]
  param @d2.weight: f32[16,1,3,3]
  %p = conv2d(%x, @p.weight) {filters=32, kernel=[1,1], bias=false, epilogue=clip(0,6)}
  %d = conv2d(%p, @d.weight, @d.bias) {filters=32, kernel=[3,3], stride=[2,2], pad=[1,1,1,1], groups=32, epilogue=clip(0,6)}
  %q = conv2d(%d, @q.weight) {filters=16, kernel=[1,1], bias=false}
  %d2 = conv2d(%q, @d2.weight, %q) {filters=16, kernel=[3,3], pad=[1,1,1,1], groups=16, bias=false, epilogue=residual}
  output %d2
}
"""
# Fire modules (SqueezeNet): a concatenation of blocked convolutions read by
# convolutions stays blocked (%e: in place at batch 1, copied at batch 2),
# unless a part has another block (%g: 8 + 16 channels) or another op reads
# the whole (%h, read by a max_pool that is an output). Poolings between
# blocked convolutions are blocked too (%p, %q).
# 3x3 convolutions that the compiled backend computes by Winograd F(4x4,3x3)
# (>= 32 input channels, >= 16 output tiles, blocked input and output): maps
# whose edges leave 1-4 outputs in the last tile, padding 1 and 0, residuals
# NCHW (%a reads %x) and blocked (%b reads %s), blocks of 16 and of 8 (%d)
# output channels, outputs blocked and NCHW (%d, a graph output).
WINOGRAD = """graph "winograd" {
  input %x: f32[1,32,19,18]
  param @s.weight: f32[32,32,1,1]
  param @a.weight: f32[32,32,3,3]
  param @a.bias: f32[32]
  param @b.weight: f32[32,32,3,3]
  param @c.weight: f32[32,32,3,3]
  param @c.bias: f32[32]
  param @d.weight: f32[8,32,3,3]
  param @d.bias: f32[8]
  param @e.weight: f32[16,8,1,1]
  param @f.weight: f32[16,32,1,1]
  %s = conv2d(%x, @s.weight) {filters=32, kernel=[1,1], bias=false, epilogue=relu}
  %a = conv2d(%s, @a.weight, @a.bias, %x) {filters=32, kernel=[3,3], pad=[1,1,1,1], epilogue=residual+relu}
  %b = conv2d(%a, @b.weight, %s) {filters=32, kernel=[3,3], pad=[1,1,1,1], bias=false, epilogue=residual}
  %c = conv2d(%b, @c.weight, @c.bias) {filters=32, kernel=[3,3]}
  %d = conv2d(%a, @d.weight, @d.bias) {filters=8, kernel=[3,3], pad=[1,1,1,1], epilogue=relu}
  %e = conv2d(%d, @e.weight) {filters=16, kernel=[1,1], bias=false}
  %f = conv2d(%c, @f.weight) {filters=16, kernel=[1,1], bias=false}
  output %e
  output %f
  output %d
}
"""
# DenseNet's blocks at batch 2: each layer concatenates its input with its new
# channels, and plan-memory builds the chain in place, every slice's images one
# image of the last concatenation apart (a batch stride): Winograd convolutions
# (%d1, %d2, the latter with its relu %r fused) and a max_pool (%p) write
# strided slices, batch norms (relus fused) read them (%n2 reads %cat1), a
# flatten views one and a linear layer reads it (%f, %fc).
DENSE_CHAIN = """graph "dense_chain" {
  input %x: f32[2,32,16,16]
  param @n1.gamma: f32[32]
  param @n1.beta: f32[32]
  param @n1.running_mean: f32[32]
  param @n1.running_var: f32[32]
  param @c1.weight: f32[32,32,1,1]
  param @d1.weight: f32[16,32,3,3]
  param @n2.gamma: f32[48]
  param @n2.beta: f32[48]
  param @n2.running_mean: f32[48]
  param @n2.running_var: f32[48]
  param @c2.weight: f32[32,48,1,1]
  param @d2.weight: f32[16,32,3,3]
  param @fc.weight: f32[5,12288]
  param @fc.bias: f32[5]
  %p = max_pool(%x) {kernel=[1,1]}
  %n1 = batch_norm(%p, @n1.gamma, @n1.beta, @n1.running_mean, @n1.running_var)
  %r1 = relu(%n1)
  %c1 = conv2d(%r1, @c1.weight) {filters=32, kernel=[1,1], bias=false, epilogue=relu}
  %d1 = conv2d(%c1, @d1.weight) {filters=16, kernel=[3,3], pad=[1,1,1,1], bias=false}
  %cat1 = concat(%p, %d1) {axis=1}
  %n2 = batch_norm(%cat1, @n2.gamma, @n2.beta, @n2.running_mean, @n2.running_var)
  %r2 = relu(%n2)
  %c2 = conv2d(%r2, @c2.weight) {filters=32, kernel=[1,1], bias=false, epilogue=relu}
  %d2 = conv2d(%c2, @d2.weight) {filters=16, kernel=[3,3], pad=[1,1,1,1], bias=false}
  %r = relu(%d2)
  %f = flatten(%cat1)
  %fc = linear(%f, @fc.weight, @fc.bias) {units=5}
  %cat2 = concat(%cat1, %r) {axis=1}
  %m = max_pool(%cat2) {kernel=[2,2], stride=[2,2]}
  output %m
  output %fc
}
"""
BLOCKED_FIRE = """graph "blocked_fire" {
  input %x: f32[1,16,6,5]
  param @s.weight: f32[16,16,1,1]
  param @s.bias: f32[16]
  param @e1.weight: f32[16,16,1,1]
  param @e3.weight: f32[32,16,3,3]
  param @e3.bias: f32[32]
  param @f.weight: f32[8,48,1,1]
  param @t.weight: f32[16,48,3,3]
  param @u.weight: f32[16,24,1,1]
  param @u2.weight: f32[16,24,1,1]
  param @v.weight: f32[16,32,1,1]
  param @w.weight: f32[16,48,1,1]
  %s = conv2d(%x, @s.weight, @s.bias) {filters=16, kernel=[1,1], epilogue=relu}
  %e1 = conv2d(%s, @e1.weight) {filters=16, kernel=[1,1], bias=false, epilogue=relu}
  %e3 = conv2d(%s, @e3.weight, @e3.bias) {filters=32, kernel=[3,3], pad=[1,1,1,1], epilogue=relu}
  %e = concat(%e1, %e3) {axis=1}
  %f = conv2d(%e, @f.weight) {filters=8, kernel=[1,1], bias=false}
  %t = conv2d(%e, @t.weight) {filters=16, kernel=[3,3], pad=[1,1,1,1], bias=false}
  %g = concat(%f, %t) {axis=1}
  %u = conv2d(%g, @u.weight) {filters=16, kernel=[1,1], bias=false}
  %u2 = conv2d(%g, @u2.weight) {filters=16, kernel=[1,1], bias=false, epilogue=relu}
  %h = concat(%u, %u2) {axis=1}
  %v = conv2d(%h, @v.weight) {filters=16, kernel=[1,1], bias=false}
  %m = max_pool(%h) {kernel=[2,2], stride=[2,2]}
  %p = max_pool(%e) {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], ceil_mode=true}
  %q = avg_pool(%p) {kernel=[2,2], pad=[1,1,1,1], count_include_pad=false}
  %w = conv2d(%q, @w.weight) {filters=16, kernel=[1,1], bias=false}
  output %v
  output %m
  output %w
}
"""
FUSED_DW = """graph "fused_dw" {
  input %x: f32[1,4,9,9]
  param @c.weight: f32[4,1,3,3]
  %c = conv2d(%x, @c.weight) {filters=4, kernel=[3,3], stride=[2,2], pad=[1,1,1,1], groups=4, bias=false, epilogue=clip(0,0.5)}
  output %c
}
"""
FUSED_LINEAR = """graph "fused_linear" {
  input %x: f32[3,8]
  param @l.weight: f32[8,8]
  param @l.bias: f32[8]
  %l = linear(%x, @l.weight, @l.bias) {units=8, epilogue=leaky_relu(0.1)}
  %s = add(%l, %x) {epilogue=sigmoid}
  output %s
}
"""


class Runner:
    def __init__(self, cnnc, tmp):
        self.cnnc, self.tmp, self.n = cnnc, tmp, 0

    def cnnc_run(self, *args):
        r = subprocess.run([self.cnnc, *args], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"cnnc {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
        return r

    def check(self, name, net, mode, seed=0, values=None):
        """Returns (passed, worst error ratio, message). `values`: the inputs'
        elements, repeated to fill them (else seeded normal values)."""
        self.n += 1
        d = os.path.join(self.tmp, str(self.n))
        os.makedirs(d)
        if isinstance(net, dict):
            with open(f"{d}/net.json", "w") as f:
                json.dump(net, f)
            self.cnnc_run("dump-ir", f"{d}/net.json", "-o", f"{d}/net.cnnir")
        else:
            with open(f"{d}/net.cnnir", "w") as f:
                f.write(net)
            self.cnnc_run("dump-ir", f"{d}/net.cnnir", "-o", f"{d}/canon.cnnir")
            os.replace(f"{d}/canon.cnnir", f"{d}/net.cnnir")
        g = ct.Graph(open(f"{d}/net.cnnir").read())
        rng = np.random.RandomState(seed + self.n)
        ct.write_safetensors(f"{d}/w.safetensors", ct.random_weights(g, rng))
        inputs = {}
        args = ["run", f"{d}/net.cnnir", "--weights", f"{d}/w.safetensors", "--mode", mode]
        for name, shape in g.inputs:
            inputs[name] = (np.resize(np.array(values, np.float32), shape) if values is not None else
                            rng.standard_normal(shape).astype(np.float32))
            np.save(f"{d}/in_{name}.npy", inputs[name])
            args += ["--input", f"{name}={d}/in_{name}.npy"]
        for o in g.outputs:
            args += ["--output", f"{o}={d}/out_{o}.npy"]
        if mode == "training":
            args += ["--output-weights", f"{d}/w2.safetensors"]
        self.cnnc_run(*args)
        want, state = ct.run(g, ct.read_safetensors(f"{d}/w.safetensors"), inputs, training=mode == "training")
        got = {o: np.load(f"{d}/out_{o}.npy") for o in g.outputs}
        pairs = [(f"output {o}", got[o], want[o]) for o in g.outputs]
        if mode == "training":
            after = ct.read_safetensors(f"{d}/w2.safetensors")
            pairs += [(f"state {k}", after[k], v) for k, v in state.items()]
        worst, msg = 0.0, ""
        for label, c, t in pairs:
            v = compare(c, t, RTOL, FLOOR)
            if v.ratio >= worst:
                worst, msg = v.ratio, f"{label}: {v.message}"
        return worst <= 1.0, worst, msg

    def check_handwritten(self, net, fn):
        """The reference backend against a hand-written torch function of the
        (only) input and the weights, in double precision."""
        import torch
        self.n += 1
        d = os.path.join(self.tmp, f"hand{self.n}")
        os.makedirs(d)
        json.dump(net, open(f"{d}/net.json", "w"))
        self.cnnc_run("dump-ir", f"{d}/net.json", "-o", f"{d}/net.cnnir")
        g = ct.Graph(open(f"{d}/net.cnnir").read())  # only for the parameter list
        rng = np.random.RandomState(100 + self.n)
        ct.write_safetensors(f"{d}/w.safetensors", ct.random_weights(g, rng))
        (name, shape), = g.inputs
        x = rng.standard_normal(shape).astype(np.float32)
        np.save(f"{d}/x.npy", x)
        self.cnnc_run("run", f"{d}/net.json", "--weights", f"{d}/w.safetensors", "--input", f"{d}/x.npy",
                      "--output", f"{d}/y.npy")
        w = {k: torch.from_numpy(v.astype(np.float64)) for k, v in ct.read_safetensors(f"{d}/w.safetensors").items()}
        want = fn(torch.from_numpy(x.astype(np.float64)), w).numpy()
        v = compare(np.load(f"{d}/y.npy"), want, RTOL, FLOOR)
        return bool(v), v.ratio, v.message

    def dropout_training(self):
        """Dropout's mask through its deterministic parts."""
        problems = []
        for scaling in ("inverted", "at_test_time"):
            rate = 0.3
            net = one({"type": "dropout", "rate": rate, "scaling": scaling}, (4, 8, 16, 16))
            d = os.path.join(self.tmp, f"dropout_{scaling}")
            os.makedirs(d)
            json.dump(net, open(f"{d}/net.json", "w"))
            x = np.random.RandomState(1).uniform(1, 2, (4, 8, 16, 16)).astype(np.float32)
            np.save(f"{d}/x.npy", x)
            outs = []
            for seed in (7, 7, 8):
                self.cnnc_run("run", f"{d}/net.json", "--input", f"{d}/x.npy", "--output", f"{d}/y{len(outs)}.npy",
                              "--mode", "training", "--seed", str(seed))
                outs.append(np.load(f"{d}/y{len(outs)}.npy"))
            y = outs[0]
            scale = 1 / (1 - rate) if scaling == "inverted" else 1.0
            kept = y != 0
            if not np.allclose(y[kept], x[kept] * scale, rtol=1e-6):
                problems.append(f"{scaling}: kept units are not x * {scale}")
            frac = kept.mean()
            sigma = np.sqrt(rate * (1 - rate) / y.size)
            if abs(frac - (1 - rate)) > 5 * sigma:
                problems.append(f"{scaling}: kept {frac:.4f}, expected {1 - rate} +- {5 * sigma:.4f}")
            if not np.array_equal(outs[0], outs[1]):
                problems.append(f"{scaling}: the same seed gave different masks")
            if np.array_equal(outs[0], outs[2]):
                problems.append(f"{scaling}: different seeds gave the same mask")
        return problems


# NaN, infinities, values whose exp, square or erf overflows float32, and
# denormals: the reference backend gives what PyTorch gives (NaN stays NaN
# through relu and clip, wins max pooling and poisons its softmax line;
# sigmoid(-1e20) is 0, gelu(1e20) is 1e20).
NONFINITE = [float("nan"), float("inf"), -float("inf"), 1e20, -1e20, 1e30, -1e30, 1e-40, -0.0, 0.5, -2.0, 3.0]


def nonfinite_cases():
    """(name, spec, input values) of ops on NONFINITE inputs."""
    cases = []
    for act in ({"type": "relu"}, {"type": "leaky_relu", "alpha": 0.2}, {"type": "elu", "alpha": 0.7},
                {"type": "selu"}, {"type": "gelu"}, {"type": "sigmoid"}, {"type": "tanh"},
                {"type": "clip", "min": -0.5, "max": 0.8}):
        cases.append((f"{act['type']} of non-finite values", one(act, (1, 2, 3, 2)), NONFINITE))
    for layer in ({"type": "max_pool", "kernel": 2, "stride": 1}, {"type": "avg_pool", "kernel": 2, "stride": 1},
                  {"type": "softmax", "axis": 3}, {"type": "softmax", "axis": 1}, {"type": "global_avg_pool"},
                  {"type": "batch_norm"}):
        name = f"{layer['type']} {layer.get('axis', '')} of non-finite values".replace("  ", " ")
        cases.append((name, one(layer, (1, 2, 3, 2)), NONFINITE))
    # LRN squares its inputs: the reference does so in double, torch here in
    # float32, so values whose square overflows float32 are left out.
    cases.append(("lrn of non-finite values", one({"type": "lrn", "size": 3, "alpha": 0.1}, (1, 2, 3, 2)),
                  [float("nan"), float("inf"), -float("inf"), 1e15, -1e15, 1e12, -1e12, 1e-40, -0.0, 0.5, -2.0,
                   3.0]))
    # One non-finite value in a line of finite ones.
    cases.append(("max_pool of one NaN", one({"type": "max_pool", "kernel": 3, "stride": 1, "pad": 1}, (1, 1, 3, 3)),
                  [1, 2, 3, 4, float("nan"), 6, 7, 8, 9]))
    cases.append(("softmax of one +inf", one({"type": "softmax", "axis": 3}, (1, 1, 2, 3)),
                  [1, float("inf"), 3, 4, 5, 6]))
    return cases


def handwritten_cases():
    """(name, spec, torch function of (x, weights)): specs that lean on the JSON
    frontend's defaults and conventions, each translated to torch by hand, not
    through cnnc's dump-ir (which the other cases evaluate, so a frontend
    default both sides would share could hide)."""
    import torch
    import torch.nn.functional as F

    def same_pad(x, k, s):  # ONNX SAME_UPPER: the odd pixel at the bottom/right
        h, w = x.shape[2], x.shape[3]
        ph = max((-(-h // s) - 1) * s + k - h, 0)
        pw = max((-(-w // s) - 1) * s + k - w, 0)
        return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))

    cases = []
    cases.append(("handwritten conv 'same' stride 2, even kernel, default dilation and groups",
                  spec([{"name": "c", "type": "conv2d", "filters": 3, "kernel": 4, "stride": 2, "pad": "same"}],
                       {"x": {"shape": [1, 2, 9, 8]}}),
                  lambda x, w: F.conv2d(same_pad(x, 4, 2), w["c.weight"], w["c.bias"], stride=2)))
    cases.append(("handwritten max_pool default stride (= kernel), ceil_mode",
                  spec([{"name": "p", "type": "max_pool", "kernel": 3, "ceil_mode": True}],
                       {"x": {"shape": [1, 2, 8, 7]}}),
                  lambda x, w: F.max_pool2d(x, 3, 3, ceil_mode=True)))
    cases.append(("handwritten avg_pool with pad (count_include_pad by default)",
                  spec([{"name": "p", "type": "avg_pool", "kernel": 3, "stride": 2, "pad": 1}],
                       {"x": {"shape": [1, 2, 7, 6]}}),
                  lambda x, w: F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)))
    cases.append(("handwritten lrn defaults (size 5, alpha 1e-4, beta 0.75, k 2)",
                  spec([{"name": "n", "type": "lrn"}], {"x": {"shape": [1, 7, 3, 3]}}),
                  lambda x, w: F.local_response_norm(x, 5, 1e-4, 0.75, 2.0)))
    cases.append(("handwritten activation defaults (leaky 0.01, elu 1)",
                  spec([{"name": "l", "type": "leaky_relu", "input": "x"},
                        {"name": "e", "type": "elu", "input": "l"}], {"x": {"shape": [1, 2, 3, 3]}}),
                  lambda x, w: F.elu(F.leaky_relu(x, 0.01), 1.0)))
    cases.append(("handwritten linear flattens C, H, W in that order; softmax on axis 1",
                  spec([{"name": "fc", "type": "linear", "units": 4}, {"name": "s", "type": "softmax"}],
                       {"x": {"shape": [2, 3, 2, 2]}}),
                  lambda x, w: F.softmax(x.reshape(2, 12) @ w["fc.weight"].T + w["fc.bias"], dim=1)))
    cases.append(("handwritten batch_norm eps 1e-5 by default; dropout the identity at inference",
                  spec([{"name": "bn", "type": "batch_norm"}, {"name": "d", "type": "dropout"}],
                       {"x": {"shape": [2, 3, 2, 2]}}),
                  lambda x, w: F.batch_norm(x, w["bn.running_mean"], w["bn.running_var"], w["bn.gamma"],
                                            w["bn.beta"], False, 0.0, 1e-5)))
    cases.append(("handwritten concat on axis 1 by default",
                  spec([{"name": "a", "type": "relu", "input": "x"}, {"name": "b", "type": "tanh", "input": "x"},
                        {"name": "c", "type": "concat", "inputs": ["a", "b"]}], {"x": {"shape": [1, 2, 2, 3]}}),
                  lambda x, w: torch.cat([F.relu(x), torch.tanh(x)], dim=1)))
    return cases


def reduced(path, size):
    """The example with its image input resized (size x size), as a spec dict."""
    s = json.load(open(path))
    for inp in s["inputs"].values():
        if len(inp["shape"]) == 4 and inp["shape"][2] > 28:
            inp["shape"][2] = inp["shape"][3] = size
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--full", action="store_true", help="also the example networks at full size")
    ap.add_argument("--networks-only", action="store_true")
    ap.add_argument("--filter", default="")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(2)
    failures, total, worst_all = [], 0, (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        r = Runner(args.cnnc, tmp)
        cases = [] if args.networks_only else op_cases()
        nets = sorted(f[:-5] for f in os.listdir(args.examples) if f.endswith(".json"))
        for n in nets:
            size = 67 if n == "alexnet_original" else 64
            cases.append((f"network {n} at {size}x{size}", reduced(f"{args.examples}/{n}.json", size), "inference"))
            if args.full:
                cases.append((f"network {n} full size", json.load(open(f"{args.examples}/{n}.json")), "inference"))
        for name, net, mode in cases:
            if args.filter not in name:
                continue
            total += 1
            ok, ratio, msg = r.check(name, net, mode)
            tag = "ok  " if ok else "FAIL"
            print(f"{tag} {name:58} worst {ratio:6.3f} of tolerance ({msg})", flush=True)
            if not ok:
                failures.append(name)
            if ratio > worst_all[0]:
                worst_all = (ratio, name)
        for name, net, fn in ([] if args.networks_only else handwritten_cases()):
            if args.filter not in name:
                continue
            total += 1
            ok, ratio, msg = r.check_handwritten(net, fn)
            print(f"{'ok  ' if ok else 'FAIL'} {name:58} worst {ratio:6.3f} of tolerance ({msg})", flush=True)
            if not ok:
                failures.append(name)
        for name, net, values in ([] if args.networks_only else nonfinite_cases()):
            if args.filter not in name:
                continue
            total += 1
            ok, ratio, msg = r.check(name, net, "inference", values=values)
            print(f"{'ok  ' if ok else 'FAIL'} {name:58} worst {ratio:6.3f} of tolerance ({msg})", flush=True)
            if not ok:
                failures.append(name)
        if not args.networks_only and "dropout" in "dropout" + args.filter:
            total += 1
            problems = r.dropout_training()
            print(("FAIL" if problems else "ok  ") + " dropout training masks (both scalings)", *problems, flush=True)
            if problems:
                failures.append("dropout training masks")
    return ct.summarize(total, failures, worst_all,
                        f"cases match PyTorch (per element {RTOL:g} * |torch| + {FLOOR:g} * max|torch|)")


if __name__ == "__main__":
    sys.exit(main())
