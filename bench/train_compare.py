#!/usr/bin/python3
"""Training throughput: cnnc train against PyTorch, side by side in one run.

The same network (LeNet-5 on 28x28, ResNet-18 on 64x64), batch 64, SGD with
momentum 0.9, 2 threads for PyTorch (cnnc's reference backend uses one);
images/s of full training steps (forward, backward, update). For cnnc the
fixed costs (loading the data, building the training graph) are removed by
timing runs of two different step counts and dividing the difference.

  bench/train_compare.py --cnnc build/release/tools/cnnc [--steps 6] [--networks lenet5,resnet18]
Writes bench/TRAINING.md.
"""
import argparse
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


def cnnc_rate(cnnc, net, data, steps):
    def timed(n):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            subprocess.run([cnnc, "train", net, "--data", data, "--batch", str(BATCH), "--epochs", "1",
                            "--max-steps", str(n), "--train-samples", str(BATCH * (n + 1)),
                            "--test-samples", str(BATCH), "--checkpoint-dir", d, "--quiet"],
                           check=True, capture_output=True)
            return time.perf_counter() - t0
    lo, hi = max(1, steps // 3), steps
    return BATCH * (hi - lo) / (timed(hi) - timed(lo))


def torch_rate(cnnc, net, shape, classes, steps):
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
    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH * steps / (time.perf_counter() - t0)


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
            c = cnnc_rate(args.cnnc, net, data, steps)
            t = torch_rate(args.cnnc, net, shape, classes, steps)
            rows.append((name, "x".join(map(str, shape[1:])), c, t))
            print(f"{name:10s} cnnc {c:8.1f} images/s   PyTorch (2 threads) {t:8.1f} images/s   ratio {c / t:.3f}",
                  flush=True)
    lines = ["# Training throughput: cnnc vs PyTorch", "",
             f"`bench/train_compare.py --steps {args.steps}`: batch {BATCH}, SGD with momentum, images/s of whole "
             "training steps; cnnc trains on its reference backend (one thread), PyTorch "
             f"{torch.__version__} on 2 threads (float32).", "",
             "| network | input | cnnc images/s | PyTorch images/s | cnnc / PyTorch |", "| --- | --- | ---: | ---: | ---: |"]
    for name, size, c, t in rows:
        lines.append(f"| {name} | {size} | {c:.1f} | {t:.1f} | {c / t:.3f} |")
    open(os.path.join(HERE, "TRAINING.md"), "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
