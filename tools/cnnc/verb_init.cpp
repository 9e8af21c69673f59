#include <iostream>

#include "io/safetensors.h"
#include "io/weights.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

int verb_init(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  WeightsOptions w;
  std::string net, out;
  ArgParser p(
      "cnnc init NET -o WEIGHTS.safetensors [options]",
      "Writes seeded initial parameters: conv2d/linear weights He-normal (fan_in) when a "
      "ReLU-family\n"
      "activation follows (through batch_norm/dropout), else Xavier-uniform; biases 0; batch_norm\n"
      "gamma 1, beta 0, running mean 0, running variance 1. The same seed gives the same bytes on\n"
      "every machine.");
  p.positional("NET", kNetHelp, &net);
  add_output_option(p, "the weights (safetensors, F32)", &out);
  w.add_to(p, /*allow_file=*/false);
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    if (out.empty() || out == "-")
      diag.fatal(SourceLoc{}, "cnnc init needs -o FILE (safetensors is binary)", {},
                 ExitCode::Usage);
    io::init_weights(graph, static_cast<uint64_t>(w.seed));
    io::Metadata meta = {{"cnnc.network", graph.name}, {"cnnc.init_seed", std::to_string(w.seed)}};
    if (emit_guard(out, net, diag))
      io::write_safetensors(out, io::collect_weights(graph), meta, diag);
  });
}

}  // namespace cnnc::tool
