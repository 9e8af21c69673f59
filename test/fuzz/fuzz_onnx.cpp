// libFuzzer target: the ONNX reader (protobuf parse, versions, every node
// converter, initializer checks), then the IR round trip on whatever it
// accepts. Crashes, sanitizer reports and internal errors are bugs. External
// data resolves against a directory that does not exist.
#include <cstdint>
#include <sstream>

#include "frontend/onnx_reader.h"
#include "test/fuzz/round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ostringstream sink;
  cnnc::DiagnosticEngine diag(sink);
  cnnc::frontend::FrontendOptions opts;
  opts.max_layers = 2000;
  opts.batch = 1;
  auto g = cnnc::frontend::read_onnx_bytes({reinterpret_cast<const char*>(data), size},
                                           "/nonexistent/fuzz.onnx", opts, diag);
  if (g) cnnc::fuzz::check_round_trip(*g, opts.shapes);
  return 0;
}
