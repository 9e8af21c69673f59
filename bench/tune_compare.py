#!/usr/bin/python3
"""What `cnnc tune` buys, side by side in one run: for each network, tune it
(`cnnc tune NET --budget B`), compile it with the default schedules and with
the tuning database, then time both libraries in alternating rounds
(`cnnc run LIB --bench N`, batch 1, default threads) and print the medians
and the speed-up tuned/default. Both libraries share the kernel cache, so the
kernels a database leaves at the default are the very same code.

The default library is also profiled in the network (`cnnc run LIB
--profile`, its own FMA peak measured in the same run): how many of its
convolutions run within 10 % of the peak (Winograd ones at the rate a direct
kernel would need), the lowest, and the most any schedule could gain (every
direct convolution at the peak, Winograd and other layers as measured).

  bench/tune_compare.py [--networks resnet50:900,mobilenet_v2:300,resnet18:300]
                        [--rounds 10] [--runs 10] [--work DIR] [--resume]
                        [--markdown bench/TUNING.md]

NAME:SECONDS gives each network's tuning budget. --resume reuses the
measurements of an earlier run's databases in --work (no time spent tuning
what is already measured). Figures depend on the machine (AVX-512 or not):
compare the columns of one run only.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEDIAN = re.compile(r"median ([0-9.]+) ms")
SUMMARY = re.compile(r"^tuned (\d+) kernels for (\S+) in (\d+) s: (\d+) candidates \((\d+) failed\).*; (\d+) kernels faster",
                     re.M)


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(args)}\n{r.stderr}")
    return r


def npy_input(spec, path):
    with open(spec) as f:
        shape = next(iter(json.load(f)["inputs"].values()))["shape"]
    np.save(path, np.random.default_rng(0).standard_normal(shape).astype(np.float32))


PROFILE_ROW = re.compile(r"^\s*\d+\s+(\S+)\s+(\S+)\s+([0-9.]+)\s+[0-9.]+%\s+([0-9.]+)\s+([0-9.]+)%", re.M)


def headroom(profile):
    """(convs, within 10 % of peak, lowest % and its layer, most a schedule
    could gain) from a `cnnc run --profile` table."""
    convs = near = 0
    lowest, lowest_name, total, bound = None, "", 0.0, 0.0
    for layer, op, ms, _gflops, pct in PROFILE_ROW.findall(profile):
        ms, pct = float(ms), float(pct)
        total += ms
        if not op.startswith("conv2d"):
            bound += ms
            continue
        convs += 1
        near += pct >= 90
        if lowest is None or pct < lowest:
            lowest, lowest_name = pct, layer
        bound += ms * min(1.0, pct / 100)
    return convs, near, lowest or 0.0, lowest_name, total / bound if bound else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cnnc", default=f"{ROOT}/build/release/tools/cnnc")
    ap.add_argument("--networks", default="resnet50:900,mobilenet_v2:300,resnet18:300")
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds (default 10)")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per library per round")
    ap.add_argument("--work", default="", help="where databases and libraries go (default: a temporary directory)")
    ap.add_argument("--resume", action="store_true", help="reuse the databases' measurements in --work")
    ap.add_argument("--markdown", default="", help="also write the table and the commands here")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="cnnc-tune-bench-")
    os.makedirs(work, exist_ok=True)
    rows, details = [], []
    for item in a.networks.split(","):
        name, _, budget = item.partition(":")
        budget = budget or "300"
        spec = f"{ROOT}/examples/{name}.json"
        db = f"{work}/{name}.tuning.jsonl"
        tune = [a.cnnc, "tune", spec, "--budget", budget, "-o", db, "--quiet"] + (["--resume"] if a.resume else [])
        print(f"== {name}: cnnc tune --budget {budget}", flush=True)
        t0 = time.time()
        out = run(tune).stdout
        tune_s = time.time() - t0
        print(out, flush=True)
        details.append((name, out, ""))
        s = SUMMARY.search(out)
        libs = {}
        for kind, extra in (("default", []), ("tuned", ["--tuning-db", db])):
            os.makedirs(f"{work}/{kind}", exist_ok=True)
            libs[kind] = f"{work}/{kind}/lib{name}.so"
            run([a.cnnc, "compile", spec, "-o", libs[kind], "--quiet"] + extra)
        x = f"{work}/{name}.x.npy"
        npy_input(spec, x)
        medians = {"default": [], "tuned": []}
        for r in range(a.rounds):
            order = ("default", "tuned") if r % 2 == 0 else ("tuned", "default")
            for kind in order:
                o = run([a.cnnc, "run", libs[kind], "--input", x, "--bench", str(a.runs)]).stdout
                medians[kind].append(float(MEDIAN.search(o).group(1)))
        d, t = float(np.median(medians["default"])), float(np.median(medians["tuned"]))
        prof = run([a.cnnc, "run", libs["default"], "--input", x, "--bench", str(a.runs * 3), "--profile"]).stdout
        convs, near, lowest, lowest_name, gain = headroom(prof)
        details[-1] = (name, out, prof)
        rows.append((name, budget, tune_s, s.group(1) if s else "?", s.group(6) if s else "?", d, t, d / t,
                     f"{near} of {convs}", f"{lowest:.1f} % ({lowest_name})", gain))
        print(f"{name}: default {d:.2f} ms, tuned {t:.2f} ms, speed-up {d / t:.3f}x; defaults in the network: "
              f"{near} of {convs} convs within 10 % of the peak, lowest {lowest:.1f} % ({lowest_name}); "
              f"every conv at the peak: at most {gain:.2f}x", flush=True)
    head = ("| network | budget s | tuning took s | kernels | faster than default | default ms | tuned ms | speed-up "
            "| default convs ≥ 90 % peak | lowest | most a schedule could gain |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |\n")
    table = head + "".join(f"| {n} | {b} | {ts:.0f} | {k} | {f} | {d:.2f} | {t:.2f} | {r:.3f}x | {nr} | {lo} | {g:.2f}x |\n"
                           for n, b, ts, k, f, d, t, r, nr, lo, g in rows)
    print()
    print(table)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("# What `cnnc tune` buys\n\n")
            f.write(f"Generated by `bench/tune_compare.py --networks {a.networks} --rounds {a.rounds} "
                    f"--runs {a.runs}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores). Batch 1, "
                    "default threads; medians of the per-round medians of `cnnc run LIB --bench`, the two "
                    "libraries alternating round by round. The last three columns profile the default library "
                    "in the network (`cnnc run LIB --profile`, the FMA peak measured in the same run; Winograd "
                    "convs count the direct FLOPs).\n\n")
            f.write(table)
            for name, out, prof in details:
                f.write(f"\n## {name}: `cnnc tune` output\n\n```\n{out.strip()}\n```\n")
                f.write(f"\n{name}, default schedules, in the network:\n\n```\n{prof.strip()}\n```\n")


if __name__ == "__main__":
    main()
