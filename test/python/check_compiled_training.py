#!/usr/bin/python3
"""A compiled training step (`cnnc compile --mode training`) against the
reference backend's (`cnnc run --mode training --passes autodiff,optimizer`),
on small networks that use every op compiled training supports: grouped,
strided, dilated and padded convolutions, batch norm (statistics and running
averages), every activation, max/avg pooling with padding and ceil_mode,
global average pooling, LRN, softmax (inside the network and at the output),
dropout (the same mask: seed 1 is the library's first step), flatten, add,
concat, linear, cross-entropy and mean-squared error, SGD (momentum,
Nesterov, weight decay) and Adam.

One step from the same weights, images and labels; the loss, every updated
parameter and optimizer state (cnnc_save_weights vs the reference's
`<param>.next` outputs) and the running statistics (--output-weights) must
agree element by element as step_compare.py says (the library computes in
float32, the reference in float64; parameters by their change in the step). cnnc_create(saved file) must restore the step count.
Faults: a label out of range fails the step with a message naming it and
leaves the weights as they were, as do a NaN or infinite input or label
(refused) and a loss that overflows; cnnc_train_step on an inference library and
cnnc_save_weights into a missing directory fail with their status codes.

  check_compiled_training.py --cnnc build/release/tools/cnnc
"""
import argparse
import ctypes
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import cnnir_torch as ct  # noqa: E402
import step_compare  # noqa: E402
from cnnc_library import Library  # noqa: E402
from numeric_compare import compare  # noqa: E402
from step_compare import check_step  # noqa: E402

BATCH = 4

BRANCHY = {
    "cnnc": 1, "name": "branchy",
    "inputs": {"data": {"shape": [1, 4, 12, 12]}},
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 8, "kernel": 3, "stride": 2, "pad": 2,
         "dilation": 2, "groups": 2},
        {"name": "a1", "type": "leaky_relu", "alpha": 0.1},
        {"name": "p1", "type": "avg_pool", "kernel": 3, "stride": 2, "pad": 1, "ceil_mode": True,
         "count_include_pad": False},
        {"name": "c2", "type": "conv2d", "filters": 6, "kernel": 1},
        {"name": "a2", "type": "elu", "alpha": 0.5},
        {"name": "c3", "type": "conv2d", "input": "p1", "filters": 6, "kernel": 3, "pad": 1,
         "bias": False},
        {"name": "a3", "type": "gelu"},
        {"name": "cat", "type": "concat", "inputs": ["a2", "a3"]},
        {"name": "drop", "type": "dropout", "rate": 0.3},
        {"name": "gap", "type": "global_avg_pool"},
        {"name": "flat", "type": "flatten"},
        {"name": "fc", "type": "linear", "units": 5},
        {"name": "prob", "type": "softmax"},
    ],
    "outputs": ["prob"],
}

RESIDUAL = {
    "cnnc": 1, "name": "residual",
    "inputs": {"data": {"shape": [1, 3, 34, 34]}},  # rows of 2+ vectors (AVX-512 too): not fused
    "layers": [
        {"name": "stem", "type": "conv2d", "filters": 8, "kernel": 3, "pad": 1, "bias": False},
        {"name": "bn0", "type": "batch_norm"},
        {"name": "r0", "type": "relu"},
        {"name": "b1", "type": "conv2d", "filters": 8, "kernel": 3, "pad": 1, "bias": False},
        {"name": "bn1", "type": "batch_norm", "momentum": 0.3},
        {"name": "s1", "type": "selu"},
        {"name": "add", "type": "add", "inputs": ["s1", "r0"]},
        {"name": "t1", "type": "tanh"},
        {"name": "mp", "type": "max_pool", "kernel": 3, "stride": 2, "pad": 1},
        {"name": "sg", "type": "sigmoid"},
        {"name": "cl", "type": "clip", "min": 0.2, "max": 0.7},
        {"name": "fc", "type": "linear", "units": 3},
    ],
    "outputs": ["fc"],
}

