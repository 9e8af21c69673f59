#!/usr/bin/python3
"""cnnc against ONNX Runtime and PyTorch, side by side, in one run.

For each network and batch size, every system runs in its own worker process
(loaded once, warmed up), and the timed runs are interleaved: round k times
run k of each system in turn, so that a noisy neighbour slows all of them
alike, starting each round one system later (every system follows every
other equally often). Before each timed run the bench waits until every
other worker has gone quiet (its threads used < 0.2 ms of CPU in the last
5 ms; at most 1 s): ONNX Runtime's pool and libgomp keep their threads
spinning for tens of ms after a run, which would slow whoever runs next on
two cores (--no-settle measures without waiting). Systems, all with 2 threads:

  cnnc        the library from `cnnc compile` (default multi-target build),
              called through its C API with ctypes
  ort         ONNX Runtime (the project's .venv), graph optimizations ALL,
              on the same network exported from torchvision to ONNX
  torch       PyTorch eager (Debian's python3-torch 1.13)
  torch-jit   torch.jit.freeze + optimize_for_inference
  torch-jit+openblas  the same with OpenBLAS preloaded, where it is installed
              (Debian's PyTorch links the reference BLAS: its linear layers
              run at ~2 GFLOP/s)

Printed per network and batch: median ms, images/s, GFLOP/s (FLOPs from
`cnnc report`), peak resident memory of each worker process (each is a
Python process: the interpreter and numpy are ~30 MB of it, torch's import
~200 MB), and cnnc's time over the best other system's (below 1: cnnc is
faster). Then the geometric mean of those ratios, and per-kernel figures of
ResNet-50's 3x3 convolutions (GFLOP/s and % of the fp32 FMA peak this
machine measures in the same run), in the default library (Winograd where it
pays) and in one built with --no-winograd (the direct kernels). With --markdown FILE the tables are also
written as markdown (bench/RESULTS.md).

  bench/compare.py [--networks resnet50,mobilenet_v2] [--batches 1,8] [--runs 20]
"""
import argparse
import ctypes
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETWORKS = ["resnet18", "resnet50", "vgg16", "mobilenet_v2", "googlenet", "squeezenet1_1",
            "densenet121", "alexnet"]
OPENBLAS = ["/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
            "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"]

# ---------------------------------------------------------------- workers
# A worker loads its system, then answers "run" with one timed inference in
# ms, and "rss" with its peak resident memory in MiB.

WORKER_COMMON = r"""
import sys, time
def peak_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
def serve(run):
    for _ in range(3):
        run()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "run":
            t0 = time.perf_counter(); run(); print((time.perf_counter() - t0) * 1e3, flush=True)
        elif line.strip() == "rss":
            print(peak_mib(), flush=True)
"""

CNNC_WORKER = WORKER_COMMON + r"""
import ctypes, numpy as np
lib = ctypes.CDLL(sys.argv[1])
lib.cnnc_create.restype = ctypes.c_void_p
lib.cnnc_create.argtypes = [ctypes.c_char_p]
lib.cnnc_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
lib.cnnc_set_num_threads.argtypes = [ctypes.c_int]
lib.cnnc_output_bytes.restype = ctypes.c_size_t
lib.cnnc_output_bytes.argtypes = [ctypes.c_int]
lib.cnnc_input_bytes.restype = ctypes.c_size_t
lib.cnnc_input_bytes.argtypes = [ctypes.c_int]
lib.cnnc_set_num_threads(2)
m = lib.cnnc_create(None)
x = np.ascontiguousarray(np.load(sys.argv[2]), np.float32)
y = np.empty(lib.cnnc_output_bytes(0) // 4, np.float32)
if not m or x.nbytes != lib.cnnc_input_bytes(0) or y.nbytes == 0:
    raise SystemExit("cnnc worker: the library does not take this input")
ins = (ctypes.c_void_p * 1)(x.ctypes.data)
outs = (ctypes.c_void_p * 1)(y.ctypes.data)
def run():
    if lib.cnnc_run(m, ins, outs) != 0:
        raise SystemExit("cnnc_run failed")
serve(run)
"""

