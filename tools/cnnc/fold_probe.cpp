#include "tools/cnnc/fold_probe.h"

#include <cmath>
#include <optional>

#include "backends/reference/kernels.h"
#include "ir/shape_inference.h"
#include "support/random.h"

namespace cnnc::tool {

namespace {

const ir::Node* find_node(const ir::Graph& g, const std::string& name) {
  for (const auto& n : g.nodes())
    if (n->name() == name) return n.get();
  return nullptr;
}

using T64 = ir::TensorOf<double>;

T64 param(const ir::Value* p) { return ir::convert<double>(*p->data); }

// conv2d or linear on x with the node's parameters, before any epilogue.
T64 apply(const ir::Node& n, const T64& x) {
  auto ops = ir::split_operands(n);
  const T64 w = param(ops->params[0]);
  const std::optional<T64> b =
      ops->params.size() > 1 ? std::optional<T64>(param(ops->params[1])) : std::nullopt;
  if (n.op == ir::OpKind::Linear) {
    T64 y(ir::Shape{{1, n.as<ir::LinearAttrs>().units}});
    reference::linear(x, w, b ? &*b : nullptr, y);
    return y;
  }
  ir::Conv2dAttrs a = n.as<ir::Conv2dAttrs>();
  a.epilogue = {};
  int64_t oh = ir::window_output_extent(x.shape[2], a.kernel.h, a.stride.h, a.pad.top, a.pad.bottom,
                                        a.dilation.h, false);
  int64_t ow = ir::window_output_extent(x.shape[3], a.kernel.w, a.stride.w, a.pad.left, a.pad.right,
                                        a.dilation.w, false);
  T64 y(ir::Shape{{1, a.filters, oh, ow}});
  reference::conv2d(x, w, b ? &*b : nullptr, a, y);
  return y;
}

}  // namespace

std::map<std::string, double> probe_batch_norm_folds(const ir::Graph& before,
                                                     const ir::Graph& after,
                                                     const passes::PassContext& ctx,
                                                     uint64_t seed) {
  std::map<std::string, double> out;
  for (const passes::Remark& r : ctx.remarks) {
    if (r.pass != "fold-batch-norm" || !r.applied || r.layers.size() != 2) continue;
    const ir::Node* conv0 = find_node(before, r.layers[0]);
    const ir::Node* bn = find_node(before, r.layers[1]);
    if (!conv0 || !bn || !bn->inputs[1]->data) continue;
    // The folded layer keeps its name, or takes the batch_norm's when that was an output.
    const ir::Node* conv1 = find_node(after, r.layers[0]);
    if (!conv1 || conv1->op != conv0->op) conv1 = find_node(after, r.layers[1]);
    if (!conv1 || conv1->op != conv0->op || !conv1->inputs[1]->data) continue;
    // A probe of batch 1; for convs only a few output rows and columns.
    ir::Shape s = conv0->inputs[0]->type.shape;
    s.dims[0] = 1;
    if (conv0->op == ir::OpKind::Conv2d) {
      const auto& a = conv0->as<ir::Conv2dAttrs>();
      s.dims[2] = std::min(s[2], a.dilation.h * (a.kernel.h - 1) + 1 + 2 * a.stride.h);
      s.dims[3] = std::min(s[3], a.dilation.w * (a.kernel.w - 1) + 1 + 2 * a.stride.w);
    }
    T64 x(s);
    RandomStream rng(seed, "probe:" + r.layers[1]);
    for (double& v : x.data) v = static_cast<float>(rng.normal());  // a float input
    T64 y0 = apply(*conv0, x);
    T64 z(y0.shape);
    reference::batch_norm_inference(y0, param(bn->inputs[1]), param(bn->inputs[2]),
                                    param(bn->inputs[3]), param(bn->inputs[4]),
                                    bn->as<ir::BatchNormAttrs>().eps, z);
    T64 y1 = apply(*conv1, x);
    double worst = 0;
    for (int64_t i = 0; i < z.size(); ++i) worst = std::max(worst, std::fabs(z[i] - y1[i]));
    out[r.layers[1]] = worst;
  }
  return out;
}

}  // namespace cnnc::tool