# Maps narrower than two vectors with 32+ channels: convolutions and their
# input and weight gradients with the pixels of every image as the vector
# lanes (tmpl::pixel_sum): padded, strided, grouped with dilation, with and
# without bias. (LeNet-like nets below 32 channels keep the row kernels.)
NARROW = {
    "cnnc": 1, "name": "narrow",
    "inputs": {"data": {"shape": [1, 32, 6, 6]}},
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 40, "kernel": 3, "pad": 1},
        {"name": "r1", "type": "relu"},
        {"name": "g1", "type": "conv2d", "filters": 40, "kernel": 3, "pad": 2, "dilation": 2,
         "groups": 4},
        {"name": "c2", "type": "conv2d", "filters": 32, "kernel": 3, "pad": 1, "bias": False},
        {"name": "add", "type": "add", "inputs": ["c2", "data"]},
        {"name": "c3", "type": "conv2d", "filters": 32, "kernel": 3, "stride": 2, "pad": 1},
        {"name": "gap", "type": "global_avg_pool"},
        {"name": "fc", "type": "linear", "units": 4},
        {"name": "prob", "type": "softmax"},
    ],
    "outputs": ["prob"],
}

# The normalisations' backward kernels: LRN (two windows and a large
# alpha so that its cross-channel term matters), a softmax across the
# channels inside the network and one at the output under an MSE loss.
NORMS = {
    "cnnc": 1, "name": "norms",
    "inputs": {"data": {"shape": [1, 6, 5, 5]}},
    "layers": [
        {"name": "c1", "type": "conv2d", "filters": 8, "kernel": 3, "pad": 1},
        {"name": "n1", "type": "lrn", "size": 5, "alpha": 0.5, "beta": 0.75, "k": 1},
        {"name": "sc", "type": "softmax", "axis": 1},
        {"name": "c2", "type": "conv2d", "filters": 6, "kernel": 1},
        {"name": "n2", "type": "lrn", "size": 3, "alpha": 0.3, "beta": 1.2, "k": 2},
        {"name": "gap", "type": "global_avg_pool"},
        {"name": "fc", "type": "linear", "units": 4},
        {"name": "prob", "type": "softmax"},
    ],
    "outputs": ["prob"],
}

# (network, compile flags, labels: "ce" class indexes or "mse" targets)
CASES = [
    ("branchy-sgd", BRANCHY, ["--optimizer", "sgd", "--momentum", "0.9", "--nesterov",
                              "--weight-decay", "1e-3"], "ce"),
    ("residual-adam", RESIDUAL, ["--optimizer", "adam", "--weight-decay", "1e-3"], "mse"),
    ("residual-adamw", RESIDUAL, ["--optimizer", "adamw", "--weight-decay", "1e-2"], "mse"),
    ("narrow-sgd", NARROW, ["--optimizer", "sgd", "--momentum", "0.9"], "ce"),
    ("norms-sgd", NORMS, ["--optimizer", "sgd", "--momentum", "0.9", "--loss", "mse"], "mse"),
]


