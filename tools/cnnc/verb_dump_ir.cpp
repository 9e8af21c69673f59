#include <iostream>

#include "frontend/load_network.h"
#include "ir/printer.h"
#include "support/file_io.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

// The chunks of a .cnnir file between lines "// -----", each padded with
// empty lines so that messages keep the file's line numbers.
std::vector<std::string> split_input(const std::string& text) {
  std::vector<std::string> chunks(1);
  size_t line_no = 1, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? text.size() : end + 1;
    if (line == "// -----") {
      chunks.emplace_back(line_no, '\n');  // this line and all before it, as blank lines
    } else {
      chunks.back() += line + "\n";
    }
    ++line_no;
  }
  return chunks;
}

}  // namespace

int verb_dump_ir(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("none");
  std::string net, out;
  bool split = false;
  ArgParser p(
      "cnnc dump-ir NET [options]",
      "Prints the network as textual IR (.cnnir), after the passes given with --passes. The text\n"
      "parses back to the same graph: `cnnc dump-ir net.cnnir` prints it unchanged, so passes can "
      "be\n"
      "tested on a few lines of IR.");
  p.positional("NET", kNetHelp, &net);
  add_output_option(p, "the IR", &out);
  p.flag(
      "--split-input-file",
      "treat each part of a .cnnir file between lines '// -----' as its own graph (for pass tests)",
      &split);
  pipe.add_to(p);
  net_opts.add_to(p);
  if (auto done = parse_verb_args(p, args)) return *done;
  if (!split) {
    DiagnosticEngine diag(std::cerr, net_opts.diagnostics());
    return run_verb(diag, [&] {
      auto g = load_for_verb(net, net_opts, diag);
      if (!g) return;
      pipe.run(*g, net_opts.frontend.shapes, diag);
      emit_output(out, net, ir::print_graph(*g), diag);
    });
  }
  DiagnosticEngine diag(std::cerr, net_opts.diagnostics());
  int failed = 0;
  std::string text, result;
  int status = run_verb(diag, [&] {
    text = read_input_file(net, net_opts.frontend.max_input_size, "--max-input-size", diag);
  });
  if (status != 0) return status;
  std::vector<std::string> chunks = split_input(text);
  for (size_t i = 0; i < chunks.size(); ++i) {
    DiagnosticEngine chunk_diag(std::cerr, net_opts.diagnostics());
    std::string printed;
    int rc = run_verb(chunk_diag, [&] {
      auto g = frontend::parse_cnnir_text(chunks[i], net, net_opts.frontend, chunk_diag);
      if (!g) return;
      pipe.run(*g, net_opts.frontend.shapes, chunk_diag);
      printed = ir::print_graph(*g);
    });
    if (rc != 0 && failed == 0) failed = rc;
    result += (i ? "// -----\n" : "") + printed;
  }
  if (failed) return failed;
  return run_verb(diag, [&] { emit_output(out, net, result, diag); });
}

}  // namespace cnnc::tool
