#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "backends/reference/interpreter.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "ir/shape_inference.h"
#include "support/suggest.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

// "name=file" or "file".
struct Binding {
  std::string name, file;
};

Binding split_binding(const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos) return {"", v};
  return {v.substr(0, eq), v.substr(eq + 1)};
}

// Which graph value each binding refers to; a bare file is allowed only when
// there is exactly one candidate.
std::vector<std::pair<const ir::Value*, std::string>> match(const std::vector<Binding>& bs,
                                                            std::span<ir::Value* const> values,
                                                            const char* flag, const char* kind,
                                                            DiagnosticEngine& diag) {
  std::vector<std::pair<const ir::Value*, std::string>> out;
  std::vector<std::string> names;
  for (const ir::Value* v : values) names.push_back(v->name);
  std::map<std::string, std::string> seen;
  for (const Binding& b : bs) {
    const ir::Value* v = nullptr;
    if (b.name.empty()) {
      if (values.size() != 1) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        diag.error(SourceLoc{},
                   std::string(flag) + " " + b.file + ": the network has " +
                       std::to_string(values.size()) + " " + kind + "s (" + list + "); write " +
                       flag + " NAME=" + b.file,
                   {}, ExitCode::Usage);
        continue;
      }
      v = values[0];
    } else {
      for (const ir::Value* c : values)
        if (c->name == b.name) v = c;
      if (!v) {
        diag.error(SourceLoc{},
                   std::string(flag) + ": the network has no " + kind + " '" + b.name + "'" +
                       did_you_mean(b.name, names),
                   {}, ExitCode::Usage);
        continue;
      }
    }
    if (!seen.emplace(v->name, b.file).second) {
      diag.error(SourceLoc{}, std::string(flag) + ": " + kind + " '" + v->name + "' given twice",
                 {}, ExitCode::Usage);
      continue;
    }
    out.emplace_back(v, b.file);
  }
  return out;
}

void print_summary(const std::string& name, const ir::Tensor& t) {
  std::printf("output '%s': %s\n", name.c_str(), t.shape.str().c_str());
  if (t.data.empty()) return;
  double lo = t.data[0], hi = t.data[0], sum = 0;
  for (float v : t.data) {
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
    sum += v;
  }
  std::printf("  min %.6g  max %.6g  mean %.6g\n", lo, hi,
              sum / static_cast<double>(t.data.size()));
  if (t.shape.rank() == 2) {  // class scores: the best class of each row
    int64_t rows = t.shape[0], cols = t.shape[1];
    std::printf("  argmax:");
    for (int64_t r = 0; r < std::min<int64_t>(rows, 16); ++r) {
      auto row = t.data.begin() + r * cols;
      std::printf(" %lld", static_cast<long long>(std::max_element(row, row + cols) - row));
    }
    std::printf(rows > 16 ? " ...\n" : "\n");
  }
}

}  // namespace

// Largest |a - b| over all outputs, and the tolerance it is held to.
struct Diff {
  double max_abs = 0, tol = 0;
};
Diff compare(const std::vector<ir::Tensor>& got, const std::vector<ir::Tensor>& want, double rtol) {
  Diff d;
  double scale = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    for (size_t j = 0; j < want[i].data.size(); ++j) {
      scale = std::max(scale, std::fabs(static_cast<double>(want[i].data[j])));
      if (got[i].shape != want[i].shape) {
        d.max_abs = INFINITY;
        continue;
      }
      d.max_abs =
          std::max(d.max_abs, std::fabs(static_cast<double>(got[i].data[j]) - want[i].data[j]));
    }
  }
  d.tol = rtol * scale;
  return d;
}

