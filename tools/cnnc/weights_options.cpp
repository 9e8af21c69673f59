#include <cinttypes>

#include "io/safetensors.h"
#include "io/weights.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

void WeightsOptions::add_to(ArgParser& p, bool allow_file) {
  if (allow_file) {
    p.option("--weights", "FILE",
             "parameters from a safetensors file (default: the spec's \"weights\", else seeded)",
             [this](const std::string& v) {
               path = v;
               return std::string();
             });
    p.flag("--strict-weights",
           "make tensors the network does not use an error (a warning by default)", &strict);
    p.int_option("--max-weights-size", "BYTES", "largest weights file read (default 64 GiB)",
                 &max_size, 1, INT64_MAX);
  }
  p.int_option("--seed", "S",
               "seed of the initialisation (and of dropout masks when training); default 0", &seed,
               0, INT64_MAX);
}

void provide_weights(ir::Graph& g, const WeightsOptions& o, DiagnosticEngine& diag) {
  std::string path = o.path;
  if (path.empty() && !g.weights_path.empty())
    path = g.weights_path[0] == '/' ? g.weights_path : g.source_dir + "/" + g.weights_path;
  if (path.empty()) {
    // ONNX models carry their weights (initializers).
    bool all_given = !g.params().empty();
    for (const ir::Value* p : g.params()) all_given = all_given && p->data != nullptr;
    if (all_given) return;
    if (!g.params().empty())
      diag.note(SourceLoc{}, "no weights given: parameters are initialised with seed " +
                                 std::to_string(o.seed) +
                                 " (He/Xavier); pass --weights FILE for trained ones");
    io::init_weights(g, static_cast<uint64_t>(o.seed));
    return;
  }
  io::SafetensorsLimits limits;
  limits.max_file_bytes = o.max_size;
  auto tensors = io::read_safetensors(path, diag, limits);
  if (!tensors) throw DiagnosticsAbort{};
  io::BindOptions b;
  b.strict = o.strict;
  if (!io::bind_weights(g, std::move(*tensors), path, b, diag)) throw DiagnosticsAbort{};
}

}  // namespace cnnc::tool
