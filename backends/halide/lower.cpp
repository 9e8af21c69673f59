#include "backends/halide/lower.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

#include "ir/analysis.h"
#include "ir/shape_inference.h"
#include "support/internal_error.h"

namespace cnnc::halide {

namespace {

using ir::Node;
using ir::OpKind;
using ir::Value;

constexpr int64_t kMaxStride = (int64_t{1} << 31) - 1;

// Dense geometry of `s` with the given dims (outermost first), innermost first.
Geometry dense(std::vector<int64_t> dims_outer_first) {
  Geometry g;
  g.rank = static_cast<int>(dims_outer_first.size());
  int64_t stride = 1;
  for (int i = 0; i < g.rank; ++i) {
    int64_t e = dims_outer_first[static_cast<size_t>(g.rank - 1 - i)];
    g.extent[static_cast<size_t>(i)] = static_cast<int32_t>(e);
    g.stride[static_cast<size_t>(i)] = static_cast<int32_t>(stride);
    stride *= e;
  }
  return g;
}

// [outer, axis, inner] around dim `axis` of a shape.
std::vector<int64_t> around(const ir::Shape& s, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < axis) outer *= s[i];
    if (i > axis) inner *= s[i];
  }
  return {outer, s[static_cast<int>(axis)], inner};
}

class Lowerer {
 public:
  Lowerer(const ir::Graph& g, LoweredModel& out, DiagnosticEngine& diag)
      : g_(g), out_(out), diag_(diag) {}

  bool run() {
    out_.name = g_.name;
    CNNC_INTERNAL_ASSERT(g_.arena_bytes.has_value()) << "lowering a graph without a memory plan";
    out_.arena_bytes = *g_.arena_bytes;
    for (size_t i = 0; i < g_.inputs().size(); ++i)
      input_index_[g_.inputs()[i]] = static_cast<int32_t>(i);
    for (const Value* v : g_.inputs()) out_.inputs.push_back(info(*v));
    for (const Value* v : g_.outputs()) {
      if (v->kind != ir::ValueKind::Result) {
        diag_.error(v->loc,
                    "output '" + v->name + "' is a network input: there is nothing to compute");
        return false;
      }
      out_.outputs.push_back(info(*v));
    }
    ir::GraphStats stats = ir::analyze(g_);
    for (const ir::LayerStats& row : stats.rows)
      if (row.node) flops_[row.node] = row.flops;
    choose_layouts();
    for (const auto& n : g_.nodes())
      if (!node(*n)) return false;
    return !diag_.has_errors();
  }

 private:
  // Values kept in the blocked layout (channel_block) between convolutions:
  // produced by a blocked convolution and read only by blocked convolutions,
  // as their data input or residual. Everything else is NCHW, so layout
  // conversions happen only where a blocked chain meets another op.
  void choose_layouts() {
    auto blocked_conv = [](const Node& n) {
      return n.op == OpKind::Conv2d && n.output()->type.shape.rank() == 4 &&
             conv_block(n.as<ir::Conv2dAttrs>(), n.inputs[0]->type.shape[1]) > 0;
    };
    for (const auto& n : g_.nodes())
      if (blocked_conv(*n)) blocked_.insert(n->output());
    for (const auto& n : g_.nodes()) {
      auto ops = ir::split_operands(*n);
      for (const Value* v : n->inputs) {
        const bool read_blocked = blocked_conv(*n) && ops &&
                                  (ops->data[0] == v || ops->residual == v) &&
                                  std::count(n->inputs.begin(), n->inputs.end(), v) ==
                                      (ops->data[0] == v) + (ops->residual == v);
        if (!read_blocked) blocked_.erase(v);
      }
    }
    for (const Value* v : g_.outputs()) blocked_.erase(v);
  }

