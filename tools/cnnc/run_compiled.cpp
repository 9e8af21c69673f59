#include "tools/cnnc/run_compiled.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <thread>

#include "io/npy.h"
#include "tools/cnnc/library_files.h"
#include "tools/cnnc/peak_flops.h"
#include "tools/cnnc/run_io.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

void CompiledRunOptions::add_to(ArgParser& p) {
  p.int_option(
      "--bench", "N",
      "time N runs (compiled code after warm-up runs); print min and median latency, images/s",
      &bench, 1, 1000000);
  p.flag("--profile",
         "per-kernel time, share, GFLOP/s and % of this machine's fp32 peak (measured in the same "
         "run)",
         &profile);
  p.int_option("--threads", "N",
               "threads of the kernels (default: CNNC_NUM_THREADS, else all cores)", &threads, 1,
               1024);
}

int CompiledRunOptions::thread_count() const {
  if (threads > 0) return static_cast<int>(threads);
  if (const char* e = std::getenv("CNNC_NUM_THREADS"); e && std::atoi(e) > 0) return std::atoi(e);
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

bool is_model_library(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && magic[0] == 0x7f && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F';
}

std::unique_ptr<CompiledModel> load_compiled(const std::string& path, const char* weights,
                                             DiagnosticEngine& diag) {
  std::string error;
  std::unique_ptr<CompiledModel> m = CompiledModel::open(path, error);
  if (!m) {
    diag.error(make_file_loc(path), error, {}, ExitCode::InvalidInput);
    throw DiagnosticsAbort{};
  }
  // `cnnc compile --weights external -o libm.so` writes m.weights.safetensors
  // beside the library: use it when no --weights names another file.
  std::string sibling;
  if (!weights && !m->weights_embedded) {
    sibling = library_weights_file(path);
    struct stat st;
    if (::stat(sibling.c_str(), &st) != 0) {
      diag.error(make_file_loc(path),
                 "the library was compiled with --weights external and " + sibling +
                     " does not exist: pass the weights file with --weights FILE",
                 {}, ExitCode::InvalidInput);
      throw DiagnosticsAbort{};
    }
    weights = sibling.c_str();
  }
  if (!m->create(weights, error)) {
    diag.error(make_file_loc(weights ? weights : path), "cnnc_create failed: " + error, {},
               ExitCode::InvalidInput);
    throw DiagnosticsAbort{};
  }
  return m;
}

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void print_profile(const CompiledModel& m, const Peak& peak, int threads) {
  std::vector<CompiledModel::KernelInfo> ks = m.kernels();
  const double runs = static_cast<double>(std::max<int64_t>(1, m.profiled_runs()));
  double total = 0;
  int64_t flops = 0;
  for (const auto& k : ks) {
    total += k.seconds / runs;
    flops += k.flops;
  }
  std::printf(
      "\nprofile: %lld runs, %d threads; peak %.1f GFLOP/s (%s FMA loop, measured in this run)\n",
      static_cast<long long>(m.profiled_runs()), threads, peak.gflops, peak.isa);
  std::printf("%4s  %-28s %-16s %10s %7s %9s %7s\n", "#", "layer", "op", "ms/run", "share",
              "GFLOP/s", "% peak");
  auto row = [&](const std::string& idx, const std::string& name, const std::string& op,
                 double secs, int64_t f) {
    const double gf = secs > 0 ? static_cast<double>(f) / secs * 1e-9 : 0;
    std::printf("%4s  %-28s %-16s %10.3f %6.1f%% %9.1f %6.1f%%\n", idx.c_str(), name.c_str(),
                op.c_str(), secs * 1e3, total > 0 ? 100 * secs / total : 0, gf,
                peak.gflops > 0 ? 100 * gf / peak.gflops : 0);
  };
  bool winograd = false;
  for (size_t i = 0; i < ks.size(); ++i) {
    row(std::to_string(i), ks[i].name, ks[i].op, ks[i].seconds / runs, ks[i].flops);
    winograd = winograd || ks[i].op.find("/winograd") != std::string::npos;
  }
  row("", "total", "", total, flops);
  if (winograd)
    std::printf(
        "(/winograd: F(4x4,3x3) does ~1/4 of the multiply-adds; its GFLOP/s and %% peak count "
        "the direct convolution's FLOPs, i.e. the rate a direct kernel would need to match it)\n");
}

}  // namespace

void print_latency(std::vector<double> ms, int64_t batch, int threads, const std::string& note) {
  std::sort(ms.begin(), ms.end());
  const double median = ms[ms.size() / 2];
  std::printf(
      "latency over %zu runs (batch %lld, %d threads%s): min %.3f ms  median %.3f ms  %.1f "
      "images/s\n",
      ms.size(), static_cast<long long>(batch), threads, note.empty() ? "" : (", " + note).c_str(),
      ms.front(), median, 1000.0 * static_cast<double>(batch) / median);
}

