// Lowering a memory-planned graph to what a compiled library executes: the
// distinct kernels, the call sequence, every buffer view the calls use (arena
// slices, inputs, weights), and the weights in the layouts the kernels read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/halide/kernel_spec.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::halide {

/// Where a buffer's memory is (cnnrt_space in runtime/cnnrt_model.h).
enum class Space : int32_t { Arena = 0, Weights = 1, Input = 2 };

struct BufferRef {
  Space space = Space::Arena;
  int32_t index = 0;   ///< the input, for Space::Input
  int64_t offset = 0;  ///< bytes into the arena, weights or input
  Geometry geometry;
  bool operator==(const BufferRef&) const = default;
};

/// A parameter tensor in the layout its kernel reads (e.g. linear weights
/// transposed), placed in the weights blob.
struct WeightTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  ///< empty when the graph has no weights (structure only)
  int64_t offset = 0;       ///< 64-byte aligned
};

struct KernelCall {
  std::string layer;             ///< the node it computes (or "<concat>.copy<i>")
  std::string op;                ///< its IR op
  int spec = 0;                  ///< index into LoweredModel::specs
  std::vector<int32_t> buffers;  ///< indexes into LoweredModel::buffers, in argument order
  int64_t flops = 0;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t bytes = 0;
  int64_t arena_offset = 0;  ///< outputs: where the result lies
};

struct LoweredModel {
  std::string name;
  std::vector<KernelSpec> specs;  ///< distinct kernels
  std::vector<KernelCall> calls;  ///< in execution order
  std::vector<BufferRef> buffers;
  std::vector<WeightTensor> weights;
  int64_t weights_bytes = 0;
  std::vector<TensorInfo> inputs, outputs;
  int64_t arena_bytes = 0;
  /// A training step (lower_training.cpp): the optimizer updates the weights
  /// in place; these inputs (-1: none) are what cnnc_train_step fills.
  bool training = false;
  int32_t labels_input = -1, lr_input = -1, step_input = -1, seed_input = -1;
};

/// A fingerprint of the weights' names, shapes and placement: an external
/// weights file must carry it (metadata "cnnc.layout"), so a file in another
/// layout (e.g. untransposed linear weights) is refused, not misread.
std::string weights_layout(const LoweredModel& m);

/// The weights blob: every tensor at its offset, zero padding between.
std::string weights_blob(const LoweredModel& m);

/// Choices of algorithm, where more than one computes a layer.
struct LowerOptions {
  /// 3×3 convolutions by Winograd F(4×4, 3×3) where it applies
  /// (winograd_applies); false: every convolution direct.
  bool winograd = true;
};

/// Lowers `g`, which must be memory-planned: a network, or a training graph
/// (autodiff, optimizer), whose step then updates the weights in place.
/// Reports what cannot be compiled and returns false.
bool lower(const ir::Graph& g, LoweredModel& out, DiagnosticEngine& diag,
           const LowerOptions& options = {});

}  // namespace cnnc::halide
