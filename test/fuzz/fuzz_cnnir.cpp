// libFuzzer target: the textual IR parser and verifier, then the optimizer.
// Whatever parses and verifies must print and parse back to identical text,
// and must go through the default pipeline (verified after every pass: a pass
// that breaks the IR is an internal error, which the fuzzer reports).
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "passes/passes.h"

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
  cnnc::passes::PassManager pm(cnnc::passes::default_pipeline(cnnc::passes::Mode::Inference), {});
  cnnc::passes::PassContext ctx;
  pm.run(*g, ctx);
  return 0;
}
