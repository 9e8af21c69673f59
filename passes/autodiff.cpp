// autodiff: turns a network into its training graph. The prediction (the one
// output) gets a loss against a new `labels` input; reverse-mode
// differentiation then adds one backward op per forward op on a path from a
// trainable parameter to the loss, summing the gradients of values used more
// than once. The outputs become the loss, the prediction and the gradient of
// every trainable, unfrozen parameter ("<param>.grad"), in parameter order.
//
// A softmax at the end is not differentiated: cross-entropy takes its input,
// the logits (exact and stable, as PyTorch's CrossEntropyLoss). Batch-norm
// running statistics get no gradient: the training step updates them.
#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "passes/pass.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

// '*' matches any run of characters, everything else itself.
bool glob_match(std::string_view pat, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && pat[p] == s[i]) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

class Autodiff : public Pass {
 public:
  std::string_view name() const override { return "autodiff"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    g_ = &g;
    contributions_.clear();
    taken_.clear();
    if (!check(g, ctx)) return false;
    Value* pred = g.outputs()[0];
    Value* scored = pred;  // what the loss reads: the prediction, or the logits under its softmax
    OpKind loss = pick_loss(pred, ctx.training.loss, scored);
    if (loss == OpKind::SoftmaxCrossEntropy && scored->type.shape.rank() != 2) {
      ctx.error(pred->loc, "autodiff: cross-entropy needs logits of shape [N, classes]; '" +
                               scored->name + "' is " + scored->type.shape.str());
      return false;
    }
    std::unordered_set<const Value*> frozen;
    if (!freeze(ctx, frozen)) return false;

    // Values that depend on a parameter being trained: only they need gradients.
    std::unordered_set<const Value*> needs;
    for (const auto& n : g.nodes()) {
      if (active(*n, needs, frozen))
        for (const Value* o : n->outputs) needs.insert(o);
    }
    if (!needs.count(scored)) {
      ctx.error(pred->loc, "autodiff: nothing to train: no trainable parameter reaches '" +
                               pred->name + "'" + (frozen.empty() ? "" : " (all are frozen)"));
      return false;
    }

    const ir::Shape& s = scored->type.shape;
    ir::TensorType label_type{ir::DType::F32,
                              loss == OpKind::SoftmaxCrossEntropy ? ir::Shape{{s[0]}} : s};
    Value* labels = g.add_input(fresh("labels"), label_type, pred->loc);
    Node* loss_node = g.add_node(loss, ir::NoAttrs{}, {scored, labels}, {fresh("loss")},
                                 {{ir::DType::F32, ir::Shape{{1}}}}, pred->loc);
    ctx.applied({loss_node->name(), scored->name},
                std::string(ir::op_name(loss)) + " of '" + scored->name + "' against %" +
                    labels->name + " " + label_type.str(),
                "losses");
    needs.insert(loss_node->output());

    // Reverse sweep: every consumer of a value comes after its producer, so a
    // value's gradient contributions are complete when its producer is reached.
    std::vector<Node*> order;
    for (const auto& n : g.nodes()) order.push_back(n.get());
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      Node& n = **it;
      if (!needs.count(n.output())) continue;
      const bool is_loss = &n == loss_node;
      Value* dy = is_loss ? nullptr : sum(n.output());
      if (!is_loss && !dy) continue;  // not on a path to the loss (the softmax under it)
      backward(n, dy, needs, frozen);
      ctx.counter("backward ops")++;
    }

