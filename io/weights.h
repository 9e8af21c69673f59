// Giving a graph's parameters their values: from a weights file, checked
// against the layers that own them, or from a seeded initialisation that is
// bit-identical on every machine.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "io/safetensors.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::io {

struct BindOptions {
  bool strict = false;  ///< --strict-weights: tensors the network does not use are errors
};

/// Sets every parameter of `g` from `tensors` (read from `path`). Reports, by
/// layer: missing tensors (all of them), wrong shapes, NaN or infinite values,
/// negative batch-norm variances; unused tensors are warnings (errors when
/// strict). Returns false if there was any error.
bool bind_weights(ir::Graph& g, std::vector<NamedTensor> tensors, const std::string& path,
                  const BindOptions& opts, DiagnosticEngine& diag);

/// Initialises every parameter from `seed`: conv2d/linear weights He-normal
/// (fan_in, gain for the activation that follows, through batch_norm and
/// dropout) when a ReLU-family activation follows, else Xavier-uniform; biases
/// 0; batch_norm gamma 1, beta 0, running mean 0, running variance 1. Each
/// parameter draws from its own stream, keyed by seed and name, so adding a
/// layer leaves the others unchanged. Uses only IEEE basic operations.
void init_weights(ir::Graph& g, uint64_t seed);

/// The parameters with their values, in graph order (for writing).
std::vector<std::pair<std::string, const ir::Tensor*>> collect_weights(const ir::Graph& g);

/// The layer that uses parameter `p` first, or nullptr.
const ir::Node* owner_of(const ir::Graph& g, const ir::Value* p);

/// What `p` is for in the layer that owns it (by operand position).
std::optional<ir::ParamRole> role_of(const ir::Graph& g, const ir::Value* p);

}  // namespace cnnc::io
