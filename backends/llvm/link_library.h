// Linking a compiled model: host object + kernel libraries + the Halide
// runtime + libcnnrt into one shared library that exports only the C API of
// runtime/cnnc.h (a version script hides everything else, so two models in
// one process never share Halide's runtime state).
#pragma once

#include <string>
#include <vector>

namespace cnnc::llvmgen {

struct LinkInputs {
  std::string host_object;
  std::vector<std::string> kernel_archives;
  std::string halide_runtime;
  std::string output;    ///< the .so to write
  std::string work_dir;  ///< for the version script
};

/// The functions every model library exports, as declared in runtime/cnnc.h.
const std::vector<std::string>& exported_api();

/// The libcnnrt archive: $CNNC_RUNTIME_ARCHIVE, else the one built with cnnc.
std::string runtime_archive();

/// The C compiler driver that links: $CNNC_CC, else cc.
std::string linker_driver();

/// Runs the link; false with `error` holding the linker's output on failure.
bool link_shared_library(const LinkInputs& in, std::string& error);

/// Links everything into one relocatable object (`cc -r`) for static linking
/// into a program; Halide's runtime symbols stay visible in it, so link at
/// most one such model into a program.
bool link_relocatable_object(const LinkInputs& in, std::string& error);

}  // namespace cnnc::llvmgen
