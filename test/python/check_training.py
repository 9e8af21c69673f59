#!/usr/bin/python3
"""cnnc's training step against PyTorch (float64 on the PyTorch side).

For LeNet-5 and a variant with batch normalisation, at batch 16 with random
weights, images and labels:
  1. gradients: `cnnc run --passes autodiff --mode training` gives the loss
     (cross-entropy on the logits), the gradient of every parameter and (with
     --output-weights) the updated batch-norm running statistics; PyTorch's
     autograd gives the same from the same graph (cnnir_torch).
  2. updates: `cnnc train` on a dataset of exactly one batch for 3 epochs (3
     steps) with SGD (momentum, Nesterov, weight decay), Adam and AdamW; the
     last checkpoint's parameters, optimizer state and running statistics, and
     the loss of every step (log.csv) against torch.optim on the same batch,
     normalised as cnnc normalises (per-channel mean and std of the training
     images).
  3. compiled training: the same 3 steps by a library of `cnnc compile
     --mode training` (generated float32 kernels; cnnc_train_step through
     ctypes), its weights and optimizer state from cnnc_save_weights. Not for
     Adam on the batch-norm variant: fc1's bias feeds a batch norm, so its true
     gradient is zero; in float32 it is rounding noise (~1e-9), which Adam
     normalises into steps of ~0.1·lr (|g| is not small against eps = 1e-8),
     so that bias, its state and bn3's running mean follow the noise.
A tensor matches when every |cnnc - torch| <= 1e-4 |torch| + 1e-5 max(max |torch|, 1e-6)
(and every value is finite).

  check_training.py --cnnc build/release/tools/cnnc --examples examples
"""
import argparse
import csv
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import cnnir_torch as ct  # noqa: E402
from numeric_compare import compare  # noqa: E402

TOL = 1e-4
BATCH = 16

LENET_BN = {
    "cnnc": 1, "name": "lenet5_bn",
    "inputs": {"data": {"shape": [1, 1, 28, 28]}},
    "layers": [
        {"name": "conv1", "type": "conv2d", "filters": 6, "kernel": 5, "pad": 2, "bias": False},
        {"name": "bn1", "type": "batch_norm"},
        {"name": "relu1", "type": "relu"},
        {"name": "pool1", "type": "max_pool", "kernel": 2},
        {"name": "conv2", "type": "conv2d", "filters": 16, "kernel": 5, "bias": False},
        {"name": "bn2", "type": "batch_norm", "momentum": 0.2},
        {"name": "relu2", "type": "relu"},
        {"name": "pool2", "type": "avg_pool", "kernel": 2},
        {"name": "fc1", "type": "linear", "units": 32},
        {"name": "bn3", "type": "batch_norm"},
        {"name": "relu3", "type": "relu"},
        {"name": "fc2", "type": "linear", "units": 10},
        {"name": "prob", "type": "softmax"},
    ],
    "outputs": ["prob"],
}


class Checker:
    def __init__(self):
        self.failures, self.total, self.worst = [], 0, (0.0, "")

    def close(self, what, got, want):
        got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
        self.total += 1
        if got.shape != want.shape:
            self.failures.append(f"{what}: shape {got.shape} vs {want.shape}")
            return
        # Per element; a tensor that is numerically zero (the bias of a layer
        # under batch norm gets no gradient) has the absolute floor 1e-6 * TOL.
        scale = max(float(np.abs(want[np.isfinite(want)]).max(initial=0)), 1e-6)
        v = compare(got, want, TOL, TOL / 10, scale)
        if not v:
            self.failures.append(f"{what}: {v.message}")
        if v.ratio > self.worst[0]:
            self.worst = (v.ratio, what)


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(args)}\n{r.stderr}")
    return r


def is_statistic(name):
    return name.endswith(("running_mean", "running_var"))


def torch_params(graph, weights):
    return {n: torch.tensor(weights[n], dtype=torch.float64, requires_grad=not is_statistic(n))
            for n, _ in graph.params}


