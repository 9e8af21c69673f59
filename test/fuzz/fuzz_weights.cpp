// libFuzzer target: the safetensors and .npy readers (the first input byte
// picks which). Whatever safetensors parses must serialise and parse back to
// the same tensors; whatever .npy parses, likewise.
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "io/npy.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::ostringstream sink;
  cnnc::DiagnosticEngine diag(sink);
  if (data[0] & 1) {
    auto t = cnnc::io::parse_npy(bytes, "fuzz.npy", diag);
    if (!t) return 0;
    auto back = cnnc::io::parse_npy(cnnc::io::serialize_npy(*t), "again.npy", diag);
    if (!back || back->shape != t->shape || back->data.size() != t->data.size()) std::abort();
    return 0;
  }
  cnnc::io::SafetensorsLimits limits;
  limits.max_entries = 10000;
  auto ts = cnnc::io::parse_safetensors(bytes, "fuzz.safetensors", diag, limits);
  if (!ts) return 0;
  std::vector<std::pair<std::string, const cnnc::ir::Tensor*>> list;
  for (const auto& t : *ts) list.emplace_back(t.name, &t.tensor);
  auto back = cnnc::io::parse_safetensors(cnnc::io::serialize_safetensors(list, {}),
                                          "again.safetensors", diag, limits);
  if (!back || back->size() != ts->size()) std::abort();
  return 0;
}
