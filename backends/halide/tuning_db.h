// The tuning database: a JSON-lines file `cnnc tune` appends to and `cnnc
// compile --tuning-db` reads. One record per line, so a tuner killed mid-write
// leaves at most one torn last line, which readers skip with a warning.
//
// A "trial" record is one measured candidate (kept so `--resume` never
// measures it again); a "best" record is a kernel's winner after its check
// against the reference backend. A record applies to a kernel only when the
// kernel's signature (KernelSpec::key), the full target (CPU features
// included), the Halide version and the kernel templates' revision all match.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "backends/halide/kernel_compiler.h"
#include "backends/halide/lower.h"
#include "backends/halide/schedule.h"
#include "support/diagnostics.h"

namespace cnnc::halide {

struct TuningRecord {
  std::string kind = "trial";  ///< "trial" or "best"
  std::string signature;       ///< KernelSpec::key()
  std::string family;          ///< the template
  std::string layers;          ///< the layers the kernel computes (for readers)
  std::string target;          ///< tuning_target() form
  std::string halide, templates;
  Schedule schedule;
  /// ok, compile_error, compile_timeout, crash, hang, run_error or wrong.
  std::string status = "ok";
  double median_ms = 0, lo_ms = 0, hi_ms = 0;  ///< median and its ~95 % interval
  int runs = 0;
  double compile_s = 0;
  double wall_s = 0;      ///< the whole measurement: worker start, compile, runs
  double max_diff = 0;    ///< largest |difference| from the default schedule's output
  double default_ms = 0;  ///< the default schedule's median (best records)
  uint64_t seed = 0;
  /// Trials: 0 in the search; 1-4 when the default (1, 4) and the winner
  /// (2, 3) are measured again side by side to confirm the winner.
  int round = 0;
  std::string date;     ///< UTC, ISO 8601
  std::string message;  ///< what failed
  int line = 0;         ///< where it was read (not written)

  /// One JSON object and a newline.
  std::string json_line() const;
};

/// A target as records name it: canonical Halide form without the features
/// only a library build adds (no_runtime, user_context).
std::string tuning_target(const std::string& target);
/// "Halide 14.0.0" and the templates' revision, as records carry them.
std::string templates_revision();

/// Reads a database line by line (never whole: a 5 GB file streams).
/// Malformed lines are skipped with a warning naming the line (a torn last
/// line says so) and a summary; with `strict` they are errors. A binary file
/// is an error. Returns nullopt after an error.
std::optional<std::vector<TuningRecord>> read_tuning_db(const std::string& path, bool strict,
                                                        DiagnosticEngine& diag);

/// Appends `r` as one write() of a whole line, under an advisory flock of
/// the file, so concurrent tuners never interleave lines. False with `error`.
bool append_tuning_record(const std::string& path, const TuningRecord& r, std::string& error);

/// The schedules a database gives the kernels of one model, per ISA variant
/// of a target set: the last valid "best" record of each kernel wins.
class TunedSchedules {
 public:
  /// Warns about records with illegal parameters (ignored) and notes how
  /// many records were for other targets, versions or kernels.
  TunedSchedules(const std::vector<TuningRecord>& records, const std::string& db_path,
                 const LoweredModel& m, const TargetSet& targets, DiagnosticEngine& diag);

  /// The default schedule unless a record tunes the kernel for the ISA.
  ScheduleFn schedule_fn() const;
  /// Kernel variants (spec, ISA) with a record, of them those whose schedule
  /// differs from the default, and all variants of `m`.
  int tuned() const;
  int changed() const;
  int variants() const { return variants_; }
  /// Stops using the tuned schedule of `spec` (it failed to compile); false
  /// when it had none.
  bool drop(const KernelSpec& spec) const;
  /// The record used for spec on isa, or nullptr.
  const TuningRecord* record(const KernelSpec& spec, Isa isa) const;

 private:
  struct State {
    std::map<std::pair<std::string, Isa>, TuningRecord> chosen;
    std::map<std::string, KernelSpec> specs;  ///< by key
  };
  std::shared_ptr<State> state_;
  int variants_ = 0;
};

}  // namespace cnnc::halide
