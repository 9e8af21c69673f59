#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "backends/reference/interpreter.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "ir/shape_inference.h"
#include "support/interrupt.h"
#include "support/suggest.h"
#include "tools/cnnc/compile_options.h"
#include "tools/cnnc/run_compiled.h"
#include "tools/cnnc/run_io.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

std::vector<std::string> names_of(std::span<ir::Value* const> values) {
  std::vector<std::string> names;
  for (const ir::Value* v : values) names.push_back(v->name);
  return names;
}

// Compiles the (optimised) graph into a library in a work directory and
// runs it there.
std::vector<ir::Tensor> run_as_library(ir::Graph& graph, const std::vector<ir::Tensor>& tensors,
                                       const PipelineOptions& pipe, const ir::ShapeOptions& shapes,
                                       const CompileOptions& co, const CompiledRunOptions& ro,
                                       DiagnosticEngine& diag) {
  InterruptScope interrupts;
  ensure_planned(graph, pipe.no_verify, shapes, diag);
  halide::LoweredModel m = lower_graph(graph, diag, co);
  std::unique_ptr<TempDir> work = make_work_dir(co, diag);
  llvmgen::LibraryRequest req;
  req.targets = co.targets(diag);
  req.kernels = co.kernel_options();
  co.apply_tuning_db(m, req.targets, req.kernels, diag);
  req.output = work->file("lib" + std::string("model") + ".so");
  halide::BuiltKernels k = llvmgen::build_library(m, req, work->path(), diag);
  print_build_summary(k, co);
  std::unique_ptr<CompiledModel> lib = load_compiled(req.output, nullptr, diag);
  return run_compiled(*lib, tensors, ro, diag);
}

// Float32 kernels against the double-precision reference; and one reference
// run against another (batch norms folded into float32 weights round).
const Tolerance kCompiledTolerance{1e-4, 2e-5};
const Tolerance kPassTolerance{1e-5, 1e-6};

}  // namespace

