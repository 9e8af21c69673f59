// Lowering a training graph (autodiff, optimizer): the losses, the backward
// ops and the optimizer's updates, plus the forward ops whose training form
// differs. Weights stay in the IR's layouts (no packing, no transposition)
// so that gradients and updates address them directly; each optimizer update
// writes the new parameter and state over the old, so one call of the step
// leaves the next step's weights in place. A multi-result op becomes one
// kernel per result that something reads (the gradient of the network's
// input is never computed).
#include "backends/halide/lowerer.h"
#include "support/random.h"

namespace cnnc::halide::lowering {

namespace {

Geometry flat(const Value* v) { return dense({v->type.shape.elements().value()}); }
// NCHW-like values seen as [inner, C, outer] around dim 1.
Geometry channels(const Value* v) { return dense(around(v->type.shape, 1)); }
// [N, features]: everything after the batch as one row.
Geometry rows(const Value* v) {
  const int64_t N = v->type.shape[0];
  return dense({N, v->type.shape.elements().value() / N});
}

ir::Activation activation_of(const Node& n) {
  ir::Activation act;
  act.op = ir::op_info(n.op).forward;
  if (n.op == OpKind::LeakyReluGrad) act.alpha = n.as<ir::LeakyReluAttrs>().alpha;
  if (n.op == OpKind::EluGrad) act.alpha = n.as<ir::EluAttrs>().alpha;
  if (n.op == OpKind::ClipGrad) {
    act.alpha = n.as<ir::ClipAttrs>().min;
    act.beta = n.as<ir::ClipAttrs>().max;
  }
  return act;
}

}  // namespace

void Lowerer::kernel(const Node& n, KernelSpec s, std::vector<std::pair<Geometry, int32_t>> args,
                     const std::string& layer) {
  std::vector<int32_t> buffers;
  for (auto& [g, b] : args) {
    s.args.push_back(g);
    buffers.push_back(b);
  }
  call(n, s, std::move(buffers), layer);
}

int32_t Lowerer::seed_view() {
  if (out_.seed_input < 0) {
    out_.seed_input = static_cast<int32_t>(out_.inputs.size());
    TensorInfo t;
    t.name = "seed";
    t.shape = {2};
    t.bytes = 8;
    out_.inputs.push_back(t);
  }
  BufferRef b;
  b.space = Space::Input;
  b.index = out_.seed_input;
  b.geometry = dense({2});
  return buffer(b);
}

// A copy of `from` (seen through `gf`) into `to` (through `gt`).
void Lowerer::copy(const Node& n, const Value* from, Geometry gf, const Value* to, Geometry gt,
                   const std::string& layer) {
  if (from->kind == ir::ValueKind::Result && to->arena_offset == from->arena_offset && gf == gt)
    return;  // the same memory
  KernelSpec s;
  s.family = Family::Elementwise;
  s.ew = ElementwiseOp::Copy;
  kernel(n, s, {{gf, view(from, gf)}, {gt, view(to, gt)}}, layer);
}

bool Lowerer::training_node(const Node& n) {
  auto ops = ir::split_operands(n);
  CNNC_INTERNAL_ASSERT(ops.has_value()) << "lowering an unverified node '" << n.name() << "'";
  for (const Value* v : n.inputs) {
    CNNC_INTERNAL_ASSERT(!updated_.count(v))
        << "'" << n.name() << "' reads '" << v->name << "' after the optimizer updated it";
    if (v->kind != ir::ValueKind::Param && !check_strides(n, dense(v->type.shape.dims)))
      return false;
  }
  for (const Value* o : n.outputs)
    if (!check_strides(n, dense(o->type.shape.dims))) return false;
  const std::span<Value* const> d = ops->data;
  const std::span<Value* const> p = ops->params;
  const Value* dy = d.size() >= 2 ? d.back() : nullptr;  // backward ops (not losses)
  auto wanted = [&](size_t result) {
    return result < n.outputs.size() && used_.count(n.outputs[result]) > 0;
  };
  const Value* out0 = n.output();

  switch (n.op) {
    case OpKind::Conv2d: {
      if (!node(n)) return false;  // training keeps the IR's weight layout (no blocks)
      return true;
    }
    case OpKind::Linear: {
      // y[n, u] = Σ_f x[n, f]·W[u, f]: the linear kernel with W read in place.
      const auto& a = n.as<ir::LinearAttrs>();
      const int64_t U = a.units, F = p[0]->type.shape[1];
      KernelSpec s;
      s.family = Family::Linear;
      s.bias = a.bias;
      s.epilogue = a.epilogue;
      s.conv.filters = a.units;
      Geometry gw = dense({F, U});
      gw.stride = {static_cast<int32_t>(F), 1, 0, 0};
      std::vector<std::pair<Geometry, int32_t>> args{{rows(d[0]), view(d[0], rows(d[0]))},
                                                     {gw, param(p[0], gw)}};
      if (a.bias) args.emplace_back(flat(p[1]), param(p[1], flat(p[1])));
      if (ops->residual) args.emplace_back(rows(out0), view(ops->residual, rows(out0)));
      args.emplace_back(rows(out0), view(out0, rows(out0)));
      kernel(n, s, std::move(args));
      return true;
    }
    case OpKind::BatchNorm: {
      const auto& a = n.as<ir::BatchNormAttrs>();
      CNNC_INTERNAL_ASSERT(a.epilogue.empty())
          << "batch_norm '" << n.name() << "' fused in a training graph (fuse-activation)";
      const Value* x = d[0];
      KernelSpec s;
      s.family = Family::BatchNormTrain;
      s.eps = a.eps;
      kernel(n, s,
             {{channels(x), view(x, channels(x))},
              {flat(p[0]), param(p[0], flat(p[0]))},
              {flat(p[1]), param(p[1], flat(p[1]))},
              {channels(out0), view(out0, channels(out0))}});
      // The running statistics, updated in place as one [C, 2] buffer over
      // the mean and the variance (placed one after the other).
      param(p[2], flat(p[2]));
      param(p[3], flat(p[3]));
      const int64_t mean_at = out_.weights[weight_index_.at(p[2]->name)].offset;
      const int64_t var_at = out_.weights[weight_index_.at(p[3]->name)].offset;
      CNNC_INTERNAL_ASSERT(var_at > mean_at && (var_at - mean_at) % 4 == 0)
          << "running statistics of '" << n.name() << "' out of order";
      BufferRef running;
      running.space = Space::Weights;
      running.offset = mean_at;
      running.geometry = dense({2, p[2]->type.shape[0]});
      running.geometry.stride[1] = static_cast<int32_t>((var_at - mean_at) / 4);
      const int32_t rb = buffer(running);
      KernelSpec st;
      st.family = Family::BatchNormStats;
      st.eps = a.eps;
      st.momentum = a.momentum;
      kernel(n, st,
             {{channels(x), view(x, channels(x))}, {running.geometry, rb}, {running.geometry, rb}},
             n.name() + ".running");
      return true;
    }
    case OpKind::Dropout:
    case OpKind::DropoutGrad: {
      const bool fwd = n.op == OpKind::Dropout;
      const Value* src = fwd ? d[0] : dy;
      KernelSpec s;
      s.family = Family::Elementwise;
      s.ew = ElementwiseOp::DropoutMask;
      s.dropout = n.as<ir::DropoutAttrs>();
      // The forward layer's name keys the mask (the backward op's y operand).
      s.stream = RandomStream::key_hash(fwd ? n.name() : d[1]->name);
      kernel(n, s,
             {{row(src), view(src, row(src))},
              {dense({2}), seed_view()},
              {row(out0), view(out0, row(out0))}});
      return true;
    }
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::MseLoss:
    case OpKind::SoftmaxCrossEntropyGrad:
    case OpKind::MseLossGrad: {
      const bool ce =
          n.op == OpKind::SoftmaxCrossEntropy || n.op == OpKind::SoftmaxCrossEntropyGrad;
      const bool grad = ir::is_grad(n.op);
      const Value *scores = d[0], *labels = d[1];
      auto it = std::find(g_.inputs().begin(), g_.inputs().end(), labels);
      if (it != g_.inputs().end())
        out_.labels_input = static_cast<int32_t>(it - g_.inputs().begin());
      KernelSpec s;
      s.family = Family::Loss;
      s.loss_op = ce ? OpKind::SoftmaxCrossEntropy : OpKind::MseLoss;
      s.part = grad ? 1 : 0;
      const Geometry gs = ce ? rows(scores) : dense({1, scores->type.shape.elements().value()});
      const Geometry gl = ce ? flat(labels) : gs;
      const Geometry go = grad ? gs : dense({1});
      kernel(n, s, {{gs, view(scores, gs)}, {gl, view(labels, gl)}, {go, view(out0, go)}});
      return true;
    }
    case OpKind::Conv2dGrad: {
      const auto& a = n.as<ir::Conv2dAttrs>();
      const Value* x = d[0];
      const auto nchw = [](const Value* v) { return dense(v->type.shape.dims); };
      if (wanted(0)) {
        KernelSpec s;
        s.family = Family::ConvGradInput;
        s.conv = a;
        kernel(n, s,
               {{nchw(dy), view(dy, nchw(dy))},
                {nchw(p[0]), param(p[0], nchw(p[0]))},
                {nchw(x), view(n.outputs[0], nchw(x))}});
      }
      if (wanted(1)) {
        KernelSpec s;
        s.family = Family::ConvGradWeight;
        s.conv = a;
        kernel(n, s,
               {{nchw(x), view(x, nchw(x))},
                {nchw(dy), view(dy, nchw(dy))},
                {nchw(p[0]), view(n.outputs[1], nchw(p[0]))}},
               n.name() + ".weight");
      }
      if (a.bias && wanted(2)) channel_sum(n, dy, n.outputs[2]);
      return true;
    }
    case OpKind::LinearGrad: {
      // As products of the linear kernel, out(j, i) = Σ_r w(j, r)·x(r, i):
      // dx = dy·W and dW = dyᵀ·x, with dy and x seen transposed by strides.
      const auto& a = n.as<ir::LinearAttrs>();
      const Value* x = d[0];
      const int64_t N = x->type.shape[0], U = a.units, F = p[0]->type.shape[1];
      KernelSpec s;
      s.family = Family::Linear;
      if (wanted(0)) {
        s.conv.filters = F;
        const Geometry gdy = dense({N, U}), gw = dense({U, F}), gx = dense({N, F});
        kernel(n, s, {{gdy, view(dy, gdy)}, {gw, param(p[0], gw)}, {gx, view(n.outputs[0], gx)}});
      }
      if (wanted(1)) {
        s.conv.filters = F;
        Geometry gdyt = dense({U, N});  // dy seen as [U, N]
        gdyt.stride = {static_cast<int32_t>(U), 1, 0, 0};
        const Geometry gx = dense({N, F}), gw = dense({U, F});
        kernel(n, s, {{gdyt, view(dy, gdyt)}, {gx, view(x, gx)}, {gw, view(n.outputs[1], gw)}},
               n.name() + ".weight");
      }
      if (a.bias && wanted(2)) channel_sum(n, dy, n.outputs[2]);
      return true;
    }
    case OpKind::ReluGrad:
    case OpKind::LeakyReluGrad:
    case OpKind::EluGrad:
    case OpKind::SeluGrad:
    case OpKind::GeluGrad:
    case OpKind::SigmoidGrad:
    case OpKind::TanhGrad:
    case OpKind::ClipGrad: {
      KernelSpec s;
      s.family = Family::Elementwise;
      s.ew = ElementwiseOp::ActivationGrad;
      s.inputs = 2;
      s.epilogue.act = activation_of(n);
      s.grad_from_output =
          ir::activation_grad_reads_output(*s.epilogue.act.op, s.epilogue.act.alpha);
      const Value* v = s.grad_from_output ? d[1] : d[0];
      kernel(n, s,
             {{row(v), view(v, row(v))},
              {row(dy), view(dy, row(dy))},
              {row(out0), view(out0, row(out0))}});
      return true;
    }
    case OpKind::MaxPoolGrad: {
      KernelSpec s;
      s.family = Family::MaxPoolGrad;
      s.pool = n.as<ir::PoolAttrs>();
      const Geometry gx = dense(d[0]->type.shape.dims), gdy = dense(dy->type.shape.dims);
      kernel(n, s, {{gx, view(d[0], gx)}, {gdy, view(dy, gdy)}, {gx, view(out0, gx)}});
      return true;
    }
    case OpKind::AvgPoolGrad: {
      KernelSpec s;
      s.family = Family::AvgPoolGrad;
      s.pool = n.as<ir::AvgPoolAttrs>().pool;
      s.count_include_pad = n.as<ir::AvgPoolAttrs>().count_include_pad;
      const Geometry gx = dense(d[0]->type.shape.dims), gdy = dense(dy->type.shape.dims);
      kernel(n, s, {{gdy, view(dy, gdy)}, {gx, view(out0, gx)}});
      return true;
    }
    case OpKind::LrnGrad: {
      KernelSpec s;
      s.family = Family::LrnGrad;
      s.lrn = n.as<ir::LrnAttrs>();
      const Geometry gx = dense(d[0]->type.shape.dims);
      kernel(n, s, {{gx, view(d[0], gx)}, {gx, view(dy, gx)}, {gx, view(out0, gx)}});
      return true;
    }
    case OpKind::SoftmaxGrad: {
      // From the forward op's output y (the operand after its inputs).
      const Value* y =
          d[static_cast<size_t>(ir::forward_data_inputs(n.op, static_cast<int>(d.size())))];
      int64_t axis = n.as<ir::SoftmaxAttrs>().axis;
      if (axis < 0) axis += y->type.shape.rank();
      KernelSpec s;
      s.family = Family::SoftmaxGrad;
      const Geometry g = dense(around(y->type.shape, axis));
      kernel(n, s, {{g, view(y, g)}, {g, view(dy, g)}, {g, view(out0, g)}});
      return true;
    }
    case OpKind::GlobalAvgPoolGrad: {
      // dx = dy / (H·W), dy broadcast over the pixels by a zero stride.
      const ir::Shape& xs = d[0]->type.shape;
      const int64_t HW = xs[2] * xs[3];
      Geometry gdy = dense({xs[0], xs[1], HW});
      gdy.stride = {0, 1, static_cast<int32_t>(xs[1]), 0};
      const Geometry gx = dense({xs[0], xs[1], HW});
      KernelSpec s;
      s.family = Family::Elementwise;
      s.ew = ElementwiseOp::Scale;
      s.scale = 1.0 / static_cast<double>(HW);
      kernel(n, s, {{gdy, view(dy, gdy)}, {gx, view(out0, gx)}});
      return true;
    }
    case OpKind::BatchNormGrad: {
      const Value* x = d[0];
      KernelSpec s;
      s.family = Family::BatchNormGrad;
      s.eps = n.as<ir::BatchNormAttrs>().eps;
      const Geometry gx = channels(x);
      if (wanted(0))
        kernel(n, s,
               {{gx, view(x, gx)},
                {flat(p[0]), param(p[0], flat(p[0]))},
                {gx, view(dy, gx)},
                {gx, view(n.outputs[0], gx)}});
      if (wanted(1)) {
        s.part = 1;
        kernel(
            n, s,
            {{gx, view(x, gx)}, {gx, view(dy, gx)}, {flat(p[0]), view(n.outputs[1], flat(p[0]))}},
            n.name() + ".gamma");
      }
      if (wanted(2)) channel_sum(n, dy, n.outputs[2]);
      return true;
    }
    case OpKind::FlattenGrad:
      copy(n, dy, row(dy), out0, row(out0));
      return true;
    case OpKind::AddGrad:
      for (size_t i = 0; i < n.outputs.size(); ++i)
        if (wanted(i))
          copy(n, dy, row(dy), n.outputs[i], row(n.outputs[i]),
               n.name() + ".copy" + std::to_string(i));
      return true;
    case OpKind::ConcatGrad: {
      // Each input's gradient is its slice of dy, seen with dy's strides.
      const std::vector<ConcatSlice> slices =
          concat_slices(dy, n.as<ir::ConcatAttrs>().axis, n.outputs);
      for (size_t i = 0; i < slices.size(); ++i) {
        if (!wanted(i)) continue;
        const ConcatSlice& sl = slices[i];
        KernelSpec s;
        s.family = Family::Elementwise;
        s.ew = ElementwiseOp::Copy;
        kernel(n, s,
               {{sl.in_whole, view(dy, sl.in_whole, sl.offset)},
                {sl.part, view(n.outputs[i], sl.part)}},
               n.name() + ".slice" + std::to_string(i));
      }
      return true;
    }
    case OpKind::SgdUpdate:
    case OpKind::AdamUpdate: {
      // Operands: grad, lr[, step], then the parameter and its state.
      const Value* grad = d[0];
      out_.lr_input = input_index_.at(d[1]);
      const bool adam = n.op == OpKind::AdamUpdate;
      if (adam) out_.step_input = input_index_.at(d[2]);
      KernelSpec s;
      s.family = Family::Update;
      s.update_op = n.op;
      if (adam)
        s.adam = n.as<ir::AdamAttrs>();
      else
        s.sgd = n.as<ir::SgdAttrs>();
      const Geometry g = flat(p[0]), one = dense({1});
      auto arg = [&](const Value* v) -> std::pair<Geometry, int32_t> {
        if (v->kind == ir::ValueKind::Param) return {g, param(v, g)};
        return {v->type.shape.elements().value() == 1 ? one : g,
                view(v, v->type.shape.elements().value() == 1 ? one : g)};
      };
      const std::string& pname = p[0]->name;
      if (!adam) {
        if (p.size() > 1) {
          s.part = 0;
          kernel(n, s, {arg(grad), arg(p[0]), arg(p[1]), arg(p[1])}, pname + ".momentum");
        }
        s.part = 1;
        std::vector<std::pair<Geometry, int32_t>> args{arg(grad), arg(d[1]), arg(p[0])};
        if (p.size() > 1) args.push_back(arg(p[1]));
        args.push_back(arg(p[0]));
        kernel(n, s, std::move(args), pname);
      } else {
        s.part = 0;
        kernel(n, s, {arg(grad), arg(p[0]), arg(p[1]), arg(p[1])}, pname + ".m");
        s.part = 1;
        kernel(n, s, {arg(grad), arg(p[0]), arg(p[2]), arg(p[2])}, pname + ".v");
        s.part = 2;
        kernel(n, s, {arg(d[1]), arg(d[2]), arg(p[0]), arg(p[1]), arg(p[2]), arg(p[0])}, pname);
      }
      for (const Value* v : p) updated_.insert(v);
      return true;
    }
    default:
      break;
  }
  if (ir::op_info(n.op).role == ir::OpRole::Layer) return node(n);  // as in inference
  // A backward op is named after its first result: name the forward layer (its y operand).
  std::string layer = n.name();
  if (ir::is_grad(n.op))
    layer = d[static_cast<size_t>(ir::forward_data_inputs(n.op, static_cast<int>(d.size())))]->name;
  diag_.error(n.loc, "layer '" + layer + "': compiled training has no kernel for '" +
                         ir::op_name(n.op) + "' yet (cnnc train runs it on the reference backend)");
  return false;
}

void Lowerer::channel_sum(const Node& n, const Value* dy, const Value* out) {
  KernelSpec s;
  s.family = Family::ChannelSum;
  const Geometry g = dense(around(dy->type.shape, 1));
  kernel(n, s, {{g, view(dy, g)}, {flat(out), view(out, flat(out))}}, out->name);
}

}  // namespace cnnc::halide::lowering
