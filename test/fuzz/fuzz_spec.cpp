// libFuzzer target: the JSON spec reader with shape inference, then the IR
// printer and parser on whatever it accepts. Crashes, sanitizer reports,
// internal errors (exit 70) and a failed print/parse round trip are bugs.
#include <cstdint>
#include <sstream>

#include "frontend/spec_reader.h"
#include "ir/analysis.h"
#include "test/fuzz/round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::ostringstream sink;
  cnnc::DiagnosticEngine diag(sink);
  cnnc::frontend::FrontendOptions opts;
  opts.max_layers = 2000;  // keeps each input fast; the limit check itself is exercised
  auto g = cnnc::frontend::read_json_spec_text(text, cnnc::make_file_loc("fuzz.json"),
                                               "/nonexistent", opts, diag);
  if (!g) return 0;
  cnnc::ir::analyze(*g);
  cnnc::fuzz::check_round_trip(*g, opts.shapes);
  return 0;
}
