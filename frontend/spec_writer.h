// Writing a graph as a JSON spec (version 1): what `cnnc import` produces from
// an ONNX model or a Caffe prototxt. Only spec ops can be written (the graph
// before optimisation); names are already valid spec names (graph_builder.h).
#pragma once

#include <string>

#include "ir/graph.h"

namespace cnnc::frontend {

/// The spec text; `weights_file` (may be empty) becomes its "weights" entry,
/// `description` its "description".
std::string write_json_spec(const ir::Graph& g, const std::string& weights_file,
                            const std::string& description);

}  // namespace cnnc::frontend
