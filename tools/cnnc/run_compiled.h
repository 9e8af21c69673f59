// Running a compiled model library from the driver: `cnnc run libNAME.so`
// and `cnnc run NET --backend compiled`, with --bench and --profile.
#pragma once

#include <string>
#include <vector>

#include "ir/tensor.h"
#include "support/diagnostics.h"
#include "tools/cnnc/args.h"
#include "tools/cnnc/compiled_model.h"

namespace cnnc::tool {

struct CompiledRunOptions {
  int64_t bench = 0;  ///< timed runs (0: just one run)
  bool profile = false;
  int64_t threads = 0;  ///< 0: CNNC_NUM_THREADS, else all cores

  void add_to(ArgParser& p);
  int thread_count() const;
};

/// Runs `m` on `inputs` (of the library's shapes): once for the outputs, then
/// the --bench and --profile runs, printing their tables. Reports a failed
/// run (with the library's error text) and throws.
std::vector<ir::Tensor> run_compiled(CompiledModel& m, const std::vector<ir::Tensor>& inputs,
                                     const CompiledRunOptions& o, DiagnosticEngine& diag);

/// Prints "latency over N runs (batch B, T threads, NOTE): min X ms  median Y ms  Z images/s".
void print_latency(std::vector<double> ms, int64_t batch, int threads, const std::string& note);

/// Opens and creates a model library (weights: null for the embedded ones, or
/// library_weights_file() for a library compiled with external weights); reports
/// why not and throws.
std::unique_ptr<CompiledModel> load_compiled(const std::string& path, const char* weights,
                                             DiagnosticEngine& diag);

/// Whether `path` is an ELF file (a model library) rather than a network.
bool is_model_library(const std::string& path);

/// `cnnc run LIB.so ...` (verb_run hands over when NET is a library).
int verb_run_library(const std::vector<std::string>& args);

}  // namespace cnnc::tool
