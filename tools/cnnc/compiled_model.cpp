#include "tools/cnnc/compiled_model.h"

#include <dlfcn.h>

namespace cnnc::tool {

// The entry points, looked up by name.
struct CompiledModel::Api {
  int (*abi_version)();
  const char* (*model_name)();
  const char* (*target)();
  int (*num_inputs)();
  int (*num_outputs)();
  const char* (*input_name)(int);
  const char* (*output_name)(int);
  int (*input_shape)(int, int64_t*);
  int (*output_shape)(int, int64_t*);
  size_t (*input_bytes)(int);
  size_t (*output_bytes)(int);
  size_t (*arena_bytes)();
  size_t (*weights_bytes)();
  int (*weights_embedded)();
  cnnc_model* (*create)(const char*);
  void (*destroy)(cnnc_model*);
  int (*run_sized)(cnnc_model*, const float* const*, const size_t*, float* const*, const size_t*);
  const char* (*last_error)(const cnnc_model*);
  int (*set_num_threads)(int);
  int (*profile)(cnnc_model*, int);
  int (*num_kernels)();
  const char* (*kernel_name)(int);
  const char* (*kernel_op)(int);
  int64_t (*kernel_flops)(int);
  double (*kernel_seconds)(const cnnc_model*, int);
  int64_t (*profiled_runs)(const cnnc_model*);
  const char* (*kernel_isa)(const cnnc_model*);
  int (*save_weights)(cnnc_model*, const char*);
};

namespace {

template <class F>
bool bind(void* h, const char* name, F& f, std::string& missing) {
  f = reinterpret_cast<F>(dlsym(h, name));
  if (!f) missing += (missing.empty() ? "" : ", ") + std::string(name);
  return f != nullptr;
}

}  // namespace

std::unique_ptr<CompiledModel> CompiledModel::open(const std::string& path, std::string& error) {
  // A path without '/' would be searched for in the library path, not here.
  const std::string where = path.find('/') == std::string::npos ? "./" + path : path;
  void* h = dlopen(where.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    error = std::string("cannot load ") + path + ": " + (e ? e : "unknown error");
    return nullptr;
  }
  std::unique_ptr<CompiledModel> m(new CompiledModel);
  m->handle_ = h;
  m->api_ = std::make_unique<Api>();
  Api& a = *m->api_;
  std::string missing;
  bind(h, "cnnc_abi_version", a.abi_version, missing);
  if (!a.abi_version) {
    error = path + ": not a cnnc model library (no cnnc_abi_version)";
    return nullptr;
  }
  if (a.abi_version() != CNNC_ABI) {
    error = path + ": compiled for cnnc ABI " + std::to_string(a.abi_version()) +
            "; this cnnc reads ABI " + std::to_string(CNNC_ABI) + " (recompile it)";
    return nullptr;
  }
  bind(h, "cnnc_model_name", a.model_name, missing);
  bind(h, "cnnc_target", a.target, missing);
  bind(h, "cnnc_num_inputs", a.num_inputs, missing);
  bind(h, "cnnc_num_outputs", a.num_outputs, missing);
  bind(h, "cnnc_input_name", a.input_name, missing);
  bind(h, "cnnc_output_name", a.output_name, missing);
  bind(h, "cnnc_input_shape", a.input_shape, missing);
  bind(h, "cnnc_output_shape", a.output_shape, missing);
  bind(h, "cnnc_input_bytes", a.input_bytes, missing);
  bind(h, "cnnc_output_bytes", a.output_bytes, missing);
  bind(h, "cnnc_arena_bytes", a.arena_bytes, missing);
  bind(h, "cnnc_weights_bytes", a.weights_bytes, missing);
  bind(h, "cnnc_weights_embedded", a.weights_embedded, missing);
  bind(h, "cnnc_create", a.create, missing);
  bind(h, "cnnc_destroy", a.destroy, missing);
  bind(h, "cnnc_run_sized", a.run_sized, missing);
  bind(h, "cnnc_last_error", a.last_error, missing);
  bind(h, "cnnc_set_num_threads", a.set_num_threads, missing);
  bind(h, "cnnc_profile", a.profile, missing);
  bind(h, "cnnc_num_kernels", a.num_kernels, missing);
  bind(h, "cnnc_kernel_name", a.kernel_name, missing);
  bind(h, "cnnc_kernel_op", a.kernel_op, missing);
  bind(h, "cnnc_kernel_flops", a.kernel_flops, missing);
  bind(h, "cnnc_kernel_seconds", a.kernel_seconds, missing);
  bind(h, "cnnc_profiled_runs", a.profiled_runs, missing);
  bind(h, "cnnc_kernel_isa", a.kernel_isa, missing);
  bind(h, "cnnc_save_weights", a.save_weights, missing);
  if (!missing.empty()) {
    error = path + ": a damaged cnnc model library (missing " + missing + ")";
    return nullptr;
  }
  m->name = a.model_name();
  m->target = a.target();
  m->arena_bytes = a.arena_bytes();
  m->weights_bytes = a.weights_bytes();
  m->weights_embedded = a.weights_embedded() != 0;
  auto tensors = [](int n, auto name, auto shape, auto bytes) {
    std::vector<TensorInfo> out;
    for (int i = 0; i < n; ++i) {
      TensorInfo t;
      t.name = name(i);
      int64_t dims[CNNC_MAX_RANK];
      int rank = shape(i, dims);
      t.shape.assign(dims, dims + (rank > 0 ? rank : 0));
      t.bytes = bytes(i);
      out.push_back(t);
    }
    return out;
  };
  m->inputs = tensors(a.num_inputs(), a.input_name, a.input_shape, a.input_bytes);
  m->outputs = tensors(a.num_outputs(), a.output_name, a.output_shape, a.output_bytes);
  return m;
}

CompiledModel::~CompiledModel() {
  if (model_) api_->destroy(model_);
  if (handle_) dlclose(handle_);
}

bool CompiledModel::create(const char* weights_path, std::string& error) {
  model_ = api_->create(weights_path);
  if (!model_) error = api_->last_error(nullptr);
  return model_ != nullptr;
}

int CompiledModel::run(const std::vector<const float*>& in, const std::vector<float*>& out) {
  std::vector<size_t> in_bytes, out_bytes;
  for (const TensorInfo& t : inputs) in_bytes.push_back(t.bytes);
  for (const TensorInfo& t : outputs) out_bytes.push_back(t.bytes);
  return api_->run_sized(model_, in.data(), in_bytes.data(), out.data(), out_bytes.data());
}

bool CompiledModel::save_weights(const std::string& path, std::string& error) {
  if (api_->save_weights(model_, path.c_str()) == CNNC_OK) return true;
  error = api_->last_error(model_);
  return false;
}

std::string CompiledModel::error() const { return api_->last_error(model_); }
void CompiledModel::set_threads(int n) { api_->set_num_threads(n); }
void CompiledModel::profile(bool on) { api_->profile(model_, on ? 1 : 0); }
int64_t CompiledModel::profiled_runs() const { return api_->profiled_runs(model_); }
std::string CompiledModel::kernel_isa() const { return api_->kernel_isa(model_); }

std::vector<CompiledModel::KernelInfo> CompiledModel::kernels() const {
  std::vector<KernelInfo> out;
  for (int k = 0; k < api_->num_kernels(); ++k)
    out.push_back({api_->kernel_name(k), api_->kernel_op(k), api_->kernel_flops(k),
                   api_->kernel_seconds(model_, k)});
  return out;
}

}  // namespace cnnc::tool
