#include "tools/cnnc/library_files.h"

#include <filesystem>

namespace cnnc::tool {

std::string library_stem(const std::string& output) {
  std::string stem = std::filesystem::path(output).stem().string();
  if (stem.rfind("lib", 0) == 0 && stem.size() > 3) stem = stem.substr(3);
  return stem;
}

std::string beside(const std::string& output, const std::string& file) {
  return (std::filesystem::path(output).parent_path() / file).string();
}

std::string library_weights_file(const std::string& library) {
  return beside(library, library_stem(library) + ".weights.safetensors");
}

}  // namespace cnnc::tool
