#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "backends/halide/tuner.h"
#include "ir/analysis.h"
#include "passes/memory_plan.h"
#include "tools/cnnc/compile_options.h"
#include "tools/cnnc/fold_probe.h"
#include "tools/cnnc/peak_flops.h"
#include "tools/cnnc/report_format.h"
#include "tools/cnnc/run_compiled.h"
#include "tools/cnnc/tuning_table.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {
const char* kConventions = R"(conventions:
  MACs    conv2d: K*(C/groups)*R*S*H_out*W_out per image; linear: in*out per image; other layers 0
  FLOPs   conv2d/linear: 2*MACs, plus one add per output with bias; batch_norm: 2 per element;
          add: (inputs-1) per element; activations, dropout: 1 per element; max/avg_pool: kernel
          area per output (+1 for the average); global_avg_pool: H*W+1 per output; lrn: size+3
          per element; softmax: 3 per element; flatten, concat: 0
  activations  every layer's output plus the inputs, 4 bytes each, no reuse between layers;
          an activation or dropout whose input has no other user works in place (marked *)
          and adds nothing, as in the CS231n VGG-16 memory table; totals are for the whole
          batch, "per image" divides by it
  RF, jump  receptive field size and jump (product of strides), in input pixels (HxW when
          they differ); layers that see the whole input extend it over that input

exit status: 0 ok, 1 invalid input, 2 usage, 3 resource limit, 4 I/O error, 70 internal error
)";

// The kernels of the optimised graph with what a tuning database records for
// them: a text table, or (json) an array of objects.
std::string tuning_section(ir::Graph& opt, const PipelineOptions& pipe, const NetworkOptions& net,
                           const std::string& db, const std::string& target,
                           const std::string& format, DiagnosticEngine& diag) {
  ensure_planned(opt, pipe.no_verify, net.frontend.shapes, diag);
  halide::LoweredModel m = lower_graph(opt, diag);
  CompileOptions co;
  co.target = target;
  const halide::TargetSet targets = co.targets(diag);
  auto records = halide::read_tuning_db(db, false, diag);
  if (!records) throw DiagnosticsAbort{};
  halide::TunedSchedules tuned(*records, db, m, targets, diag);
  std::vector<TuningRow> rows;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < m.specs.size(); ++i) {
    TuningRow r;
    r.layers = halide::kernel_layers(m, i, r.calls, r.flops);
    const halide::TuningRecord* rec = nullptr;
    for (const std::string& t : targets.targets)
      if (!rec) rec = tuned.record(m.specs[i], halide::isa_of(t));
    r.family = rec ? rec->family : "";
    r.default_ms = rec ? rec->default_ms : 0;
    r.tuned_ms = rec ? rec->median_ms : 0;
    r.schedule = rec ? rec->schedule.key() + " (" + rec->target + ")" : "default (no record)";
    nlohmann::ordered_json j;
    j["layers"] = r.layers;
    j["calls"] = r.calls;
    j["flops"] = r.flops;
    if (rec) {
      j["template"] = rec->family;
      j["target"] = rec->target;
      j["default_ms"] = rec->default_ms;
      j["tuned_ms"] = rec->median_ms;
      j["schedule"] = rec->schedule.key();
    }
    list.push_back(j);
    rows.push_back(r);
  }
  if (format == "json") return list.dump();
  const Peak peak = measure_fp32_peak(CompiledRunOptions{}.thread_count());
  char head[256];
  std::snprintf(head, sizeof head,
                "\ntuning database %s: %d of %d kernel variants tuned (times as recorded; %% peak "
                "of this machine's measured %.0f GFLOP/s)\n",
                db.c_str(), tuned.tuned(), tuned.variants(), peak.gflops);
  return head + tuning_table(rows, peak.gflops);
}

}  // namespace

int verb_report(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("default");
  WeightsOptions w;
  std::string net, format = "table", out, tuning_db, target = "default";
  ArgParser p(
      "cnnc report NET [options]",
      "Prints each layer's output shape, activation size, parameters, multiply-adds, FLOPs and\n"
      "receptive field, and the totals; then, after the passes (--passes, default: the default\n"
      "pipeline), the kernels and the layers each contains, the memory plan (naive, planned and\n"
      "lower-bound bytes) and every fusion made or refused with its reason. With --weights, each\n"
      "batch_norm fold is also measured on a random probe input. NET is a .json spec, an .onnx\n"
      "model, a Caffe .prototxt or a .cnnir file.");
  p.positional("NET", "the network", &net);
  p.choice("--format", "output format (default table)", &format,
           {"table", "json", "csv", "markdown"});
  add_output_option(p, "the report", &out);
  p.option("--tuning-db", "FILE",
           "also show each kernel's recorded default and tuned times and schedule from a tuning\n"
           "database (cnnc tune) for the targets of --target",
           [&](const std::string& v) {
             tuning_db = v;
             return v.empty() ? std::string("--tuning-db needs a file") : std::string();
           });
  p.option("--target", "T",
           "with --tuning-db: the compile targets (as cnnc compile; default default)",
           [&](const std::string& v) {
             target = v;
             return std::string();
           });
  w.add_to(p, /*allow_file=*/true);
  pipe.add_to(p);
  p.epilog(kConventions);
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    ir::GraphStats stats = ir::analyze(graph);
    // The optimised sections: the pipeline on a copy. Weights, when given, make
    // the folds numeric and let each batch_norm fold be probed.
    OptimizedView view;
    view.have_weights = !w.path.empty() || !graph.weights_path.empty();
    if (view.have_weights) provide_weights(graph, w, diag);
    ir::Graph opt = graph.clone();
    passes::PassContext ctx = pipe.run(opt, net_opts.frontend.shapes, diag);
    view.pipeline = pipe.pipeline(diag);
    if (!view.pipeline.empty()) {
      view.graph = &opt;
      view.ctx = &ctx;
      view.memory = passes::memory_stats(opt);
      if (view.have_weights)
        view.probes = probe_batch_norm_folds(graph, opt, ctx, static_cast<uint64_t>(w.seed));
    }
    std::string text = format_report(graph, stats, view, format);
    if (!tuning_db.empty()) {
      const std::string section =
          tuning_section(opt, pipe, net_opts, tuning_db, target, format, diag);
      if (format == "json") {
        nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
        j["tuning"] = nlohmann::ordered_json::parse(section);
        text = j.dump(2) + "\n";
      } else {
        text += section;
      }
    }
    emit_output(out, net, text, diag);
  });
}

}  // namespace cnnc::tool
