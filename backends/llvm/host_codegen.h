// Host code for a compiled model, generated with LLVM's IRBuilder: the
// constant model descriptor libcnnrt reads (runtime/cnnrt_model.h), the
// weights as constant data, and cnnc_run_sized, the straight-line sequence of
// kernel calls with profiling hooks and error checks after each kernel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backends/halide/lower.h"

namespace cnnc::llvmgen {

struct HostModel {
  const halide::LoweredModel* model = nullptr;
  std::vector<std::string> kernel_symbols;  ///< per spec
  std::string targets;                      ///< what cnnc_target() reports
  /// The weights blob to embed in .rodata (model->weights_bytes bytes), or
  /// empty: the library loads a weights file at create time.
  std::string embedded_weights_file;
};

enum class HostOutput { Object, Assembly, LlvmIr };

/// Generates the host module and writes it to `path`. Returns false with
/// `error` set when LLVM cannot (no x86-64 target, unwritable file).
bool emit_host(const HostModel& host, HostOutput what, const std::string& path, std::string& error);

/// The size and field offsets LLVM gives each descriptor struct, in the
/// order of runtime/cnnrt_model.h: a test checks them against offsetof.
struct StructLayout {
  std::string name;
  uint64_t size = 0;
  std::vector<uint64_t> offsets;
};
std::vector<StructLayout> descriptor_layouts();

}  // namespace cnnc::llvmgen
