// A dense float32 tensor in row-major (C) order: parameter data, inputs and
// outputs of the reference backend, the contents of .npy and safetensors files.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/types.h"

namespace cnnc::ir {

struct Tensor {
  Shape shape;
  std::vector<float> data;  ///< shape.elements() values

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.0f)
      : shape(std::move(s)), data(static_cast<size_t>(shape.elements().value_or(0)), fill) {}

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  float& operator[](int64_t i) { return data[static_cast<size_t>(i)]; }
  float operator[](int64_t i) const { return data[static_cast<size_t>(i)]; }
};

}  // namespace cnnc::ir
