#include "tools/cnnc/compiled_engines.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "io/safetensors.h"
#include "passes/pass_manager.h"
#include "passes/passes.h"
#include "tools/cnnc/compiled_model.h"
#include "tools/cnnc/run_compiled.h"

namespace cnnc::tool {

namespace {

// A library compiled from `g` after the default pipeline of `mode`, opened,
// with an instance (load_compiled creates it).
struct Built {
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<CompiledModel> lib;
};

Built build(ir::Graph g, passes::Mode mode, const CompileOptions& co,
            const ir::ShapeOptions& shapes, DiagnosticEngine& diag) {
  passes::PassManager pm(passes::default_pipeline(mode), {});
  passes::PassContext ctx(mode, shapes);
  ctx.diag = &diag;
  pm.run(g, ctx);
  if (ctx.errors > 0) throw DiagnosticsAbort{};
  halide::LoweredModel m = lower_graph(g, diag, co);
  Built b;
  b.dir = make_work_dir(co, diag);
  llvmgen::LibraryRequest req;
  req.targets = co.targets(diag);
  req.kernels = co.kernel_options();
  req.output =
      b.dir->file("lib" + std::string(mode == passes::Mode::Training ? "step" : "eval") + ".so");
  halide::BuiltKernels k = llvmgen::build_library(m, req, b.dir->path(), diag);
  print_build_summary(k, co);
  b.lib = load_compiled(req.output, nullptr, diag);
  return b;
}

class CompiledStep : public training::StepEngine {
 public:
  explicit CompiledStep(Built b) : b_(std::move(b)) {}

  bool step(const std::vector<ir::Tensor>& inputs, uint64_t seed, double& loss,
            ir::Tensor& prediction, std::string& error) override {
    CompiledModel& lib = *b_.lib;
    // The graph's inputs in order; the library adds "seed" last when it has dropout.
    std::vector<const float*> in;
    for (const ir::Tensor& t : inputs) in.push_back(t.data.data());
    float seed_bits[2];
    const uint32_t words[2] = {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
    std::memcpy(seed_bits, words, sizeof words);
    if (lib.inputs.size() == inputs.size() + 1) in.push_back(seed_bits);
    if (in.size() != lib.inputs.size()) {
      error = "internal error: the library takes " + std::to_string(lib.inputs.size()) +
              " inputs, the step gives " + std::to_string(in.size());
      return false;
    }
    float l = 0;
    prediction = ir::Tensor(ir::Shape{lib.outputs[1].shape});
    std::vector<float*> out = {&l, prediction.data.data()};
    const int rc = lib.run(in, out);
    if (rc == CNNC_ERR_NONFINITE) {  // no update made: the trainer reports the divergence
      loss = std::nan("");
      return true;
    }
    if (rc != CNNC_OK) {
      error = lib.error();
      return false;
    }
    loss = l;
    return true;
  }

  bool read_back(ir::Graph& train, std::string& error) override {
    const std::string path = b_.dir->file("state.safetensors");
    if (!b_.lib->save_weights(path, error)) return false;
    std::ostringstream why;
    DiagnosticEngine quiet(why);
    auto tensors = io::read_safetensors(path, quiet);
    if (!tensors) {
      error = why.str();
      return false;
    }
    for (io::NamedTensor& t : *tensors) {
      ir::Value* p = train.find_value(t.name, true);
      if (!p || p->kind != ir::ValueKind::Param) {
        error = "internal error: the library holds '" + t.name + "', not a parameter";
        return false;
      }
      p->data = std::make_shared<const ir::Tensor>(std::move(t.tensor));
    }
    return true;
  }

 private:
  Built b_;
};

class CompiledPredictor : public training::Predictor {
 public:
  explicit CompiledPredictor(Built b) : b_(std::move(b)) {}
  bool predict(const ir::Tensor& images, ir::Tensor& out, std::string& error) override {
    out = ir::Tensor(ir::Shape{b_.lib->outputs[0].shape});
    if (b_.lib->run({images.data.data()}, {out.data.data()}) == CNNC_OK) return true;
    error = b_.lib->error();
    return false;
  }

 private:
  Built b_;
};

}  // namespace

training::Engines compiled_engines(const CompileOptions& co, const ir::ShapeOptions& shapes,
                                   bool fallback) {
  training::Engines e;
  e.name = "compiled";
  e.train = [co, shapes, fallback](
                const ir::Graph& train,
                DiagnosticEngine& diag) -> std::unique_ptr<training::StepEngine> {
    std::ostringstream why;
    DiagnosticEngine own(why);
    DiagnosticEngine& d = fallback ? own : diag;
    try {
      // Fault for tests: CNNC_TRAIN_FAULT=no_compiled_step fails the step's
      // compile, as a toolchain failure would (every layer has kernels).
      const char* fault = std::getenv("CNNC_TRAIN_FAULT");
      if (fault && std::strcmp(fault, "no_compiled_step") == 0) {
        d.error({}, "the training step was not compiled (CNNC_TRAIN_FAULT=no_compiled_step)");
        throw DiagnosticsAbort();
      }
      return std::make_unique<CompiledStep>(
          build(train.clone(), passes::Mode::Training, co, shapes, d));
    } catch (const DiagnosticsAbort&) {
    }
    if (fallback) {
      std::string first = why.str();
      first = first.substr(0, first.find('\n'));
      diag.note({},
                "training on the reference backend: the step cannot be compiled (" + first + ")");
    }
    return nullptr;
  };
  e.infer = [co, shapes](const ir::Graph& eval,
                         DiagnosticEngine& diag) -> std::unique_ptr<training::Predictor> {
    CompileOptions quiet = co;
    quiet.quiet = true;  // once per epoch: cached kernels, nothing to say
    try {
      return std::make_unique<CompiledPredictor>(
          build(eval.clone(), passes::Mode::Inference, quiet, shapes, diag));
    } catch (const DiagnosticsAbort&) {
      return nullptr;
    }
  };
  return e;
}

}  // namespace cnnc::tool
