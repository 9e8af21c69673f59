// A dense tensor in row-major (C) order: parameter data, inputs and outputs of
// the reference backend, the contents of .npy and safetensors files. Tensor
// (float32) is what the IR stores; the reference backend also computes in
// double (TensorOf<double>) for gradient checks.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/types.h"

namespace cnnc::ir {

template <class T>
struct TensorOf {
  Shape shape;
  std::vector<T> data;  ///< shape.elements() values

  TensorOf() = default;
  explicit TensorOf(Shape s, T fill = T(0))
      : shape(std::move(s)), data(static_cast<size_t>(shape.elements().value_or(0)), fill) {}

  int64_t size() const { return static_cast<int64_t>(data.size()); }
  T& operator[](int64_t i) { return data[static_cast<size_t>(i)]; }
  T operator[](int64_t i) const { return data[static_cast<size_t>(i)]; }
};

using Tensor = TensorOf<float>;

/// The same values in another element type.
template <class To, class From>
TensorOf<To> convert(const TensorOf<From>& t) {
  TensorOf<To> r;
  r.shape = t.shape;
  r.data.assign(t.data.begin(), t.data.end());
  return r;
}

}  // namespace cnnc::ir