int verb_run(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("none");
  WeightsOptions w;
  std::string net, out_weights;
  bool check = false;
  std::vector<Binding> inputs, outputs;
  ArgParser p(
      "cnnc run NET --input [NAME=]X.npy [options]",
      "Runs the network on the reference backend (a plain interpreter, the oracle of every other\n"
      "backend) and writes or summarises its outputs. Inputs are float32 .npy arrays in C order; "
      "an\n"
      "input whose batch (dim 0) differs from the network's re-batches the network.");
  p.positional("NET", "the network: a .json spec or a .cnnir file", &net);
  p.repeated_option("--input", "[NAME=]FILE.npy",
                    "an input (NAME= needed when the network has several)",
                    [&](const std::string& v) {
                      inputs.push_back(split_binding(v));
                      return std::string();
                    });
  p.repeated_option("--output", "[NAME=]FILE.npy",
                    "write an output (default: print a summary of every output)",
                    [&](const std::string& v) {
                      outputs.push_back(split_binding(v));
                      return std::string();
                    });
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
  w.add_to(p, /*allow_file=*/true);
  pipe.add_to(p);
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    auto in_bind = match(inputs, graph.inputs(), "--input", "input", diag);
    auto out_bind = match(outputs, graph.outputs(), "--output", "output", diag);
    diag.check();
    for (const ir::Value* v : graph.inputs()) {
      bool given =
          std::any_of(in_bind.begin(), in_bind.end(), [&](const auto& b) { return b.first == v; });
      if (!given)
        diag.error(SourceLoc{},
                   "missing --input for input '" + v->name + "' " + v->type.shape.str(), {},
                   ExitCode::Usage);
    }
    diag.check();
    // Read every input; accept another batch size if all inputs agree on it.
    std::vector<ir::Tensor> tensors(graph.inputs().size());
    int64_t batch = 0;
    for (const auto& [v, file] : in_bind) {
      auto t = io::read_npy(file, diag);
      if (!t) continue;
      const ir::Shape& want = v->type.shape;
      bool only_batch =
          t->shape.rank() == want.rank() && want.rank() > 0 && net_opts.batch == 0 &&
          std::equal(want.dims.begin() + 1, want.dims.end(), t->shape.dims.begin() + 1);
      if (t->shape != want && !(only_batch && (batch == 0 || batch == t->shape[0]))) {
        diag.error(make_file_loc(file), "shape " + t->shape.str() + " does not match input '" +
                                            v->name + "' " + want.str());
        continue;
      }
      if (t->shape != want) batch = t->shape[0];
      size_t i = static_cast<size_t>(std::find(graph.inputs().begin(), graph.inputs().end(), v) -
                                     graph.inputs().begin());
      tensors[i] = std::move(*t);
    }
    diag.check();
    if (batch > 0 && !ir::set_batch(graph, batch, net_opts.frontend.shapes, diag)) return;
    provide_weights(graph, w, diag);
    reference::RunOptions ro;
    ro.mode = pipe.mode == "training" ? reference::Mode::Training : reference::Mode::Inference;
    ro.seed = static_cast<uint64_t>(w.seed);
    if (!reference::check_runnable(graph, ro, diag)) return;
    if (check) {
      // The oracle: the graph as given. Then the pipeline, checked after every pass.
      PipelineOptions checked = pipe;
      if (checked.passes.empty()) checked.passes = "default";
      std::vector<ir::Tensor> want = reference::run(graph, tensors, ro).outputs;
      std::string first_bad;
      std::printf("%-18s %14s %14s\n", "after pass", "max |diff|", "tolerance");
      checked.run(graph, net_opts.frontend.shapes, diag,
                  [&](const std::string& pass, const ir::Graph& g2) {
                    reference::RunOptions r2 = ro;
                    r2.simulate_arena = g2.arena_bytes.has_value();
                    Diff d = compare(reference::run(g2, tensors, r2).outputs, want, 1e-5);
                    bool ok = d.max_abs <= d.tol;
                    std::printf("%-18s %14.3g %14.3g  %s\n", pass.c_str(), d.max_abs, d.tol,
                                ok ? "ok" : "DIFFERS");
                    if (!ok && first_bad.empty()) first_bad = pass;
                  });
      if (!first_bad.empty())
        diag.error(SourceLoc{},
                   "pass '" + first_bad +
                       "' changed the outputs beyond the tolerance (first of the pipeline)");
      else
        std::printf("all passes keep the outputs within the tolerance\n");
      return;
    }
    pipe.run(graph, net_opts.frontend.shapes, diag);
    ro.simulate_arena = graph.arena_bytes.has_value();  // a planned graph runs in its arena
    reference::RunResult r = reference::run(graph, tensors, ro);
    for (size_t i = 0; i < graph.outputs().size(); ++i) {
      const ir::Value* o = graph.outputs()[i];
      auto it = std::find_if(out_bind.begin(), out_bind.end(),
                             [&](const auto& b) { return b.first == o; });
      if (it != out_bind.end()) {
        if (emit_guard(it->second, net, diag)) io::write_npy(it->second, r.outputs[i], diag);
      } else if (out_bind.empty()) {
        print_summary(o->name, r.outputs[i]);
      }
    }
    if (!out_weights.empty()) {
      for (auto& [name, t] : r.updated_state)
        graph.find_value(name, true)->data = std::make_shared<const ir::Tensor>(t);
      io::Metadata meta = {{"cnnc.network", graph.name}};
      if (emit_guard(out_weights, net, diag))
        io::write_safetensors(out_weights, io::collect_weights(graph), meta, diag);
    }
  });
}

}  // namespace cnnc::tool