int verb_run(const std::vector<std::string>& args) {
  // A model library rather than a network: its own options.
  for (const std::string& a : args) {
    if (a.empty() || a[0] == '-') continue;
    if (is_model_library(a)) return verb_run_library(args);
    break;
  }
  NetworkOptions net_opts;
  PipelineOptions pipe("none");
  WeightsOptions w;
  std::string net, out_weights;
  bool check = false;
  std::string backend = "reference";
  CompileOptions co;
  CompiledRunOptions cro;
  std::vector<Binding> inputs, outputs;
  ArgParser p(
      "cnnc run NET --input [NAME=]X.npy [options]",
      "Runs the network on the reference backend (a plain interpreter, the oracle of every other\n"
      "backend) and writes or summarises its outputs. Inputs are float32 .npy arrays in C order; "
      "an\n"
      "input whose batch (dim 0) differs from the network's re-batches the network.");
  p.positional("NET", kNetHelp, &net);
  add_io_options(p, inputs, outputs, "network");
  p.flag(
      "--check",
      "run the pipeline (--passes, default: the default pipeline) pass by pass on the reference\n"
      "backend and name the first pass whose outputs differ from the unoptimised graph's by more\n"
      "than 1e-5 * max(1, max |output|)",
      &check);
  p.option(
      "--output-weights", "FILE",
      "write every parameter after the run (training mode updates batch_norm running statistics)",
      [&](const std::string& v) {
        out_weights = v;
        return std::string();
      });
  p.choice(
      "--backend",
      "reference (default: the interpreter) or compiled (compile with the default pipeline, as\n"
      "`cnnc compile` does, and run the library; with --check, compare it with the reference\n"
      "backend's outputs of the unoptimised graph, tolerance 1e-4 * max(1, max |output|))",
      &backend, {"reference", "compiled"});
  w.add_to(p, /*allow_file=*/true);
  cro.add_to(p);
  co.add_to(p);
  pipe.add_to(p);
  p.epilog("cnnc run LIB.so runs a compiled library instead (see cnnc run LIB.so --help).\n\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    {
      std::vector<std::string> outs{out_weights}, ins{net, w.path};
      for (const Binding& b : outputs) outs.push_back(b.file);
      for (const Binding& b : inputs) ins.push_back(b.file);
      guard_outputs(outs, ins, diag);
    }
    if (backend == "reference" && cro.profile) {
      diag.error({},
                 "--profile times compiled kernels: add --backend compiled, or run a library built "
                 "by cnnc compile",
                 {}, ExitCode::Usage);
      return;
    }
    // A training pipeline adds inputs (labels, lr, step): it runs first, so
    // that --input can name them; the batch is then fixed (--batch).
    const std::vector<std::string> names = pipe.pipeline(diag);
    const bool makes_inputs = std::find(names.begin(), names.end(), "autodiff") != names.end() &&
                              !check && backend == "reference";
    if (makes_inputs) pipe.run(graph, net_opts.frontend.shapes, diag);
    if (diag.has_errors()) return;
    auto in_bind = match(inputs, names_of(graph.inputs()), "--input", "input", diag);
    auto out_bind = match(outputs, names_of(graph.outputs()), "--output", "output", diag);
    diag.check();
    for (size_t i = 0; i < graph.inputs().size(); ++i) {
      const ir::Value* v = graph.inputs()[i];
      bool given =
          std::any_of(in_bind.begin(), in_bind.end(), [&](const Bound& b) { return b.index == i; });
      if (!given)
        diag.error(SourceLoc{},
                   "missing --input for input '" + v->name + "' " + v->type.shape.str(), {},
                   ExitCode::Usage);
    }
    diag.check();
    // Read every input; accept another batch size if all inputs agree on it.
    std::vector<ir::Tensor> tensors(graph.inputs().size());
    int64_t batch = 0;
    for (const Bound& b : in_bind) {
      const ir::Value* v = graph.inputs()[b.index];
      const std::string& file = b.file;
      auto t = io::read_npy(file, diag);
      if (!t) continue;
      const ir::Shape& want = v->type.shape;
      if (std::find(t->shape.dims.begin(), t->shape.dims.end(), 0) != t->shape.dims.end()) {
        diag.error(make_file_loc(file), "array of shape " + t->shape.str() +
                                            " is empty: every dimension of input '" + v->name +
                                            "' must be at least 1");
        continue;
      }
      bool only_batch =
          t->shape.rank() == want.rank() && want.rank() > 0 && net_opts.batch == 0 &&
          std::equal(want.dims.begin() + 1, want.dims.end(), t->shape.dims.begin() + 1);
      if (t->shape != want &&
          !(only_batch && !makes_inputs && (batch == 0 || batch == t->shape[0]))) {
        diag.error(make_file_loc(file),
                   "shape " + t->shape.str() + " does not match input '" + v->name + "' " +
                       want.str() +
                       (makes_inputs ? " (a training graph: set the batch with --batch)" : ""));
        continue;
      }
      if (t->shape != want) batch = t->shape[0];
      tensors[b.index] = std::move(*t);
    }
    diag.check();
    auto write_results = [&](const std::vector<ir::Tensor>& results) {
      for (size_t i = 0; i < graph.outputs().size(); ++i) {
        auto it = std::find_if(out_bind.begin(), out_bind.end(),
                               [&](const Bound& b) { return b.index == i; });
        if (it != out_bind.end()) {
          io::write_npy(it->file, results[i], diag);
        } else if (out_bind.empty()) {
          print_summary(graph.outputs()[i]->name, results[i]);
        }
      }
    };
    if (batch > 0 && !ir::set_batch(graph, batch, net_opts.frontend.shapes, diag)) return;
    provide_weights(graph, w, diag);
    reference::RunOptions ro;
    ro.mode = pipe.mode == "training" ? reference::Mode::Training : reference::Mode::Inference;
    ro.seed = static_cast<uint64_t>(w.seed);
    if (!reference::check_runnable(graph, ro, diag) ||
        !reference::check_inputs(graph, tensors, diag))
      return;
    if (backend == "compiled") {
      if (pipe.mode == "training") {
        diag.error(
            {},
            "--backend compiled runs inference only; use the reference backend for --mode training",
            {}, ExitCode::Usage);
        return;
      }
      if (!out_weights.empty()) {
        diag.error({}, "--output-weights needs the reference backend", {}, ExitCode::Usage);
        return;
      }
      std::vector<ir::Tensor> want;
      if (check) {
        want = reference::run(graph, tensors, ro).outputs;  // the unoptimised graph
        // The library's working memory starts as a NaN no kernel computes
        // (runtime/runtime.c), so an output nobody wrote cannot pass.
        setenv("CNNC_POISON_ARENA", "1", 1);
      }
      PipelineOptions compiled = pipe;
      if (compiled.passes.empty()) compiled.passes = "default";
      compiled.run(graph, net_opts.frontend.shapes, diag);
      std::vector<ir::Tensor> got =
          run_as_library(graph, tensors, compiled, net_opts.frontend.shapes, co, cro, diag);
      if (check) {
        const NumericDiff d = compare(got, want, names_of(graph.outputs()), kCompiledTolerance);
        std::printf("compiled vs reference: %s (per element: %s)  %s\n", d.str().c_str(),
                    kCompiledTolerance.str().c_str(), d.ok() ? "ok" : "DIFFERS");
        if (!d.ok())
          diag.error({}, "the compiled library's outputs differ from the reference backend's");
      }
      write_results(got);
      return;
    }
    if (check) {
      // The oracle: the graph as given. Then the pipeline, checked after every pass.
      PipelineOptions checked = pipe;
      if (checked.passes.empty()) checked.passes = "default";
      std::vector<ir::Tensor> want = reference::run(graph, tensors, ro).outputs;
      std::string first_bad;
      std::printf("%-18s %14s %14s   (tolerance %s)\n", "after pass", "max |diff|", "of tolerance",
                  kPassTolerance.str().c_str());
      checked.run(graph, net_opts.frontend.shapes, diag,
                  [&](const std::string& pass, const ir::Graph& g2) {
                    reference::RunOptions r2 = ro;
                    r2.simulate_arena = g2.arena_bytes.has_value();
                    const NumericDiff d = compare(reference::run(g2, tensors, r2).outputs, want,
                                                  names_of(g2.outputs()), kPassTolerance);
                    if (d.nonfinite > 0)
                      std::printf("%-18s %s  DIFFERS\n", pass.c_str(), d.str().c_str());
                    else
                      std::printf("%-18s %14.3g %14.3g  %s\n", pass.c_str(), d.max_abs, d.worst,
                                  d.ok() ? "ok" : "DIFFERS");
                    if (!d.ok() && first_bad.empty()) first_bad = pass;
                  });
      if (!first_bad.empty())
        diag.error(SourceLoc{},
                   "pass '" + first_bad +
                       "' changed the outputs beyond the tolerance (first of the pipeline)");
      else
        std::printf("all passes keep the outputs within the tolerance\n");
      return;
    }
    if (!makes_inputs) pipe.run(graph, net_opts.frontend.shapes, diag);
    ro.simulate_arena = graph.arena_bytes.has_value();  // a planned graph runs in its arena
    reference::RunResult r = reference::run(graph, tensors, ro);
    if (cro.bench > 0) {  // the oracle's speed, for comparisons: one thread, no warm-up needed
      std::vector<double> ms;
      for (int64_t i = 0; i < cro.bench; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        reference::run(graph, tensors, ro);
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      print_latency(ms, graph.inputs().empty() ? 1 : graph.inputs()[0]->type.shape[0], 1,
                    "reference backend");
    }
    write_results(r.outputs);
    if (!out_weights.empty()) {
      for (auto& [name, t] : r.updated_state)
        graph.find_value(name, true)->data = std::make_shared<const ir::Tensor>(t);
      io::Metadata meta = {{"cnnc.network", graph.name}};
      io::write_safetensors(out_weights, io::collect_weights(graph), meta, diag);
    }
  });
}

}  // namespace cnnc::tool
