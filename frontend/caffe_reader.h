// Reader of Caffe's network descriptions (text .prototxt, the `layer { }`
// form): deploy files and train_val files, whose TEST phase is read. Weights
// (.caffemodel) are not read; the seeded initialisation applies. See the
// README's "Caffe prototxt" section for the layer types and their mapping.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontend/spec_reader.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::frontend {

std::optional<ir::Graph> read_caffe_prototxt(const std::string& path, const FrontendOptions& opts,
                                             DiagnosticEngine& diag);

/// The same on text in memory (`path` names it in messages). For the fuzzer.
std::optional<ir::Graph> read_caffe_text(std::string_view text, const std::string& path,
                                         const FrontendOptions& opts, DiagnosticEngine& diag);

}  // namespace cnnc::frontend
