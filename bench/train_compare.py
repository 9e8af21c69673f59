#!/usr/bin/python3
"""Training throughput: cnnc against PyTorch, side by side in one run.

The same network (LeNet-5 on 28x28, ResNet-18 on 64x64), batch 64, SGD with
momentum 0.9, cross-entropy, 2 threads each; images/s of full training steps
(forward, backward, update):
  - cnnc step: the library of `cnnc compile --mode training`, cnnc_train_step
    through ctypes, the median of the timed steps;
  - PyTorch: the same graph in eager mode (torch.nn.functional), the median;
    the two are timed in alternating rounds so that both see the same noise;
  - cnnc train: `cnnc train --backend compiled` end to end (batches,
    augmentation-free normalisation, prefetch, the step), its fixed costs
    (loading the data, compiling) removed by timing two step counts.

  bench/train_compare.py --cnnc build/release/tools/cnnc [--steps 6] [--networks lenet5,resnet18]
Writes bench/TRAINING.md.
"""
import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "test", "python"))
import cnnir_torch as ct  # noqa: E402

BATCH = 64


def train_rate(cnnc, net, data, steps):
    def timed(n):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            subprocess.run([cnnc, "train", net, "--data", data, "--batch", str(BATCH), "--epochs", "1",
                            "--max-steps", str(n), "--train-samples", str(BATCH * (n + 1)),
                            "--test-samples", str(BATCH), "--checkpoint-dir", d, "--quiet",
                            "--backend", "compiled"],
                           check=True, capture_output=True)
            return time.perf_counter() - t0
    timed(1)  # warms the kernel cache
    lo, hi = max(1, steps // 3), steps
    return BATCH * (hi - lo) / (timed(hi) - timed(lo))


def cnnc_step(cnnc, net, shape, classes, d):
    """A function running one cnnc_train_step of the compiled library."""
    lib = f"{d}/libstep.so"
    subprocess.run([cnnc, "compile", net, "--mode", "training", "--loss", "ce", "--batch", str(BATCH),
                    "--momentum", "0.9", "-o", lib, "--quiet"], check=True, capture_output=True)
    so = ctypes.CDLL(lib)
    so.cnnc_create.restype = ctypes.c_void_p
    so.cnnc_train_step.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_float,
                                   ctypes.POINTER(ctypes.c_float), ctypes.c_void_p]
    m = so.cnnc_create(None)
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (BATCH,) + shape).astype(np.float32)
    y = rng.integers(0, classes, BATCH).astype(np.float32)
    inputs = (ctypes.c_void_p * 1)(x.ctypes.data)
    loss = ctypes.c_float()

    def step():
        if so.cnnc_train_step(m, inputs, y.ctypes.data, 0.001, ctypes.byref(loss), None) != 0:
            raise SystemExit("cnnc_train_step failed")
    return step


def torch_step(cnnc, net, shape, classes):
    g = ct.Graph(subprocess.run([cnnc, "dump-ir", net, "--batch", str(BATCH)], check=True,
                                capture_output=True, text=True).stdout)
    rng = np.random.default_rng(0)
    params = {n: torch.tensor(a, requires_grad=not n.endswith(("running_mean", "running_var")))
              for n, a in ct.random_weights(g, rng)}
    opt = torch.optim.SGD([p for p in params.values() if p.requires_grad], lr=0.01, momentum=0.9)
    x = torch.tensor(rng.normal(0, 1, (BATCH,) + shape).astype(np.float32))
    y = torch.tensor(rng.integers(0, classes, BATCH))
    last = g.nodes[-1]
    if last[1] == "softmax":  # cross-entropy on the logits under it, as cnnc train
        g.nodes, g.outputs = g.nodes[:-1], [last[2][0][1:]]

    def step():
        opt.zero_grad()
        outs, _ = ct.run_torch(g, params, {g.inputs[0][0]: x}, True)
        F.cross_entropy(outs[g.outputs[0]], y).backward()
        opt.step()
    return step


def side_by_side(steps, fns, rounds):
    """Median seconds per step of each function, timed in alternating rounds."""
    for f in fns:
        f()  # warm-up
    times = [[] for _ in fns]
    for _ in range(rounds):
        for i, f in enumerate(fns):
            for _ in range(steps):
                t0 = time.perf_counter()
                f()
                times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--networks", default="lenet5,resnet18")
    ap.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    args = ap.parse_args()
    torch.set_num_threads(2)
    examples = os.path.join(HERE, "..", "examples")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.networks.split(","):
            spec = json.load(open(f"{examples}/{name}.json"))
            if name == "lenet5":
                net, data, shape, classes, steps = f"{examples}/lenet5.json", args.fashion_mnist, (1, 28, 28), 10, \
                    args.steps * 10
            else:  # 64x64 inputs, synthetic data
                spec["inputs"][next(iter(spec["inputs"]))]["shape"] = [1, 3, 64, 64]
                net = f"{tmp}/{name}_64.json"
                json.dump(spec, open(net, "w"))
                shape, classes, steps = (3, 64, 64), 1000, max(2, args.steps // 3)
                data = f"{tmp}/{name}-data"
                os.makedirs(data)
                rng = np.random.default_rng(1)
                n = BATCH * (steps + 1)
                for split, count in (("train", n), ("test", BATCH)):
                    np.save(f"{data}/{split}_images.npy", rng.uniform(0, 1, (count,) + shape).astype(np.float32))
                    np.save(f"{data}/{split}_labels.npy", rng.integers(0, classes, count).astype(np.float32))
            d = f"{tmp}/{name}-lib"
            os.makedirs(d)
            fns = [cnnc_step(args.cnnc, net, shape, classes, d), torch_step(args.cnnc, net, shape, classes)]
            c_s, t_s = side_by_side(max(2, steps // 3), fns, 3)
            c, t = BATCH / c_s, BATCH / t_s
            e = train_rate(args.cnnc, net, data, steps)
            rows.append((name, "x".join(map(str, shape[1:])), c, t, e))
            print(f"{name:10s} cnnc step {c:8.1f} images/s   PyTorch {t:8.1f} images/s   ratio {c / t:.3f}   "
                  f"cnnc train end to end {e:8.1f} images/s ({e / t:.3f})", flush=True)
    lines = ["# Training throughput: cnnc vs PyTorch", "",
             f"`bench/train_compare.py --steps {args.steps}`: batch {BATCH}, SGD with momentum 0.9, cross-entropy, "
             "images/s of whole training steps (forward, backward, update), 2 threads each: the cnnc library of "
             "`cnnc compile --mode training` (cnnc_train_step) and PyTorch "
             f"{torch.__version__} eager (float32), medians of steps timed in alternating rounds; `cnnc train "
             "--backend compiled` end to end (data pipeline included, fixed costs removed).", "",
             "| network | input | cnnc step images/s | PyTorch images/s | cnnc / PyTorch | cnnc train images/s "
             "| cnnc train / PyTorch |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, size, c, t, e in rows:
        lines.append(f"| {name} | {size} | {c:.1f} | {t:.1f} | {c / t:.3f} | {e:.1f} | {e / t:.3f} |")
    open(os.path.join(HERE, "TRAINING.md"), "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
