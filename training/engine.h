// What runs the training step and the validation batches: the reference
// backend by default, or (cnnc train --backend compiled) libraries the driver
// compiles from the same graphs. The trainer keeps the parameters in its
// training graph; an engine holds its own copy while it steps and gives it
// back when the trainer checkpoints, validates or finishes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/tensor.h"
#include "support/diagnostics.h"

namespace cnnc::training {

class StepEngine {
 public:
  virtual ~StepEngine() = default;
  /// One optimizer step. `inputs` as the training graph's (images, labels,
  /// lr[, step]); `seed` keys the dropout masks. Returns false with `error`.
  virtual bool step(const std::vector<ir::Tensor>& inputs, uint64_t seed, double& loss,
                    ir::Tensor& prediction, std::string& error) = 0;
  /// Writes the current parameters, optimizer state and running statistics
  /// into the training graph's parameters.
  virtual bool read_back(ir::Graph& train, std::string& error) = 0;
};

class Predictor {
 public:
  virtual ~Predictor() = default;
  /// The network's output for one batch of images.
  virtual bool predict(const ir::Tensor& images, ir::Tensor& out, std::string& error) = 0;
};

/// Builds engines; null functions mean the reference backend. Errors are
/// reported to `diag` (null result).
struct Engines {
  /// From the training graph (autodiff + optimizer) with its current values.
  std::function<std::unique_ptr<StepEngine>(const ir::Graph& train, DiagnosticEngine& diag)> train;
  /// From the network with the trained values, once per validation.
  std::function<std::unique_ptr<Predictor>(const ir::Graph& eval, DiagnosticEngine& diag)> infer;
  std::string name = "reference";  ///< for messages and the log
};

}  // namespace cnnc::training