    std::vector<Value*>& outs = g.mutable_outputs();
    outs = {loss_node->output(), pred};
    for (Value* p : g.params()) {
      if (Value* gp = sum(p)) {
        rename(gp, p->name + ".grad");
        outs.push_back(gp);
        ctx.counter("parameter gradients")++;
      }
    }
    return true;
  }

 private:
  // The graph must be a network as written: one prediction, unfused layers.
  bool check(const ir::Graph& g, PassContext& ctx) {
    for (const auto& n : g.nodes()) {
      if (ir::op_info(n->op).role != ir::OpRole::Layer) {
        ctx.error(n->loc, "autodiff: the graph is already a training graph (layer '" + n->name() +
                              "' is " + ir::op_name(n->op) + ")");
        return false;
      }
      if (const ir::Epilogue* e = ir::epilogue_of(n->attrs); e && !e->empty()) {
        ctx.error(n->loc, "autodiff: layer '" + n->name() +
                              "' is fused; run autodiff before the fusion passes");
        return false;
      }
    }
    if (g.outputs().size() != 1) {
      ctx.error(g.outputs().empty() ? SourceLoc{} : g.outputs()[1]->loc,
                "autodiff: the network has " + std::to_string(g.outputs().size()) +
                    " outputs; training needs exactly one prediction");
      return false;
    }
    return true;
  }

  static OpKind pick_loss(Value* pred, TrainingOptions::Loss want, Value*& scored) {
    const Node* p = pred->producer;
    const bool softmax_end =
        p && p->op == OpKind::Softmax && pred->type.shape.rank() == 2 &&
        (p->as<ir::SoftmaxAttrs>().axis == 1 || p->as<ir::SoftmaxAttrs>().axis == -1);
    if (want == TrainingOptions::Loss::Mse || (want == TrainingOptions::Loss::Auto && !softmax_end))
      return OpKind::MseLoss;
    if (softmax_end) scored = p->inputs[0];
    return OpKind::SoftmaxCrossEntropy;
  }

  // Parameters of layers matching a --freeze pattern; a pattern that matches
  // no layer is an error (most likely a typo).
  bool freeze(PassContext& ctx, std::unordered_set<const Value*>& frozen) {
    bool ok = true;
    for (const std::string& pat : ctx.training.freeze) {
      bool hit = false;
      for (const auto& n : g_->nodes()) {
        if (!glob_match(pat, n->name())) continue;
        hit = true;
        if (auto ops = ir::split_operands(*n))
          for (const Value* p : ops->params) frozen.insert(p);
      }
      if (!hit) {
        ctx.error({}, "autodiff: freeze pattern '" + pat + "' matches no layer");
        ok = false;
      }
    }
    ctx.counter("frozen parameters") += static_cast<int>(frozen.size());
    return ok;
  }

  // Whether a node's results depend on a parameter being trained.
  static bool active(const Node& n, const std::unordered_set<const Value*>& needs,
                     const std::unordered_set<const Value*>& frozen) {
    auto ops = ir::split_operands(n);
    std::vector<ir::ParamRole> roles = ir::param_roles(n.op, n.attrs);
    for (size_t i = 0; i < ops->params.size(); ++i)
      if (ir::is_trainable(roles[i]) && !frozen.count(ops->params[i])) return true;
    return std::any_of(ops->data.begin(), ops->data.end(),
                       [&](const Value* d) { return needs.count(d) > 0; });
  }

  // One backward op for `n`; records its results as gradient contributions.
  void backward(Node& n, Value* dy, const std::unordered_set<const Value*>& needs,
                const std::unordered_set<const Value*>& frozen) {
    auto ops = ir::split_operands(n);
    std::vector<Value*> operands(ops->data.begin(), ops->data.end());
    operands.push_back(n.output());
    if (dy) operands.push_back(dy);
    operands.insert(operands.end(), ops->params.begin(), ops->params.end());
    std::vector<Value*> wrt;  // what each result is the gradient of
    const int nd = ir::differentiable_inputs(n.op, static_cast<int>(ops->data.size()));
    for (int i = 0; i < nd; ++i) wrt.push_back(ops->data[static_cast<size_t>(i)]);
    std::vector<ir::ParamRole> roles = ir::param_roles(n.op, n.attrs);
    for (size_t i = 0; i < ops->params.size(); ++i)
      if (ir::is_trainable(roles[i])) wrt.push_back(ops->params[i]);
    std::vector<std::string> names;
    std::vector<ir::TensorType> types;
    for (const Value* v : wrt) {
      names.push_back(fresh(v->name + ".grad"));
      types.push_back(v->type);
    }
    Node* gn = g_->add_node(ir::grad_of(n.op), n.attrs, std::move(operands), std::move(names),
                            std::move(types), n.loc);
    for (size_t i = 0; i < wrt.size(); ++i) {
      const Value* v = wrt[i];
      const bool wanted = v->kind == ir::ValueKind::Param ? !frozen.count(v) : needs.count(v) > 0;
      if (wanted) contributions_[v].push_back(gn->outputs[i]);
    }
  }

  // The gradient of `v`: its one contribution or their sum; null if none.
  Value* sum(const Value* v) {
    auto it = contributions_.find(v);
    if (it == contributions_.end()) return nullptr;
    std::vector<Value*>& c = it->second;
    if (c.size() > 1) {
      Node* s = g_->add_node(OpKind::Add, ir::AddAttrs{}, c, {fresh(v->name + ".grad.sum")},
                             {v->type}, c[0]->producer->loc);
      c = {s->output()};
    }
    return c[0];
  }

  // Gives `v` the name `want` (the optimizer pass finds a parameter's gradient
  // by it), renaming a contribution that holds it.
  void rename(Value* v, const std::string& want) {
    if (v->name == want) return;
    if (Value* holder = g_->find_value(want, false)) holder->name = fresh(want + ".part");
    v->name = want;
  }

  // `base`, or `base.1`, `base.2`, ... : a result name not yet taken.
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int i = 1; g_->find_value(name, false) || taken_.count(name); ++i)
      name = base + "." + std::to_string(i);
    taken_.insert(name);  // names of one node's results are taken before it exists
    return name;
  }

  ir::Graph* g_ = nullptr;
  std::unordered_map<const Value*, std::vector<Value*>> contributions_;
  std::unordered_set<std::string> taken_;
};

}  // namespace

std::unique_ptr<Pass> create_autodiff() { return std::make_unique<Autodiff>(); }

}  // namespace cnnc::passes
