// cnnc_model.hpp: a small C++ wrapper over the C API of a compiled model
// (include the model's NAME.h first). Errors become exceptions; instances are
// movable, not copyable, and destroyed with their owner.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cnnc {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class Model {
 public:
  /// weights: "" for embedded weights, else the file `cnnc compile --weights external` wrote.
  explicit Model(const std::string& weights = "")
      : m_(cnnc_create(weights.empty() ? nullptr : weights.c_str())) {
    if (!m_) throw std::runtime_error(std::string("cnnc_create: ") + cnnc_last_error(nullptr));
  }
  ~Model() { cnnc_destroy(m_); }
  Model(Model&& o) noexcept : m_(std::exchange(o.m_, nullptr)) {}
  Model& operator=(Model&& o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  static std::string name() { return cnnc_model_name(); }

  /// Empty tensors of the model's input shapes, to fill.
  static std::vector<Tensor> inputs() {
    return tensors(cnnc_num_inputs(), cnnc_input_name, cnnc_input_shape);
  }

  /// Runs the network; returns its outputs.
  std::vector<Tensor> run(const std::vector<Tensor>& in) {
    std::vector<Tensor> out = tensors(cnnc_num_outputs(), cnnc_output_name, cnnc_output_shape);
    std::vector<const float*> ip;
    std::vector<size_t> ib, ob;
    std::vector<float*> op;
    for (const Tensor& t : in) {
      ip.push_back(t.data.data());
      ib.push_back(t.data.size() * sizeof(float));
    }
    if (static_cast<int>(in.size()) != cnnc_num_inputs())
      throw std::invalid_argument("the model takes " + std::to_string(cnnc_num_inputs()) +
                                  " inputs");
    for (Tensor& t : out) {
      op.push_back(t.data.data());
      ob.push_back(t.data.size() * sizeof(float));
    }
    if (cnnc_run_sized(m_, ip.data(), ib.data(), op.data(), ob.data()) != CNNC_OK)
      throw std::runtime_error(std::string("cnnc_run: ") + cnnc_last_error(m_));
    return out;
  }

 private:
  template <class NameFn, class ShapeFn>
  static std::vector<Tensor> tensors(int n, NameFn name, ShapeFn shape) {
    std::vector<Tensor> ts;
    for (int i = 0; i < n; ++i) {
      Tensor t;
      t.name = name(i);
      int64_t dims[CNNC_MAX_RANK];
      int rank = shape(i, dims);
      t.shape.assign(dims, dims + rank);
      int64_t count = 1;
      for (int64_t d : t.shape) count *= d;
      t.data.assign(static_cast<size_t>(count), 0.0f);
      ts.push_back(std::move(t));
    }
    return ts;
  }

  cnnc_model* m_;
};

}  // namespace cnnc
