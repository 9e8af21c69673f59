// NAME.h for a compiled model: the C API of runtime/cnnc.h plus the model's
// own constants (input/output names and shapes, arena and weights sizes), so
// a program can size its buffers at compile time.
#pragma once

#include <string>

#include "backends/halide/lower.h"

namespace cnnc::llvmgen {

struct HeaderInfo {
  std::string library;  ///< "libresnet50.so"
  std::string source;   ///< the network file it was compiled from
  std::string targets;
  bool embedded_weights = true;
  std::string weights_file;  ///< --weights external: the file written beside the library
};

/// The macro prefix of a model: its name in capitals, non-alphanumerics as '_'
/// ("resnet-50" → "RESNET_50"; a leading digit gets "M_").
std::string macro_prefix(const std::string& model_name);

/// The header text.
std::string model_header(const halide::LoweredModel& m, const HeaderInfo& info);

}  // namespace cnnc::llvmgen
