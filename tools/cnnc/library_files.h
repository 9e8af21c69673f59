// The files `cnnc compile -o DIR/libNAME.so` writes beside the library, named
// in one place so that compile and run agree.
#pragma once

#include <string>

namespace cnnc::tool {

/// libresnet50.so → resnet50; model.o → model.
std::string library_stem(const std::string& output);

/// DIR/file for an output in DIR.
std::string beside(const std::string& output, const std::string& file);

/// DIR/NAME.weights.safetensors: the weights of a library compiled with
/// --weights external.
std::string library_weights_file(const std::string& library);

}  // namespace cnnc::tool
