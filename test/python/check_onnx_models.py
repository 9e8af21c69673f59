#!/usr/bin/env python3
"""Whole torchvision models through cnnc's ONNX frontend, checked against ONNX Runtime.

Each network gets seeded random weights (batch-norm statistics away from 0/1),
is exported to ONNX by Debian's PyTorch (a separate /usr/bin/python3 process,
eval mode, opset 13), compiled by `cnnc compile` into a library and run on a
random input; its output must match ONNX Runtime's (graph optimizations off,
so ORT computes the exported graph as written) within
per element |cnnc - ort| <= 1e-4 |ort| + 2e-5 max|ort|.

Runs in the project's virtualenv (onnxruntime, onnx, numpy).

  check_onnx_models.py --cnnc build/release/tools/cnnc [--networks resnet18,vgg16]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numeric_compare import compare  # noqa: E402
import onnxruntime as ort

NETWORKS = ["resnet18", "mobilenet_v2", "googlenet", "squeezenet1_1", "alexnet", "vgg16"]

EXPORT = r"""
import sys, torch, torchvision.models as tvm
name, path, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
m = getattr(tvm, name)(**kw).eval()
g = torch.Generator().manual_seed(1)
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
        mod.running_var.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
        mod.weight.data.copy_(torch.rand(mod.num_features, generator=g) + 0.5)
        mod.bias.data.copy_(torch.randn(mod.num_features, generator=g) * 0.1)
x = torch.randn(1, 3, size, size, generator=g)
torch.onnx.export(m, x, path, opset_version=13, input_names=["image"], output_names=["logits"],
                  do_constant_folding=True)
"""


HERE = os.path.dirname(os.path.abspath(__file__))


def report(what, run, out_path, want):
    """Prints and returns whether cnnc's output matches ONNX Runtime's."""
    if run.returncode != 0:
        print(f"FAIL {what}: cnnc exited {run.returncode}:\n{run.stderr}")
        return False
    got = np.load(out_path)
    v = compare(got, want, 1e-4, 2e-5)  # cnnc run --check's tolerance, per element
    print(f"{'ok  ' if v else 'FAIL'} {what:24} cnnc vs onnxruntime: {v.message}", flush=True)
    return bool(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--cache", default="")
    ap.add_argument("--torch-python", default="/usr/bin/python3")
    args = ap.parse_args()
    failed = 0
    with tempfile.TemporaryDirectory() as d:
        # A small hand-built model of the folds done at import (Pad into Conv,
        # Mul by a constant into the conv, MatMul + Add into a linear layer),
        # on both backends.
        make_onnx = os.path.join(os.path.dirname(HERE), "bin", "make-onnx")
        folds = os.path.join(d, "folds.onnx")
        subprocess.run([args.torch_python, make_onnx, "folds", folds], check=True)
        x = np.random.RandomState(1).standard_normal((1, 2, 6, 6)).astype(np.float32)
        np.save(os.path.join(d, "x.npy"), x)
        want = ort.InferenceSession(folds, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for backend in ("reference", "compiled"):
            cmd = [args.cnnc, "run", folds, "--input", os.path.join(d, "x.npy"), "--output",
                   os.path.join(d, "y.npy")]
            if backend == "compiled":
                cmd += ["--backend", "compiled", "--target", "host", "--quiet"] + (
                    ["--cache-dir", args.cache] if args.cache else [])
            failed += not report(f"folds ({backend})", subprocess.run(cmd, capture_output=True, text=True),
                                 os.path.join(d, "y.npy"), want)
        for n in args.networks.split(","):
            model = os.path.join(d, f"{n}.onnx")
            subprocess.run([args.torch_python, "-c", EXPORT, n, model, str(args.size)], check=True,
                           capture_output=True)
            x = np.random.RandomState(0).standard_normal((1, 3, args.size, args.size)).astype(np.float32)
            np.save(os.path.join(d, "x.npy"), x)
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            want = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"]).run(
                None, {"image": x})[0]
            lib = os.path.join(d, f"lib{n}.so")
            cmd = [args.cnnc, "compile", model, "-o", lib, "--quiet", "--target", "host"]
            if args.cache:
                cmd += ["--cache-dir", args.cache]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL {n}: cnnc compile exited {r.returncode}:\n{r.stderr}")
                failed += 1
                continue
            r = subprocess.run([args.cnnc, "run", lib, "--input", os.path.join(d, "x.npy"),
                                "--output", os.path.join(d, "y.npy")], capture_output=True, text=True)
            failed += not report(f"{n} {args.size}x{args.size}", r, os.path.join(d, "y.npy"), want)
            for f in (model, lib):
                if os.path.exists(f):
                    os.remove(f)
    print(f"{'all' if not failed else failed} {'networks match' if not failed else 'network(s) differ'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
