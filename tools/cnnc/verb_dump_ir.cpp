#include <iostream>

#include "ir/printer.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

int verb_dump_ir(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  std::string net, out;
  ArgParser p("cnnc dump-ir NET [options]",
              "Prints the network as textual IR (.cnnir). The text parses back to the same graph:\n"
              "`cnnc dump-ir net.cnnir` prints it unchanged, so passes can be tested on a few "
              "lines of IR.");
  p.positional("NET", "the network: a .json spec or a .cnnir file", &net);
  add_output_option(p, "the IR", &out);
  net_opts.add_to(p);
  if (auto done = parse_verb_args(p, args)) return *done;
  DiagnosticEngine diag(std::cerr, net_opts.diagnostics());
  return run_verb(diag, [&] {
    auto g = load_for_verb(net, net_opts, diag);
    if (!g) return;
    emit_output(out, net, ir::print_graph(*g), diag);
  });
}

}  // namespace cnnc::tool
