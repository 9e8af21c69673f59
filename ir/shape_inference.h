// Shape inference: the output types of an op and the shapes of its parameters,
// from its attributes and the types of its data inputs.
//
// Formulas (per spatial dim, "padded" = in + pad_before + pad_after,
// "k_eff" = dilation·(kernel−1) + 1):
//   conv2d, pooling:  out = floor((padded − k_eff) / stride) + 1
//   ceil_mode pools:  out = ceil((padded − k) / stride) + 1, minus one if the
//                     last window would start in the bottom/right padding
//   global_avg_pool:  [N, C, 1, 1];  linear: [N, units] from input flattened
// All arithmetic is checked int64; errors name the layer and point at the
// attribute that causes them.
#pragma once

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ir/attrs.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::ir {

struct ParamSpec {
  ParamRole role;
  Shape shape;
};

struct OpShapes {
  std::vector<TensorType> outputs;
  std::vector<ParamSpec> params;  ///< in operand order
};

struct ShapeOptions {
  bool large_buffers = false;  ///< allow tensors over 2^31-1 elements
  bool strict_shapes = false;  ///< unused input rows/cols are errors, not warnings
};

/// Where and how inference reports problems.
struct ShapeContext {
  DiagnosticEngine& diag;
  SourceLoc loc;      ///< the layer
  std::string layer;  ///< its name, for "layer 'conv1': ..."
  /// Position of an attribute's value (falls back to `loc` when unset or unknown).
  std::function<SourceLoc(std::string_view attr)> attr_loc;
  std::vector<std::string> input_names;  ///< names of the data inputs, for messages
  ShapeOptions options;
  bool report_warnings = true;  ///< false when re-inferring a graph already checked

  SourceLoc where(std::string_view attr) const;
};

/// Allowed number of data inputs (not counting parameters or a residual).
struct Arity {
  int min = 1;
  int max = 1;  ///< -1: unbounded
};
Arity data_arity(OpKind op);

/// How many of a backward op's data operands are its forward op's data inputs
/// (the rest are y and, except for a loss, dy).
int forward_data_inputs(OpKind grad, int data_inputs);

/// How many leading data inputs of the forward op get a gradient: all, except
/// a loss's targets.
int differentiable_inputs(OpKind forward, int data_inputs);

/// The parameter operands the op takes with these attributes, in operand order.
std::vector<ParamRole> param_roles(OpKind op, const Attrs& attrs);
inline int num_params(OpKind op, const Attrs& attrs) {
  return static_cast<int>(param_roles(op, attrs).size());
}

/// Infers output types and parameter shapes. Reports errors through ctx and
/// returns nullopt on failure.
std::optional<OpShapes> infer_shapes(OpKind op, const Attrs& attrs,
                                     std::span<const TensorType> data_inputs, ShapeContext& ctx);

/// Checks a tensor type against the IR's limits (rank, dims, element count);
/// `what` names it in the message ("input 'data'", "activation of 'conv1'").
bool check_tensor_limits(const TensorType& t, const std::string& what, const SourceLoc& loc,
                         const ShapeOptions& opts, DiagnosticEngine& diag);

/// The operands of a node split by role.
struct Operands {
  std::span<Value* const> data;
  std::span<Value* const> params;
  Value* residual = nullptr;
};
/// Splits node operands; nullopt if their number does not fit the op.
std::optional<Operands> split_operands(const Node& n);

/// Window arithmetic for one spatial dim, shared by conv and pooling (and by
/// backends that must agree with it). Returns the output extent, or a value
/// < 1 when the window does not fit.
int64_t window_output_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                             int64_t pad_after, int64_t dilation, bool ceil_mode);

}  // namespace cnnc::ir

namespace cnnc::ir {

/// Sets dim 0 (the batch) of every graph input to `batch` and re-infers every
/// result type. Reports problems (limits exceeded at the new batch) at the
/// offending layer; returns false if there was any.
bool set_batch(Graph& g, int64_t batch, const ShapeOptions& opts, DiagnosticEngine& diag);

}  // namespace cnnc::ir
