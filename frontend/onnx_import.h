// Internal to the ONNX reader: the state of one import and the converters of
// the individual ops (onnx_ops.cpp).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/graph_builder.h"
#include "frontend/onnx_tensor.h"
#include "onnx/onnx_pb.h"

namespace cnnc::frontend {

/// What an ONNX value name stands for during the import.
struct OnnxValue {
  ir::Value* v = nullptr;              ///< a computed tensor, or
  std::shared_ptr<const OnnxConst> c;  ///< a constant
  bool padded = false;                 ///< v with zero padding still to fold
  ir::Pad4 pad;                        ///< (into the consumer: Conv, AveragePool)
  std::string pad_desc;                ///< the Pad node, for messages
};

inline OnnxValue computed(ir::Value* v) {
  OnnxValue o;
  o.v = v;
  return o;
}

class OnnxImporter {
 public:
  OnnxImporter(ir::Graph& g, DiagnosticEngine& diag, SourceLoc file, ir::ShapeOptions shapes,
               int64_t opset)
      : b(g, diag, shapes), diag(diag), file(std::move(file)), opset(opset) {}

  GraphBuilder b;
  DiagnosticEngine& diag;
  SourceLoc file;
  int64_t opset;
  std::unordered_map<std::string, OnnxValue> values;
  std::unordered_map<std::string, int> uses;  ///< consumers and graph outputs of each name
  std::unordered_map<std::string, bool> is_graph_output;

  // The node being converted.
  const onnx::NodeProto* node = nullptr;
  std::string desc;  ///< "node 'conv1' (Conv)"

  /// Reports "<desc>: message" and returns false.
  bool fail(const std::string& message);

  const onnx::AttributeProto* attr(const std::string& name) const;
  /// Typed attribute readers: a wrong type or a list longer than `max_len` is
  /// reported (and returns nullopt); an absent attribute gives the default.
  std::optional<int64_t> attr_int(const std::string& name, int64_t dflt);
  std::optional<double> attr_float(const std::string& name, double dflt);
  std::optional<std::string> attr_string(const std::string& name, const std::string& dflt);
  std::optional<std::vector<int64_t>> attr_ints(const std::string& name, size_t max_len);

  /// Input k, or nullptr when absent or empty ("" marks an omitted optional input).
  const OnnxValue* input(int k) const;
  /// Input k as a computed tensor (not a constant, no pending Pad), else reports.
  ir::Value* data(int k);
  /// Input k as a constant, else reports (`role` names it: "weight").
  const OnnxConst* constant(int k, const std::string& role);

  /// The IR layer name for this node: the output's name when it is a graph
  /// output, else the node's name, else its output's.
  std::string layer_name();
  /// Adds an IR layer for this node.
  ir::Node* emit(ir::OpKind op, ir::Attrs attrs, const std::vector<ir::Value*>& ins);
  /// Gives parameter `p` its values, checking the count against its shape.
  bool set_param(ir::Value* p, std::vector<float> values, const std::string& role);
  /// Defines output k of this node.
  void define(int k, OnnxValue v);
  /// True if output k of this node is named (used by someone or a graph output).
  bool output_used(int k) const;

  /// Uses of value `name` by nodes and graph outputs.
  int use_count(const std::string& name) const;
};

using OnnxConverter = std::function<bool(OnnxImporter&)>;

/// The converter for a default-domain op type, or nullptr when unsupported.
const OnnxConverter* onnx_converter(const std::string& op_type);

}  // namespace cnnc::frontend
