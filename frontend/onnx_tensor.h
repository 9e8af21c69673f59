// ONNX TensorProto → values: initializers, Constant nodes and constant
// inputs (shapes, pads, clip bounds). Every size is checked before use
// (catalog F-10..F-13): raw_data must hold exactly dims × element size bytes,
// external data must stay inside the model's directory and within its file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace onnx {
class TensorProto;
}

namespace cnnc::frontend {

/// A constant of the model. Floating types (FLOAT, DOUBLE, FLOAT16, BFLOAT16)
/// are widened or narrowed to float; integer types (INT64, INT32, INT8, UINT8,
/// INT16, UINT16, BOOL) are kept as int64.
struct OnnxConst {
  std::vector<int64_t> dims;  ///< may be empty (a scalar)
  bool is_float = true;
  std::vector<float> f;    ///< is_float
  std::vector<int64_t> i;  ///< !is_float
  int64_t elements() const {
    return is_float ? static_cast<int64_t>(f.size()) : static_cast<int64_t>(i.size());
  }
  double at(int64_t k) const {
    return is_float ? f[static_cast<size_t>(k)] : static_cast<double>(i[static_cast<size_t>(k)]);
  }
};

struct TensorReadOptions {
  std::string model_dir;       ///< where external data files are looked up
  bool allow_outside = false;  ///< --allow-paths-outside-model-dir
  int64_t max_elements = int64_t{1} << 31;
};

/// Dims as text for messages: "[64, 3, 7, 7]".
std::string dims_str(const std::vector<int64_t>& dims);

/// The ONNX name of element type `t` ("FLOAT", "STRING", ...).
std::string onnx_type_name(int t);

/// Decodes `t`; reports problems as "<what>: ..." at `loc`.
std::optional<OnnxConst> read_onnx_tensor(const onnx::TensorProto& t, const std::string& what,
                                          const TensorReadOptions& opts, const SourceLoc& loc,
                                          DiagnosticEngine& diag);

}  // namespace cnnc::frontend
