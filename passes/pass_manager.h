// Runs a pipeline of passes with the cross-cutting hooks: the verifier after
// every pass (a pass that breaks the IR is an internal error naming it, with a
// reproducer file holding the IR before it), printing after passes, timing.
#pragma once

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "passes/pass.h"
#include "support/diagnostics.h"

namespace cnnc::passes {

struct PipelineOptions {
  bool verify_each = true;               ///< --verify-each (on by default: it is cheap)
  bool print_after_all = false;          ///< --print-after-all
  std::vector<std::string> print_after;  ///< --print-after=P (repeatable)
  bool print_changed = false;  ///< --print-changed: print only when the pass changed the graph
  bool time_passes = false;    ///< --time-passes
  std::ostream* print_to = nullptr;  ///< where printing and timing go (stderr when null)
};

/// Parses "a,b,c", "default" or "none" into pass names; reports an unknown
/// name with a suggestion (exit status 2) and returns false.
bool parse_pipeline(const std::string& spec, Mode mode, std::vector<std::string>& out,
                    DiagnosticEngine& diag);

/// Runs the passes in order. Per-pass observers may inspect the graph after
/// each pass (used by `cnnc run --check`).
class PassManager {
 public:
  PassManager(std::vector<std::string> pipeline, PipelineOptions opts);

  /// Appends a pass instance (a pass outside the registry, e.g. in tests).
  void add(std::unique_ptr<Pass> pass);

  using Observer = std::function<void(const std::string& pass, const ir::Graph& g)>;
  void set_observer(Observer o) { observer_ = std::move(o); }

  /// Returns true if any pass changed the graph.
  bool run(ir::Graph& g, PassContext& ctx);

  const std::vector<std::string>& pipeline() const { return pipeline_; }

 private:
  std::vector<std::string> pipeline_;
  std::vector<std::unique_ptr<Pass>> passes_;
  PipelineOptions opts_;
  Observer observer_;
};

/// "fold-batch-norm: 53 folded, 2 refused" lines for --pass-stats.
std::string format_pass_stats(const PassContext& ctx);

}  // namespace cnnc::passes
