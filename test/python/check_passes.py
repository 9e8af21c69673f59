#!/usr/bin/python3
"""Every pass computes the same function: numeric tests of the optimizer.

For each case, random weights (batch-norm statistics away from 0 and 1, so
folding really changes the weights) and a random input are given to
`cnnc run --check`, which runs the reference backend on the graph as given and
after each pass of the pipeline (a planned graph runs in its simulated arena,
so a wrong memory plan shows), and fails when a pass changes the outputs by more
than 1e-5 * max(1, max |output|).

Cases: each graph of test/lit/passes/<pass>.cnnir with that pass alone (and
with the default pipeline), and every example network at 64x64 with the
default pipeline, at batch 1 and batch 2 (batch 2: concat slices are strided,
so memory plans differ).

  check_passes.py --cnnc build/release/tools/cnnc --examples examples --pass-tests test/lit/passes
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import cnnir_torch as ct  # noqa: E402


# Passes whose outputs differ from the input graph's by design, numerically
# tested elsewhere: autodiff (loss, prediction, gradients) by the gradient
# checks of test/unit/backends/gradient_check_test.cpp, optimizer (next
# parameters) by test/python/check_training.py against PyTorch.
CHANGES_OUTPUTS = {"autodiff", "optimizer"}


def run_check(cnnc, net, d, passes, mode="inference", seed=0):
    subprocess.run([cnnc, "dump-ir", net, "-o", f"{d}/canon.cnnir"], check=True, capture_output=True)
    g = ct.Graph(open(f"{d}/canon.cnnir").read())
    rng = np.random.RandomState(seed)
    ct.write_safetensors(f"{d}/w.safetensors", ct.random_weights(g, rng))
    args = [cnnc, "run", net, "--weights", f"{d}/w.safetensors", "--check", "--passes", passes, "--mode", mode]
    for name, shape in g.inputs:
        np.save(f"{d}/in_{name}.npy", rng.standard_normal(shape).astype(np.float32))
        args += ["--input", f"{name}={d}/in_{name}.npy"]
    r = subprocess.run(args, capture_output=True, text=True)
    worst = 0.0
    for line in r.stdout.splitlines():  # pass, max |diff|, its share of the tolerance, verdict
        m = re.match(r"(\S+)\s+([0-9.e+-]+|inf)\s+([0-9.e+-]+|inf)\s+(ok|DIFFERS)", line)
        if m:
            worst = max(worst, float(m.group(3)))
    return r.returncode == 0, worst, (r.stdout + r.stderr).strip().splitlines()[-1:] if r.returncode else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--pass-tests", required=True)
    args = ap.parse_args()
    failures, total, worst_all = [], 0, (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        cases = []
        for f in sorted(os.listdir(args.pass_tests)):
            if not f.endswith(".cnnir"):
                continue
            pass_name = f[:-len(".cnnir")].replace("_", "-")
            if pass_name in CHANGES_OUTPUTS:
                continue
            text = open(os.path.join(args.pass_tests, f)).read()
            for i, chunk in enumerate(text.split("\n// -----\n")):
                for passes in (pass_name, "default"):
                    modes = ["inference", "training"] if pass_name == "fold-dropout" else ["inference"]
                    for mode in modes:
                        cases.append((f"{f} #{i} --passes {passes} --mode {mode}", chunk, "cnnir", passes, mode))
        # The smallest input each network accepts; batch 2 where concats make the
        # memory plan differ (strided slices are not built in place).
        sizes = {"alexnet": 64, "zfnet": 64, "alexnet_original": 67}
        with_concat = ("googlenet", "densenet121", "squeezenet1_1")
        for n in sorted(x[:-5] for x in os.listdir(args.examples) if x.endswith(".json")):
            for batch in (1, 2) if n in with_concat else (1,):
                s = json.load(open(f"{args.examples}/{n}.json"))
                for inp in s["inputs"].values():
                    inp["shape"][0] = batch
                    if len(inp["shape"]) == 4 and inp["shape"][2] > 28:
                        inp["shape"][2] = inp["shape"][3] = sizes.get(n, 32)
                size = s["inputs"][next(iter(s["inputs"]))]["shape"][2]
                cases.append((f"network {n} {size}x{size} batch {batch} --passes default", s, "json", "default",
                              "inference"))
        for name, net, kind, passes, mode in cases:
            total += 1
            d = os.path.join(tmp, str(total))
            os.makedirs(d)
            path = f"{d}/net.{kind}"
            with open(path, "w") as out:
                out.write(net if kind == "cnnir" else json.dumps(net))
            ok, worst, msg = run_check(args.cnnc, path, d, passes, mode, seed=total)
            print(f"{'ok  ' if ok else 'FAIL'} {name:70} worst {worst:6.3f} of tolerance {msg or ''}", flush=True)
            if not ok:
                failures.append(name)
            if worst > worst_all[0]:
                worst_all = (worst, name)
    return ct.summarize(total, failures, worst_all,
                        "cases keep their outputs through every pass (cnnc run --check: per element "
                        "1e-5 * |ref| + 1e-6 * max |ref|, NaN and infinities exactly)")


if __name__ == "__main__":
    sys.exit(main())
