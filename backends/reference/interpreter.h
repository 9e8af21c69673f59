// The reference backend: a plain interpreter of the graph IR, the oracle every
// optimised or generated path is checked against. Straightforward loops in
// double precision (values are rounded to float only at the float interface),
// no cleverness; single-threaded and deterministic (dropout masks come from a
// seeded stream per layer). Runs training graphs too: losses and the backward
// ops of the autodiff pass.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"
#include "support/diagnostics.h"

namespace cnnc::reference {

enum class Mode {
  Inference,  ///< batch_norm uses running statistics; dropout as at test time
  Training,   ///< batch_norm uses batch statistics and updates running ones; dropout masks
};

struct RunOptions {
  Mode mode = Mode::Inference;
  uint64_t seed = 0;  ///< dropout masks in training mode
  /// For a memory-planned graph: keep every op result at its planned offset in
  /// one arena, written after each op and read back for every use, so a plan
  /// that overwrites a value still needed gives wrong outputs.
  bool simulate_arena = false;
};

struct RunResult {
  std::vector<ir::Tensor> outputs;  ///< in the order of g.outputs()
  /// Training mode: the updated batch-norm running statistics, by parameter name.
  std::vector<std::pair<std::string, ir::Tensor>> updated_state;
};

/// Reports what makes `g` impossible to run in `opts.mode` (batch_norm in
/// training mode on one value per channel). Returns false if there was any.
bool check_runnable(const ir::Graph& g, const RunOptions& opts, DiagnosticEngine& diag);

/// Reports labels of a softmax_cross_entropy that are not class indices of its
/// logits (for labels that are graph inputs). Returns false if there was any.
bool check_inputs(const ir::Graph& g, const std::vector<ir::Tensor>& inputs,
                  DiagnosticEngine& diag);

/// Runs `g` on `inputs` (in the order of g.inputs(), shapes equal to theirs).
/// Preconditions (internal errors otherwise): `g` verifies, every parameter
/// has data, and the labels of a softmax_cross_entropy are class indices.
RunResult run(const ir::Graph& g, const std::vector<ir::Tensor>& inputs,
              const RunOptions& opts = {});

using Tensor64 = ir::TensorOf<double>;
using Params64 = std::unordered_map<std::string, Tensor64>;

struct RunResult64 {
  std::vector<Tensor64> outputs;
  std::vector<std::pair<std::string, Tensor64>> updated_state;
};

/// As run(), with inputs and results in double. `params` (by name) replace the
/// graph's parameter data where given: gradient checks perturb parameters by
/// less than a float can resolve.
RunResult64 run_f64(const ir::Graph& g, const std::vector<Tensor64>& inputs,
                    const RunOptions& opts = {}, const Params64* params = nullptr);

}  // namespace cnnc::reference
