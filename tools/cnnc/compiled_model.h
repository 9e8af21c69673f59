// A compiled model library opened with dlopen, through the C API every
// library exports (runtime/cnnc.h). One instance per object.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/cnnc.h"

namespace cnnc::tool {

class CompiledModel {
 public:
  /// Opens the library; nullptr with `error` set when it is not a loadable
  /// cnnc model library of this ABI.
  static std::unique_ptr<CompiledModel> open(const std::string& path, std::string& error);
  ~CompiledModel();

  /// Creates the instance (weights: NULL for embedded). False with `error`.
  bool create(const char* weights_path, std::string& error);

  struct TensorInfo {
    std::string name;
    std::vector<int64_t> shape;
    size_t bytes = 0;
  };
  std::vector<TensorInfo> inputs, outputs;
  std::string name, target;
  size_t arena_bytes = 0, weights_bytes = 0;
  bool weights_embedded = true;

  /// Runs once; CNNC_OK or the status, with error() saying why.
  int run(const std::vector<const float*>& in, const std::vector<float*>& out);
  std::string error() const;
  /// cnnc_save_weights: every weight (and a training library's optimizer state).
  bool save_weights(const std::string& path, std::string& error);
  void set_threads(int n);
  void profile(bool on);

  struct KernelInfo {
    std::string name, op;
    int64_t flops = 0;
    double seconds = 0;  ///< summed over profiled runs
  };
  std::vector<KernelInfo> kernels() const;
  int64_t profiled_runs() const;
  /// The ISA variant of the kernels in the last run ("avx2", ...; cnnc_kernel_isa).
  std::string kernel_isa() const;

 private:
  CompiledModel() = default;
  void* handle_ = nullptr;
  cnnc_model* model_ = nullptr;
  struct Api;
  std::unique_ptr<Api> api_;
};

}  // namespace cnnc::tool
