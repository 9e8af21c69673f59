// NumPy .npy files (format versions 1.0, 2.0 and 3.0) holding one float32
// array in C order: the inputs and outputs of `cnnc run`. Anything else
// (float64, integers, big-endian, Fortran order, object arrays, which would
// need pickle) is refused with a message that says how to convert.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "ir/tensor.h"
#include "support/diagnostics.h"

namespace cnnc::io {

inline constexpr int64_t kMaxNpyHeader = 65536;

std::optional<ir::Tensor> parse_npy(std::string_view bytes, const std::string& path,
                                    DiagnosticEngine& diag);
std::optional<ir::Tensor> read_npy(const std::string& path, DiagnosticEngine& diag);

/// Format 1.0, '<f4', C order; the header padded to 64 bytes as NumPy does.
std::string serialize_npy(const ir::Tensor& t);
void write_npy(const std::string& path, const ir::Tensor& t, DiagnosticEngine& diag);

}  // namespace cnnc::io
