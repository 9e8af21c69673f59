// Options and steps shared by the verbs that compile a network to native
// code (`cnnc compile`, `cnnc run --backend compiled`).
#pragma once

#include <memory>
#include <string>

#include "backends/halide/kernel_compiler.h"
#include "backends/halide/lower.h"
#include "backends/llvm/build_library.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"
#include "support/temp_dir.h"
#include "tools/cnnc/args.h"

namespace cnnc::tool {

struct CompileOptions {
  std::string target = "default";
  int64_t jobs = 0;
  std::string cache_dir;  ///< --cache-dir; empty: halide::default_cache_dir()
  bool no_cache = false;
  bool quiet = false;
  bool keep_temps = false;
  bool no_winograd = false;  ///< --no-winograd: every convolution direct
  std::string tuning_db;     ///< --tuning-db
  bool strict_tuning_db = false;

  void add_to(ArgParser& p);
  /// The targets (reports a bad --target as a usage error and throws).
  halide::TargetSet targets(DiagnosticEngine& diag) const;
  /// The kernel build options, with a progress line on stderr unless --quiet.
  halide::KernelBuildOptions kernel_options() const;
  /// With --tuning-db: reads it and gives `k` its schedules (warnings for
  /// records it cannot use, a line saying how many kernels are tuned).
  /// Throws after an error (a missing or binary file).
  void apply_tuning_db(const halide::LoweredModel& m, const halide::TargetSet& targets,
                       halide::KernelBuildOptions& k, DiagnosticEngine& diag) const;
};

/// The memory plan is part of what is compiled: runs plan-memory (with a
/// note) when the pipeline given did not.
void ensure_planned(ir::Graph& g, bool no_verify, const ir::ShapeOptions& shapes,
                    DiagnosticEngine& diag);

/// Lowers an optimised, memory-planned graph (reports what cannot be compiled
/// and throws).
halide::LoweredModel lower_graph(const ir::Graph& g, DiagnosticEngine& diag,
                                 const CompileOptions& co = {});

/// A private work directory (kept and announced with --keep-temps); an error
/// when none can be made.
std::unique_ptr<TempDir> make_work_dir(const CompileOptions& o, DiagnosticEngine& diag);

/// Reports (exit 4) when `path` cannot be created in its directory: a missing
/// or read-only directory, or a directory at `path` itself.
void check_writable(const std::string& path, DiagnosticEngine& diag);

/// Prints "cnnc: N kernels (C compiled, K cached) in T s" unless quiet.
void print_build_summary(const halide::BuiltKernels& k, const CompileOptions& o);

}  // namespace cnnc::tool