std::vector<ir::Tensor> run_compiled(CompiledModel& m, const std::vector<ir::Tensor>& inputs,
                                     const CompiledRunOptions& o, DiagnosticEngine& diag) {
  const int threads = o.thread_count();
  if (o.threads > 0) m.set_threads(threads);
  std::vector<ir::Tensor> outputs;
  std::vector<const float*> in;
  std::vector<float*> out;
  for (const ir::Tensor& t : inputs) in.push_back(t.data.data());
  for (const auto& info : m.outputs) {
    ir::Tensor t(ir::Shape{info.shape});
    outputs.push_back(std::move(t));
  }
  for (ir::Tensor& t : outputs) out.push_back(t.data.data());
  auto run = [&] {
    if (m.run(in, out) != CNNC_OK) {
      diag.error({}, "the compiled model failed: " + m.error(), {}, ExitCode::InvalidInput);
      throw DiagnosticsAbort{};
    }
  };
  run();
  if (o.bench == 0 && !o.profile) return outputs;

  // Warm-up: thread pool start, page faults, caches.
  for (int i = 0; i < 3; ++i) run();
  const int64_t n = o.bench > 0 ? o.bench : 10;
  if (o.profile) m.profile(true);
  std::vector<double> ms;
  for (int64_t i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    run();
    ms.push_back(ms_since(t0));
  }
  if (o.profile) m.profile(false);
  if (o.bench > 0) {
    const int64_t batch = m.inputs.empty() || m.inputs[0].shape.empty() ? 1 : m.inputs[0].shape[0];
    std::string note = m.kernel_isa().empty() ? "" : m.kernel_isa() + " kernels";
    if (o.profile) note += std::string(note.empty() ? "" : ", ") + "profiled";
    print_latency(ms, batch, threads, note);
  }
  if (o.profile) print_profile(m, measure_fp32_peak(threads), threads);
  return outputs;
}

int verb_run_library(const std::vector<std::string>& args) {
  std::string lib, weights;
  std::vector<Binding> inputs, outputs;
  CompiledRunOptions run_opts;
  ArgParser p(
      "cnnc run LIB.so --input [NAME=]X.npy [options]",
      "Runs a model library built by `cnnc compile` (the same C API any program uses) and writes\n"
      "or summarises its outputs. Inputs are float32 .npy arrays in C order of exactly the\n"
      "shapes compiled for.");
  p.positional("LIB", "a model library (libNAME.so)", &lib);
  add_io_options(p, inputs, outputs, "model");
  p.option("--weights", "FILE",
           "the weights of a library compiled with --weights external (default: "
           "NAME.weights.safetensors beside libNAME.so, as cnnc compile writes them)",
           [&](const std::string& v) {
             weights = v;
             return std::string();
           });
  run_opts.add_to(p);
  if (auto done = parse_verb_args(p, args)) return *done;
  DiagnosticEngine diag(std::cerr, DiagnosticOptions{});
  return run_verb(diag, [&] {
    {
      std::vector<std::string> outs, ins{lib, weights, library_weights_file(lib)};
      for (const Binding& b : outputs) outs.push_back(b.file);
      for (const Binding& b : inputs) ins.push_back(b.file);
      guard_outputs(outs, ins, diag);
    }
    std::unique_ptr<CompiledModel> m =
        load_compiled(lib, weights.empty() ? nullptr : weights.c_str(), diag);
    std::vector<std::string> in_names, out_names;
    for (const auto& t : m->inputs) in_names.push_back(t.name);
    for (const auto& t : m->outputs) out_names.push_back(t.name);
    auto in_bind = match(inputs, in_names, "--input", "input", diag);
    auto out_bind = match(outputs, out_names, "--output", "output", diag);
    diag.check();
    std::vector<ir::Tensor> tensors(m->inputs.size());
    std::vector<bool> given(m->inputs.size());
    for (const Bound& b : in_bind) {
      given[b.index] = true;
      auto t = io::read_npy(b.file, diag);
      if (!t) continue;
      const ir::Shape want{m->inputs[b.index].shape};
      if (t->shape != want) {
        diag.error(make_file_loc(b.file), "shape " + t->shape.str() + " does not match input '" +
                                              m->inputs[b.index].name + "' " + want.str() + " of " +
                                              lib +
                                              " (recompile with --batch N for another batch)");
        continue;
      }
      tensors[b.index] = std::move(*t);
    }
    for (size_t i = 0; i < given.size(); ++i)
      if (!given[i])
        diag.error({},
                   "missing --input for input '" + m->inputs[i].name + "' " +
                       ir::Shape{m->inputs[i].shape}.str(),
                   {}, ExitCode::Usage);
    diag.check();
    std::vector<ir::Tensor> results = run_compiled(*m, tensors, run_opts, diag);
    for (size_t i = 0; i < results.size(); ++i) {
      auto it = std::find_if(out_bind.begin(), out_bind.end(),
                             [&](const Bound& b) { return b.index == i; });
      if (it != out_bind.end())
        io::write_npy(it->file, results[i], diag);
      else if (out_bind.empty())
        print_summary(m->outputs[i].name, results[i]);
    }
  });
}

}  // namespace cnnc::tool
