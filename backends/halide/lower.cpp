#include "backends/halide/lower.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "backends/halide/lowerer.h"
#include "backends/halide/winograd.h"
#include "ir/analysis.h"
#include "ir/shape_inference.h"
#include "support/internal_error.h"

namespace cnnc::halide {

namespace lowering {

bool Lowerer::node(const Node& n) {
  auto ops = ir::split_operands(n);
  CNNC_INTERNAL_ASSERT(ops.has_value()) << "lowering an unverified node '" << n.name() << "'";
  const Value* x = ops->data[0];
  const Value* y = n.output();
  for (const Value* v : n.inputs)
    if (v->kind != ir::ValueKind::Param && !check_strides(n, placed(v, dense(v->type.shape.dims))))
      return false;
  if (!check_strides(n, placed(y, dense(y->type.shape.dims)))) return false;
  if (ir::op_info(n.op).role != ir::OpRole::Layer) {
    diag_.error(n.loc, "layer '" + n.name() + "': the compiled backend has no kernel for '" +
                           ir::op_name(n.op) +
                           "' yet (training graphs run on the reference backend)");
    return false;
  }
  switch (n.op) {
    case OpKind::Conv2d: {
      const auto& a = n.as<ir::Conv2dAttrs>();
      KernelSpec s;
      s.family = Family::Conv;
      s.conv = a;
      s.bias = a.bias;
      s.epilogue = a.epilogue;
      // Training reads and updates the weights as the IR lays them out: no blocks.
      s.block = x->type.shape.rank() == 4 && !training_ ? conv_block(a, x->type.shape[1]) : 0;
      std::vector<int32_t> args;
      auto add = [&](Geometry g, int32_t b) {
        s.args.push_back(g);
        args.push_back(b);
      };
      // A 1x1 convolution without padding is a matrix product over the
      // output pixels: its output is presented as one row of H·W pixels so
      // the plain kernel vectorises over all of them (a 7x7 map would waste
      // lanes as rows). With stride 1 the input is one row too; with a
      // larger stride the plain kernel gathers the pixels it reads first.
      const bool pointwise = a.kernel == ir::Hw{1, 1} && a.pad == ir::Pad4{};
      const bool unit_stride = a.stride == ir::Hw{1, 1};
      s.in_block = blocked_.count(x) ? channel_block(x->type.shape[1]) : 0;
      s.out_blocked = blocked_.count(y) > 0;
      s.res_blocked = ops->residual && blocked_.count(ops->residual);
      s.winograd = s.block && options_.winograd &&
                   winograd_applies(a, x->type.shape[1], y->type.shape[2], y->type.shape[3],
                                    y->type.shape[0], s.in_block > 0);
      Geometry gx = activation(x, pointwise && unit_stride);
      const bool flat_out = pointwise && (unit_stride || !s.block);
      Geometry gy = activation(y, flat_out);
      add(gx, view(x, gx));
      if (s.block) {
        const Value* w = ops->params[0];
        const ir::Shape& ws = w->type.shape;  // [K, Cg, R, S]
        const int64_t K = ws[0], Cg = ws[1], B = s.block;
        const int64_t RS = s.winograd ? kWinogradPoints : ws[2] * ws[3];
        Geometry gw = dense({K / B, RS, Cg, B});
        std::vector<float> packed;
        if (w->data && s.winograd) {
          packed = winograd_weights(w->data->data, K, Cg, static_cast<int>(B));
        } else if (w->data) {
          const std::vector<float>& src = w->data->data;
          packed.resize(src.size());
          for (int64_t k = 0; k < K; ++k)
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t rs = 0; rs < RS; ++rs)
                packed[static_cast<size_t>(((k / B * RS + rs) * Cg + c) * B + k % B)] =
                    src[static_cast<size_t>((k * Cg + c) * RS + rs)];
        }
        add(gw, weight(w->name + (s.winograd ? ".winograd" : ".blocked") + std::to_string(B),
                       {K / B, RS, Cg, B}, std::move(packed), gw));
      } else {
        Geometry gw = dense(ops->params[0]->type.shape.dims);
        add(gw, param(ops->params[0], gw));
      }
      if (a.bias) {
        Geometry gb = dense(ops->params[1]->type.shape.dims);
        add(gb, param(ops->params[1], gb));
      }
      if (ops->residual) {
        Geometry gr = activation(ops->residual, flat_out);
        add(gr, view(ops->residual, gr));
      }
      add(gy, view(y, gy));
      call(n, s, std::move(args));
      return true;
    }
    case OpKind::Linear: {
      const auto& a = n.as<ir::LinearAttrs>();
      KernelSpec s;
      s.family = Family::Linear;
      s.bias = a.bias;
      s.epilogue = a.epilogue;
      s.conv.filters = a.units;
      const int64_t N = x->type.shape[0], F = x->type.shape.elements().value() / N, U = a.units;
      std::vector<int32_t> args;
      auto add = [&](Geometry g, int32_t b) {
        s.args.push_back(g);
        args.push_back(b);
      };
      Geometry gx = placed(x, dense({N, F})), gy = placed(y, dense({N, U}));
      add(gx, view(x, gx));
      // Weights packed in blocks of kLinearBlock units, [U'/B, F, B]: the
      // kernel vectorises over units and each tile streams adjacent rows.
      const Value* w = ops->params[0];
      const int64_t B = kLinearBlock, Up = (U + kLinearPad - 1) / kLinearPad * kLinearPad;
      std::vector<float> wt;
      if (w->data) {
        wt.assign(static_cast<size_t>(F * Up), 0.0f);
        for (int64_t u = 0; u < U; ++u)
          for (int64_t f = 0; f < F; ++f)
            wt[static_cast<size_t>((u / B * F + f) * B + u % B)] = (*w->data)[u * F + f];
      }
      s.block = static_cast<int>(B);
      Geometry gw = dense({Up / B, F, B});
      add(gw, weight(w->name + ".packed" + std::to_string(B), {Up / B, F, B}, std::move(wt), gw));
      if (a.bias) {
        Geometry gb = dense({U});
        add(gb, param(ops->params[1], gb));
      }
      if (ops->residual) {
        Geometry gr = placed(ops->residual, dense({N, U}));
        add(gr, view(ops->residual, gr));
      }
      add(gy, view(y, gy));
      call(n, s, std::move(args));
      return true;
    }
    case OpKind::MaxPool:
    case OpKind::AvgPool:
    case OpKind::GlobalAvgPool:
    case OpKind::Lrn: {
      KernelSpec s;
      s.family = n.op == OpKind::MaxPool         ? Family::MaxPool
                 : n.op == OpKind::AvgPool       ? Family::AvgPool
                 : n.op == OpKind::GlobalAvgPool ? Family::GlobalAvgPool
                                                 : Family::Lrn;
      if (n.op == OpKind::MaxPool) s.pool = n.as<ir::PoolAttrs>();
      if (n.op == OpKind::AvgPool) {
        s.pool = n.as<ir::AvgPoolAttrs>().pool;
        s.count_include_pad = n.as<ir::AvgPoolAttrs>().count_include_pad;
      }
      if (n.op == OpKind::Lrn) s.lrn = n.as<ir::LrnAttrs>();
      Geometry gx = placed(x, dense(x->type.shape.dims)), gy = placed(y, dense(y->type.shape.dims));
      if (blocked_.count(y)) {  // a pooling between blocked convolutions (choose_layouts)
        s.in_block = channel_block(x->type.shape[1]);
        gx = activation(x, false);
        gy = activation(y, false);
      }
      s.args = {gx, gy};
      call(n, s, {view(x, gx), view(y, gy)});
      return true;
    }
    case OpKind::Softmax: {
      int64_t axis = n.as<ir::SoftmaxAttrs>().axis;
      if (axis < 0) axis += x->type.shape.rank();
      KernelSpec s;
      s.family = Family::Softmax;
      const Geometry g = dense(around(x->type.shape, axis));
      s.args = {placed(x, g), placed(y, g)};
      call(n, s, {view(x, s.args[0]), view(y, s.args[1])});
      return true;
    }
    case OpKind::BatchNorm: {
      // y = x·scale[c] + shift[c], scale = γ/√(σ²+ε), shift = β − μ·scale.
      const double eps = n.as<ir::BatchNormAttrs>().eps;
      const int64_t C = x->type.shape[1];
      std::vector<float> scale, shift;
      if (ops->params[0]->data) {
        for (int64_t c = 0; c < C; ++c) {
          const double s = (*ops->params[0]->data)[c] / std::sqrt((*ops->params[3]->data)[c] + eps);
          scale.push_back(static_cast<float>(s));
          shift.push_back(
              static_cast<float>((*ops->params[1]->data)[c] - (*ops->params[2]->data)[c] * s));
        }
      }
      Geometry gc = dense({C});
      int32_t ps = weight(n.name() + ".scale", {C}, std::move(scale), gc);
      int32_t pt = weight(n.name() + ".shift", {C}, std::move(shift), gc);
      elementwise(n, {x}, ElementwiseOp::ScaleShift, n.as<ir::BatchNormAttrs>().epilogue, 1.0,
                  {ps, pt});
      return true;
    }
    case OpKind::Relu:
    case OpKind::LeakyRelu:
    case OpKind::Elu:
    case OpKind::Selu:
    case OpKind::Gelu:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
    case OpKind::Clip: {
      ir::Epilogue ep;
      ep.act.op = n.op;
      if (n.op == OpKind::LeakyRelu) ep.act.alpha = n.as<ir::LeakyReluAttrs>().alpha;
      if (n.op == OpKind::Elu) ep.act.alpha = n.as<ir::EluAttrs>().alpha;
      if (n.op == OpKind::Clip) {
        ep.act.alpha = n.as<ir::ClipAttrs>().min;
        ep.act.beta = n.as<ir::ClipAttrs>().max;
      }
      elementwise(n, {x}, ElementwiseOp::Copy, ep);
      return true;
    }
    case OpKind::Dropout: {
      const auto& a = n.as<ir::DropoutAttrs>();
      if (a.scaling == ir::DropoutScaling::Inverted)
        elementwise(n, {x}, ElementwiseOp::Copy, {});
      else
        elementwise(n, {x}, ElementwiseOp::Scale, {}, 1.0 - a.rate);
      return true;
    }
    case OpKind::Add: {
      std::vector<const Value*> ins(ops->data.begin(), ops->data.end());
      elementwise(n, ins, ElementwiseOp::Sum, n.as<ir::AddAttrs>().epilogue);
      return true;
    }
    case OpKind::Flatten: {
      const Geometry g = image_rows(y, {x, y});
      copy(n, x, placed(x, g), y, placed(y, g));  // nothing when y is x's memory (a view)
      return true;
    }
    case OpKind::Concat: {
      const std::vector<ConcatSlice> slices =
          concat_slices(y, n.as<ir::ConcatAttrs>().axis, ops->data);
      for (size_t i = 0; i < slices.size(); ++i) {
        const Value* in = ops->data[i];
        const ConcatSlice& sl = slices[i];
        const Geometry part = placed(in, sl.part), whole = placed(y, sl.in_whole);
        if (in->kind == ir::ValueKind::Result && in->arena_offset == *y->arena_offset + sl.offset &&
            (!in->arena_batch_stride || in->arena_batch_stride / 4 == whole.stride[2]))
          continue;  // built in place
        // Copy into the slice: the output seen with the strides of the whole concat.
        KernelSpec s;
        s.family = Family::Elementwise;
        s.ew = ElementwiseOp::Copy;
        kernel(n, s, {{part, view(in, part)}, {whole, view(y, whole, sl.offset)}},
               n.name() + ".copy" + std::to_string(i));
      }
      return true;
    }
    default:
      break;
  }
  CNNC_INTERNAL_ERROR() << "no lowering for op " << ir::op_name(n.op);
  return false;
}

}  // namespace lowering

std::string weights_layout(const LoweredModel& m) {
  std::string text;
  for (const WeightTensor& w : m.weights) {
    text += w.name + ":";
    for (int64_t d : w.shape) text += std::to_string(d) + ",";
    text += "@" + std::to_string(w.offset) + ";";
  }
  return "cnnc-kernel-layout-1:" + stable_hash(text);
}

std::string weights_blob(const LoweredModel& m) {
  std::string blob(static_cast<size_t>(m.weights_bytes), '\0');
  for (const WeightTensor& w : m.weights)
    if (!w.data.empty())
      std::memcpy(blob.data() + w.offset, w.data.data(), w.data.size() * sizeof(float));
  return blob;
}

bool lower(const ir::Graph& g, LoweredModel& out, DiagnosticEngine& diag,
           const LowerOptions& options) {
  return lowering::Lowerer(g, out, diag, options).run();
}

}  // namespace cnnc::halide
