// Factories of every pass (one per .cpp file, named after the pass) and the
// default pipelines.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "passes/pass.h"

namespace cnnc::passes {

#define PASS(name, factory, summary) std::unique_ptr<Pass> factory();
#include "passes/passes.def"
#undef PASS

struct PassInfo {
  const char* name;
  std::unique_ptr<Pass> (*create)();
  const char* summary;
};

/// Every registered pass, in registry order.
const std::vector<PassInfo>& all_passes();
const PassInfo* find_pass(std::string_view name);

/// The default pipeline for a mode (names, in order).
std::vector<std::string> default_pipeline(Mode mode);

}  // namespace cnnc::passes
