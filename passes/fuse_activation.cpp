// fuse-activation: an activation right after conv2d, linear, add or (in
// inference graphs) batch_norm becomes the activation of that op's epilogue,
// computed before the result is stored:
//   relu(conv(x))  ->  conv(x) {epilogue=relu}
// Exact in inference and training (the forward value is the same).
//
// In a training graph the pre-activation value also feeds the backward ops:
// the activation's (its x) and the producer's (its y, which conv2d_grad,
// linear_grad and add_grad do not read). Where the activation's backward op
// reads only its output (ir::activation_grad_reads_output: relu, sigmoid,
// tanh, selu, leaky_relu/elu with alpha > 0) neither reads that value, so the
// fusion stays exact: those operands then hold the fused, activated result.
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
  // Whether every other user of the activation's input is a backward op that
  // does not read it: the activation's own (x slot, unread when its gradient
  // follows from its output) or the producer's (y slot, unread).
  static bool only_backward_users(const ir::Graph& g, const Node& a, const Node& p) {
    double alpha = 0;
    if (a.op == OpKind::LeakyRelu) alpha = a.as<ir::LeakyReluAttrs>().alpha;
    if (a.op == OpKind::Elu) alpha = a.as<ir::EluAttrs>().alpha;
    const bool from_output = ir::activation_grad_reads_output(a.op, alpha);
    if (!from_output || is_graph_output(g, a.inputs[0])) return false;
    const ir::Value* x = a.inputs[0];
    for (const auto& n : g.nodes()) {
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        if (n->inputs[i] != x || n.get() == &a) continue;
        const bool act_grad = n->op == ir::grad_of(a.op) && i == 0;
        const auto ops = ir::split_operands(p);
        const bool producer_grad = n->op == ir::grad_of(p.op) && ops && i == ops->data.size();
        if (!act_grad && !producer_grad) return false;
      }
    }
    return true;
  }

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
    // Training kernels compute a batch norm with the batch's statistics and
    // keep its output for the backward ops: no epilogue there.
    if (p->op == OpKind::BatchNorm && (ctx.mode != Mode::Inference || g.is_training())) {
      ctx.refused({an, p->name()},
                  an + ": not fused: batch_norm '" + p->name() + "' in a training graph");
      return false;
    }
    auto uses = g.use_counts();
    if (uses[x] != 1 && !only_backward_users(g, a, *p)) {
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
    replace_result(g, a.output(), x, p);  // x is no network output (its users are nodes)
    g.erase_node(&a);
    ctx.applied({pn, an}, an + ": fused into " + ir::op_name(p->op) + " '" + pn + "'", "fused");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> create_fuse_activation() { return std::make_unique<FuseActivation>(); }

}  // namespace cnnc::passes
