#!/usr/bin/env python3
"""Compiled libraries as a user program sees them.

Compiles two models (LeNet-5 with embedded weights; test/runtime/mini.json
with --weights external), then
  - checks what each library links against and exports (nm -D, readelf -d):
    only libc/libm/libpthread/libdl symbols undefined, only cnnc.h's API defined;
  - builds and runs test/runtime/api_test.c (two models in one process,
    threads, thread counts, API misuse, damaged external weights files);
  - builds the example C and C++ programs against LeNet-5's header and checks
    their outputs against the reference backend.
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numeric_compare import compare  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ALLOWED_LIBS = {"libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2"}
failures = []


def check(ok, what, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f" -- {detail}" if detail else ""), flush=True)
    if not ok:
        failures.append(what)


def run(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def api_functions():
    text = open(f"{ROOT}/runtime/cnnc.h").read()
    return set(re.findall(r"\b(cnnc_\w+)\s*\(", text))


def check_linkage(lib):
    name = os.path.basename(lib)
    undefined = run("nm", "-D", "--undefined-only", lib).split("\n")
    foreign = []
    for line in undefined:
        parts = line.split()
        if len(parts) != 2:
            continue
        kind, sym = parts
        if kind == "U" and "@GLIBC_" not in sym:
            foreign.append(sym)
    check(not foreign, f"{name}: every undefined symbol comes from glibc", ", ".join(foreign[:10]))
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", run("readelf", "-d", lib)))
    check(needed <= ALLOWED_LIBS, f"{name}: needs only libc/libm/libpthread/libdl", ", ".join(sorted(needed)))
    defined = set()
    for line in run("nm", "-D", "--defined-only", lib).split("\n"):
        parts = line.split()
        if len(parts) == 3:
            defined.add(parts[2].split("@")[0])
    check(defined == api_functions(), f"{name}: exports exactly the API of cnnc.h",
          f"extra {sorted(defined - api_functions())[:8]}, missing {sorted(api_functions() - defined)}")


def write_safetensors(path, tensors, metadata=None, dtypes=None):
    header, offset, blobs = {}, 0, []
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, a in tensors:
        dtype = (dtypes or {}).get(name, "F32")
        a = np.ascontiguousarray(a, dtype="<f2" if dtype == "F16" else "<f4")
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = []
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        b, en = e["data_offsets"]
        tensors.append((name, np.frombuffer(data[8 + n + b:8 + n + en], "<f4").reshape(e["shape"])))
    return tensors, meta


def bad_weights(good, d):
    """The damaged weights files api_test.c expects to be refused."""
    os.makedirs(d)
    data = open(good, "rb").read()
    tensors, meta = read_safetensors(good)
    open(f"{d}/truncated.safetensors", "wb").write(data[:-100])
    open(f"{d}/empty.safetensors", "wb").write(b"")
    open(f"{d}/garbage.safetensors", "wb").write(bytes(range(256)) * 8)
    write_safetensors(f"{d}/no_layout.safetensors", tensors)
    write_safetensors(f"{d}/other_layout.safetensors", tensors, {**meta, "cnnc.layout": "cnnc-kernel-layout-1:0"})
    write_safetensors(f"{d}/missing_tensor.safetensors", tensors[:-1], meta)
    write_safetensors(f"{d}/f16.safetensors", tensors, meta, {tensors[0][0]: "F16"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cnnc", required=True)
    ap.add_argument("--cache", required=True, help="kernel cache directory")
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--cxx", default="c++")
    args = ap.parse_args()
    cnnc = [args.cnnc]
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.RandomState(5)
        nets = {"a": f"{ROOT}/examples/lenet5.json", "b": f"{ROOT}/test/runtime/mini.json"}
        np.save(f"{d}/x_a.npy", rng.standard_normal((1, 1, 28, 28)).astype(np.float32))
        np.save(f"{d}/x_b.npy", rng.standard_normal((2, 3, 64, 50)).astype(np.float32))
        for k, net in nets.items():
            # Random weights (not the seeded init, whose batch norms are identities).
            run(*cnnc, "init", net, "--seed", "11", "-o", f"{d}/w_{k}.safetensors")
            run(*cnnc, "run", net, "--weights", f"{d}/w_{k}.safetensors", "--input", f"{d}/x_{k}.npy", "--output",
                f"{d}/ref_{k}.npy")
        run(*cnnc, "compile", nets["a"], "--weights", f"{d}/w_a.safetensors", "-o", f"{d}/liblenet5.so",
            "--cache-dir", args.cache, "--quiet")
        run(*cnnc, "compile", nets["b"], "--weights", f"{d}/w_b.safetensors", "--store-weights", "external", "-o",
            f"{d}/libmini.so", "--cache-dir", args.cache, "--quiet")
        check(os.path.exists(f"{d}/mini.weights.safetensors") and os.path.exists(f"{d}/mini.h"),
              "--store-weights external writes NAME.weights.safetensors and NAME.h beside the library")
        for lib in ("liblenet5.so", "libmini.so"):
            check_linkage(f"{d}/{lib}")
        bad_weights(f"{d}/mini.weights.safetensors", f"{d}/bad")

        run(args.cc, "-O1", "-Wall", "-Wextra", "-Werror", "-std=gnu11", f"-I{ROOT}/runtime", f"-I{ROOT}/examples/c",
            f"{ROOT}/test/runtime/api_test.c", "-o", f"{d}/api_test", "-ldl", "-lpthread", "-lm")
        r = subprocess.run([f"{d}/api_test", f"{d}/liblenet5.so", f"{d}/x_a.npy", f"{d}/ref_a.npy",
                            f"{d}/libmini.so", f"{d}/x_b.npy", f"{d}/ref_b.npy", f"{d}/mini.weights.safetensors",
                            f"{d}/bad"], capture_output=True, text=True, timeout=600)
        print(r.stdout, r.stderr, end="", flush=True)
        check(r.returncode == 0, "api_test", f"exit {r.returncode}")

        # The example programs, built as the README says, against LeNet-5's header.
        common = ["-O2", "-Wall", "-Wextra", "-Werror", f"-I{d}", f"-I{ROOT}/examples/c", '-DMODEL_HEADER="lenet5.h"']
        link = [f"-L{d}", "-l:liblenet5.so", f"-Wl,-rpath,{d}"]
        run(args.cc, *common, f"{ROOT}/examples/c/run_model.c", *link, "-o", f"{d}/run_c")
        run(args.cxx, *common, "-std=c++17", f"-I{ROOT}/examples/cpp", f"{ROOT}/examples/cpp/run_model.cpp", *link,
            "-o", f"{d}/run_cpp")
        ref = np.load(f"{d}/ref_a.npy")
        for prog in ("run_c", "run_cpp"):
            out = run(f"{d}/{prog}", f"{d}/x_a.npy", f"{d}/y_{prog}.npy")
            y = np.load(f"{d}/y_{prog}.npy")
            v = compare(y, ref, 1e-4, 2e-5)
            check(bool(v), f"examples/{prog[4:]}: LeNet-5 output matches the reference backend", v.message)
            check(f"class {int(np.argmax(ref[0]))}" in out or f"top 5: {int(np.argmax(ref[0]))} " in out,
                  f"examples/{prog[4:]}: prints the best class", out.strip())
        bad = subprocess.run([f"{d}/run_c", f"{d}/x_b.npy"], capture_output=True, text=True)
        check(bad.returncode == 1 and "takes input 'data'" in bad.stderr,
              "examples/c: an input of another shape is refused", bad.stderr.strip())
    print(f"\n{'FAILED' if failures else 'PASSED'}: {len(failures)} check(s) failed", *failures, sep="\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
