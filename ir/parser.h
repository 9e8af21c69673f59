// Parser of the textual IR (.cnnir); see printer.h for the format.
//
// Result types (`: f32[...]`) may be omitted: they are inferred, and when
// written they must equal what inference gives. Parameters must be declared
// with their type before use. `//` starts a comment (lit RUN lines).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"

namespace cnnc::ir {

/// Parses `text` (the contents of `file`). Reports errors with file:line:col
/// and returns nullopt if there was any; the result is not yet verified.
std::optional<Graph> parse_ir(std::string_view text, const SourceLoc& file, DiagnosticEngine& diag,
                              const ShapeOptions& opts = {});

}  // namespace cnnc::ir
