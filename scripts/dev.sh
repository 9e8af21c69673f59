#!/usr/bin/env bash
# The two jobs of the README:
#   scripts/dev.sh demo   set up, build, and run the main job on an example
#   scripts/dev.sh test   set up, build, and run every test suite
# Both install what is missing first (scripts/setup.sh) and are quick when
# everything is already there. Set CNNC_FUZZ_SECONDS to change the fuzzing time
# (default 60 s per target) and CNNC_DIFFTEST_SECONDS the time random networks
# with fresh seeds are started (default 240 s; the fixed corpus runs always).
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
    # Every suite runs even when an earlier one fails; the summary lists them all.
    failed=()
    # The tests ctest ran last in build dir $1 that failed, one per line.
    ctest_failures() {
      local log="$1/Testing/Temporary/LastTestsFailed.log"
      [ -f "$log" ] && sed 's/^[0-9]*://' "$log"
    }
    echo "== clang-format-14 (.clang-format: Google style, 100 columns)"
    git ls-files '*.cpp' '*.h' | xargs clang-format-14 --dry-run --Werror || failed+=("clang-format")
    echo "== release build (gcc, -Werror): unit, lit, torchvision, PyTorch oracle, optimizer, compiled libraries, random networks"
    if cmake --preset release -DCNNC_DIFFTEST_SECONDS="${CNNC_DIFFTEST_SECONDS:-240}" >/dev/null &&
      cmake --build build/release -j "$jobs" >/dev/null; then
      if ! ctest --test-dir build/release --output-on-failure -j "$jobs"; then
        while read -r t; do failed+=("release: $t"); done < <(ctest_failures build/release)
      fi
    else
      failed+=("release: the build")
    fi
    echo "== asan-ubsan build (clang-14): unit, lit and fuzzers under AddressSanitizer, UBSan, LeakSanitizer"
    if cmake --preset asan-ubsan -DCNNC_FUZZ_SECONDS="${CNNC_FUZZ_SECONDS:-60}" >/dev/null &&
      cmake --build build/asan-ubsan -j "$jobs" >/dev/null; then
      # A sanitizer report exits 99, which no expected-exit-status check accepts.
      export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:exitcode=99:max_allocation_size_mb=2048"
      export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=99"
      # Each suite runs once; its log is summarised here and printed whole on failure.
      log=build/asan-ubsan/ctest.log
      if ! ctest --test-dir build/asan-ubsan --output-on-failure -V -R '^(unit|backend_unit|lit|fuzz_.*)$' >"$log" 2>&1; then
        cat "$log"
        while read -r t; do failed+=("asan-ubsan: $t"); done < <(ctest_failures build/asan-ubsan)
      fi
      grep -E '^[0-9]+: (Testing Time|  Passed|  Failed|\[  PASSED)|runs in|Test +#' "$log" || true
    else
      failed+=("asan-ubsan: the build")
    fi
    echo "== summary"
    echo "bad-input error classes: $(ls test/errors/*.test | wc -l) files in test/errors"
    if ((${#failed[@]})); then
      echo "${#failed[@]} failed after $(( $(date +%s) - start )) s:"
      printf '  %s\n' "${failed[@]}"
      exit 1
    fi
    echo "all suites passed in $(( $(date +%s) - start )) s"
    ;;
  *)
    echo "usage: scripts/dev.sh demo|test" >&2
    exit 2
    ;;
esac
