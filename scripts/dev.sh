#!/usr/bin/env bash
# The two jobs of the README:
#   scripts/dev.sh demo   set up, build, and run the main job on an example
#   scripts/dev.sh test   set up, build, and run every test suite
# Both install what is missing first (scripts/setup.sh) and are quick when
# everything is already there. Set CNNC_FUZZ_SECONDS to change the fuzzing time
# (default 60 s per target).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

case "${1:-}" in
  demo)
    ./scripts/setup.sh
    cmake --preset release >/dev/null
    cmake --build build/release -j "$jobs" --target cnnc cnnrt >/dev/null
    out=build/release/demo
    mkdir -p "$out"
    # A deterministic 224x224 test image.
    /usr/bin/python3 -c "import numpy as n; n.save('$out/image.npy', n.random.RandomState(0).rand(1, 3, 224, 224).astype(n.float32))"
    echo "== cnnc compile examples/resnet50.json (seeded weights; kernels cached in ~/.cache/cnnc)"
    ./build/release/tools/cnnc compile examples/resnet50.json -o "$out/libresnet50.so"
    echo
    echo "== a C program using the library through resnet50.h (examples/c/run_model.c)"
    cc -O2 -I"$out" -Iexamples/c -DMODEL_HEADER='"resnet50.h"' examples/c/run_model.c \
      -L"$out" -l:libresnet50.so -Wl,-rpath,'$ORIGIN' -o "$out/run_resnet50"
    "$out/run_resnet50" "$out/image.npy" "$out/scores.npy"
    echo
    echo "== cnnc run libresnet50.so --bench 10"
    ./build/release/tools/cnnc run "$out/libresnet50.so" --input "$out/image.npy" --bench 10
    ;;
  test)
    start=$(date +%s)
    ./scripts/setup.sh
    echo "== clang-format-14 (.clang-format: Google style, 100 columns)"
    git ls-files '*.cpp' '*.h' | xargs clang-format-14 --dry-run --Werror
    echo "== release build (gcc, -Werror): unit, lit, torchvision, PyTorch oracle, optimizer, compiled libraries"
    cmake --preset release >/dev/null
    cmake --build build/release -j "$jobs" >/dev/null
    ctest --test-dir build/release --output-on-failure -j "$jobs"
    echo "== asan-ubsan build (clang-14): unit, lit and fuzzers under AddressSanitizer, UBSan, LeakSanitizer"
    cmake --preset asan-ubsan -DCNNC_FUZZ_SECONDS="${CNNC_FUZZ_SECONDS:-60}" >/dev/null
    cmake --build build/asan-ubsan -j "$jobs" >/dev/null
    # A sanitizer report exits 99, which no expected-exit-status check accepts.
    export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:exitcode=99:max_allocation_size_mb=2048"
    export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=99"
    # Each suite runs once; its log is summarised here and printed whole on failure.
    log=build/asan-ubsan/ctest.log
    if ! ctest --test-dir build/asan-ubsan --output-on-failure -V -R '^(unit|backend_unit|lit|fuzz_.*)$' >"$log" 2>&1; then
      cat "$log"
      exit 1
    fi
    grep -E '^[0-9]+: (Testing Time|  Passed|  Failed|\[  PASSED)|runs in|Test +#' "$log" || true
    echo "== summary"
    echo "bad-input error classes: $(ls test/errors/*.test | wc -l) files in test/errors"
    echo "all suites passed in $(( $(date +%s) - start )) s"
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test" >&2
    exit 2
    ;;
esac
