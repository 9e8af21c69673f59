#include "ir/types.h"

#include "support/checked_math.h"

namespace cnnc::ir {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32:
      return "f32";
  }
  return "?";
}

int64_t dtype_size(DType t) {
  switch (t) {
    case DType::F32:
      return 4;
  }
  return 0;
}

std::optional<int64_t> Shape::elements() const { return checked_product(dims); }

std::string Shape::str() const {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s.empty() ? "scalar" : s;
}

std::string TensorType::str() const {
  std::string s = std::string(dtype_name(dtype)) + "[";
  for (size_t i = 0; i < shape.dims.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape.dims[i]);
  }
  return s + "]";
}

}  // namespace cnnc::ir
