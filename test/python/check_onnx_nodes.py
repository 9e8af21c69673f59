#!/usr/bin/env python3
"""ONNX's own backend node tests (Debian's libonnx-testdata) through cnnc.

For every node test whose model uses only the ONNX ops cnnc supports, runs
`cnnc run model.onnx` on the reference backend and on a compiled library
(`--backend compiled`) and compares each output with the test's expected
output as ONNX's backend tests do: |cnnc - expected| <= atol + rtol * |expected|
with rtol 1e-3, atol 1e-7.

cnnc compiles weights as constants, so the test's inputs that feed weight
operands (a Conv's W and B, BatchNormalization's statistics, Gemm's B and C,
MatMul's B, Clip's bounds, Reshape's shape, Pad's pads and value, Dropout's
ratio) become initializers with the test's values; the others stay inputs.

Each test ends as `pass`, `unsupported` (cnnc refused it with a clear error,
exit 1: the reason is printed) or `FAIL` (a wrong number, a crash, another exit
status). Expectations live in onnx_node_expectations.txt: every test listed
there as `pass` must pass and every `unsupported` one must be refused with the
reason recorded after its '#'; anything else is a regression and fails the
run. --update rewrites it.

  check_onnx_nodes.py --cnnc build/release/tools/cnnc [--backends reference,compiled]
"""
import argparse
import collections
import concurrent.futures
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numeric_compare import compare  # noqa: E402

IN_SCOPE = {
    "Conv", "BatchNormalization", "Relu", "LeakyRelu", "Elu", "Selu", "Gelu", "Sigmoid", "Tanh",
    "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "LRN", "Dropout", "Gemm", "MatMul",
    "Flatten", "Reshape", "Concat", "Add", "Mul", "Sum", "Softmax", "Identity", "Constant", "Pad",
}
# Operand positions that cnnc needs as constants, per op type.
CONST_SLOTS = {
    "Conv": {1, 2}, "BatchNormalization": {1, 2, 3, 4}, "Gemm": {1, 2}, "MatMul": {1},
    "Clip": {1, 2}, "Reshape": {1}, "Pad": {1, 2, 3}, "Dropout": {1, 2},
}
RTOL, ATOL = 1e-3, 1e-7
HERE = os.path.dirname(os.path.abspath(__file__))


def in_scope_tests(data_dir):
    tests = []
    for d in sorted(glob.glob(os.path.join(data_dir, "test_*"))):
        model = onnx.load(os.path.join(d, "model.onnx"))
        ops = {n.op_type for n in model.graph.node}
        if ops and ops <= IN_SCOPE and all(n.domain in ("", "ai.onnx") for n in model.graph.node):
            main = [n.op_type for n in model.graph.node if n.op_type != "Constant"] or ["Constant"]
            tests.append((os.path.basename(d), main[0], d))
    return tests


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t


def prepare(test_dir, work):
    """The test's model with weight inputs turned into initializers; its inputs and outputs."""
    model = onnx.load(os.path.join(test_dir, "model.onnx"))
    g = model.graph
    for vi in list(g.input) + list(g.output):
        kind = vi.type.WhichOneof("value")
        if kind != "tensor_type":
            raise ValueError(f"'{vi.name}' is {kind.replace('_type', '')}, not a tensor (cnnc computes tensors)")
    ds = os.path.join(test_dir, "test_data_set_0")
    inputs = [load_pb(os.path.join(ds, f"input_{k}.pb")) for k in range(len(g.input))
              if os.path.exists(os.path.join(ds, f"input_{k}.pb"))]
    outputs = [load_pb(os.path.join(ds, f"output_{k}.pb")) for k in range(len(g.output))
               if os.path.exists(os.path.join(ds, f"output_{k}.pb"))]
    const_names = set()
    for n in g.node:
        for k in CONST_SLOTS.get(n.op_type, ()):
            if k < len(n.input) and n.input[k]:
                const_names.add(n.input[k])
    feeds = []
    keep = []
    for vi, t in zip(list(g.input), inputs):
        t.name = vi.name
        if vi.name in const_names:
            g.initializer.append(t)
        else:
            keep.append(vi)
            feeds.append((vi.name, numpy_helper.to_array(t)))
    del g.input[:]
    g.input.extend(keep)
    # Models declaring an opset below 7 (cnnc's minimum) run at opset 7 when
    # every op they use has the same definition there.
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 7 and all(
                onnx.defs.get_schema(n.op_type, 7).since_version <= o.version for n in g.node):
            o.version = 7
    path = os.path.join(work, "model.onnx")
    onnx.save(model, path)
    expected = [(vi.name, numpy_helper.to_array(t)) for vi, t in zip(g.output, outputs)]
    return path, feeds, expected


