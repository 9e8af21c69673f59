#!/usr/bin/python3
"""Batch-1 latency of every example network, side by side in one run:

  cnnc      the compiled library (`cnnc run LIB --bench N`, default threads)
  reference the reference backend (`cnnc run NET --bench R`, one thread)
  pytorch   torchvision's model, torch.jit.freeze + optimize_for_inference,
            2 threads (Debian's python3-torch), where torchvision has it

Prints medians and the ratios reference/cnnc and pytorch/cnnc (above 1:
cnnc is faster). Same random weights' shapes, random input; the figures
depend on the machine (AVX-512 or not), so compare columns of one run only.

  bench/latency.py [--networks resnet50,mobilenet_v2] [--runs 20] [--reference-runs 2]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIAN = re.compile(r"median ([0-9.]+) ms")
TORCHVISION = {"alexnet", "vgg16", "vgg19", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
               "googlenet", "mobilenet_v2", "densenet121", "squeezenet1_1"}


def cnnc_median(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}:\n{r.stderr}")
    return float(MEDIAN.search(r.stdout).group(1))


def torch_median(name, shape, runs):
    import torch
    import torchvision.models as tvm
    torch.set_num_threads(2)
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    model = getattr(tvm, name)(**kwargs).eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        m = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(model)))
        for _ in range(3):
            m(x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            m(x)
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", default=f"{ROOT}/build/release/tools/cnnc")
    ap.add_argument("--networks", default="", help="comma-separated (default: every example)")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--reference-runs", type=int, default=2)
    ap.add_argument("--no-reference", action="store_true", help="skip the (slow) reference backend")
    args = ap.parse_args()
    nets = args.networks.split(",") if args.networks else sorted(
        f[:-5] for f in os.listdir(f"{ROOT}/examples") if f.endswith(".json"))
    print(f"{'network':18} {'cnnc ms':>9} {'reference ms':>13} {'pytorch ms':>11} {'ref/cnnc':>9} {'torch/cnnc':>11}",
          flush=True)
    with tempfile.TemporaryDirectory() as d:
        for n in nets:
            net = f"{ROOT}/examples/{n}.json"
            shape = [int(v) for v in re.search(r'"shape": \[([0-9, ]+)\]', open(net).read()).group(1).split(",")]
            np.save(f"{d}/x.npy", np.random.RandomState(0).standard_normal(shape).astype(np.float32))
            subprocess.run([args.cnnc, "compile", net, "-o", f"{d}/lib.so", "--quiet"], check=True,
                           capture_output=True)
            ours = cnnc_median([args.cnnc, "run", f"{d}/lib.so", "--input", f"{d}/x.npy", "--bench", str(args.runs)])
            ref = None if args.no_reference else cnnc_median(
                [args.cnnc, "run", net, "--input", f"{d}/x.npy", "--bench", str(args.reference_runs)])
            pt = torch_median(n, shape, args.runs) if n in TORCHVISION else None
            fmt = lambda v, w: f"{v:{w}.2f}" if v is not None else f"{'-':>{w}}"
            ratio = lambda v: f"{v / ours:.2f}" if v is not None else "-"
            print(f"{n:18} {ours:9.2f} {fmt(ref, 13)} {fmt(pt, 11)} {ratio(ref):>9} {ratio(pt):>11}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
