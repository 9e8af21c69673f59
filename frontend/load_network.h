// Loads a network from any supported description, chosen by file extension:
// .json (our spec), .onnx (ONNX), .prototxt (Caffe), .cnnir (textual IR). The result is verified.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontend/spec_reader.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::frontend {

std::optional<ir::Graph> load_network(const std::string& path, const FrontendOptions& opts,
                                      DiagnosticEngine& diag);

/// Parses and verifies textual IR held in memory (`path` names it in messages).
std::optional<ir::Graph> parse_cnnir_text(std::string_view text, const std::string& path,
                                          const FrontendOptions& opts, DiagnosticEngine& diag);

/// Extensions load_network reads, for --help.
inline constexpr const char* kNetworkFormats =
    ".json (cnnc spec), .onnx (ONNX model), .prototxt (Caffe), .cnnir (textual IR)";

}  // namespace cnnc::frontend
