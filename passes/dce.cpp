// dce: layers whose results reach no network output, and parameters no layer
// uses, are removed.
#include "passes/pass.h"

namespace cnnc::passes {

namespace {

class Dce : public Pass {
 public:
  std::string_view name() const override { return "dce"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    std::vector<std::string> layers = g.remove_dead_nodes();
    for (const std::string& l : layers)
      ctx.applied({l}, l + ": removed (reaches no output)", "layers removed");
    std::vector<std::string> params = g.remove_unused_params();
    for (const std::string& p : params)
      ctx.applied({p}, p + ": unused parameter removed", "parameters removed");
    return !layers.empty() || !params.empty();
  }
};

}  // namespace

std::unique_ptr<Pass> create_dce() { return std::make_unique<Dce>(); }

}  // namespace cnnc::passes
