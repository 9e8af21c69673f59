// fuse-activation: an activation right after conv2d, linear or add becomes
// the activation of that op's epilogue, computed before the result is stored:
//   relu(conv(x))  ->  conv(x) {epilogue=relu}
// Exact in inference and training (the forward value is the same).
#include "passes/pass.h"
#include "passes/rewrite.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;

class FuseActivation : public Pass {
 public:
  std::string_view name() const override { return "fuse-activation"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    return rewrite_each(
        g, [](const Node& n) { return ir::op_info(n.op).is_activation; },
        [&](Node& a) { return fuse(g, a, ctx); });
  }

 private:
  bool fuse(ir::Graph& g, Node& a, PassContext& ctx) {
    const std::string an = a.name();
    ir::Value* x = a.inputs[0];
    Node* p = x->producer;
    if (!p) return false;  // an activation of a network input: nothing to fuse into
    ir::Epilogue* ep = ir::epilogue_of(p->attrs);
    if (!ep) {
      ctx.refused({an, p->name()}, an + ": not fused: " + ir::op_name(p->op) + " '" + p->name() +
                                       "' has no epilogue");
      return false;
    }
    auto uses = g.use_counts();
    if (uses[x] != 1) {
      ctx.refused({an, p->name()},
                  an + ": not fused: '" + x->name + "' has " + std::to_string(uses[x]) + " users");
      return false;
    }
    if (ep->act.op) {
      ctx.refused({an, p->name()},
                  an + ": not fused: '" + p->name() + "' already ends in an activation");
      return false;
    }
    ir::Activation act{a.op, 0, 0};
    if (a.op == OpKind::LeakyRelu) act.alpha = a.as<ir::LeakyReluAttrs>().alpha;
    if (a.op == OpKind::Elu) act.alpha = a.as<ir::EluAttrs>().alpha;
    if (a.op == OpKind::Clip) act = {a.op, a.as<ir::ClipAttrs>().min, a.as<ir::ClipAttrs>().max};
    ep->act = act;
    const std::string pn = p->name();
    p->fused.push_back(an);
    replace_result(g, a.output(), x, p);  // x has one use: it is no network output
    g.erase_node(&a);
    ctx.applied({pn, an}, an + ": fused into " + ir::op_name(p->op) + " '" + pn + "'", "fused");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> create_fuse_activation() { return std::make_unique<FuseActivation>(); }

}  // namespace cnnc::passes