def logits_of(graph, params, x, training):
    """The graph's output is a softmax: cross-entropy takes the logits under it."""
    last = graph.nodes[-1]
    assert last[1] == "softmax", last
    g2 = ct.Graph("")
    g2.inputs, g2.params, g2.nodes = graph.inputs, graph.params, graph.nodes[:-1]
    g2.outputs = [last[2][0][1:]]
    outs, state = ct.run_torch(g2, params, {"data": x}, training)
    return outs[g2.outputs[0]], state


def check_gradients(cnnc, net, name, d, chk, rng):
    g = ct.Graph(sh([cnnc, "dump-ir", net, "--batch", str(BATCH)]).stdout)
    weights = dict(ct.random_weights(g, rng))
    ct.write_safetensors(f"{d}/w.safetensors", list(weights.items()))
    x = rng.normal(0, 1, (BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.float32)
    np.save(f"{d}/x.npy", x)
    np.save(f"{d}/y.npy", y)
    trained = [n for n, _ in g.params if not is_statistic(n)]
    outs = ["--output", f"loss={d}/loss.npy"]
    for n in trained:
        outs += ["--output", f"{n}.grad={d}/{n}.grad.npy"]
    sh([cnnc, "run", net, "--batch", str(BATCH), "--weights", f"{d}/w.safetensors", "--passes", "autodiff",
        "--mode", "training", "--input", f"data={d}/x.npy", "--input", f"labels={d}/y.npy",
        "--output-weights", f"{d}/after.safetensors"] + outs)
    params = torch_params(g, weights)
    logits, state = logits_of(g, params, torch.tensor(x, dtype=torch.float64), True)
    loss = F.cross_entropy(logits, torch.tensor(y, dtype=torch.int64))
    loss.backward()
    chk.close(f"{name}: loss", np.load(f"{d}/loss.npy"), [loss.item()])
    for n in trained:
        chk.close(f"{name}: {n} gradient", np.load(f"{d}/{n}.grad.npy"), params[n].grad.numpy())
    after = ct.read_safetensors(f"{d}/after.safetensors")
    for n, v in state.items():
        chk.close(f"{name}: {n} after the step", after[n], v)
    return g, weights


def compiled_steps(cnnc, net, d, kind, lr, wd, x, y, steps):
    """`steps` calls of cnnc_train_step of a compiled training library: the
    losses and the saved weights (optimizer state included)."""
    lib = f"{d}/libtrain-{kind}.so"
    sh([cnnc, "compile", net, "--mode", "training", "--batch", str(BATCH), "--weights",
        f"{d}/w.safetensors", "--optimizer", kind, "--weight-decay", str(wd), "-o", lib, "--quiet"]
       + (["--nesterov"] if kind == "sgd" else []))
    so = ctypes.CDLL(lib)
    so.cnnc_create.restype = ctypes.c_void_p
    so.cnnc_create.argtypes = [ctypes.c_char_p]
    so.cnnc_last_error.restype = ctypes.c_char_p
    so.cnnc_last_error.argtypes = [ctypes.c_void_p]
    so.cnnc_train_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float,
                                   ctypes.POINTER(ctypes.c_float), ctypes.c_void_p]
    so.cnnc_save_weights.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    so.cnnc_destroy.argtypes = [ctypes.c_void_p]
    m = so.cnnc_create(None)
    assert m, so.cnnc_last_error(None)
    x = np.ascontiguousarray(x, np.float32)
    y = np.ascontiguousarray(y, np.float32)
    inputs = (ctypes.c_void_p * 1)(x.ctypes.data)
    losses = []
    for _ in range(steps):
        loss = ctypes.c_float()
        rc = so.cnnc_train_step(m, inputs, y.ctypes.data, lr, ctypes.byref(loss), None)
        if rc != 0:
            raise SystemExit(f"cnnc_train_step: {so.cnnc_last_error(m).decode()}")
        losses.append(loss.value)
    path = f"{d}/compiled-{kind}.safetensors"
    if so.cnnc_save_weights(m, path.encode()) != 0:
        raise SystemExit(f"cnnc_save_weights: {so.cnnc_last_error(m).decode()}")
    so.cnnc_destroy(m)
    return losses, ct.read_safetensors(path)


