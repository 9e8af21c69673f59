// libFuzzer target: the textual IR parser and verifier. Whatever parses and
// verifies must print and parse back to identical text.
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::ostringstream sink;
  cnnc::DiagnosticEngine diag(sink);
  auto g = cnnc::ir::parse_ir(text, cnnc::make_file_loc("fuzz.cnnir"), diag);
  if (!g || !cnnc::ir::verify(*g, diag)) return 0;
  std::string printed = cnnc::ir::print_graph(*g);
  cnnc::DiagnosticEngine diag2(sink);
  auto back = cnnc::ir::parse_ir(printed, cnnc::make_file_loc("fuzz.cnnir"), diag2);
  if (!back || cnnc::ir::print_graph(*back) != printed) std::abort();
  return 0;
}