def sh(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{r.stderr}")
    return r


def reference_step(cnnc, net, weights, flags, d, x, y, lr, seed, tag):
    """One reference step: the loss, {tensor: value after the step}."""
    np.save(f"{d}/x.npy", x)
    np.save(f"{d}/y.npy", y)
    np.save(f"{d}/lr.npy", np.array([lr], np.float32))
    ir = sh([cnnc, "dump-ir", net, "--batch", str(BATCH), "--mode", "training", "--passes",
             "autodiff,optimizer"] + flags).stdout
    g_inputs = re.findall(r"^\s*input %([\w.]+):", ir, re.M)
    g_outputs = re.findall(r"^\s*output %([\w.]+)", ir, re.M)
    outs, inputs = [], ["--input", f"data={d}/x.npy", "--input", f"labels={d}/y.npy",
                        "--input", f"lr={d}/lr.npy"]
    if "step" in g_inputs:
        np.save(f"{d}/step.npy", np.array([1], np.float32))
        inputs += ["--input", f"step={d}/step.npy"]
    nexts = [o for o in g_outputs if o.endswith(".next")]
    for o in ["loss"] + nexts:
        outs += ["--output", f"{o}={d}/{tag}-{o}.npy"]
    sh([cnnc, "run", net, "--batch", str(BATCH), "--weights", weights, "--mode", "training",
        "--passes", "autodiff,optimizer", "--seed", str(seed), "--output-weights",
        f"{d}/{tag}-after.safetensors"] + flags + inputs + outs)
    after = ct.read_safetensors(f"{d}/{tag}-after.safetensors")
    for o in nexts:
        after[o[:-len(".next")]] = np.load(f"{d}/{tag}-{o}.npy")
    return float(np.load(f"{d}/{tag}-loss.npy")[0]), after


def bad_labels(L, m, x, y, d, tag):
    """A label past the classes: the step fails, naming it, and changes nothing."""
    L.save(m, f"{d}/{tag}-before.safetensors")
    bad = y.copy()
    bad[2] = 99
    loss = ctypes.c_float()
    inputs = (ctypes.c_void_p * 1)(x.ctypes.data)
    rc = L.so.cnnc_train_step(m, inputs, bad.ctypes.data, 0.05, ctypes.byref(loss), None)
    msg = L.so.cnnc_last_error(m).decode()
    out = []
    if rc != 8 or "labels must be class indexes" not in msg or "99" not in msg:
        out.append(f"{tag}: a label of 99 gave status {rc}, message '{msg}'")
    L.save(m, f"{d}/{tag}-after-bad.safetensors")
    before = ct.read_safetensors(f"{d}/{tag}-before.safetensors")
    after = ct.read_safetensors(f"{d}/{tag}-after-bad.safetensors")
    if any(not np.array_equal(before[k], after[k]) for k in before) or L.so.cnnc_train_steps(m) != 1:
        out.append(f"{tag}: the failed step changed the weights or the step count")
    return out


def nonfinite_steps(L, m, x, y, d, tag):
    """A NaN or infinite input or label is refused before the step (status 9);
    a loss that overflows (targets of 1e30) stops the step before any update
    (status 11). Either way the parameters, the optimizer state and the step
    count stay (the running statistics, updated by the forward pass, may not)."""
    out = []
    L.save(m, f"{d}/{tag}-nf-before.safetensors")
    steps = L.so.cnnc_train_steps(m)
    loss = ctypes.c_float()
    cases = []
    bad_x = x.copy()
    bad_x.reshape(-1)[5] = np.nan
    cases.append(("a NaN input", bad_x, y, 9, "holds nan at element 5"))
    bad_y = y.copy()
    bad_y.reshape(-1)[0] = np.inf
    cases.append(("an infinite label", x, bad_y, 9, "labels holds inf at element 0"))
    if y.ndim > 1:  # mean-squared error: a finite target whose square overflows float32
        cases.append(("targets of 1e30", x, np.full_like(y, 1e30), 11, "the loss is not finite"))
    for what, xi, yi, want_rc, want_msg in cases:
        inputs = (ctypes.c_void_p * 1)(xi.ctypes.data)
        rc = L.so.cnnc_train_step(m, inputs, yi.ctypes.data, 0.05, ctypes.byref(loss), None)
        msg = L.so.cnnc_last_error(m).decode()
        if rc != want_rc or want_msg not in msg:
            out.append(f"{tag}: {what} gave status {rc}, message '{msg}' (want {want_rc}, '{want_msg}')")
    L.save(m, f"{d}/{tag}-nf-after.safetensors")
    before = ct.read_safetensors(f"{d}/{tag}-nf-before.safetensors")
    after = ct.read_safetensors(f"{d}/{tag}-nf-after.safetensors")
    changed = [k for k in before if "running_" not in k and not np.array_equal(before[k], after[k])]
    if changed or L.so.cnnc_train_steps(m) != steps:
        out.append(f"{tag}: refused steps changed {changed} or the step count")
    return out


def other_faults(cnnc, d):
    """cnnc_train_step on an inference library; cnnc_save_weights where it cannot write."""
    out = []
    net = f"{d}/residual.json"
    sh([cnnc, "compile", net, "--batch", str(BATCH), "-o", f"{d}/libinfer.so", "--quiet"])
    L = Library(f"{d}/libinfer.so")
    m = L.create()
    x = np.zeros([BATCH, 3, 34, 34], np.float32)
    y = np.zeros([BATCH], np.float32)
    inputs = (ctypes.c_void_p * 1)(x.ctypes.data)
    loss = ctypes.c_float()
    rc = L.so.cnnc_train_step(m, inputs, y.ctypes.data, 0.1, ctypes.byref(loss), None)
    msg = L.so.cnnc_last_error(m).decode()
    if rc != 9 or "--mode training" not in msg:
        out.append(f"train_step on an inference library: status {rc}, message '{msg}'")
    rc = L.so.cnnc_save_weights(m, f"{d}/no/such/dir/w.safetensors".encode())
    msg = L.so.cnnc_last_error(m).decode()
    if rc != 10 or "no/such/dir/w.safetensors.tmp" not in msg:
        out.append(f"save into a missing directory: status {rc}, message '{msg}'")
    L.so.cnnc_destroy(m)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    args = ap.parse_args()
    rng = np.random.default_rng(20261126)
    failures, total, worst = [], 0, (0.0, "")

    def judged(what, v):
        nonlocal total, worst
        total += 1
        if not v:
            failures.append(f"{what}: {v.message}")
        if v.ratio > worst[0]:
            worst = (v.ratio, what)

    with tempfile.TemporaryDirectory() as d:
        for tag, spec, flags, loss in CASES:
            net = f"{d}/{spec['name']}.json"
            json.dump(spec, open(net, "w"))
            g = ct.Graph(sh([args.cnnc, "dump-ir", net, "--batch", str(BATCH)]).stdout)
            weights = f"{d}/{tag}-w.safetensors"
            ct.write_safetensors(weights, list(ct.random_weights(g, rng)))
            shape = [BATCH] + spec["inputs"]["data"]["shape"][1:]
            x = rng.normal(0, 1, shape).astype(np.float32)
            if loss == "ce":
                y = rng.integers(0, spec["layers"][-2]["units"], BATCH).astype(np.float32)
            else:
                units = next(l["units"] for l in reversed(spec["layers"]) if "units" in l)
                y = rng.normal(0, 1, (BATCH, units)).astype(np.float32)
            lib = f"{d}/lib{tag}.so"
            sh([args.cnnc, "compile", net, "--mode", "training", "--batch", str(BATCH), "--weights",
                weights, "-o", lib, "--quiet"] + flags)
            L = Library(lib)
            m = L.create()
            lr = 0.05
            got_loss = L.train_step(m, [x], y, lr)
            L.save(m, f"{d}/{tag}-step1.safetensors")
            L.so.cnnc_destroy(m)
            want_loss, want = reference_step(args.cnnc, net, weights, flags, d, x, y, lr, 1, tag)
            got = ct.read_safetensors(f"{d}/{tag}-step1.safetensors")
            judged(f"{tag}: loss", compare([got_loss], [want_loss], step_compare.RTOL, step_compare.FLOOR))
            if sorted(got) != sorted(want):
                failures.append(f"{tag}: saved tensors {sorted(got)} vs {sorted(want)}")
            else:
                for name, v in check_step(got, want, ct.read_safetensors(weights), lr, flags):
                    judged(f"{tag}: {name} after one step", v)
            # Resuming from the saved file: the step count comes back too.
            m = L.create(f"{d}/{tag}-step1.safetensors")
            steps = L.so.cnnc_train_steps(m)
            if steps != 1:
                failures.append(f"{tag}: cnnc_train_steps after loading is {steps}, not 1")
            total += 1
            if loss == "ce":
                total += 1
                failures += bad_labels(L, m, x, y, d, tag)
            total += 1
            failures += nonfinite_steps(L, m, x, y, d, tag)
            L.so.cnnc_destroy(m)
        total += 2
        failures += other_faults(args.cnnc, d)
    for f in failures:
        print("FAIL", f)
    print(f"{total - len(failures)} of {total} checks of compiled training steps match the reference "
          f"(per element, step_compare.py); worst {worst[0]:.3g} of the tolerance in '{worst[1]}'")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