def run_one(cnnc, test, backend, cache):
    name, op, test_dir = test
    with tempfile.TemporaryDirectory() as work:
        try:
            model, feeds, expected = prepare(test_dir, work)
        except ValueError as e:  # a test that is not about tensors
            return name, op, backend, "unsupported", str(e)
        args = [cnnc, "run", model]
        for k, (n, a) in enumerate(feeds):
            if a.dtype != np.float32:
                return name, op, backend, "unsupported", f"input '{n}' is {a.dtype} (cnnc computes float32)"
            np.save(os.path.join(work, f"in{k}.npy"), np.ascontiguousarray(a))
            args += ["--input", f"{n}={work}/in{k}.npy"]
        for k, (n, _) in enumerate(expected):
            args += ["--output", f"{n}={work}/out{k}.npy"]
        if backend == "compiled":
            args += ["--backend", "compiled", "--target", "host", "--cache-dir", cache, "--quiet"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=600)
        if r.returncode == 1:
            reason = next((l for l in r.stderr.splitlines() if "error:" in l), r.stderr.strip())
            reason = reason.split("error: ", 1)[-1]
            return name, op, backend, "unsupported", reason
        if r.returncode != 0:
            return name, op, backend, "FAIL", f"exit {r.returncode}: {r.stderr.strip()[-400:]}"
        worst = 0.0
        for k, (n, want) in enumerate(expected):
            got = np.load(os.path.join(work, f"out{k}.npy"))
            # ONNX's own tolerance, atol + rtol * |expected|; NaN where it expects NaN.
            v = compare(got, want, RTOL, 0.0, atol=ATOL)
            worst = max(worst, v.ratio)
            if not v:
                return name, op, backend, "FAIL", f"output '{n}': {v.message}"
        return name, op, backend, "pass", f"worst {worst:.3f} of tolerance"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--data", default="/usr/include/onnx/backend/test/data/node")
    ap.add_argument("--backends", default="reference,compiled")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "cnnc-onnx-node-cache"))
    ap.add_argument("--expectations", default=os.path.join(HERE, "onnx_node_expectations.txt"))
    ap.add_argument("--update", action="store_true", help="rewrite the expectations file")
    ap.add_argument("--filter", default="", help="only tests whose name contains this")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    if not os.path.isdir(args.data):
        print(f"ONNX node tests not found at {args.data} (Debian package libonnx-testdata)")
        return 1
    tests = [t for t in in_scope_tests(args.data) if args.filter in t[0]]
    backends = args.backends.split(",")
    jobs = [(t, b) for t in tests for b in backends]
    with concurrent.futures.ThreadPoolExecutor(args.j) as ex:
        results = list(ex.map(lambda tb: run_one(args.cnnc, tb[0], tb[1], args.cache), jobs))

    expected, reasons = {}, {}
    if os.path.exists(args.expectations):
        for line in open(args.expectations):
            if line.strip() and not line.startswith("#"):
                record, _, reason = line.partition("  # ")
                test, backend, status = record.split()[:3]
                expected[(test, backend)] = status
                reasons[(test, backend)] = reason.strip()
    per_op = collections.defaultdict(lambda: collections.Counter())
    regressions, improvements = [], []
    for name, op, backend, status, detail in results:
        per_op[(op, backend)][status] += 1
        print(f"{status:12} {backend:9} {name:55} {detail}")
        want = expected.get((name, backend))
        if status == "FAIL" or (want == "pass" and status != "pass"):
            regressions.append((name, backend, status, detail))
        elif want == "unsupported" and status == "unsupported" and detail != reasons[(name, backend)]:
            # Refused, but for another reason than recorded: a new error in front
            # of the expected one, or a changed message.
            regressions.append((name, backend, status, f"refused with '{detail}', recorded "
                                                       f"'{reasons[(name, backend)]}'"))
        elif want == "unsupported" and status == "pass":
            improvements.append((name, backend))
        elif want is None and not args.update and not args.filter:
            regressions.append((name, backend, status, "not in the expectations file"))
    print("\nper op (pass / unsupported / FAIL of total):")
    for (op, backend), c in sorted(per_op.items()):
        total = sum(c.values())
        print(f"  {op:20} {backend:9} {c['pass']:3} / {c['unsupported']:3} / {c['FAIL']:3} of {total}")
    total = collections.Counter(r[3] for r in results)
    print(f"total: {total['pass']} pass, {total['unsupported']} unsupported, {total['FAIL']} FAIL "
          f"of {len(results)} runs ({len(tests)} tests x {len(backends)} backends)")
    if args.update:
        with open(args.expectations, "w") as f:
            f.write("# ONNX node tests in cnnc's scope: test backend status (check_onnx_nodes.py --update)\n")
            for name, op, backend, status, detail in sorted(results):
                f.write(f"{name} {backend} {status}{'  # ' + detail if status != 'pass' else ''}\n")
        print(f"wrote {args.expectations}")
        return 0
    for name, backend in improvements:
        print(f"note: {name} ({backend}) now passes; run with --update to record it")
    for name, backend, status, detail in regressions:
        print(f"REGRESSION: {name} ({backend}): {status}: {detail}")
    return 1 if regressions else 0


if __name__ == "__main__":
    sys.exit(main())
