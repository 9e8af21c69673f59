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
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    emit_output(out, net, ir::print_graph(graph), diag);
  });
}

}  // namespace cnnc::tool
