// fold-dropout (inference): dropout is the identity or a constant scale at
// test time, so it disappears.
//   inverted:      y = x                          -> removed
//   at_test_time:  y = x·s, s = 1 − rate, folded where that is exact:
//     into the next linear/conv:      W'·x = (W·s)·x          (bias unchanged;
//                                     not when x·s is also a network output)
//     into the previous linear/conv:  (W·x + b)·s = (W·s)·x + b·s  (no epilogue)
// Otherwise it stays (a refusal says why). In training mode dropout stays.
#include "ir/shape_inference.h"
#include "passes/pass.h"
#include "passes/rewrite.h"
#include "support/format.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

void scale_param(Value* p, double s) {
  if (!p->data) return;  // structure only: nothing to scale
  auto t = std::make_shared<ir::Tensor>(*p->data);
  for (float& v : t->data) v = static_cast<float>(v * s);
  p->data = std::move(t);
}

class FoldDropout : public Pass {
 public:
  std::string_view name() const override { return "fold-dropout"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    if (ctx.mode == Mode::Training) return false;
    return rewrite_each(
        g, [](const Node& n) { return n.op == OpKind::Dropout; },
        [&](Node& d) { return fold(g, d, ctx); });
  }

 private:
  bool fold(ir::Graph& g, Node& d, PassContext& ctx) {
    const std::string dn = d.name();
    const auto& a = d.as<ir::DropoutAttrs>();
    Value* x = d.inputs[0];
    auto uses = g.use_counts();
    if (is_graph_output(g, d.output()) && (!x->producer || is_graph_output(g, x) || uses[x] != 1)) {
      ctx.refused({dn}, dn + ": not removed: its input '" + x->name +
                            "' cannot take the network output's name");
      return false;
    }
    const double s = a.scaling == ir::DropoutScaling::Inverted ? 1.0 : 1.0 - a.rate;
    std::string how = "removed (identity at inference)";
    if (s != 1.0) {
      // The only user is a linear/conv reading it as data: scale its weights.
      std::vector<Node*> users;
      for (const auto& n : g.nodes())
        for (const Value* in : n->inputs)
          if (in == d.output()) users.push_back(n.get());
      Node* next = users.size() == 1 ? users[0] : nullptr;
      Node* prev = x->producer;
      // Into the next layer only when the scaled value is not also a network
      // output (which would then lose the scale).
      if (next && (next->op == OpKind::Linear || next->op == OpKind::Conv2d) &&
          next->inputs[0] == d.output() && uses[next->inputs[1]] == 1 &&
          !is_graph_output(g, d.output())) {
        scale_param(next->inputs[1], s);
        next->fused.push_back(dn);
        how = "scale " + format_double(s) + " folded into the weights of '" + next->name() + "'";
      } else if (prev && (prev->op == OpKind::Linear || prev->op == OpKind::Conv2d) &&
                 uses[x] == 1 && !is_graph_output(g, x) && ir::epilogue_of(prev->attrs)->empty()) {
        auto ops = ir::split_operands(*prev);
        for (Value* p : ops->params) scale_param(p, s);
        prev->fused.push_back(dn);
        how = "scale " + format_double(s) + " folded into the weights and bias of '" +
              prev->name() + "'";
      } else {
        ctx.refused({dn}, dn + ": not folded: no linear or conv next to it can take the scale " +
                              format_double(s));
        return false;
      }
    }
    if (x->producer)
      replace_result(g, d.output(), x, x->producer);
    else
      g.replace_all_uses(d.output(), x);
    g.erase_node(&d);
    ctx.applied({dn}, dn + ": " + how, "removed");
    return true;
  }
};

}  // namespace

std::unique_ptr<Pass> create_fold_dropout() { return std::make_unique<FoldDropout>(); }

}  // namespace cnnc::passes
