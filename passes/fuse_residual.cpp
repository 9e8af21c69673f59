// fuse-residual: add(conv(x), r) becomes the conv's epilogue, so a ResNet
// block ends in one kernel:
//   add(conv(x), r) {epilogue=A}  ->  conv(x, ..., r) {epilogue=residual+A}
// The conv that absorbs the add is the operand computed later, so the other
// operand (the residual) already exists when the conv runs.
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

class FuseResidual : public Pass {
 public:
  std::string_view name() const override { return "fuse-residual"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    return rewrite_each(
        g, [](const Node& n) { return n.op == OpKind::Add; },
        [&](Node& a) { return fuse(g, a, ctx); });
  }

 private:
  bool fuse(ir::Graph& g, Node& add, PassContext& ctx) {
    const std::string an = add.name();
    if (add.inputs.size() != 2) {
      ctx.refused({an},
                  an + ": not fused: add of " + std::to_string(add.inputs.size()) + " inputs");
      return false;
    }
    auto uses = g.use_counts();
    std::unordered_map<const Node*, size_t> position;
    for (size_t i = 0; i < g.nodes().size(); ++i) position[g.nodes()[i].get()] = i;
    // The later-computed operand that can take the add.
    int pick = -1;
    std::string why = "neither input is a conv2d or linear result used only here";
    for (int i = 0; i < 2; ++i) {
      Value* v = add.inputs[static_cast<size_t>(i)];
      Node* p = v->producer;
      if (!p || (p->op != OpKind::Conv2d && p->op != OpKind::Linear)) continue;
      if (uses[v] != 1 || is_graph_output(g, v)) {
        why = "'" + v->name + "' has other users";
        continue;
      }
      if (!ir::epilogue_of(p->attrs)->empty()) {
        why = "'" + p->name() + "' already has an epilogue";
        continue;
      }
      if (pick < 0 || position[p] > position[add.inputs[static_cast<size_t>(pick)]->producer])
        pick = i;
    }
    if (pick < 0) {
      ctx.refused({an}, an + ": not fused: " + why);
      return false;
    }
    Value* main = add.inputs[static_cast<size_t>(pick)];
    Value* residual = add.inputs[static_cast<size_t>(1 - pick)];
    Node* p = main->producer;
    ir::Epilogue* ep = ir::epilogue_of(p->attrs);
    ep->residual = true;
    ep->act = add.as<ir::AddAttrs>().epilogue.act;
    p->inputs.push_back(residual);
    const std::string pn = p->name();
    p->fused.push_back(an);
    p->fused.insert(p->fused.end(), add.fused.begin(), add.fused.end());
    replace_result(g, add.output(), main, p);  // main has one use: it is no network output
    g.erase_node(&add);
    ctx.applied({pn, an, residual->name},
                an + ": fused into " + ir::op_name(p->op) + " '" + pn + "' (residual '" +
                    residual->name + "')",
                "fused");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> create_fuse_residual() { return std::make_unique<FuseResidual>(); }

}  // namespace cnnc::passes
