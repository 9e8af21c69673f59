// fold-batch-norm: batch_norm after conv2d or linear disappears into the
// weights and bias of the layer before it (inference only).
//
//   bn(conv(x))[k] = γ[k]·(conv(x)[k] − μ[k]) / √(σ²[k] + ε) + β[k]
//                  = conv'(x)[k]   with s[k] = γ[k] / √(σ²[k] + ε),
//   W'[k, ...] = W[k, ...]·s[k],   b'[k] = (b[k] − μ[k])·s[k] + β[k]   (b = 0 without bias)
//
// k is the output channel: dim 0 of conv and linear weights, for grouped and
// depthwise convs too (each output channel has its own filter). Computed in
// double, then rounded once. Graphs without weights are folded structurally.
#include <cmath>

#include "ir/shape_inference.h"
#include "passes/pass.h"
#include "passes/rewrite.h"
#include "support/internal_error.h"

namespace cnnc::passes {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

class FoldBatchNorm : public Pass {
 public:
  std::string_view name() const override { return "fold-batch-norm"; }

  bool run(ir::Graph& g, PassContext& ctx) override {
    if (ctx.mode == Mode::Training) return false;  // BN keeps its batch statistics
    bool changed = rewrite_each(
        g, [](const Node& n) { return n.op == OpKind::BatchNorm; },
        [&](Node& bn) { return fold(g, bn, ctx); });
    if (changed) g.remove_unused_params();  // gamma, beta and the running statistics
    return changed;
  }

 private:
  bool fold(ir::Graph& g, Node& bn, PassContext& ctx) {
    const std::string b = bn.name();
    Value* x = bn.inputs[0];
    Node* p = x->producer;
    auto uses = g.use_counts();
    if (!p)
      return refuse(ctx, {b}, b + ": not folded: its input '" + x->name + "' is a network input");
    if (p->op != OpKind::Conv2d && p->op != OpKind::Linear)
      return refuse(
          ctx, {b, p->name()},
          b + ": not folded: its input comes from " + ir::op_name(p->op) + " '" + p->name() + "'");
    if (uses[x] != 1)
      return refuse(
          ctx, {b, p->name()},
          b + ": not folded: input '" + x->name + "' has " + std::to_string(uses[x]) + " users");
    const ir::Epilogue* ep = ir::epilogue_of(p->attrs);
    if (ep && !ep->empty())
      return refuse(ctx, {b, p->name()},
                    b + ": not folded: '" + p->name() + "' already has an epilogue");
    Value* w = p->inputs[1];
    if (uses[w] != 1)
      return refuse(ctx, {b, p->name()},
                    b + ": not folded: the weights of '" + p->name() + "' are shared");
    bool has_bias =
        p->op == OpKind::Conv2d ? p->as<ir::Conv2dAttrs>().bias : p->as<ir::LinearAttrs>().bias;
    Value* bias = has_bias ? p->inputs[2] : nullptr;
    if (bias && uses[bias] != 1)
      return refuse(ctx, {b, p->name()},
                    b + ": not folded: the bias of '" + p->name() + "' is shared");
    const int64_t K = w->type.shape[0];
    const double eps = bn.as<ir::BatchNormAttrs>().eps;
    Value *gamma = bn.inputs[1], *beta = bn.inputs[2], *mean = bn.inputs[3], *var = bn.inputs[4];
    // Weights come all or none (bound or initialised together).
    const bool data = w->data != nullptr;
    CNNC_INTERNAL_ASSERT(data == (gamma->data != nullptr) &&
                         (!bias || data == (bias->data != nullptr)))
        << "fold-batch-norm: '" << p->name() << "' and '" << b << "' disagree on having weights";
    if (!bias) {
      bias = g.add_param(p->name() + ".bias", {ir::DType::F32, ir::Shape{{K}}}, p->loc);
      p->inputs.insert(p->inputs.begin() + 2, bias);
      if (p->op == OpKind::Conv2d)
        p->as<ir::Conv2dAttrs>().bias = true;
      else
        p->as<ir::LinearAttrs>().bias = true;
    }
    if (data) {
      auto nw = std::make_shared<ir::Tensor>(*w->data);
      auto nb = std::make_shared<ir::Tensor>(ir::Shape{{K}});
      const int64_t per_k = nw->size() / K;
      for (int64_t k = 0; k < K; ++k) {
        const double s = (*gamma->data)[k] / std::sqrt(static_cast<double>((*var->data)[k]) + eps);
        for (int64_t i = 0; i < per_k; ++i)
          (*nw)[k * per_k + i] = static_cast<float>((*nw)[k * per_k + i] * s);
        const double b0 = has_bias ? (*bias->data)[k] : 0.0;
        (*nb)[k] = static_cast<float>((b0 - (*mean->data)[k]) * s + (*beta->data)[k]);
      }
      w->data = std::move(nw);
      bias->data = std::move(nb);
    }
    // A batch norm already fused with its activation hands it on.
    *ir::epilogue_of(p->attrs) = bn.as<ir::BatchNormAttrs>().epilogue;
    const std::string pn = p->name();
    p->fused.push_back(b);
    p->fused.insert(p->fused.end(), bn.fused.begin(), bn.fused.end());
    replace_result(g, bn.output(), x, p);  // x has one use: it is no network output
    g.erase_node(&bn);
    ctx.applied({pn, b}, b + ": folded into " + ir::op_name(p->op) + " '" + pn + "'", "folded");
    return true;
  }

  static bool refuse(PassContext& ctx, std::vector<std::string> layers, std::string why) {
    ctx.refused(std::move(layers), std::move(why));
    return false;
  }
};

}  // namespace

std::unique_ptr<Pass> create_fold_batch_norm() { return std::make_unique<FoldBatchNorm>(); }

}  // namespace cnnc::passes
