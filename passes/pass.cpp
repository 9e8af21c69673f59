#include "passes/pass.h"

#include <algorithm>

#include "passes/passes.h"

namespace cnnc::passes {

int& PassContext::counter(const std::string& name) {
  auto it = std::find_if(stats.begin(), stats.end(),
                         [&](const auto& p) { return p.first == current_pass; });
  if (it == stats.end()) it = stats.insert(stats.end(), {current_pass, {}});
  return it->second[name];
}

void PassContext::applied(std::vector<std::string> layers, std::string message,
                          const std::string& counter_name) {
  remarks.push_back({current_pass, true, std::move(layers), std::move(message)});
  ++counter(counter_name);
}

void PassContext::refused(std::vector<std::string> layers, std::string message,
                          const std::string& counter_name) {
  remarks.push_back({current_pass, false, std::move(layers), std::move(message)});
  ++counter(counter_name);
}

void PassContext::error(const SourceLoc& loc, std::string message) {
  ++errors;
  if (diag) diag->error(loc, std::move(message));
}

void PassContext::note(std::vector<std::string> layers, std::string message) {
  remarks.push_back({current_pass, true, std::move(layers), std::move(message)});
}

const std::vector<PassInfo>& all_passes() {
  static const std::vector<PassInfo> v = {
#define PASS(name, factory, summary) {name, factory, summary},
#include "passes/passes.def"
#undef PASS
  };
  return v;
}

const PassInfo* find_pass(std::string_view name) {
  for (const PassInfo& p : all_passes())
    if (name == p.name) return &p;
  return nullptr;
}

std::vector<std::string> default_pipeline(Mode mode) {
  if (mode == Mode::Training)  // batch_norm and dropout stay; autodiff comes with training support
    return {"fuse-activation", "dce", "plan-memory"};
  // Folding first (BN into conv needs the conv without an epilogue), then the
  // residual add, then the activation that may follow the add.
  return {"fold-dropout", "fold-batch-norm", "fuse-residual", "fuse-activation",
          "dce",          "plan-memory"};
}

}  // namespace cnnc::passes
