#include <iostream>

#include "ir/analysis.h"
#include "passes/memory_plan.h"
#include "tools/cnnc/fold_probe.h"
#include "tools/cnnc/report_format.h"
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
}  // namespace

int verb_report(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("default");
  WeightsOptions w;
  std::string net, format = "table", out;
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
    emit_output(out, net, format_report(graph, stats, view, format), diag);
  });
}

}  // namespace cnnc::tool
