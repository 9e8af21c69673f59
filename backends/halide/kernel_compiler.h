// Compiling the kernels of a lowered model ahead of time with Halide: one
// static library per distinct kernel (all target variants with run-time CPU
// dispatch), one standalone Halide runtime object, both cached on disk and
// compiled in parallel.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "backends/halide/lower.h"
#include "backends/halide/schedule.h"
#include "support/diagnostics.h"

namespace cnnc::halide {

/// The Halide targets to build each kernel for, most capable first; the last
/// one is the fallback every x86-64 CPU runs. Each ends in the features the
/// generated code needs (no_runtime, user_context).
struct TargetSet {
  std::vector<std::string> targets;
  std::string str() const;  ///< comma-separated, as the cache key and cnnc_target() report it

  /// "default": AVX-512 (Skylake set), AVX2+FMA and SSE4.1 with dispatch;
  /// "host": exactly this CPU's features; otherwise a comma-separated list of
  /// Halide target strings (e.g. "x86-64-linux-avx2-fma-f16c-sse41-avx").
  /// Returns nullopt with `error` set when a target is not valid.
  static std::optional<TargetSet> parse(const std::string& spec, std::string& error);
};

/// The widest vector ISA a target string enables.
Isa isa_of(const std::string& target);

/// The schedule a kernel gets for an ISA (the default, or a tuner's choice).
using ScheduleFn = std::function<Schedule(const KernelSpec&, Isa)>;

struct KernelBuildOptions {
  std::string cache_dir;  ///< empty: no cache (compile into the work directory)
  int jobs = 0;           ///< parallel compilations; 0: all cores
  ScheduleFn schedule = default_schedule;
  /// Called after each kernel: i of n done, its first layer, cached or not, seconds.
  std::function<void(int, int, const std::string&, bool, double)> progress;
  /// When a kernel fails to compile: returns true when `schedule` gave it a
  /// tuned schedule and now gives the default instead (the kernel is then
  /// rebuilt with a warning rather than failing the build).
  std::function<bool(const KernelSpec&)> drop_tuned;
};

struct BuiltKernels {
  std::vector<std::string> symbols;   ///< per spec: the function the host code calls
  std::vector<std::string> archives;  ///< per spec: the static library defining it
  std::string runtime_object;
  int compiled = 0, cached = 0;
  double seconds = 0;  ///< wall time of the whole build
};

/// The symbol each spec compiles to under `targets` (what the host code calls).
std::vector<std::string> kernel_symbols(const LoweredModel& m, const TargetSet& targets,
                                        const ScheduleFn& schedule);

/// Compiles (or finds in the cache) every kernel of `m` and the runtime.
/// `work_dir` holds what is not cached. Halide failures are internal errors.
BuiltKernels build_kernels(const LoweredModel& m, const TargetSet& targets,
                           const KernelBuildOptions& options, const std::string& work_dir,
                           DiagnosticEngine& diag);

enum class KernelText { Stmt, Assembly };

/// The Halide statement form or the assembly of every kernel for the first
/// target, concatenated with a header line per kernel naming its layers.
std::string kernel_text(const LoweredModel& m, const TargetSet& targets, const ScheduleFn& schedule,
                        KernelText what, const std::string& work_dir);

/// "Halide 14.0.0".
std::string halide_version();

/// This CPU as a Halide target (without JIT). Halide 14 calls every CPU with
/// AVX512-BF16 a Sapphire Rapids, whose target implies AVX-VNNI; AMD Zen 4
/// has AVX512-BF16 but no AVX-VNNI, and kernels built for it died with SIGILL
/// there: such a CPU is given the Cannon Lake target instead.
std::string host_target();

/// The cache directory: $CNNC_CACHE_DIR, else $XDG_CACHE_HOME/cnnc, else
/// ~/.cache/cnnc.
std::string default_cache_dir();

}  // namespace cnnc::halide
