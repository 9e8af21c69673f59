// Reader of the JSON network spec, version 1 (see ../shared/ARCHITECTURE.md
// and the README's "Network spec" section, which documents blocks).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"
#include "support/file_io.h"

namespace cnnc::frontend {

struct FrontendOptions {
  int64_t max_input_size = kDefaultMaxInputSize;  ///< --max-input-size
  int64_t max_layers = 100000;                    ///< --max-layers, after block expansion
  int max_depth = 64;                             ///< JSON nesting
  int max_block_depth = 16;                       ///< nested block instances
  bool allow_paths_outside_model_dir = false;     ///< --allow-paths-outside-model-dir
  /// --batch, for models whose inputs leave the batch symbolic (ONNX); 0: none given.
  int64_t batch = 0;
  /// --input-shape NAME=NxCxHxW: shapes of inputs the model leaves open
  /// (a Caffe Data layer's top, an ONNX input with symbolic dims).
  std::vector<std::pair<std::string, std::vector<int64_t>>> input_shapes;
  ir::ShapeOptions shapes;
};

/// Reads, validates and shape-checks the spec at `path`. All errors found are
/// reported (up to the engine's limit); nullopt if there was any.
std::optional<ir::Graph> read_json_spec(const std::string& path, const FrontendOptions& opts,
                                        DiagnosticEngine& diag);

/// The same on text already in memory (`file` names it in messages; `dir` is
/// where relative weight paths resolve). Used by the fuzzer and unit tests.
std::optional<ir::Graph> read_json_spec_text(std::string_view text, const SourceLoc& file,
                                             const std::string& dir, const FrontendOptions& opts,
                                             DiagnosticEngine& diag);

}  // namespace cnnc::frontend
