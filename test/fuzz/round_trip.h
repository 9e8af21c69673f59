// Shared by the frontend fuzz targets: a graph a reader accepted must print as
// textual IR that parses back to the same text; anything else is a bug.
#pragma once

#include <cstdlib>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"

namespace cnnc::fuzz {

inline void check_round_trip(const ir::Graph& g, const ir::ShapeOptions& shapes) {
  std::string printed = ir::print_graph(g);
  std::ostringstream sink;
  DiagnosticEngine diag(sink);
  auto back = ir::parse_ir(printed, make_file_loc("fuzz.cnnir"), diag, shapes);
  if (!back || ir::print_graph(*back) != printed) std::abort();
}

}  // namespace cnnc::fuzz
