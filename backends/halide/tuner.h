// `cnnc tune`'s search: every distinct kernel of a lowered model measured
// with its default schedule, then a seeded local search over its schedule
// space (schedule_space.h) within a share of the time budget proportional to
// the kernel's share of the model's run time. Each candidate is compiled and
// run in its own worker process (Halide's JIT), so a crash, hang or LLVM
// fatal error costs only that worker; a candidate whose output differs from
// the default schedule's is recorded as wrong and never chosen.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "backends/halide/lower.h"
#include "backends/halide/tuning_db.h"

namespace cnnc::halide {

struct TuneProgress {
  bool defaults = true;         ///< measuring every kernel's default (else searching)
  bool kernel_done = false;     ///< the last report of a kernel's search
  int kernel = 0, kernels = 0;  ///< 1-based: the kernel being measured or tuned, of all
  std::string layer;
  int trial = 0, trials = 0;  ///< of this kernel
  double best_speedup = 1;    ///< this kernel's, so far
  double elapsed_s = 0, budget_s = 0;
  int measured = 0, reused = 0;  ///< measurements made, and taken from --resume
};

struct TuneOptions {
  std::string target;  ///< one Halide target this CPU runs
  double budget_s = 600;
  int max_trials = 48;  ///< candidates per kernel besides the default
  uint64_t seed = 1;
  int threads = 0;         ///< threads of each measured run (0: all cores)
  double measure_s = 0.1;  ///< warm-up, then timed runs, each about this long
  double compile_timeout_s = 120, run_timeout_s = 30;
  std::string work_dir;
  /// Measurements of an earlier run (--resume): reused, not measured again.
  std::vector<TuningRecord> previous;
  /// Each new measurement, as it is made (the caller appends it to the database).
  std::function<void(const TuningRecord&)> record;
  std::function<void(const TuneProgress&)> progress;
};

struct KernelResult {
  size_t spec = 0;
  std::string layers;
  int calls = 0;
  int64_t flops = 0;                   ///< of all its calls together
  TuningRecord def, best;              ///< best == def when nothing beat the default
  int trials = 0;                      ///< candidates besides the default
  std::vector<TuningRecord> failures;  ///< candidates that crashed, hung, failed or were wrong
};

struct TuneResult {
  std::vector<KernelResult> kernels;  ///< in the order of LoweredModel::specs
  bool budget_exhausted = false;      ///< the wall clock ran out before the plan
  int measured = 0, reused = 0;
};

/// Indices of `kernels` (with only_measured, those whose default ran) by the time their default
/// schedules take in one run of the network (median × calls), longest first.
std::vector<size_t> by_default_time(const std::vector<KernelResult>& kernels, bool only_measured);

/// Tunes every kernel of `m` for o.target. The records' `date` is `date`.
TuneResult tune(const LoweredModel& m, const TuneOptions& o, const std::string& date);

/// The schedule `results` chose for each kernel on `target`'s ISA, the
/// default for other kernels and ISAs.
ScheduleFn chosen_schedules(const LoweredModel& m, const TuneResult& results,
                            const std::string& target);

}  // namespace cnnc::halide

namespace cnnc::halide {

/// The layers kernel `spec` computes ("conv2 (+5)": the first and how many
/// more), its number of calls and their FLOPs together.
std::string kernel_layers(const LoweredModel& m, size_t spec, int& calls, int64_t& flops);

/// Why this CPU cannot run code for `target` ("" when it can): tuning
/// measures on the machine it runs on.
std::string cannot_run_here(const std::string& target);

}  // namespace cnnc::halide
