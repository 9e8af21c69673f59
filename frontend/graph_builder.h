// Building an IR graph layer by layer from a foreign model format (ONNX,
// Caffe): names made valid and unique, shapes inferred, parameters created
// with the spec's naming (`<layer>.weight`), so that a converted model can be
// written back as a JSON spec with a matching weights file.
#pragma once

#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"

namespace cnnc::frontend {

/// A name valid in the JSON spec ([A-Za-z_][A-Za-z0-9_.-]{0,127}): '/' becomes
/// '.', a leading separator is dropped, other characters become '_'.
std::string spec_name(const std::string& foreign);

/// The directory of a model file ("." for a bare name), where the files it
/// names are looked up, and its stem as a spec name (the model's name).
std::string model_dir(const std::string& path);
std::string model_name(const std::string& path);

class GraphBuilder {
 public:
  GraphBuilder(ir::Graph& g, DiagnosticEngine& diag, ir::ShapeOptions shapes)
      : g_(g), diag_(diag), shapes_(shapes) {}

  /// `spec_name(foreign)`, made unique among the names given out so far.
  std::string unique_name(const std::string& foreign);

  ir::Value* add_input(const std::string& foreign, ir::TensorType t, const SourceLoc& loc);

  /// Adds a layer named `name` (already unique) computing `op` on `ins`; its
  /// parameters are created (without values) in operand order. Errors are
  /// reported at `loc` as "layer '<what>': ..."; nullptr then.
  ir::Node* add_layer(ir::OpKind op, ir::Attrs attrs, const std::vector<ir::Value*>& ins,
                      const std::string& name, const SourceLoc& loc, const std::string& what);

  /// The parameters of `n` (operands after its data inputs).
  static std::vector<ir::Value*> params_of(const ir::Node& n);

  ir::Graph& graph() { return g_; }

 private:
  ir::Graph& g_;
  DiagnosticEngine& diag_;
  ir::ShapeOptions shapes_;
  std::unordered_set<std::string> names_;
};

}  // namespace cnnc::frontend
