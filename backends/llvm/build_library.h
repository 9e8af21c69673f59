// The whole back end of `cnnc compile`: kernels (cached, parallel), host code,
// link. The caller lowers the graph and writes NAME.h and external weights.
#pragma once

#include <string>

#include "backends/halide/kernel_compiler.h"
#include "backends/halide/lower.h"
#include "support/diagnostics.h"

namespace cnnc::llvmgen {

enum class LibraryKind {
  Shared,      ///< libNAME.so exporting the C API only
  Relocatable  ///< one relocatable object (everything, for static linking)
};

struct LibraryRequest {
  halide::TargetSet targets;
  halide::KernelBuildOptions kernels;
  bool embed_weights = true;
  LibraryKind kind = LibraryKind::Shared;
  std::string output;  ///< the file the linker writes (the caller stages and commits it)
  std::string name;    ///< the output as the user named it, for messages (default: output)
};

/// Builds the library of `m` into request.output, working in `work_dir`.
/// Returns the kernel build's figures; errors go to `diag` (and throw).
halide::BuiltKernels build_library(const halide::LoweredModel& m, const LibraryRequest& request,
                                   const std::string& work_dir, DiagnosticEngine& diag);

}  // namespace cnnc::llvmgen