  // The geometry of a convolution's activation: NCHW, or [B·W, H, C/B, N]
  // for a blocked value; `flat` presents its H·W pixels as one row.
  Geometry activation(const Value* v, bool flat) {
    const ir::Shape& s = v->type.shape;
    if (s.rank() != 4) return dense(s.dims);
    const int64_t B = blocked_.count(v) ? channel_block(s[1]) : 1;
    const int64_t H = flat ? 1 : s[2], W = flat ? s[2] * s[3] : s[3];
    return dense({s[0], s[1] / B, H, W * B});
  }

  TensorInfo info(const Value& v) {
    TensorInfo t;
    t.name = v.name;
    t.shape = v.type.shape.dims;
    t.bytes = v.bytes();
    t.arena_offset = v.arena_offset.value_or(0);
    return t;
  }

  bool check_strides(const Node& n, const Geometry& g) {
    int64_t span = 1;
    for (int i = 0; i < g.rank; ++i)
      span = std::max<int64_t>(
          span, int64_t{g.stride[static_cast<size_t>(i)]} * g.extent[static_cast<size_t>(i)]);
    if (span > kMaxStride) {
      diag_.error(
          n.loc,
          "layer '" + n.name() + "': a tensor of " + std::to_string(span) +
              " elements is too large for compiled kernels (32-bit extents); use a smaller batch",
          {}, ExitCode::ResourceLimit);
      return false;
    }
    return true;
  }

  int32_t buffer(BufferRef b) {
    for (size_t i = 0; i < out_.buffers.size(); ++i)
      if (out_.buffers[i] == b) return static_cast<int32_t>(i);
    out_.buffers.push_back(b);
    return static_cast<int32_t>(out_.buffers.size() - 1);
  }

  // A value (input or op result) seen through `geometry`, `extra` bytes in.
  int32_t view(const Value* v, Geometry geometry, int64_t extra = 0) {
    BufferRef b;
    b.geometry = geometry;
    if (v->kind == ir::ValueKind::Input) {
      b.space = Space::Input;
      b.index = input_index_.at(v);
      b.offset = extra;
    } else {
      CNNC_INTERNAL_ASSERT(v->kind == ir::ValueKind::Result && v->arena_offset.has_value())
          << "value '" << v->name << "' has no place in the arena";
      b.space = Space::Arena;
      b.offset = *v->arena_offset + extra;
    }
    return buffer(b);
  }

  // A weight tensor of the kernel's layout, stored once per name.
  int32_t weight(const std::string& name, std::vector<int64_t> shape, std::vector<float> data,
                 Geometry geometry) {
    auto it = weight_index_.find(name);
    int64_t offset;
    if (it != weight_index_.end()) {
      offset = out_.weights[it->second].offset;
    } else {
      WeightTensor w;
      w.name = name;
      w.shape = std::move(shape);
      w.data = std::move(data);
      w.offset = out_.weights_bytes;
      int64_t bytes = geometry.elements() * 4;
      out_.weights_bytes += (bytes + 63) / 64 * 64;
      weight_index_[name] = out_.weights.size();
      offset = w.offset;
      out_.weights.push_back(std::move(w));
    }
    BufferRef b;
    b.space = Space::Weights;
    b.offset = offset;
    b.geometry = geometry;
    return buffer(b);
  }

  int32_t param(const Value* p, Geometry geometry) {
    return weight(p->name, p->type.shape.dims, p->data ? p->data->data : std::vector<float>{},
                  geometry);
  }

  void call(const Node& n, const KernelSpec& spec, std::vector<int32_t> args,
            std::string layer = "") {
    int index = -1;
    for (size_t i = 0; i < out_.specs.size(); ++i)
      if (out_.specs[i].key() == spec.key()) index = static_cast<int>(i);
    if (index < 0) {
      out_.specs.push_back(spec);
      index = static_cast<int>(out_.specs.size() - 1);
    }
    KernelCall c;
    c.layer = layer.empty() ? n.name() : layer;
    c.op = ir::op_name(n.op);
    c.spec = index;
    c.buffers = std::move(args);
    c.flops = flops_.count(&n) ? flops_.at(&n) : 0;
    out_.calls.push_back(std::move(c));
  }