ORT_WORKER = WORKER_COMMON + r"""
import numpy as np, onnxruntime as ort
o = ort.SessionOptions()
o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
o.intra_op_num_threads = 2
o.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], o, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
name = s.get_inputs()[0].name
serve(lambda: s.run(None, {name: x}))
"""

TORCH_WORKER = WORKER_COMMON + r"""
import numpy as np, torch, torchvision.models as tvm, warnings
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
name, mode = sys.argv[1], sys.argv[3]
kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
m = getattr(tvm, name)(**kw).eval()
x = torch.from_numpy(np.load(sys.argv[2]))
with torch.no_grad():
    if mode == "jit":
        m = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(m)))
    serve(lambda: m(x))
"""

EXPORT = r"""
import sys, torch, torchvision.models as tvm
name, path, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(0)
kw = {"aux_logits": False, "init_weights": True} if name == "googlenet" else {}
m = getattr(tvm, name)(**kw).eval()
torch.onnx.export(m, torch.randn(batch, 3, 224, 224), path, opset_version=13,
                  input_names=["image"], output_names=["logits"])
"""


class Worker:
    def __init__(self, label, cmd, env=None):
        self.label = label
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"{label} did not start: {line} {self.p.stderr.read()[-2000:]}")
        self.times = []

    def cpu_ns(self):
        """CPU time of all of the worker's threads so far, in ns (schedstat)."""
        total = 0
        task_dir = f"/proc/{self.p.pid}/task"
        for t in os.listdir(task_dir):
            try:
                with open(f"{task_dir}/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass  # a thread that ended meanwhile
        return total

    def ask(self, what):
        self.p.stdin.write(what + "\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def close(self):
        rss = self.ask("rss")
        self.p.stdin.close()
        self.p.wait()
        return rss


def settle(workers, quiet_ns=200_000, window_s=0.005, limit_s=1.0):
    """Waits until no worker's threads used more than quiet_ns of CPU in the
    last window_s (at most limit_s); returns the seconds waited."""
    t0 = time.perf_counter()
    last = [w.cpu_ns() for w in workers]
    while time.perf_counter() - t0 < limit_s:
        time.sleep(window_s)
        now = [w.cpu_ns() for w in workers]
        if all(b - a <= quiet_ns for a, b in zip(last, now)):
            break
        last = now
    return time.perf_counter() - t0


def median(v):
    v = sorted(v)
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def cnnc_gflop(cnnc, net):
    rep = json.loads(subprocess.run([cnnc, "report", net, "--format", "json", "--batch", "1"],
                                    capture_output=True, text=True, check=True).stdout)
    return rep["totals"]["flops"] / 1e9


def bench_one(args, d, name, batch, rows):
    venv_py = os.path.join(ROOT, ".venv", "bin", "python")
    net = os.path.join(ROOT, "examples", f"{name}.json")
    x = os.path.join(d, f"x{batch}.npy")
    import numpy as np
    np.save(x, np.random.RandomState(0).standard_normal((batch, 3, 224, 224)).astype(np.float32))
    lib = os.path.join(d, f"lib{name}_{batch}.so")
    subprocess.run([args.cnnc, "compile", net, "--batch", str(batch), "-o", lib, "--quiet"],
                   check=True, capture_output=True)
    onnx_path = os.path.join(d, f"{name}_{batch}.onnx")
    subprocess.run([sys.executable, "-c", EXPORT, name, onnx_path, str(batch)], check=True,
                   capture_output=True)
    workers = [Worker("cnnc", [sys.executable, "-c", CNNC_WORKER, lib, x]),
               Worker("ort", [venv_py, "-c", ORT_WORKER, onnx_path, x]),
               Worker("torch", [sys.executable, "-c", TORCH_WORKER, name, x, "eager"]),
               Worker("torch-jit", [sys.executable, "-c", TORCH_WORKER, name, x, "jit"])]
    blas = next((p for p in OPENBLAS if os.path.exists(p)), None)
    if blas:
        env = dict(os.environ, LD_PRELOAD=blas)
        workers.append(Worker("torch-jit+openblas",
                              [sys.executable, "-c", TORCH_WORKER, name, x, "jit"], env))
    # Interleaved rounds, each starting one system later than the last, so
    # every system follows every other equally often. Some keep their
    # threads spinning for tens of ms after a run (libgomp's default spin,
    # ONNX Runtime's pool), which would slow whichever system runs next:
    # each run waits for the others to go quiet first.
    waited = {w.label: 0.0 for w in workers}
    for k in range(args.runs):
        for i in range(len(workers)):
            w = workers[(k + i) % len(workers)]
            if not args.no_settle:
                waited[w.label] += settle([o for o in workers if o is not w])
            w.times.append(w.ask("run"))
    gflop = cnnc_gflop(args.cnnc, net) * batch
    res = {w.label: (median(w.times), w.close()) for w in workers}
    best_other = min(v[0] for k, v in res.items() if k != "cnnc")
    ratio = res["cnnc"][0] / best_other
    rows.append((name, batch, res, gflop, ratio))
    cells = "  ".join(f"{k} {v[0]:8.2f} ms {batch * 1e3 / v[0]:7.1f} img/s {gflop / v[0] * 1e3:6.1f} "
                      f"GFLOP/s {v[1]:6.0f} MiB" for k, v in res.items())
    print(f"{name:14} b{batch}  {cells}  cnnc/best {ratio:.2f}", flush=True)
    if not args.no_settle:
        print("  waited for the others to go quiet, mean ms per run: " +
              ", ".join(f"{k} {v * 1e3 / args.runs:.1f}" for k, v in waited.items()), flush=True)
    os.remove(onnx_path)
    return ratio


def kernel_table(args, d):
    """ResNet-50's 3x3 convolutions: GFLOP/s and % of the measured peak, for
    the default library (Winograd where it pays: rates in direct-convolution
    FLOPs) and for one with every convolution direct (--no-winograd: how
    close the direct kernels come to the machine's peak)."""
    x = os.path.join(d, "x1.npy")
    net = os.path.join(ROOT, "examples", "resnet50.json")
    tables = []
    for label, flags in (("default", []), ("direct", ["--no-winograd"])):
        lib = os.path.join(d, f"libresnet50_1_{label}.so")
        subprocess.run([args.cnnc, "compile", net, "-o", lib, "--quiet"] + flags, check=True,
                       capture_output=True)
        out = subprocess.run([args.cnnc, "run", lib, "--input", x, "--profile", "--bench",
                              str(args.runs), "--threads", "2"], capture_output=True, text=True,
                             check=True).stdout
        peak = re.search(r"peak ([0-9.]+) GFLOP/s", out)
        # The 3x3 convolutions are each bottleneck's conv2 (layerN.M.conv2).
        rows = [l for l in out.splitlines() if re.search(r"\blayer\d\.\d+\.conv2\s", l)]
        pcts = [float(m.group(1)) for l in rows for m in [re.search(r"([0-9.]+)\s*%\s*$", l)] if m]
        ms = sum(float(l.split()[3]) for l in rows)
        tables.append((label, out, peak.group(1) if peak else "?", pcts, ms))
    return tables


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", default=os.path.join(ROOT, "build", "release", "tools", "cnnc"))
    ap.add_argument("--networks", default=",".join(NETWORKS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--no-settle", action="store_true",
                    help="do not wait for the other systems' threads to go quiet before each run")
    ap.add_argument("--markdown", default="", help="also write the results as markdown")
    args = ap.parse_args()
    cpu = open("/proc/cpuinfo").read()
    flags = "AVX-512" if "avx512f" in cpu else "AVX2 only"
    model = re.search(r"model name\s*:\s*(.*)", cpu).group(1)
    print(f"machine: {model}, {os.cpu_count()} cores, {flags}; 2 threads each; "
          f"median of {args.runs} interleaved runs after 3 warm-ups", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name in args.networks.split(","):
            for b in (int(v) for v in args.batches.split(",")):
                bench_one(args, d, name, b, rows)
        tables = kernel_table(args, d) if "resnet50" in args.networks else []
    geo = math.exp(sum(math.log(r[4]) for r in rows) / len(rows)) if rows else float("nan")
    worst = max(rows, key=lambda r: r[4]) if rows else None
    print(f"geometric mean of cnnc / best other: {geo:.2f}; worst {worst[0]} b{worst[1]} "
          f"{worst[4]:.2f}" if rows else "no rows")
    summary = []
    for label, _, peak, pcts, ms in tables:
        if pcts:
            summary.append(f"{label} library: {ms:.2f} ms in all, mean {sum(pcts) / len(pcts):.1f} % of "
                           f"the measured fp32 peak ({peak} GFLOP/s)")
    for line in summary:
        print(f"ResNet-50 3x3 convs, {line}")
    if args.markdown:
        SETTLED = "; each run starts once the other systems' threads have gone quiet"
        systems = list(rows[0][2].keys()) if rows else []
        with open(args.markdown, "w") as f:
            f.write("# cnnc against ONNX Runtime and PyTorch\n\n")
            f.write(f"Regenerated by `bench/compare.py --markdown bench/RESULTS.md"
                    f"{' --networks ' + args.networks if args.networks != ','.join(NETWORKS) else ''}"
                    f" --runs {args.runs}{' --no-settle' if args.no_settle else ''}` on {time.strftime('%Y-%m-%d')}.\n\n")
            f.write(f"Machine: {model}, {os.cpu_count()} cores, {flags}. Every system uses 2 threads; "
                    f"medians of {args.runs} interleaved runs after 3 warm-ups (each round starts one "
                    f"system later, so each follows each other equally often"
                    f"{'' if args.no_settle else SETTLED}). Debian's PyTorch "
                    f"links the reference BLAS, so its linear layers are slow"
                    f"{'' if any(os.path.exists(p) for p in OPENBLAS) else ' (OpenBLAS is not installed here, so the OpenBLAS column is absent)'}."
                    f" Memory is each worker process's peak resident set (a Python process: "
                    f"~30 MB of interpreter and numpy, ~200 MB more for torch).\n\n")
            f.write("| network | batch | " + " | ".join(f"{s} ms" for s in systems) +
                    " | cnnc img/s | cnnc GFLOP/s | " + " | ".join(f"{s} MiB" for s in systems) +
                    " | cnnc / best |\n")
            f.write("|" + " --- |" * (5 + 2 * len(systems)) + "\n")
            for name, b, res, gflop, ratio in rows:
                f.write(f"| {name} | {b} | " + " | ".join(f"{res[s][0]:.2f}" for s in systems) +
                        f" | {b * 1e3 / res['cnnc'][0]:.1f} | {gflop / res['cnnc'][0] * 1e3:.1f} | " +
                        " | ".join(f"{res[s][1]:.0f}" for s in systems) + f" | {ratio:.2f} |\n")
            f.write(f"\nGeometric mean of cnnc / best other: **{geo:.2f}**; worst: "
                    f"{worst[0]} batch {worst[1]} at {worst[4]:.2f}.\n")
            if summary:
                f.write("\nResNet-50's 3×3 convolutions (batch 1, `cnnc run --profile`, the 16 "
                        "`layerN.M.conv2`): the default library computes those with ≥ 16 output tiles "
                        "by Winograd F(4×4,3×3) (its rates count the direct convolution's FLOPs); "
                        "the direct one (`--no-winograd`) shows how close the direct kernels come "
                        "to the fp32 FMA peak measured in the same run.\n\n")
                for line in summary:
                    f.write(f"- {line}\n")
                for label, out, _, _, _ in tables:
                    f.write(f"\n{label} library:\n\n```\n{out.strip()}\n```\n")
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
