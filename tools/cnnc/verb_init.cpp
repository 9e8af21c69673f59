#include <iostream>

#include "io/safetensors.h"
#include "io/weights.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

int verb_init(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  WeightsOptions w;
  std::string net, out;
  ArgParser p("cnnc init NET -o WEIGHTS.safetensors [options]",
              "Writes seeded initial parameters: conv2d/linear weights He-normal (fan_in) when a ReLU-family\n"
              "activation follows (through batch_norm/dropout), else Xavier-uniform; biases 0; batch_norm\n"
              "gamma 1, beta 0, running mean 0, running variance 1. The same seed gives the same bytes on\n"
              "every machine.");
  p.positional("NET", "the network: a .json spec or a .cnnir file", &net);
  add_output_option(p, "the weights (safetensors, F32)", &out);
  w.add_to(p, /*allow_file=*/false);
  net_opts.add_to(p);
  if (auto done = parse_verb_args(p, args)) return *done;
  if (out.empty() || out == "-") {
    std::cerr << "error: cnnc init needs -o FILE (safetensors is binary)\nusage: cnnc init NET -o FILE\n";
    return static_cast<int>(ExitCode::Usage);
  }
  DiagnosticEngine diag(std::cerr, net_opts.diagnostics());
  return run_verb(diag, [&] {
    auto g = load_for_verb(net, net_opts, diag);
    if (!g) return;
    io::init_weights(*g, static_cast<uint64_t>(w.seed));
    io::Metadata meta = {{"cnnc.network", g->name}, {"cnnc.init_seed", std::to_string(w.seed)}};
    if (emit_guard(out, net, diag)) io::write_safetensors(out, io::collect_weights(*g), meta, diag);
  });
}

}  // namespace cnnc::tool