def make_optimizer(kind, params, lr, wd):
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)
    return torch.optim.AdamW(params, lr=lr, weight_decay=wd)


def check_updates(cnnc, net, name, g, weights, d, chk, rng):
    x = rng.uniform(0, 1, (BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, BATCH).astype(np.float32)
    data = f"{d}/data"
    os.makedirs(data, exist_ok=True)
    for split in ("train", "test"):
        np.save(f"{data}/{split}_images.npy", x)
        np.save(f"{data}/{split}_labels.npy", y)
    # cnnc normalises with the training images' per-channel mean and (population) std.
    x64 = x.astype(np.float64)
    xn = ((x64 - x64.mean()) / np.sqrt(max((x64 ** 2).mean() - x64.mean() ** 2, 0.0))).astype(np.float32)
    for kind, lr, wd in (("sgd", 0.05, 1e-3), ("adam", 1e-3, 1e-3), ("adamw", 1e-3, 1e-2)):
        ck = f"{d}/ck-{kind}"
        sh([cnnc, "train", net, "--data", data, "--weights", f"{d}/w.safetensors", "--batch", str(BATCH),
            "--epochs", "3", "--optimizer", kind, "--lr", str(lr), "--weight-decay", str(wd),
            "--checkpoint-dir", ck, "--quiet", "--backend", "reference", "--schedule", "constant"] + (["--nesterov"] if kind == "sgd" else []))
        runs = {"": ([float(r["train_loss"]) for r in csv.DictReader(open(f"{ck}/log.csv"))],
                     ct.read_safetensors(f"{ck}/ckpt-00000003.safetensors"))}
        if kind == "sgd" or name == "lenet5":
            runs[" compiled"] = compiled_steps(cnnc, net, d, kind, lr, wd, xn, y, 3)
        params = torch_params(g, weights)
        trained = [params[n] for n, _ in g.params if not is_statistic(n)]
        opt = make_optimizer(kind, trained, lr, wd)
        want_losses = []
        for _ in range(3):
            opt.zero_grad()
            logits, state = logits_of(g, params, torch.tensor(xn, dtype=torch.float64), True)
            loss = F.cross_entropy(logits, torch.tensor(y, dtype=torch.int64))
            loss.backward()
            opt.step()
            want_losses.append(loss.item())
            with torch.no_grad():  # running statistics carry over to the next step
                for n, v in state.items():
                    params[n].copy_(torch.from_numpy(v))
        for how, (losses, got) in runs.items():
            what = f"{name} {kind}{how}"
            chk.close(f"{what}: losses of 3 steps", losses, want_losses)
            for n, _ in g.params:
                chk.close(f"{what}: {n} after 3 steps", got[n], params[n].detach().numpy())
            for n, p in zip([n for n, _ in g.params if not is_statistic(n)], trained):
                st = opt.state[p]
                pairs = ({"momentum": st["momentum_buffer"]} if kind == "sgd"
                         else {"adam_m": st["exp_avg"], "adam_v": st["exp_avg_sq"]})
                for suffix, t in pairs.items():
                    chk.close(f"{what}: {n}.{suffix}", got[f"{n}.{suffix}"], t.numpy())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    chk = Checker()
    rng = np.random.default_rng(20261126)
    with tempfile.TemporaryDirectory() as tmp:
        bn = f"{tmp}/lenet5_bn.json"
        json.dump(LENET_BN, open(bn, "w"))
        for name, net in (("lenet5", f"{args.examples}/lenet5.json"), ("lenet5_bn", bn)):
            d = f"{tmp}/{name}"
            os.makedirs(d)
            g, weights = check_gradients(args.cnnc, net, name, d, chk, rng)
            check_updates(args.cnnc, net, name, g, weights, d, chk, rng)
    for f in chk.failures:
        print("FAIL", f)
    print(f"{chk.total - len(chk.failures)} of {chk.total} tensors match PyTorch "
          f"(per element {TOL:g} |torch| + {TOL / 10:g} max |torch|); worst {chk.worst[0]:.3g} in '{chk.worst[1]}'")
    return 1 if chk.failures else 0


if __name__ == "__main__":
    sys.exit(main())
