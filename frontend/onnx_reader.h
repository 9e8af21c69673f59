// Reader of ONNX models (ModelProto, IR versions 3..10, default-domain opsets
// 7..21) for the ops of the classic CNNs; see the README's "ONNX models"
// section for what each op maps to and what is refused.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "frontend/spec_reader.h"
#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::frontend {

inline constexpr int kOnnxMinOpset = 7;
inline constexpr int kOnnxMaxOpset = 21;
inline constexpr int kOnnxMaxIrVersion = 10;
/// Protobuf messages cannot exceed 2 GiB; larger models keep weights outside.
inline constexpr int64_t kOnnxMaxFileBytes = (int64_t{1} << 31) - 1;

/// Reads the model at `path`. Initializers become parameter values; external
/// data is read from the model's directory only.
std::optional<ir::Graph> read_onnx(const std::string& path, const FrontendOptions& opts,
                                   DiagnosticEngine& diag);

/// The same on bytes in memory (`path` names the model in messages and gives
/// its directory). Used by the fuzzer.
std::optional<ir::Graph> read_onnx_bytes(std::string_view bytes, const std::string& path,
                                         const FrontendOptions& opts, DiagnosticEngine& diag);

}  // namespace cnnc::frontend
