# lit configuration for cnnc's FileCheck suites: test/lit (CLI, IR, frontend)
# and test/errors (one bad input class per file). Paths come from the
# lit.site.cfg.py that CMake writes into the build tree.
import os
import lit.formats

config.name = "cnnc"
# bash runs the RUN lines, so tests may use loops and redirections.
config.test_format = lit.formats.ShTest(execute_external=True)
config.suffixes = [".test", ".cnnir"]
config.excluded_test_paths = []
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.cnnc_build_dir, "test")
# Directories that hold inputs or other suites, not lit tests.
config.excludes = ["Inputs", "unit", "python", "fuzz", "data", "CMakeLists.txt"]

path = os.pathsep.join([config.cnnc_tools_dir, config.llvm_tools_dir, os.path.join(config.test_source_root, "bin"),
                        config.environment.get("PATH", os.environ.get("PATH", ""))])
config.environment["PATH"] = path
for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
config.substitutions.append(("%examples", config.examples_dir))
# Bad inputs must finish in bounded memory (reliability contract R5): 2 GiB of
# address space in plain builds; sanitizer builds reserve terabytes of address
# space and cap allocations through ASAN_OPTIONS=max_allocation_size_mb instead.
if config.cnnc_sanitize:
    config.available_features.add("sanitizers")
config.substitutions.append(("%memlimit", "" if config.cnnc_sanitize else "prlimit --as=2147483648"))
config.substitutions.append(("%caffe", os.path.join(config.test_source_root, "data", "caffe")))
config.substitutions.append(("%inputs", os.path.join(config.test_source_root, "errors", "Inputs")))
# Compiled kernels are cached in the build tree, shared by every test that
# compiles (the first one pays).
config.environment["CNNC_CACHE_DIR"] = os.path.join(config.cnnc_build_dir, "kernel-cache")
# Full-disk tests mount a small tmpfs: only where this user may (root, as on
# our machines and in CI).
import subprocess
import tempfile
with tempfile.TemporaryDirectory() as probe:
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe],
                      capture_output=True).returncode == 0:
        subprocess.run(["umount", probe], capture_output=True)
        config.available_features.add("tmpfs-mount")
