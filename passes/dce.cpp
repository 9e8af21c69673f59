// dce: layers whose results reach no network output, and parameters no layer
// uses, are removed.
#include "passes/pass.h"

namespace cnnc::passes {

namespace {

class Dce : public Pass {
 public:
  std::string_view name() const override { return "dce"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    std::vector<std::string> before;
    for (const ir::Value* p : g.params()) before.push_back(p->name);
    std::vector<std::string> layers = g.remove_dead_nodes();  // drops their parameters too
    g.remove_unused_params();
    for (const std::string& l : layers)
      ctx.applied({l}, l + ": removed (reaches no output)", "layers removed");
    int params = 0;
    for (const std::string& p : before) {
      if (g.find_value(p, true)) continue;
      ctx.applied({p}, p + ": unused parameter removed", "parameters removed");
      ++params;
    }
    return !layers.empty() || params > 0;
  }
};

}  // namespace

std::unique_ptr<Pass> create_dce() { return std::make_unique<Dce>(); }

}  // namespace cnnc::passes
