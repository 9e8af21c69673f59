#include "ir/analysis.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ir/shape_inference.h"
#include "support/checked_math.h"
#include "support/internal_error.h"

namespace cnnc::ir {

namespace {

int64_t elements(const Value* v) { return v->type.shape.elements().value_or(INT64_MAX); }

ReceptiveField grow(const ReceptiveField& in, Hw k, Hw s, Hw d) {
  ReceptiveField r;
  r.size_h = sat_add(in.size_h, sat_mul(d.h * (k.h - 1), in.jump_h));
  r.size_w = sat_add(in.size_w, sat_mul(d.w * (k.w - 1), in.jump_w));
  r.jump_h = sat_mul(in.jump_h, s.h);
  r.jump_w = sat_mul(in.jump_w, s.w);
  return r;
}

// A window covering the whole spatial input (global pooling, linear on 4-d).
ReceptiveField whole(const ReceptiveField& in, const Shape& x) {
  if (x.rank() != 4) return in;
  return grow(in, Hw{x[2], x[3]}, Hw{x[2], x[3]}, Hw{1, 1});
}

int64_t epilogue_flops(const Attrs& a, int64_t out) {
  const Epilogue* e = epilogue_of(a);
  if (!e) return 0;
  return sat_mul((e->residual ? 1 : 0) + (e->act.op ? 1 : 0), out);
}

}  // namespace

GraphStats analyze(const Graph& g) {
  GraphStats st;
  st.batch = g.batch();
  std::unordered_map<const Value*, ReceptiveField> rf;
  std::unordered_map<const Value*, int> uses = g.use_counts();
  std::unordered_set<const Value*> graph_io(g.inputs().begin(), g.inputs().end());
  graph_io.insert(g.outputs().begin(), g.outputs().end());
  std::unordered_set<const Value*> counted_params;
  for (const Value* in : g.inputs()) {
    LayerStats row;
    row.value = in;
    row.activation_elements = elements(in);
    rf[in] = {};
    st.rows.push_back(row);
  }
  for (const auto& up : g.nodes()) {
    const Node& n = *up;
    auto ops = split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "analyze on an unverified node '" << n.name() << "'";
    LayerStats row;
    row.node = &n;
    row.value = n.output();
    for (const Value* o : n.outputs)
      row.activation_elements = sat_add(row.activation_elements, elements(o));
    std::vector<ParamRole> roles = param_roles(n.op, n.attrs);
    for (size_t i = 0; i < ops->params.size(); ++i) {
      // A parameter shared by several layers counts once, for its first user.
      const Value* p = ops->params[i];
      if (!counted_params.insert(p).second) continue;
      int64_t& slot = is_trainable(roles[i]) ? row.params : row.state;
      slot = sat_add(slot, elements(p));
    }
    const Shape& x = ops->data[0]->type.shape;
    // A backward op costs about twice its forward op (the gradients of the
    // input and of the weights), counted from the forward result y.
    const bool grad = is_grad(n.op);
    const OpKind op = op_info(n.op).forward;
    int64_t out = grad ? elements(ops->data[ops->data.size() - 2]) : elements(n.output());
    ReceptiveField in_rf;
    for (const Value* d : ops->data) {
      const ReceptiveField& r = rf[d];
      in_rf.size_h = std::max(in_rf.size_h, r.size_h);
      in_rf.size_w = std::max(in_rf.size_w, r.size_w);
      in_rf.jump_h = std::max(in_rf.jump_h, r.jump_h);
      in_rf.jump_w = std::max(in_rf.jump_w, r.jump_w);
    }
    row.rf = in_rf;
    switch (op) {
      case OpKind::Conv2d: {
        const auto& a = n.as<Conv2dAttrs>();
        int64_t per_out = sat_mul(sat_mul(x[1] / a.groups, a.kernel.h), a.kernel.w);
        row.macs = sat_mul(per_out, out);
        row.flops = sat_add(sat_mul(2, row.macs), a.bias ? out : 0);
        row.rf = grow(in_rf, a.kernel, a.stride, a.dilation);
        break;
      }
      case OpKind::Linear: {
        const auto& a = n.as<LinearAttrs>();
        int64_t in_features = elements(ops->data[0]) / std::max<int64_t>(1, x[0]);
        row.macs = sat_mul(in_features, out);
        row.flops = sat_add(sat_mul(2, row.macs), a.bias ? out : 0);
        row.rf = whole(in_rf, x);
        break;
      }
      case OpKind::BatchNorm:
        row.flops = sat_mul(2, out);
        break;
      case OpKind::MaxPool:
      case OpKind::AvgPool: {
        const PoolAttrs& p = op == OpKind::MaxPool ? n.as<PoolAttrs>() : n.as<AvgPoolAttrs>().pool;
        row.flops = sat_mul(p.kernel.h * p.kernel.w + (op == OpKind::AvgPool ? 1 : 0), out);
        row.rf = grow(in_rf, p.kernel, p.stride, Hw{1, 1});
        break;
      }
      case OpKind::GlobalAvgPool:
        row.flops = sat_mul(x[2] * x[3] + 1, out);
        row.rf = whole(in_rf, x);
        break;
      case OpKind::Lrn:
        row.flops = sat_mul(n.as<LrnAttrs>().size + 3, out);
        break;
      case OpKind::Softmax:
        row.flops = sat_mul(3, out);
        break;
      case OpKind::Add:
        row.flops = sat_mul(static_cast<int64_t>(ops->data.size()) - 1, out);
        break;
      case OpKind::Flatten:
      case OpKind::Concat:
        break;
      case OpKind::Relu:
      case OpKind::LeakyRelu:
      case OpKind::Elu:
      case OpKind::Selu:
      case OpKind::Gelu:
      case OpKind::Sigmoid:
      case OpKind::Tanh:
      case OpKind::Clip:
      case OpKind::Dropout: {
        row.flops = out;
        // In place when nothing else reads the input (never a caller's buffer).
        const Value* in = ops->data[0];
        row.in_place = !grad && uses[in] == 1 && !graph_io.count(in) && !graph_io.count(n.output());
        break;
      }
      case OpKind::SoftmaxCrossEntropy:
      case OpKind::MseLoss:
        row.flops = sat_mul(3, elements(ops->data[0]));
        break;
      case OpKind::SgdUpdate:
        row.flops = sat_mul(4, elements(ops->data[0]));
        break;
      case OpKind::AdamUpdate:
        row.flops = sat_mul(12, elements(ops->data[0]));
        break;
      default:
        CNNC_INTERNAL_ERROR() << "analyze: no cost for '" << op_name(op) << "'";
    }
    if (grad) {
      row.macs = sat_mul(2, row.macs);
      row.flops = sat_mul(2, row.flops);
    }
    row.flops = sat_add(row.flops, epilogue_flops(n.attrs, out));
    for (const Value* o : n.outputs) rf[o] = row.rf;
    st.rows.push_back(row);
  }
  for (const Value* p : g.params())
    st.param_bytes = sat_add(st.param_bytes, sat_mul(elements(p), dtype_size(p->type.dtype)));
  for (const LayerStats& r : st.rows) {
    st.params = sat_add(st.params, r.params);
    st.state = sat_add(st.state, r.state);
    st.macs = sat_add(st.macs, r.macs);
    st.flops = sat_add(st.flops, r.flops);
    st.activation_elements_all = sat_add(st.activation_elements_all, r.activation_elements);
    if (!r.in_place)
      st.activation_elements = sat_add(st.activation_elements, r.activation_elements);
  }
  st.activation_bytes = sat_mul(st.activation_elements, 4);
  return st;
}

}  // namespace cnnc::ir
