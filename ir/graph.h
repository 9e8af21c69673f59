// The graph IR: SSA values (inputs, parameters, op results) and nodes (ops) in
// topological order.
//
// Operands of a node are ordered: data inputs, then the op's parameters in the
// order shape inference lists them (weight, bias, ...), then the residual of a
// fused epilogue. Parameters are values too, so passes that fold constants
// (BN into conv weights) or autodiff (gradients of parameters) treat them like
// any other value.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/attrs.h"
#include "ir/ops.h"
#include "ir/tensor.h"
#include "ir/types.h"
#include "support/diagnostics.h"

namespace cnnc::ir {

class Node;

enum class ValueKind : uint8_t { Input, Param, Result };

/// What a parameter is for; it decides its initialisation and its name suffix.
/// Updated: the parameter an optimizer op updates (any of the trainable roles);
/// Momentum, AdamM, AdamV: optimizer state, named "<parameter>.<suffix>".
enum class ParamRole : uint8_t {
  Weight,
  Bias,
  Gamma,
  Beta,
  RunningMean,
  RunningVar,
  Updated,
  Momentum,
  AdamM,
  AdamV
};
const char* param_suffix(ParamRole r);  ///< "weight", "bias", "gamma", ...
/// True for what gradients train. False for state that training updates
/// without gradients (BN running statistics, which PyTorch keeps as buffers
/// rather than parameters) and for optimizer state.
inline bool is_trainable(ParamRole r) { return r <= ParamRole::Beta || r == ParamRole::Updated; }

class Value {
 public:
  ValueKind kind = ValueKind::Result;
  std::string name;  ///< printed as %name (inputs, results) or @name (params)
  TensorType type;
  Node* producer = nullptr;  ///< Result only
  int result_index = 0;      ///< Result only: which output of the producer
  SourceLoc loc;
  /// Arena byte offset assigned by memory planning; unset before planning.
  std::optional<int64_t> arena_offset;
  /// Bytes from one image (dim 0) to the next in the arena when the value is
  /// a slice of a wider buffer (a concatenation built in place at batch > 1):
  /// each image is dense, the images are this far apart. 0: dense throughout.
  int64_t arena_batch_stride = 0;
  /// Param only: the values, once weights are loaded or initialised. Shared
  /// (and immutable) so that copies of a graph do not copy weights.
  std::shared_ptr<const Tensor> data;

  int64_t bytes() const;  ///< element count × dtype size (shape verified)
};

class Node {
 public:
  OpKind op = OpKind::Relu;
  Attrs attrs;
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  SourceLoc loc;
  /// Layers of the source network that passes folded or fused into this node
  /// (its own name not included): the report's "what each kernel contains".
  std::vector<std::string> fused;

  /// The layer name: the name of the first output.
  const std::string& name() const { return outputs.at(0)->name; }
  Value* output() const { return outputs.at(0); }

  template <class A>
  A& as() {
    return std::get<A>(attrs);
  }
  template <class A>
  const A& as() const {
    return std::get<A>(attrs);
  }
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  Graph(Graph&&) = default;
  Graph& operator=(Graph&&) = default;

  /// A deep copy of the structure; parameter data is shared (it is immutable).
  Graph clone() const;

  std::string name;
  /// Weights file as written in the source, relative to `source_dir`; empty if none.
  std::string weights_path;
  std::string source_dir;
  /// Bytes of the activation arena once memory is planned (values carry offsets).
  std::optional<int64_t> arena_bytes;

  Value* add_input(std::string name, TensorType type, SourceLoc loc = {});
  Value* add_param(std::string name, TensorType type, SourceLoc loc = {});
  /// Appends a node (callers keep topological order) producing one output per
  /// entry of `out_types`, named `out_names`.
  Node* add_node(OpKind op, Attrs attrs, std::vector<Value*> inputs,
                 std::vector<std::string> out_names, std::vector<TensorType> out_types,
                 SourceLoc loc = {});
  void add_output(Value* v) { outputs_.push_back(v); }

  std::span<Value* const> inputs() const { return inputs_; }
  std::span<Value* const> params() const { return params_; }
  std::span<Value* const> outputs() const { return outputs_; }
  std::vector<Value*>& mutable_outputs() { return outputs_; }
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }

  /// Removes the nodes whose results reach no graph output, then unused params.
  /// Returns the removed nodes' names (in graph order).
  std::vector<std::string> remove_dead_nodes();
  /// Removes `n`; its results must have no uses left. Values it alone used are
  /// dropped by collect_garbage().
  void erase_node(Node* n);
  /// Inserts a node, taking ownership, right after `pos` (or first when null).
  Node* insert_after(const Node* pos, std::unique_ptr<Node> n);
  /// Drops values no node, input list or output list refers to.
  void collect_garbage();
  /// Drops parameters no node uses; returns their names.
  std::vector<std::string> remove_unused_params();

  /// Replaces every use of `from` (node operands and graph outputs) by `to`.
  void replace_all_uses(Value* from, Value* to);

  /// Value by printed name ("%x" namespace for inputs/results, "@w" for params).
  Value* find_value(std::string_view name, bool param) const;

  /// Number of uses of each value (operand slots plus graph outputs).
  std::unordered_map<const Value*, int> use_counts() const;

  /// Batch size: dim 0 of the first input (1 if there is none).
  int64_t batch() const;
  /// A training graph: it has ops besides layers (a loss, backward ops, updates).
  bool is_training() const;

 private:
  Value* new_value(ValueKind kind, std::string name, TensorType type, SourceLoc loc);

  std::vector<std::unique_ptr<Value>> values_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_;
  std::vector<Value*> params_;
  std::vector<Value*> outputs_;
};

}  // namespace cnnc::ir
