#include "backends/halide/kernel_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "backends/halide/kernel_compiler.h"
#include "backends/halide/templates.h"
#include "support/random.h"
#include "thread_pool.h"

namespace cnnc::halide {

namespace {

// Parallel loops on the runtime's pool, as in a compiled library.
int pool_par_for(Halide::JITUserContext* uc, int (*task)(Halide::JITUserContext*, int, uint8_t*),
                 int min, int size, uint8_t* closure) {
  return cnnrt_pool_do_par_for(uc, reinterpret_cast<cnnrt_task_fn>(task), min, size, closure);
}

}  // namespace

void use_runtime_pool(int threads) {
  cnnrt_pool_start(nullptr);
  if (threads > 0) cnnrt_pool_set_threads(threads);
}

namespace {

// An argument's memory, and where in it its elements lie.
struct Storage {
  std::vector<float> data;
  size_t first = 0, span = 0;
  float* begin() { return data.data() + first; }
};

}  // namespace

struct JitKernel::Impl {
  Halide::Pipeline pipeline;
  Halide::Target target;
  std::vector<Storage> storage;  // per argument, output last
  std::vector<Halide::Buffer<float>> buffers;

  void run() { pipeline.realize(Halide::Pipeline::RealizationArg(buffers.back()), target); }
};

namespace {

// A buffer with g's extents and strides (not necessarily dense: a concat
// slice, a blocked view) in fresh zeroed storage `st`. Argument `index`
// starts 64-byte aligned, as in a library's arena, and 448 bytes further into
// a 4 KiB page than the argument before it: vectors straight from malloc
// started 16 bytes past a page, so every 64-byte access split two cache lines
// and all arguments aliased in 4 KiB (some kernels timed 2x slower than in
// their network).
Halide::Buffer<float> view(Storage& st, const Geometry& g, size_t index) {
  std::vector<halide_dimension_t> dims;
  int64_t n = 1;
  for (int d = 0; d < g.rank; ++d) {
    const auto i = static_cast<size_t>(d);
    dims.push_back({0, g.extent[i], g.stride[i], 0});
    n += int64_t{g.extent[i] - 1} * g.stride[i];
  }
  st.span = static_cast<size_t>(n);
  st.data.assign(st.span + 2048, 0.0f);  // room to move up to 8 KiB in
  const auto at = reinterpret_cast<uintptr_t>(st.data.data());
  const uintptr_t want = (at + 4095) / 4096 * 4096 + (index * 448) % 4096;
  st.first = (want - at) / sizeof(float);
  return Halide::Buffer<float>(st.begin(), g.rank, dims.data());
}

}  // namespace

JitKernel::JitKernel(const KernelSpec& spec, const Schedule& s, const std::string& target,
                     uint64_t seed)
    : impl_(std::make_unique<Impl>()) {
  tmpl::Built b = tmpl::build(spec, s);
  impl_->target = Halide::Target(target == "host" ? host_target() : target)
                      .without_feature(Halide::Target::NoRuntime)
                      .without_feature(Halide::Target::UserContext);
  impl_->storage.resize(spec.args.size());
  for (size_t a = 0; a < spec.args.size(); ++a) {
    Storage& st = impl_->storage[a];
    impl_->buffers.push_back(view(st, spec.args[a], a));
    if (a + 1 == spec.args.size()) break;
    RandomStream rng(seed, spec.key() + "#" + std::to_string(a));
    for (float *v = st.begin(), *end = v + st.span; v != end; ++v)
      *v = static_cast<float>(2 * rng.uniform() - 1);
    b.args[a].set(impl_->buffers[a]);
  }
  impl_->pipeline = Halide::Pipeline(b.output);
  impl_->pipeline.jit_handlers().custom_do_par_for = pool_par_for;
  impl_->pipeline.compile_jit(impl_->target);
}

JitKernel::~JitKernel() = default;

void JitKernel::run() { impl_->run(); }

std::vector<double> JitKernel::time(double seconds, int min_runs, int max_runs) {
  using clock = std::chrono::steady_clock;
  // Workers spin between runs, as between the kernels of a library's run.
  cnnrt_pool_run_begin();
  const auto warm_end = clock::now() + std::chrono::duration<double>(seconds);
  do run();
  while (clock::now() < warm_end);
  std::vector<double> ms;
  const auto end = clock::now() + std::chrono::duration<double>(seconds);
  while (static_cast<int>(ms.size()) < max_runs &&
         (static_cast<int>(ms.size()) < min_runs || clock::now() < end)) {
    const auto t0 = clock::now();
    run();
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - t0).count());
  }
  cnnrt_pool_run_end();
  return ms;
}

std::vector<float> JitKernel::output() const {
  Storage& st = impl_->storage.back();
  return std::vector<float>(st.begin(), st.begin() + st.span);
}

TimingSummary summarize(std::vector<double> ms) {
  TimingSummary t;
  t.runs = static_cast<int>(ms.size());
  if (ms.empty()) return t;
  std::sort(ms.begin(), ms.end());
  const size_t n = ms.size();
  t.median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
  const double half = 0.98 * std::sqrt(static_cast<double>(n));
  const auto at = [&](double i) {
    return ms[static_cast<size_t>(std::clamp(i, 0.0, static_cast<double>(n - 1)))];
  };
  t.lo = at(std::floor(n / 2.0 - half));
  t.hi = at(std::ceil(n / 2.0 - 1 + half));
  return t;
}

}  // namespace cnnc::halide
