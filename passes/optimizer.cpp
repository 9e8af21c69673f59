// optimizer: the update step of a training graph. After autodiff (outputs:
// loss, prediction, "<param>.grad" for every trained parameter), one
// sgd_update or adam_update per parameter turns its gradient into its next
// value. New inputs: %lr [1] (and %step [1], 1-based, for Adam), so schedules
// change them between steps; new parameters: the optimizer state
// ("<param>.momentum", ".adam_m", ".adam_v"), zero-initialised. The outputs
// become the loss, the prediction, then "<param>.next" and "<state>.next" for
// each parameter: whoever runs the step stores each X.next as X.
#include <memory>

#include "passes/pass.h"

namespace cnnc::passes {

namespace {

using ir::Value;
using Kind = TrainingOptions::Optimizer::Kind;

class Optimizer : public Pass {
 public:
  std::string_view name() const override { return "optimizer"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    const auto& o = ctx.training.optimizer;
    auto outs = g.outputs();
    const bool trained = outs.size() > 2 && outs[0]->producer &&
                         ir::op_info(outs[0]->producer->op).role == ir::OpRole::Loss;
    if (!trained) {
      ctx.error(outs.empty() ? SourceLoc{} : outs[0]->loc,
                "optimizer: the graph is not a training graph; run autodiff before optimizer");
      return false;
    }
    std::vector<std::pair<Value*, Value*>> pairs;  // gradient, parameter
    for (size_t i = 2; i < outs.size(); ++i) {
      const std::string& n = outs[i]->name;
      const size_t cut = n.size() >= 5 ? n.size() - 5 : 0;
      Value* p = n.compare(cut, 5, ".grad") == 0 ? g.find_value(n.substr(0, cut), true) : nullptr;
      if (!p) {
        ctx.error(outs[i]->loc, "optimizer: output '" + n +
                                    "' is not the gradient of a parameter ('<param>.grad')");
        return false;
      }
      pairs.emplace_back(outs[i], p);
    }
    const ir::TensorType scalar{ir::DType::F32, ir::Shape{{1}}};
    Value* lr = g.add_input(unique(g, "lr"), scalar);
    Value* step = o.kind == Kind::Sgd ? nullptr : g.add_input(unique(g, "step"), scalar);
    std::vector<Value*> next = {outs[0], outs[1]};
    for (auto [grad, p] : pairs) {
      ir::Attrs attrs;
      if (o.kind == Kind::Sgd) {
        attrs = ir::SgdAttrs{o.momentum, o.weight_decay, o.nesterov};
      } else {
        attrs = ir::AdamAttrs{o.beta1, o.beta2, o.eps, o.weight_decay, o.kind == Kind::AdamW};
      }
      const ir::OpKind op = o.kind == Kind::Sgd ? ir::OpKind::SgdUpdate : ir::OpKind::AdamUpdate;
      std::vector<Value*> operands = {grad, lr};
      if (step) operands.push_back(step);
      operands.push_back(p);
      std::vector<std::string> names = {p->name + ".next"};
      std::vector<ir::TensorType> types = {p->type};
      for (ir::ParamRole role : ir::param_roles(op, attrs)) {
        if (role == ir::ParamRole::Updated) continue;
        Value* s = g.add_param(p->name + "." + ir::param_suffix(role), p->type, p->loc);
        s->data = std::make_shared<const ir::Tensor>(p->type.shape);  // zeros
        operands.push_back(s);
        names.push_back(s->name + ".next");
        types.push_back(p->type);
        ctx.counter("state tensors")++;
      }
      ir::Node* n = g.add_node(op, std::move(attrs), std::move(operands), std::move(names),
                               std::move(types), p->loc);
      next.insert(next.end(), n->outputs.begin(), n->outputs.end());
      ctx.counter("parameters updated")++;
    }
    g.mutable_outputs() = std::move(next);
    return true;
  }

 private:
  static std::string unique(const ir::Graph& g, const std::string& base) {
    std::string name = base;
    for (int i = 1; g.find_value(name, false); ++i) name = base + "." + std::to_string(i);
    return name;
  }
};

}  // namespace

std::unique_ptr<Pass> create_optimizer() { return std::make_unique<Optimizer>(); }

}  // namespace cnnc::passes
