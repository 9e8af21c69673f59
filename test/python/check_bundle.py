#!/usr/bin/env python3
"""Runs the libraries that `check_compiled.py --bundle DIR` wrote, on this
machine, without cnnc: each through its C API (ctypes), on the bundled
inputs, compared with the reference backend's outputs made where the bundle
was built (element by element, `cnnc run --check`'s tolerance; outputs start
as NaN before every run). Its use:
checking on a CPU with AVX-512 the kernel variants a build machine without
it compiles but never runs.

  check_bundle.py DIR [--threads 1,2,16]
"""
import argparse
import ctypes
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numeric_compare import compare  # noqa: E402


def run_case(d, threads):
    meta = json.load(open(f"{d}/case.json"))
    lib = ctypes.CDLL(os.path.abspath(f"{d}/lib.so"))
    lib.cnnc_create.restype = ctypes.c_void_p
    lib.cnnc_create.argtypes = [ctypes.c_char_p]
    lib.cnnc_destroy.argtypes = [ctypes.c_void_p]
    lib.cnnc_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    lib.cnnc_last_error.restype = ctypes.c_char_p
    lib.cnnc_last_error.argtypes = [ctypes.c_void_p]
    lib.cnnc_input_name.restype = lib.cnnc_output_name.restype = ctypes.c_char_p
    lib.cnnc_output_shape.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64)]
    ins = [np.ascontiguousarray(np.load(f"{d}/in_{meta['inputs'].index(lib.cnnc_input_name(i).decode())}.npy"),
                                dtype=np.float32) for i in range(lib.cnnc_num_inputs())]
    outs, refs = [], []
    for i in range(lib.cnnc_num_outputs()):
        dims = (ctypes.c_int64 * 8)()
        rank = lib.cnnc_output_shape(i, dims)
        outs.append(np.zeros([dims[k] for k in range(rank)], dtype=np.float32))
        refs.append(np.load(f"{d}/ref_{meta['outputs'].index(lib.cnnc_output_name(i).decode())}.npy"))
    worst = 0.0
    for t in threads:
        lib.cnnc_set_num_threads(t)
        m = lib.cnnc_create(None)
        if not m:
            return False, "cnnc_create failed"
        in_ptrs = (ctypes.c_void_p * len(ins))(*[a.ctypes.data for a in ins])
        for a in outs:  # a run that writes nothing must not pass on the last run's values
            a.fill(np.nan)
        out_ptrs = (ctypes.c_void_p * len(outs))(*[a.ctypes.data for a in outs])
        rc = lib.cnnc_run(m, in_ptrs, out_ptrs)
        if rc != 0:
            msg = lib.cnnc_last_error(m).decode()
            lib.cnnc_destroy(m)
            return False, f"cnnc_run: {rc} {msg}"
        lib.cnnc_destroy(m)
        for got, want in zip(outs, refs):
            v = compare(got, want, 1e-4, 2e-5)  # cnnc run --check's tolerance
            if not v:
                return False, f"{t} threads: {v.message}"
            worst = max(worst, v.ratio)
    return True, f"worst {worst:.3f} of the tolerance"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bundle")
    ap.add_argument("--threads", default="1,2,16")
    a = ap.parse_args()
    flags = open("/proc/cpuinfo").read().split()
    print("this CPU:", "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE only")
    threads = [int(t) for t in a.threads.split(",")]
    failures = 0
    cases = sorted(c for c in os.listdir(a.bundle) if c.startswith("case"))
    for c in cases:
        name = json.load(open(f"{a.bundle}/{c}/case.json"))["name"]
        ok, msg = run_case(f"{a.bundle}/{c}", threads)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name:60} {msg}", flush=True)
    print(f"{len(cases) - failures} of {len(cases)} bundled cases match the reference backend "
          f"(threads {a.threads})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
