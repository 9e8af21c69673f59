#!/usr/bin/env python3
"""Compiled libraries against the reference backend (the oracle).

Every op case of check_reference.py (inference) and every example network at
reduced size is compiled by `cnnc run --backend compiled --check`, which runs
the library and the reference backend on the unoptimised graph with the same
random weights and input and compares them element by element (1e-4 * |ref| +
2e-5 * max|ref|, NaN and infinities exactly; the library's arena poisoned).
Op cases build for this CPU only (--target host); networks build the default
multi-target library and run it with each ISA variant this CPU can run
forced in turn (CNNC_ISA), so the variants other CPUs dispatch to run too.
--full adds ResNet-18 and MobileNetV2 at 224x224. Kernels are cached in
--cache (shared by the cases: most layers repeat).

--bundle DIR instead writes, per case, the default multi-target library, its
inputs and the reference backend's outputs into DIR, for check_bundle.py to
run on another machine without cnnc (e.g. one with AVX-512, whose kernel
variants a machine without it never runs).
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
import check_reference as cr  # noqa: E402
import cnnir_torch as ct  # noqa: E402
from cnnc_library import cpu_isas  # noqa: E402

CHECK = re.compile(r"compiled vs reference: max \|diff\| (\S+), (\S+) of the tolerance")


class Runner:
    def __init__(self, cnnc, tmp, cache):
        self.cnnc, self.tmp, self.cache, self.n = cnnc, tmp, cache, 0

    def prepare(self, net, seed=0):
        """A fresh directory with the network, its parsed canonical IR, seeded
        random weights (w.safetensors) and the stream that continues them."""
        self.n += 1
        d = os.path.join(self.tmp, str(self.n))
        os.makedirs(d)
        if isinstance(net, dict):
            json.dump(net, open(f"{d}/net.json", "w"))
            src = f"{d}/net.json"
        else:
            open(f"{d}/net.cnnir", "w").write(net)
            src = f"{d}/net.cnnir"
        subprocess.run([self.cnnc, "dump-ir", src, "-o", f"{d}/canon.cnnir"], check=True, capture_output=True)
        g = ct.Graph(open(f"{d}/canon.cnnir").read())
        rng = np.random.RandomState(seed + self.n)
        ct.write_safetensors(f"{d}/w.safetensors", ct.random_weights(g, rng))
        return d, src, g, rng

    def check(self, net, target, isa="", seed=0):
        """Returns (passed, ratio of the tolerance, message). `isa` forces
        that variant of a multi-target library (CNNC_ISA)."""
        d, src, g, rng = self.prepare(net, seed)
        args = [self.cnnc, "run", src, "--weights", f"{d}/w.safetensors", "--backend", "compiled", "--check",
                "--target", target, "--cache-dir", self.cache, "--quiet"]
        env = dict(os.environ, CNNC_ISA=isa)
        for name, shape in g.inputs:
            np.save(f"{d}/in_{name}.npy", rng.standard_normal(shape).astype(np.float32))
            args += ["--input", f"{name}={d}/in_{name}.npy"]
        r = subprocess.run(args, capture_output=True, text=True, env=env)
        m = CHECK.search(r.stdout)
        if not m:
            return False, float("inf"), f"exit {r.returncode}: {(r.stdout + r.stderr).strip()[-800:]}"
        diff, ratio = float(m.group(1)), float(m.group(2))
        return r.returncode == 0 and ratio <= 1, ratio, f"max |compiled - reference| = {diff:.3g}"

    def bundle(self, net, name, out):
        """Writes out/lib.so (default targets), in_*.npy, ref_*.npy and case.json."""
        d, src, g, rng = self.prepare(net)
        os.makedirs(out)
        subprocess.run([self.cnnc, "compile", src, "--weights", f"{d}/w.safetensors", "--target", "default",
                        "--cache-dir", self.cache, "--quiet", "-o", f"{out}/lib.so"], check=True, capture_output=True)
        args = [self.cnnc, "run", src, "--weights", f"{d}/w.safetensors"]
        for i, (iname, shape) in enumerate(g.inputs):
            np.save(f"{out}/in_{i}.npy", rng.standard_normal(shape).astype(np.float32))
            args += ["--input", f"{iname}={out}/in_{i}.npy"]
        for i, oname in enumerate(g.outputs):
            args += ["--output", f"{oname}={out}/ref_{i}.npy"]
        subprocess.run(args, check=True, capture_output=True)
        json.dump({"name": name, "inputs": [n for n, _ in g.inputs], "outputs": g.outputs},
                  open(f"{out}/case.json", "w"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--examples", required=True)
    ap.add_argument("--cache", required=True, help="kernel cache directory")
    ap.add_argument("--full", action="store_true", help="also ResNet-18 and MobileNetV2 at 224x224")
    ap.add_argument("--networks-only", action="store_true")
    ap.add_argument("--filter", default="")
    ap.add_argument("--bundle", default="", help="write the cases for check_bundle.py into this directory")
    ap.add_argument("--bundle-filter", default=r"blocked|winograd|linear|chain|in place|mobile|network (lenet5|squeezenet1_1|mobilenet_v2|googlenet|resnet18) at",
                    help="regular expression: the cases bundled")
    args = ap.parse_args()
    cases = []
    if not args.networks_only:
        cases += [(name, net, "host", "") for name, net, mode in cr.op_cases() if mode == "inference"]
    # Networks: the default multi-target library, with each variant this CPU
    # runs forced in turn (CNNC_ISA), so an AVX-512 machine runs the AVX2 and
    # SSE4.1 kernels other CPUs get.
    nets = sorted(f[:-5] for f in os.listdir(args.examples) if f.endswith(".json"))
    for n in nets:
        size = 67 if n == "alexnet_original" else 64
        for isa in cpu_isas():
            cases.append((f"network {n} at {size}x{size}, {isa} kernels",
                          cr.reduced(f"{args.examples}/{n}.json", size), "default", isa))
    if args.full:
        for n in ("resnet18", "mobilenet_v2"):
            cases.append((f"network {n} full size", json.load(open(f"{args.examples}/{n}.json")), "default", ""))
    if args.bundle:
        with tempfile.TemporaryDirectory() as tmp:
            r = Runner(args.cnnc, tmp, args.cache)
            picked = [(n, net) for n, net, target, isa in cases
                      if (target == "default" and isa in ("", cpu_isas()[0])) or target == "host"
                      if re.search(args.bundle_filter, n) and args.filter in n]
            for i, (name, net) in enumerate(picked):
                r.bundle(net, name, os.path.join(args.bundle, f"case{i:03d}"))
                print(f"bundled {name}", flush=True)
        return 0
    failures, total, worst_all = [], 0, (0.0, "")
    with tempfile.TemporaryDirectory() as tmp:
        r = Runner(args.cnnc, tmp, args.cache)
        for name, net, target, isa in cases:
            if args.filter not in name:
                continue
            total += 1
            ok, ratio, msg = r.check(net, target, isa)
            print(f"{'ok  ' if ok else 'FAIL'} {name:58} worst {ratio:6.3f} of tolerance ({msg})", flush=True)
            if not ok:
                failures.append(name)
            if ratio > worst_all[0]:
                worst_all = (ratio, name)
    return ct.summarize(total, failures, worst_all,
                        "compiled cases match the reference backend (cnnc run --check: per element "
                        "1e-4 * |ref| + 2e-5 * max|ref|, NaN and infinities exactly)")


if __name__ == "__main__":
    sys.exit(main())