  // An elementwise kernel over [inner, C, outer] views of the inputs and output.
  void elementwise(const Node& n, std::vector<const Value*> ins, ElementwiseOp op, ir::Epilogue ep,
                   double scale = 1.0, std::vector<int32_t> params = {}) {
    const Value* y = n.output();
    // Outermost first: one row of all elements, so the kernel vectorises it.
    Geometry g = dense({1, 1, y->type.shape.elements().value()});
    if (op == ElementwiseOp::ScaleShift) g = dense(around(y->type.shape, 1));
    KernelSpec s;
    s.family = Family::Elementwise;
    s.ew = op;
    s.scale = scale;
    s.inputs = static_cast<int>(ins.size());
    s.epilogue = ep;
    std::vector<int32_t> args;
    for (const Value* x : ins) {
      s.args.push_back(g);
      args.push_back(view(x, g));
    }
    for (int32_t p : params) {
      s.args.push_back(out_.buffers[static_cast<size_t>(p)].geometry);
      args.push_back(p);
    }
    s.args.push_back(g);
    args.push_back(view(y, g));
    call(n, s, std::move(args));
  }

  bool node(const Node& n) {
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "lowering an unverified node '" << n.name() << "'";
    const Value* x = ops->data[0];
    const Value* y = n.output();
    for (const Value* v : n.inputs)
      if (v->kind != ir::ValueKind::Param && !check_strides(n, dense(v->type.shape.dims)))
        return false;
    if (!check_strides(n, dense(y->type.shape.dims))) return false;
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
        s.block = x->type.shape.rank() == 4 ? conv_block(a, x->type.shape[1]) : 0;
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
        Geometry gx = activation(x, pointwise && unit_stride);
        const bool flat_out = pointwise && (unit_stride || !s.block);
        Geometry gy = activation(y, flat_out);
        add(gx, view(x, gx));
        if (s.block) {
          const Value* w = ops->params[0];
          const ir::Shape& ws = w->type.shape;  // [K, Cg, R, S]
          const int64_t K = ws[0], Cg = ws[1], RS = ws[2] * ws[3], B = s.block;
          Geometry gw = dense({K / B, RS, Cg, B});
          std::vector<float> packed;
          if (w->data) {
            const std::vector<float>& src = w->data->data;
            packed.resize(src.size());
            for (int64_t k = 0; k < K; ++k)
              for (int64_t c = 0; c < Cg; ++c)
                for (int64_t rs = 0; rs < RS; ++rs)
                  packed[static_cast<size_t>(((k / B * RS + rs) * Cg + c) * B + k % B)] =
                      src[static_cast<size_t>((k * Cg + c) * RS + rs)];
          }
          add(gw, weight(w->name + ".blocked" + std::to_string(B), {K / B, RS, Cg, B},
                         std::move(packed), gw));
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
        Geometry gx = dense({N, F}), gy = dense({N, U});
        add(gx, view(x, gx));
        // Weights transposed to [F, units]: the kernel vectorises over units.
        const Value* w = ops->params[0];
        std::vector<float> wt;
        if (w->data) {
          wt.resize(static_cast<size_t>(F * U));
          for (int64_t u = 0; u < U; ++u)
            for (int64_t f = 0; f < F; ++f)
              wt[static_cast<size_t>(f * U + u)] = (*w->data)[u * F + f];
        }
        Geometry gw = dense({F, U});
        add(gw, weight(w->name, {F, U}, std::move(wt), gw));
        if (a.bias) {
          Geometry gb = dense({U});
          add(gb, param(ops->params[1], gb));
        }
        if (ops->residual) add(gy, view(ops->residual, gy));
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
        Geometry gx = dense(x->type.shape.dims), gy = dense(y->type.shape.dims);
        s.args = {gx, gy};
        call(n, s, {view(x, gx), view(y, gy)});
        return true;
      }
      case OpKind::Softmax: {
        int64_t axis = n.as<ir::SoftmaxAttrs>().axis;
        if (axis < 0) axis += x->type.shape.rank();
        KernelSpec s;
        s.family = Family::Softmax;
        Geometry g = dense(around(x->type.shape, axis));
        s.args = {g, g};
        call(n, s, {view(x, g), view(y, g)});
        return true;
      }
      case OpKind::BatchNorm: {
        // y = x·scale[c] + shift[c], scale = γ/√(σ²+ε), shift = β − μ·scale.
        const double eps = n.as<ir::BatchNormAttrs>().eps;
        const int64_t C = x->type.shape[1];
        std::vector<float> scale, shift;
        if (ops->params[0]->data) {
          for (int64_t c = 0; c < C; ++c) {
            const double s =
                (*ops->params[0]->data)[c] / std::sqrt((*ops->params[3]->data)[c] + eps);
            scale.push_back(static_cast<float>(s));
            shift.push_back(
                static_cast<float>((*ops->params[1]->data)[c] - (*ops->params[2]->data)[c] * s));
          }
        }
        Geometry gc = dense({C});
        int32_t ps = weight(n.name() + ".scale", {C}, std::move(scale), gc);
        int32_t pt = weight(n.name() + ".shift", {C}, std::move(shift), gc);
        elementwise(n, {x}, ElementwiseOp::ScaleShift, {}, 1.0, {ps, pt});
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
      case OpKind::Flatten:
        if (x->kind == ir::ValueKind::Result && x->arena_offset == y->arena_offset)
          return true;  // a view
        elementwise(n, {x}, ElementwiseOp::Copy, {});
        return true;
      case OpKind::Concat: {
        int64_t axis = n.as<ir::ConcatAttrs>().axis;
        if (axis < 0) axis += y->type.shape.rank();
        std::vector<int64_t> oy = around(y->type.shape, axis);  // outer, total, inner
        int64_t start = 0;
        for (size_t i = 0; i < ops->data.size(); ++i) {
          const Value* in = ops->data[i];
          std::vector<int64_t> oi = around(in->type.shape, axis);
          const int64_t slice_offset = *y->arena_offset + start * oy[2] * 4;
          start += oi[1];
          if (in->kind == ir::ValueKind::Result && in->arena_offset == slice_offset)
            continue;  // built in place
          // Copy into the slice: the output seen as [inner, len_i, outer] with the
          // strides of the whole concat.
          Geometry gi = dense(oi);
          Geometry gs = gi;
          gs.stride = {1, static_cast<int32_t>(oy[2]), static_cast<int32_t>(oy[1] * oy[2]), 0};
          KernelSpec s;
          s.family = Family::Elementwise;
          s.ew = ElementwiseOp::Copy;
          s.args = {gi, gs};
          BufferRef slice;
          slice.space = Space::Arena;
          slice.offset = slice_offset;
          slice.geometry = gs;
          call(n, s, {view(in, gi), buffer(slice)}, n.name() + ".copy" + std::to_string(i));
        }
        return true;
      }
      default:
        break;
    }
    CNNC_INTERNAL_ERROR() << "no lowering for op " << ir::op_name(n.op);
    return false;
  }

  const ir::Graph& g_;
  LoweredModel& out_;
  DiagnosticEngine& diag_;
  std::unordered_map<const Value*, int32_t> input_index_;
  std::unordered_map<std::string, size_t> weight_index_;
  std::unordered_set<const Value*> blocked_;
  std::unordered_map<const Node*, int64_t> flops_;
};

}  // namespace

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

bool lower(const ir::Graph& g, LoweredModel& out, DiagnosticEngine& diag) {
  return Lowerer(g, out, diag).run();
}

}  // namespace cnnc::halide
