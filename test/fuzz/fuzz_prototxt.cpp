// libFuzzer target: the Caffe prototxt reader (text-format parser, layer
// conversion, shape inference), then the IR round trip on whatever it
// accepts. Crashes, sanitizer reports and internal errors are bugs.
#include <cstdint>
#include <sstream>

#include "frontend/caffe_reader.h"
#include "test/fuzz/round_trip.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::ostringstream sink;
  cnnc::DiagnosticEngine diag(sink);
  cnnc::frontend::FrontendOptions opts;
  opts.max_layers = 2000;
  auto g = cnnc::frontend::read_caffe_text({reinterpret_cast<const char*>(data), size},
                                           "/nonexistent/fuzz.prototxt", opts, diag);
  if (g) cnnc::fuzz::check_round_trip(*g, opts.shapes);
  return 0;
}
