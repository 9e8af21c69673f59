#!/usr/bin/python3
"""Differential tester: random networks (netgen.py), compiled, against the
reference backend.

For each case (a seed and a mode):
  inference  the network is compiled once (`cnnc compile`, the default
             multi-target library) and run with every ISA variant this CPU
             can run, forced one at a time (CNNC_ISA), on seeded weights and
             inputs (a share of them holding NaN, +-inf, huge or denormal
             values), with the arena poisoned (CNNC_POISON_ARENA), and each
             output compared element by element with the reference backend's
             (`cnnc run`, the unoptimised graph, in double precision);
  training   the network is compiled as a training step (`cnnc compile --mode
             training`, a random optimizer) and one cnnc_train_step per ISA
             variant is compared with the reference backend's step: the loss,
             and every parameter, optimizer state and running statistic after
             it (weights as their change in the step, so the gradients are
             what is checked).
A crash, a hang, a compile or run error, an ISA variant that did not run, an
unwritten output element or a mismatch fails the case. A failing case is
shrunk (layers dropped, channels, maps and batch halved, attributes made
plain, while it still fails the same way) and written with its minimal form:
FAILURES/<mode>-<seed>/net.json, min.json, case.json and what failed.

  difftest.py --cnnc build/release/tools/cnnc --mode both --seeds 0:300 -j 2
  difftest.py --cnnc ... --fresh --budget-seconds 300      # new seeds until the budget
  difftest.py --cnnc ... --regressions test/fuzz/regressions
  difftest.py --cnnc ... --case FAILURES/inference-17/min.json   # one file again

The verdict never depends on time: --budget-seconds only decides how many
fresh seeds are started.
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "python"))
import netgen  # noqa: E402
from cnnc_files import Graph, random_weights, read_safetensors, write_safetensors  # noqa: E402
from cnnc_library import Library, cpu_isas, run_in_child, unwritten  # noqa: E402
from numeric_compare import compare  # noqa: E402
from step_compare import check_step  # noqa: E402

ALL_ISAS = ["avx512", "avx2", "sse41"]
# Float32 kernels against a double-precision reference: per element
# |diff| <= RTOL * |want| + FLOOR * max |want| (numeric_compare.py); a
# training step's tensors as step_compare.py says.
RTOL, FLOOR = 1e-4, 2e-5
KERNEL_TIMEOUT = 120  # seconds a library's runs may take before the case is a hang


# ---------------------------------------------------------------------------
# cases


class Case:
    """What one test runs: the spec and everything drawn besides it."""

    def __init__(self, mode, seed, spec, options, name=""):
        self.mode, self.seed, self.spec, self.options, self.name = mode, seed, spec, options, name
        if "outputs" not in spec:  # the last layer, as the spec reader takes it
            spec["outputs"] = [spec["layers"][-1]["name"]]

    @staticmethod
    def from_seed(mode, seed, finite_only=False):
        spec = netgen.generate(seed, mode)
        r = netgen.Rng(seed * 7919 + (13 if mode == "training" else 5))
        options = {"threads": r.weighted([(3, 2), (2, 1), (1, 3)])}
        if r.chance(0.15):
            options["special"] = r.choice(["nan", "inf", "huge", "denormal", "mixed"])
        if mode == "training":
            opt = r.weighted([(3, "sgd"), (1, "adam"), (1, "adamw")])
            flags = ["--optimizer", opt]
            if opt == "sgd":
                momentum = netgen.round_real(r.real(0.1, 0.99)) if r.chance(0.6) else 0
                flags += ["--momentum", str(momentum)]
                if momentum and r.chance(0.4):
                    flags.append("--nesterov")
            if r.chance(0.4):
                flags += ["--weight-decay", str(netgen.round_real(r.log_real(1e-5, 1e-1)))]
            options["flags"] = flags
            options["lr"] = netgen.round_real(r.log_real(1e-3, 1.0))
            options.pop("special", None)  # training inputs stay finite (see run_training)
        if finite_only:
            options.pop("special", None)
        return Case(mode, seed, spec, options)

    def label(self):
        return f"{self.mode}-{self.name or self.seed}"

    def to_json(self):
        return {"mode": self.mode, "seed": self.seed, "options": self.options}


def make_inputs(shapes, seed, special):
    """Seeded inputs; `special` puts non-finite or extreme values in a few
    percent of the elements (at least one per input)."""
    rng = np.random.RandomState(seed % (1 << 32))
    out = []
    for shape in shapes:
        a = rng.standard_normal(shape).astype(np.float32)
        if special:
            n = a.size
            k = max(1, n // 40)
            where = rng.choice(n, size=min(n, k), replace=False)
            flat = a.reshape(-1)
            kinds = [special] if special != "mixed" else ["nan", "inf", "huge", "denormal"]
            for j, i in enumerate(where):
                kind = kinds[j % len(kinds)]
                sign = 1.0 if rng.rand() < 0.5 else -1.0
                if kind == "nan":
                    flat[i] = np.nan
                elif kind == "inf":
                    flat[i] = sign * np.inf
                elif kind == "huge":
                    flat[i] = sign * rng.uniform(1e15, 1e18)
                else:
                    flat[i] = sign * rng.uniform(1e-45, 1e-38)
        out.append(a)
    return out


class Failure(Exception):
    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def sh(args, kind, cwd=None, timeout=600):
    try:
        # In the case's directory: an internal error's reproducer lands there.
        r = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("timeout", f"{' '.join(args[:3])} ... ran past {timeout} s")
    if r.returncode < 0:
        raise Failure("crash", f"{' '.join(args[:2])} died of signal {-r.returncode}: {r.stderr[-1500:]}")
    if r.returncode != 0:
        raise Failure(kind, f"exit {r.returncode}: {r.stderr.strip()[-1500:]}")
    return r


class Runner:
    def __init__(self, cnnc, cache, isas):
        self.cnnc, self.cache, self.isas = cnnc, cache, isas
        self.worst = 0.0  # the largest share of its tolerance a passing comparison used

    def judged(self, v):
        if v and v.ratio > self.worst:
            self.worst = v.ratio
        return v

    def run(self, case, work):
        """Runs the case in directory `work`; returns the features it covered.
        Raises Failure."""
        os.makedirs(work, exist_ok=True)
        self.cwd = work
        net = os.path.join(work, "net.json")
        with open(net, "w") as f:
            json.dump(case.spec, f, indent=1)
        if case.mode == "training":
            return self.run_training(case, work, net)
        return self.run_inference(case, work, net)

    def graph(self, net, extra=()):
        return Graph(sh([self.cnnc, "dump-ir", net, *extra], "rejected", cwd=self.cwd).stdout)

    def weights(self, g, case, work):
        path = os.path.join(work, "w.safetensors")
        write_safetensors(path, random_weights(g, np.random.RandomState(case.seed % (1 << 32))))
        return path

    def compile(self, net, weights, out, extra=()):
        sh([self.cnnc, "compile", net, "--weights", weights, "-o", out, "--cache-dir", self.cache, "--quiet",
            "-j", "1", *extra], "compile", cwd=self.cwd)

    def run_inference(self, case, work, net):
        g = self.graph(net)
        weights = self.weights(g, case, work)
        inputs = make_inputs([s for _, s in g.inputs], case.seed + 1, case.options.get("special"))
        args = [self.cnnc, "run", net, "--weights", weights]
        for (name, _), a in zip(g.inputs, inputs):
            np.save(os.path.join(work, f"in_{name}.npy"), a)
            args += ["--input", f"{name}={work}/in_{name}.npy"]
        for i, name in enumerate(g.outputs):
            args += ["--output", f"{name}={work}/ref_{i}.npy"]
        sh(args, "reference", cwd=self.cwd)
        want = [np.load(os.path.join(work, f"ref_{i}.npy")) for i in range(len(g.outputs))]
        lib = os.path.join(work, "lib.so")
        # Winograd spreads a NaN or infinity over the 4x4 output tile that sees
        # it (README, "Non-finite values"): such inputs run direct kernels.
        special = case.options.get("special")
        self.compile(net, weights, lib, ["--no-winograd"] if special in ("nan", "inf", "mixed") else [])

        def child(isa):
            L, m = self.open_library(lib, work, case, isa)
            outs = L.run(m, inputs)
            np.savez(os.path.join(work, f"got_{isa}.npz"), *outs, isa=np.array(L.kernel_isa(m)))
            L.so.cnnc_destroy(m)

        for isa in self.isas:
            self.in_child(lambda: child(isa), work, isa)
        for isa in self.isas:
            got = np.load(os.path.join(work, f"got_{isa}.npz"))
            if str(got["isa"]) != isa:
                raise Failure("isa", f"CNNC_ISA={isa} ran the {got['isa']} kernels")
            for i, name in enumerate(g.outputs):
                a = got[f"arr_{i}"]
                if unwritten(a):
                    raise Failure("unwritten", f"{isa}: output '{name}' has {unwritten(a)} elements no kernel wrote")
                v = self.judged(compare(a, want[i], RTOL, FLOOR))
                if not v:
                    raise Failure("mismatch", f"{isa}: output '{name}': {v.message}")
        return self.covered(case, work)

    @staticmethod
    def open_library(lib, work, case, isa):
        """In a child process (a kernel's variant is chosen once per process):
        the library with its arena poisoned and the `isa` variant forced, and
        an instance. Records the library's kernels for the coverage count."""
        os.environ["CNNC_POISON_ARENA"] = "1"
        os.environ["CNNC_ISA"] = isa
        L = Library(lib)
        with open(os.path.join(work, "kernels.txt"), "w") as f:
            f.write("\n".join(L.kernel_ops()))
        L.so.cnnc_set_num_threads(case.options["threads"])
        return L, L.create()

    def in_child(self, fn, work, isa):
        error_file = os.path.join(work, "child-error.txt")
        status, sig = run_in_child(fn, KERNEL_TIMEOUT, error_file)
        if sig == 14:
            raise Failure("timeout", f"the {isa} kernels ran past {KERNEL_TIMEOUT} s")
        if sig:
            raise Failure("crash", f"the library died of signal {sig} running the {isa} kernels")
        if status:
            text = open(error_file).read() if os.path.exists(error_file) else f"exit {status}"
            raise Failure("error", f"{isa}: {text}")

    def covered(self, case, work):
        feats = {f"{case.mode}:{f}" for f in netgen.features(case.spec)}
        path = os.path.join(work, "kernels.txt")
        if os.path.exists(path):
            feats |= {f"{case.mode}:kernel {k}" for k in open(path).read().split("\n") if k}
        return feats

    def run_training(self, case, work, net):
        flags = case.options["flags"]
        g = self.graph(net)
        weights = self.weights(g, case, work)
        train_ir = sh([self.cnnc, "dump-ir", net, "--mode", "training", "--passes", "autodiff,optimizer", *flags],
                      "rejected", cwd=self.cwd).stdout
        tg = Graph(train_ir)
        shapes = dict(tg.inputs)
        data_names = [n for n, _ in g.inputs]
        inputs = make_inputs([shapes[n] for n in data_names], case.seed + 1, None)
        rng = np.random.RandomState((case.seed + 2) % (1 << 32))
        label_shape = shapes["labels"]
        if len(label_shape) == 1:  # cross-entropy: class indexes below the prediction's width
            classes = g.shapes[g.outputs[0]][-1]
            labels = rng.randint(0, classes, label_shape[0]).astype(np.float32)
        else:  # mean-squared error: targets of the prediction's shape
            labels = rng.standard_normal(label_shape).astype(np.float32)
        lr = case.options["lr"]
        # The reference step (dropout's seed 1 is the library's first step).
        np.save(f"{work}/labels.npy", labels)
        np.save(f"{work}/lr.npy", np.array([lr], np.float32))
        args = [self.cnnc, "run", net, "--weights", weights, "--mode", "training", "--passes", "autodiff,optimizer",
                "--seed", "1", "--output-weights", f"{work}/ref-after.safetensors", *flags,
                "--input", f"labels={work}/labels.npy", "--input", f"lr={work}/lr.npy"]
        for name, a in zip(data_names, inputs):
            np.save(f"{work}/in_{name}.npy", a)
            args += ["--input", f"{name}={work}/in_{name}.npy"]
        if "step" in shapes:
            np.save(f"{work}/step.npy", np.array([1], np.float32))
            args += ["--input", f"step={work}/step.npy"]
        nexts = [o for o in tg.outputs if o.endswith(".next")]
        for o in ["loss"] + nexts:
            args += ["--output", f"{o}={work}/ref-{o}.npy"]
        sh(args, "reference", cwd=self.cwd)
        want = read_safetensors(f"{work}/ref-after.safetensors")
        for o in nexts:
            want[o[:-len(".next")]] = np.load(f"{work}/ref-{o}.npy")
        want_loss = float(np.load(f"{work}/ref-loss.npy")[0])
        before = read_safetensors(weights)
        lib = os.path.join(work, "libstep.so")
        self.compile(net, weights, lib, ["--mode", "training", *flags])

        def child(isa):
            L, m = self.open_library(lib, work, case, isa)
            loss = L.train_step(m, inputs, labels, lr)
            L.save(m, f"{work}/got-{isa}.safetensors")
            with open(f"{work}/loss-{isa}.json", "w") as f:
                json.dump([loss, L.kernel_isa(m)], f)
            L.so.cnnc_destroy(m)

        for isa in self.isas:
            self.in_child(lambda: child(isa), work, isa)
        for isa in self.isas:
            loss, ran = json.load(open(f"{work}/loss-{isa}.json"))
            if ran != isa:
                raise Failure("isa", f"CNNC_ISA={isa} ran the {ran} kernels")
            v = self.judged(compare([loss], [want_loss], RTOL, FLOOR))
            if not v:
                raise Failure("mismatch", f"{isa}: loss {loss} vs {want_loss}: {v.message}")
            got = read_safetensors(f"{work}/got-{isa}.safetensors")
            if sorted(got) != sorted(want):
                raise Failure("mismatch", f"{isa}: saved tensors {sorted(got)} vs the reference's {sorted(want)}")
            for name, v in check_step(got, want, before, lr, flags):
                if not self.judged(v):
                    raise Failure("mismatch", f"{isa}: '{name}' after one step: {v.message}")
        return self.covered(case, work)


# ---------------------------------------------------------------------------
# shrinking


def layers_by_name(spec):
    return {l["name"]: l for l in spec["layers"]}


def inputs_of(layer):
    return layer["inputs"] if "inputs" in layer else [layer["input"]]


def set_inputs(layer, names):
    layer.pop("input", None)
    layer.pop("inputs", None)
    if len(names) == 1:
        layer["input"] = names[0]
    else:
        layer["inputs"] = names


def prune(spec):
    """Drops layers that reach no output."""
    live = set(spec["outputs"])
    for layer in reversed(spec["layers"]):
        if layer["name"] in live:
            live.update(inputs_of(layer))
    spec["layers"] = [l for l in spec["layers"] if l["name"] in live]
    spec["inputs"] = {k: v for k, v in spec["inputs"].items() if k in live} or spec["inputs"]
    return spec


def candidates(spec, mode):
    """Smaller variants of spec, most shrinking first."""
    import copy
    out = []
    if len(spec["outputs"]) > 1:
        for o in spec["outputs"]:
            s = copy.deepcopy(spec)
            s["outputs"] = [o]
            out.append(prune(s))
    for layer in reversed(spec["layers"]):
        s = copy.deepcopy(spec)
        name, first = layer["name"], inputs_of(layer)[0]
        s["layers"] = [l for l in s["layers"] if l["name"] != name]
        for l in s["layers"]:
            ins = [first if i == name else i for i in inputs_of(l)]
            dedup = []
            for i in ins:
                if i not in dedup or l["type"] != "concat":
                    dedup.append(i)
            set_inputs(l, dedup)
        if name in s["outputs"]:
            if first in s["inputs"]:
                if len(s["outputs"]) == 1:
                    continue
                s["outputs"] = [o for o in s["outputs"] if o != name]
            else:
                s["outputs"] = [first if o == name else o for o in s["outputs"]]
            s["outputs"] = list(dict.fromkeys(s["outputs"]))
        if s["layers"]:
            out.append(prune(s))
    # Smaller inputs: batch 1, fewer channels, smaller maps.
    for name, inp in spec["inputs"].items():
        shape = inp["shape"]
        for d in range(len(shape)):
            if shape[d] > 1:
                s = copy.deepcopy(spec)
                s["inputs"][name]["shape"][d] = max(1, shape[d] // 2) if d else 1
                out.append(s)
    # Plainer attributes.
    plain = {"stride": 1, "pad": 0, "dilation": 1, "groups": 1, "bias": True, "ceil_mode": False,
             "count_include_pad": True}
    for i, layer in enumerate(spec["layers"]):
        for key, value in layer.items():
            if key in ("name", "type", "input", "inputs"):
                continue
            options = []
            if key in plain and value != plain[key]:
                options.append(None)
            if key in ("filters", "units") and value > 1:
                options.append(max(1, value // 2))
            if key == "kernel" and value != 1:
                options.append(1)
                if isinstance(value, list):
                    options.append(max(value))
            if key in ("alpha", "eps", "momentum", "rate", "beta", "k", "size", "axis", "scaling"):
                options.append(None)
            for o in options:
                s = copy.deepcopy(spec)
                if o is None:
                    del s["layers"][i][key]
                else:
                    s["layers"][i][key] = o
                if key == "filters" and "groups" in layer and o is not None and o % layer["groups"]:
                    continue
                out.append(s)
    if mode == "inference":
        return out
    return [s for s in out if len(s["outputs"]) == 1]


def size(spec):
    total = len(spec["layers"]) * 1000
    for inp in spec["inputs"].values():
        n = 1
        for d in inp["shape"]:
            n *= d
        total += n
    for layer in spec["layers"]:
        total += sum(v if isinstance(v, int) and not isinstance(v, bool) else 1
                     for k, v in layer.items() if k not in ("name", "type", "input", "inputs"))
    return total


def shrink(runner, case, failure, work_root, trials):
    """The smallest variant of case found that fails the same way."""
    best, best_failure, tried = case, failure, 0
    progress = True
    while progress and tried < trials:
        progress = False
        for spec in sorted(candidates(best.spec, case.mode), key=size):
            if size(spec) >= size(best.spec):
                continue
            if tried >= trials:
                break
            tried += 1
            c = Case(case.mode, case.seed, spec, case.options, case.name)
            work = tempfile.mkdtemp(dir=work_root, prefix="shrink-")
            try:
                runner.run(c, work)
            except Failure as f:
                if f.kind == best_failure.kind:
                    best, best_failure, progress = c, f, True
                    shutil.rmtree(work, ignore_errors=True)
                    break
            except Exception:  # noqa: B902 - a candidate the harness cannot judge is no smaller failure
                pass
            shutil.rmtree(work, ignore_errors=True)
    return best, best_failure, tried


# ---------------------------------------------------------------------------
# driver


def run_one(args, case):
    """Runs a case in a worker; returns (label, None | (kind, detail, min dir), features, seconds)."""
    runner = Runner(args.cnnc, args.cache, args.isas)
    t0 = time.monotonic()
    work = tempfile.mkdtemp(dir=args.work, prefix=case.label() + "-")
    try:
        feats = runner.run(case, work)
        shutil.rmtree(work, ignore_errors=True)
        return case.label(), None, feats, time.monotonic() - t0, runner.worst
    except Exception as e:  # noqa: B902 - the harness's own fault is a failure too
        f = e if isinstance(e, Failure) else Failure("harness", f"{type(e).__name__}: {e}")
        out = os.path.join(args.failures, case.label())
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(work, out)
        shutil.rmtree(work, ignore_errors=True)
        with open(os.path.join(out, "case.json"), "w") as fh:
            json.dump(case.to_json(), fh, indent=1)
        with open(os.path.join(out, "failure.txt"), "w") as fh:
            fh.write(f"{f.kind}: {f.detail}\n")
        small, small_failure, tried = case, f, 0
        if args.shrink_trials > 0:
            small, small_failure, tried = shrink(runner, case, f, args.work, args.shrink_trials)
        with open(os.path.join(out, "min.json"), "w") as fh:
            json.dump(small.spec, fh, indent=1)
        with open(os.path.join(out, "min-failure.txt"), "w") as fh:
            fh.write(f"{small_failure.kind}: {small_failure.detail}\n(shrunk in {tried} trials)\n")
        return case.label(), (f.kind, small_failure.detail, out), set(), time.monotonic() - t0, 0.0


def regression_cases(directory):
    """Every <name>.json in directory (a spec), with <name>.case.json's options
    (mode, seed, options) when present."""
    out = []
    for f in sorted(os.listdir(directory)):
        if not f.endswith(".json") or f.endswith(".case.json"):
            continue
        spec = json.load(open(os.path.join(directory, f)))
        meta_path = os.path.join(directory, f[:-5] + ".case.json")
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        mode = meta.get("mode", "inference")
        options = meta.get("options", {"threads": 2})
        if mode == "training":
            options.setdefault("flags", ["--optimizer", "sgd"])
            options.setdefault("lr", 0.1)
        out.append(Case(mode, meta.get("seed", 0), spec, options, name=f[:-5]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--mode", choices=["inference", "training", "both"], default="both")
    ap.add_argument("--seeds", default="", help="A:B, the seeds A..B-1 (both modes: each seed once per mode)")
    ap.add_argument("--fresh", type=int, default=0, metavar="N",
                    help="N seeds from a random start (printed, to reproduce)")
    ap.add_argument("--budget-seconds", type=float, default=0,
                    help="start no new case after this long (cases already started finish)")
    ap.add_argument("--regressions", default="", help="a directory of kept failing cases (spec + .case.json)")
    ap.add_argument("--case", default="", help="one spec file to run (with its .case.json or case.json beside it)")
    ap.add_argument("--isa", default="", help="comma-separated ISA variants (default: all this CPU runs)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--cache", default="", help="kernel cache directory (default: a fresh one)")
    ap.add_argument("--work", default="", help="scratch directory (default: a fresh one)")
    ap.add_argument("--failures", default="difftest-failures", help="where failing cases are written")
    ap.add_argument("--shrink-trials", type=int, default=150)
    ap.add_argument("--finite-only", action="store_true", help="no NaN, inf, huge or denormal inputs")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    args.cnnc = os.path.abspath(args.cnnc)
    args.failures = os.path.abspath(args.failures)
    args.isas = args.isa.split(",") if args.isa else cpu_isas()
    for isa in args.isas:
        if isa not in ALL_ISAS:
            ap.error(f"--isa: '{isa}' is not one of {', '.join(ALL_ISAS)}")
        if isa not in cpu_isas():
            ap.error(f"--isa: this CPU cannot run the {isa} kernels")
    scratch = tempfile.mkdtemp(prefix="cnnc-difftest-")
    args.work = os.path.abspath(args.work or scratch)
    args.cache = os.path.abspath(args.cache or os.path.join(scratch, "cache"))
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(args.failures, exist_ok=True)
    modes = ["inference", "training"] if args.mode == "both" else [args.mode]

    cases = []
    if args.case:
        spec = json.load(open(args.case))
        d = os.path.dirname(os.path.abspath(args.case))
        meta_path = args.case[:-5] + ".case.json"
        if not os.path.exists(meta_path):
            meta_path = os.path.join(d, "case.json")
        meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
        cases.append(Case(meta.get("mode", "inference"), meta.get("seed", 0), spec,
                          meta.get("options", {"threads": 2})))
    if args.regressions:
        cases += regression_cases(args.regressions)
    seeds = []
    if args.seeds:
        a, b = (int(v) for v in args.seeds.split(":"))
        seeds += list(range(a, b))
    if args.fresh:
        start = int.from_bytes(os.urandom(4), "little") * 1000
        print(f"difftest: fresh seeds {start}:{start + args.fresh}", flush=True)
        seeds += list(range(start, start + args.fresh))
    for s in seeds:
        for m in modes:
            cases.append(Case.from_seed(m, s, args.finite_only))
    if not cases:
        ap.error("nothing to run: give --seeds, --fresh, --regressions or --case")

    print(f"difftest: {len(cases)} cases, ISA variants {','.join(args.isas)}, {args.jobs} jobs; "
          f"failures go to {args.failures}", flush=True)
    t0 = time.monotonic()
    failures, features, done, skipped = [], set(), 0, 0
    worst = {}  # mode -> (share of the tolerance, case)
    seconds = {m: 0.0 for m in modes + ["inference", "training"]}
    counts = {m: 0 for m in modes + ["inference", "training"]}
    with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
        pending = set()
        queue = list(cases)
        while queue or pending:
            while queue and len(pending) < args.jobs:
                if args.budget_seconds and time.monotonic() - t0 > args.budget_seconds:
                    skipped = len(queue)
                    queue = []
                    break
                pending.add(pool.submit(run_one, args, queue.pop(0)))
            if not pending:
                break
            finished, pending = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
            for fut in finished:
                label, failure, feats, secs, ratio = fut.result()
                done += 1
                mode = label.split("-")[0]
                if ratio >= worst.get(mode, (0.0, ""))[0]:
                    worst[mode] = (ratio, label)
                seconds[mode] = seconds.get(mode, 0) + secs
                counts[mode] = counts.get(mode, 0) + 1
                features |= feats
                if failure:
                    failures.append((label, failure))
                    print(f"FAIL {label}: {failure[0]}: {failure[1][:300]}\n  -> {failure[2]}/min.json", flush=True)
                elif not args.quiet and done % 50 == 0:
                    print(f"difftest: {done}/{len(cases)} done, {len(failures)} failed, "
                          f"{time.monotonic() - t0:.0f} s", flush=True)
    elapsed = time.monotonic() - t0
    shutil.rmtree(scratch, ignore_errors=True)
    for m in ("inference", "training"):
        if counts.get(m):
            w = worst.get(m, (0.0, ""))
            print(f"difftest: {counts[m]} {m} cases, {seconds[m] / counts[m]:.1f} s each (one job); the closest "
                  f"passing comparison used {w[0]:.3g} of its tolerance ({w[1]})")
    print(f"difftest: {done} cases in {elapsed:.0f} s ({args.jobs} jobs); {len(failures)} failed; "
          f"{len(features)} distinct op/attribute/kernel combinations covered"
          + (f"; {skipped} not started (budget)" if skipped else ""))
    for label, (kind, detail, where) in failures:
        print(f"FAILED {label}: {kind}: {detail[:200]} ({where})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
