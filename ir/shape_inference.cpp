#include "ir/shape_inference.h"

#include "support/checked_math.h"
#include "support/format.h"
#include "support/internal_error.h"

namespace cnnc::ir {

SourceLoc ShapeContext::where(std::string_view attr) const {
  if (attr_loc) {
    SourceLoc l = attr_loc(attr);
    if (l.known()) return l;
  }
  return loc;
}

Arity data_arity(OpKind op) {
  if (is_grad(op)) {  // the forward inputs, y, then dy unless it is a loss's
    const int extra = -forward_data_inputs(op, 0);
    Arity a = data_arity(op_info(op).forward);
    return {a.min + extra, a.max < 0 ? -1 : a.max + extra};
  }
  switch (op) {
    case OpKind::Add:
      return {2, -1};
    case OpKind::Concat:
      return {1, -1};
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::MseLoss:
    case OpKind::SgdUpdate:
      return {2, 2};
    case OpKind::AdamUpdate:
      return {3, 3};
    default:
      return {1, 1};
  }
}

int forward_data_inputs(OpKind grad, int data_inputs) {
  return data_inputs - (op_info(op_info(grad).forward).role == OpRole::Loss ? 1 : 2);
}

int differentiable_inputs(OpKind forward, int data_inputs) {
  return op_info(forward).role == OpRole::Loss ? 1 : data_inputs;
}

std::vector<ParamRole> param_roles(OpKind op, const Attrs& attrs) {
  switch (op_info(op).forward) {
    case OpKind::Conv2d:
      if (std::get<Conv2dAttrs>(attrs).bias) return {ParamRole::Weight, ParamRole::Bias};
      return {ParamRole::Weight};
    case OpKind::Linear:
      if (std::get<LinearAttrs>(attrs).bias) return {ParamRole::Weight, ParamRole::Bias};
      return {ParamRole::Weight};
    case OpKind::BatchNorm:
      return {ParamRole::Gamma, ParamRole::Beta, ParamRole::RunningMean, ParamRole::RunningVar};
    case OpKind::SgdUpdate:
      if (std::get<SgdAttrs>(attrs).momentum > 0) return {ParamRole::Updated, ParamRole::Momentum};
      return {ParamRole::Updated};
    case OpKind::AdamUpdate:
      return {ParamRole::Updated, ParamRole::AdamM, ParamRole::AdamV};
    default:
      return {};
  }
}

std::optional<Operands> split_operands(const Node& n) {
  const Epilogue* e = epilogue_of(n.attrs);
  size_t res = (e && e->residual) ? 1 : 0;
  size_t np = static_cast<size_t>(num_params(n.op, n.attrs));
  if (n.inputs.size() < np + res) return std::nullopt;
  size_t nd = n.inputs.size() - np - res;
  Arity a = data_arity(n.op);
  if (nd < static_cast<size_t>(a.min) || (a.max >= 0 && nd > static_cast<size_t>(a.max)))
    return std::nullopt;
  std::span<Value* const> all(n.inputs);
  Operands o;
  o.data = all.subspan(0, nd);
  o.params = all.subspan(nd, np);
  o.residual = res ? n.inputs.back() : nullptr;
  return o;
}

int64_t window_output_extent(int64_t in, int64_t kernel, int64_t stride, int64_t pad_before,
                             int64_t pad_after, int64_t dilation, bool ceil_mode) {
  // Attribute ranges (≤ 2^31-1) keep every intermediate far from int64 overflow.
  int64_t padded = in + pad_before + pad_after;
  int64_t k_eff = dilation * (kernel - 1) + 1;
  if (k_eff > padded) return 0;
  int64_t span = padded - k_eff;
  int64_t out = (ceil_mode ? ceil_div(span, stride) : floor_div(span, stride)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or the
  // left padding; one that would start in the right padding is dropped.
  if (ceil_mode && (out - 1) * stride >= in + pad_before) --out;
  return out;
}

bool check_tensor_limits(const TensorType& t, const std::string& what, const SourceLoc& loc,
                         const ShapeOptions& opts, DiagnosticEngine& diag) {
  if (t.shape.rank() > kMaxRank) {
    diag.error(loc, what + " has rank " + std::to_string(t.shape.rank()) + "; the limit is " +
                        std::to_string(kMaxRank));
    return false;
  }
  for (int i = 0; i < t.shape.rank(); ++i) {
    int64_t d = t.shape[i];
    if (d < 1 || d > kMaxDim) {
      diag.error(loc, what + ": dimension " + std::to_string(i) + " is " + std::to_string(d) +
                          "; every dimension must be in 1..2147483647");
      return false;
    }
  }
  auto n = t.shape.elements();
  if (!n) {
    diag.error(loc,
               what + " has shape " + t.shape.str() + ", whose element count overflows 64 bits", {},
               ExitCode::ResourceLimit);
    return false;
  }
  if (*n > kMaxElements && !opts.large_buffers) {
    diag.error(
        loc,
        what + " has " + t.shape.str() + " = " + format_thousands(*n) +
            " elements, more than 2^31-1",
        {{SourceLoc{}, "pass --large-buffers to allow tensors of more than 2^31-1 elements"}},
        ExitCode::ResourceLimit);
    return false;
  }
  if (!checked_mul(*n, dtype_size(t.dtype))) {
    diag.error(loc, what + " has shape " + t.shape.str() + ", whose byte size overflows 64 bits",
               {}, ExitCode::ResourceLimit);
    return false;
  }
  return true;
}

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string hw_str(int64_t h, int64_t w) { return std::to_string(h) + "x" + std::to_string(w); }

// Shared by the per-op functions: error helpers that prefix the layer name.
class Inferer {
 public:
  Inferer(OpKind op, std::span<const TensorType> in, ShapeContext& ctx)
      : op_(op), in_(in), ctx_(ctx) {}

  void error(std::string_view attr, const std::string& msg, std::vector<Note> notes = {}) {
    ctx_.diag.error(ctx_.where(attr), "layer " + quoted(ctx_.layer) + ": " + msg, std::move(notes));
    ok_ = false;
  }
  void warn(std::string_view attr, const std::string& msg, std::vector<Note> notes = {}) {
    if (!ctx_.report_warnings) return;
    if (ctx_.options.strict_shapes) {
      notes.push_back({SourceLoc{}, "this is an error because of --strict-shapes"});
      error(attr, msg, std::move(notes));
      return;
    }
    ctx_.diag.warning(ctx_.where(attr), "layer " + quoted(ctx_.layer) + ": " + msg,
                      std::move(notes));
  }
  bool ok() const { return ok_; }

  std::string input_name(size_t i) const {
    return i < ctx_.input_names.size() ? ctx_.input_names[i] : "#" + std::to_string(i);
  }
  Note input_note(size_t i, const std::string& extra = "") const {
    return {SourceLoc{},
            "input " + quoted(input_name(i)) + " has shape " + in_[i].shape.str() + extra};
  }

  // The op's data input must have a rank in [lo, hi].
  bool need_rank(int lo, int hi, const char* layout) {
    for (size_t i = 0; i < in_.size(); ++i) {
      int r = in_[i].shape.rank();
      if (r < lo || r > hi) {
        std::string want = lo == hi ? std::to_string(lo) + "-d"
                                    : std::to_string(lo) + "-d to " + std::to_string(hi) + "-d";
        error("", std::string(op_name(op_)) + " needs a " + want + " input" +
                      (layout[0] ? std::string(" (") + layout + ")" : "") + ", got " +
                      (r == 0 ? "a scalar" : in_[i].shape.str()) + " from " +
                      quoted(input_name(i)));
        return false;
      }
    }
    return true;
  }

  // One spatial dim of a window op. `dim_name` is "height" or "width".
  std::optional<int64_t> window_dim(const char* dim_name, int64_t in, int64_t k, int64_t s,
                                    int64_t p0, int64_t p1, int64_t d, bool ceil_mode,
                                    const std::string& kernel_text,
                                    const std::string& padded_text) {
    int64_t out = window_output_extent(in, k, s, p0, p1, d, ceil_mode);
    if (out < 1) {
      int64_t padded = in + p0 + p1;
      int64_t k_eff = d * (k - 1) + 1;
      std::string what =
          d > 1 ? "effective kernel " + kernel_text + " (dilation " + std::to_string(d) + ")"
                : "kernel " + kernel_text;
      error("kernel", what + " is larger than the padded input " + padded_text,
            {input_note(0, p0 + p1 > 0 ? "; padding gives " + padded_text : ""),
             {SourceLoc{}, std::string("output ") + dim_name + " would be floor((" +
                               std::to_string(in) + " + " + std::to_string(p0 + p1) + " - " +
                               std::to_string(k_eff) + ") / " + std::to_string(s) +
                               ") + 1 = " + std::to_string(floor_div(padded - k_eff, s) + 1)}});
      return std::nullopt;
    }
    if (!ceil_mode && d * (k - 1) + 1 >= s) {
      // Floor semantics can leave the last rows unread. Only padding unread is
      // normal (ResNet's 7x7/2 conv on 224); real input rows unread is a warning.
      // Windows smaller than the stride (1x1/2 projections) skip rows by design.
      int64_t covered = (out - 1) * s + d * (k - 1) + 1;
      int64_t unread = (in + p0 + p1) - covered - p1;
      if (unread > 0) {
        warn("stride", std::string("output ") + dim_name + " (" + std::to_string(in) + " + " +
                           std::to_string(p0 + p1) + " - " + std::to_string(d * (k - 1) + 1) +
                           ") / " + std::to_string(s) + " + 1 is not an integer; output " +
                           std::to_string(out) + " leaves the last " + std::to_string(unread) +
                           " input " + (std::string(dim_name) == "height" ? "row" : "column") +
                           (unread > 1 ? "s" : "") + " unread");
      }
    }
    return out;
  }

  // Output [N, C, H', W'] of a 2-D window op over input 0.
  std::optional<Shape> window_shape(int64_t channels, Hw k, Hw s, const Pad4& p, Hw d,
                                    bool ceil_mode) {
    const Shape& x = in_[0].shape;
    std::string kernel_text =
        d.h > 1 || d.w > 1 ? hw_str(d.h * (k.h - 1) + 1, d.w * (k.w - 1) + 1) : hw_str(k.h, k.w);
    std::string padded_text = hw_str(x[2] + p.total_h(), x[3] + p.total_w());
    auto h = window_dim("height", x[2], k.h, s.h, p.top, p.bottom, d.h, ceil_mode, kernel_text,
                        padded_text);
    if (!h) return std::nullopt;
    auto w = window_dim("width", x[3], k.w, s.w, p.left, p.right, d.w, ceil_mode, kernel_text,
                        padded_text);
    if (!w) return std::nullopt;
    return Shape{{x[0], channels, *h, *w}};
  }

  int64_t norm_axis(int64_t axis, int rank, const char* attr) {
    if (axis < -rank || axis >= rank) {
      error(attr,
            "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank) +
                " (valid: " + std::to_string(-rank) + ".." + std::to_string(rank - 1) + ")",
            {input_note(0)});
      return -1;
    }
    return axis < 0 ? axis + rank : axis;
  }

  OpKind op_;
  std::span<const TensorType> in_;
  ShapeContext& ctx_;
  bool ok_ = true;
};

std::optional<OpShapes> infer_conv(Inferer& I, const Conv2dAttrs& a) {
  if (!I.need_rank(4, 4, "N, C, H, W")) return std::nullopt;
  const Shape& x = I.in_[0].shape;
  int64_t c = x[1];
  if (c % a.groups != 0) {
    I.error("groups",
            "groups " + std::to_string(a.groups) + " must divide the input channels " +
                std::to_string(c) + " and the filters " + std::to_string(a.filters),
            {I.input_note(0)});
    return std::nullopt;
  }
  auto out = I.window_shape(a.filters, a.kernel, a.stride, a.pad, a.dilation, false);
  if (!out) return std::nullopt;
  OpShapes r;
  r.outputs.push_back({DType::F32, *out});
  r.params.push_back({ParamRole::Weight, Shape{{a.filters, c / a.groups, a.kernel.h, a.kernel.w}}});
  if (a.bias) r.params.push_back({ParamRole::Bias, Shape{{a.filters}}});
  return r;
}

std::optional<OpShapes> infer_pool(Inferer& I, const PoolAttrs& a) {
  if (!I.need_rank(4, 4, "N, C, H, W")) return std::nullopt;
  // Every window must see some of the input (Caffe's and ONNX's rule; PyTorch
  // is stricter, at most half the kernel): pad < kernel guarantees it.
  if (a.pad.top >= a.kernel.h || a.pad.bottom >= a.kernel.h || a.pad.left >= a.kernel.w ||
      a.pad.right >= a.kernel.w) {
    int64_t p = std::max({a.pad.top, a.pad.bottom, a.pad.left, a.pad.right});
    I.error("pad", "pad " + std::to_string(p) + " must be smaller than the kernel " +
                       hw_str(a.kernel.h, a.kernel.w) + " (every window must overlap the input)");
    return std::nullopt;
  }
  auto out = I.window_shape(I.in_[0].shape[1], a.kernel, a.stride, a.pad, Hw{1, 1}, a.ceil_mode);
  if (!out) return std::nullopt;
  return OpShapes{{{DType::F32, *out}}, {}};
}

std::optional<OpShapes> infer_same(Inferer& I) {
  if (!I.need_rank(1, kMaxRank, "")) return std::nullopt;
  return OpShapes{{I.in_[0]}, {}};
}

std::optional<OpShapes> infer_batch_norm(Inferer& I) {
  if (!I.need_rank(2, 4, "N, C[, H, W]")) return std::nullopt;
  if (I.in_[0].shape.rank() == 3) {
    I.error("",
            "batch_norm needs a 2-d (N, C) or 4-d (N, C, H, W) input, got " + I.in_[0].shape.str());
    return std::nullopt;
  }
  Shape c{{I.in_[0].shape[1]}};
  return OpShapes{{I.in_[0]},
                  {{ParamRole::Gamma, c},
                   {ParamRole::Beta, c},
                   {ParamRole::RunningMean, c},
                   {ParamRole::RunningVar, c}}};
}

std::optional<OpShapes> infer_flatten_like(Inferer& I, int64_t units, bool linear, bool bias) {
  if (!I.need_rank(2, kMaxRank, "N, ...")) return std::nullopt;
  const Shape& x = I.in_[0].shape;
  auto in = checked_product(std::span<const int64_t>(x.dims).subspan(1));
  if (!in) {
    I.error("", "input " + x.str() + " flattened overflows 64 bits");
    return std::nullopt;
  }
  OpShapes r;
  r.outputs.push_back({DType::F32, Shape{{x[0], linear ? units : *in}}});
  if (linear) {
    r.params.push_back({ParamRole::Weight, Shape{{units, *in}}});
    if (bias) r.params.push_back({ParamRole::Bias, Shape{{units}}});
  }
  return r;
}

std::optional<OpShapes> infer_add(Inferer& I) {
  for (size_t i = 1; i < I.in_.size(); ++i) {
    if (I.in_[i].shape != I.in_[0].shape) {
      I.error("", "add needs equal shapes, got " + I.in_[0].shape.str() + " (" +
                      quoted(I.input_name(0)) + ") and " + I.in_[i].shape.str() + " (" +
                      quoted(I.input_name(i)) + ")");
      return std::nullopt;
    }
  }
  return OpShapes{{I.in_[0]}, {}};
}

std::optional<OpShapes> infer_concat(Inferer& I, const ConcatAttrs& a) {
  int rank = I.in_[0].shape.rank();
  for (size_t i = 1; i < I.in_.size(); ++i) {
    if (I.in_[i].shape.rank() != rank) {
      I.error("", "concat inputs have different ranks: " + I.in_[0].shape.str() + " (" +
                      quoted(I.input_name(0)) + ") and " + I.in_[i].shape.str() + " (" +
                      quoted(I.input_name(i)) + ")");
      return std::nullopt;
    }
  }
  int64_t axis = I.norm_axis(a.axis, rank, "axis");
  if (axis < 0) return std::nullopt;
  Shape out = I.in_[0].shape;
  for (size_t i = 1; i < I.in_.size(); ++i) {
    const Shape& s = I.in_[i].shape;
    for (int d = 0; d < rank; ++d) {
      if (d == axis || s[d] == out[d]) continue;
      I.error("", "concat on axis " + std::to_string(axis) + ": dimension " + std::to_string(d) +
                      " differs: " + std::to_string(I.in_[0].shape[d]) + " (" +
                      quoted(I.input_name(0)) + ", " + I.in_[0].shape.str() + ") vs " +
                      std::to_string(s[d]) + " (" + quoted(I.input_name(i)) + ", " + s.str() + ")");
      return std::nullopt;
    }
    auto sum = checked_add(out.dims[static_cast<size_t>(axis)], s[static_cast<int>(axis)]);
    if (!sum) {
      I.error("", "concat output dimension overflows");
      return std::nullopt;
    }
    out.dims[static_cast<size_t>(axis)] = *sum;
  }
  return OpShapes{{{DType::F32, out}}, {}};
}

std::optional<OpShapes> infer_loss(Inferer& I, OpKind op) {
  const Shape& p = I.in_[0].shape;
  const Shape& t = I.in_[1].shape;
  if (op == OpKind::SoftmaxCrossEntropy) {
    if (p.rank() != 2 || t.rank() != 1 || t[0] != p[0]) {
      I.error("", "softmax_cross_entropy needs logits [N, K] and labels [N], got " + p.str() +
                      " and " + t.str());
      return std::nullopt;
    }
  } else if (p != t) {
    I.error("", "mse_loss needs predictions and targets of one shape, got " + p.str() + " and " +
                    t.str());
    return std::nullopt;
  }
  return OpShapes{{{DType::F32, Shape{{1}}}}, {}};
}

// An optimizer step: the gradient's type for the parameter, its state and
// every result; lr and t are [1].
std::optional<OpShapes> infer_update(Inferer& I, OpKind op, const Attrs& attrs) {
  for (size_t i = 1; i < I.in_.size(); ++i) {
    if (I.in_[i].shape != Shape{{1}}) {
      I.error("", std::string(op_name(op)) + ": '" + I.input_name(i) + "' must be f32[1], got " +
                      I.in_[i].str());
      return std::nullopt;
    }
  }
  OpShapes r;
  for (ParamRole role : param_roles(op, attrs)) {
    r.params.push_back({role, I.in_[0].shape});
    r.outputs.push_back(I.in_[0]);
  }
  return r;
}

std::optional<OpShapes> dispatch(Inferer& I, OpKind op, const Attrs& attrs);

// A backward op: the forward op's shapes from the forward inputs, y and dy of
// the forward result's type; results typed like the differentiable inputs and
// the trainable parameters.
std::optional<OpShapes> infer_grad(Inferer& I, OpKind op, const Attrs& attrs, ShapeContext& ctx) {
  const OpKind fwd = op_info(op).forward;
  const size_t nf = static_cast<size_t>(forward_data_inputs(op, static_cast<int>(I.in_.size())));
  Inferer F(fwd, I.in_.first(nf), ctx);
  auto f = dispatch(F, fwd, attrs);
  if (!f || !F.ok()) return std::nullopt;
  const TensorType& y = I.in_[nf];
  const TensorType& dy = nf + 1 < I.in_.size() ? I.in_[nf + 1] : y;
  if (y != f->outputs[0] || dy != y) {
    I.error("", std::string(op_name(op)) + ": y " + y.str() + " and dy " + dy.str() +
                    " must both be the forward result " + f->outputs[0].str());
    return std::nullopt;
  }
  OpShapes r;
  const int nd = differentiable_inputs(fwd, static_cast<int>(nf));
  for (int i = 0; i < nd; ++i) r.outputs.push_back(I.in_[static_cast<size_t>(i)]);
  for (const ParamSpec& p : f->params)
    if (is_trainable(p.role)) r.outputs.push_back({DType::F32, p.shape});
  r.params = std::move(f->params);
  return r;
}

std::optional<OpShapes> dispatch(Inferer& I, OpKind op, const Attrs& attrs) {
  switch (op) {
    case OpKind::Conv2d:
      return infer_conv(I, std::get<Conv2dAttrs>(attrs));
    case OpKind::BatchNorm:
      return infer_batch_norm(I);
    case OpKind::Relu:
    case OpKind::LeakyRelu:
    case OpKind::Elu:
    case OpKind::Selu:
    case OpKind::Gelu:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
    case OpKind::Clip:
    case OpKind::Dropout:
      return infer_same(I);
    case OpKind::MaxPool:
      return infer_pool(I, std::get<PoolAttrs>(attrs));
    case OpKind::AvgPool:
      return infer_pool(I, std::get<AvgPoolAttrs>(attrs).pool);
    case OpKind::GlobalAvgPool: {
      if (!I.need_rank(4, 4, "N, C, H, W")) return std::nullopt;
      const Shape& x = I.in_[0].shape;
      return OpShapes{{{DType::F32, Shape{{x[0], x[1], 1, 1}}}}, {}};
    }
    case OpKind::Lrn:
      if (!I.need_rank(4, 4, "N, C, H, W")) return std::nullopt;
      return OpShapes{{I.in_[0]}, {}};
    case OpKind::Linear: {
      const auto& a = std::get<LinearAttrs>(attrs);
      return infer_flatten_like(I, a.units, true, a.bias);
    }
    case OpKind::Flatten:
      return infer_flatten_like(I, 0, false, false);
    case OpKind::Concat:
      return infer_concat(I, std::get<ConcatAttrs>(attrs));
    case OpKind::Add:
      return infer_add(I);
    case OpKind::Softmax: {
      if (!I.need_rank(1, kMaxRank, "")) return std::nullopt;
      if (I.norm_axis(std::get<SoftmaxAttrs>(attrs).axis, I.in_[0].shape.rank(), "axis") < 0)
        return std::nullopt;
      return OpShapes{{I.in_[0]}, {}};
    }
    case OpKind::SoftmaxCrossEntropy:
    case OpKind::MseLoss:
      return infer_loss(I, op);
    case OpKind::SgdUpdate:
    case OpKind::AdamUpdate:
      return infer_update(I, op, attrs);
    default:
      break;
  }
  CNNC_INTERNAL_ERROR() << "no shape function for op " << static_cast<int>(op);
  return std::nullopt;
}

}  // namespace

std::optional<OpShapes> infer_shapes(OpKind op, const Attrs& attrs,
                                     std::span<const TensorType> data_inputs, ShapeContext& ctx) {
  Arity ar = data_arity(op);
  int n = static_cast<int>(data_inputs.size());
  CNNC_INTERNAL_ASSERT(n >= ar.min && (ar.max < 0 || n <= ar.max))
      << op_name(op) << " '" << ctx.layer << "' given " << n << " data inputs";
  for (const auto& t : data_inputs) {
    if (t.dtype != DType::F32) {
      ctx.diag.error(ctx.loc,
                     "layer '" + ctx.layer + "': inputs must be f32, got " + dtype_name(t.dtype));
      return std::nullopt;
    }
  }
  Inferer I(op, data_inputs, ctx);
  auto r = is_grad(op) ? infer_grad(I, op, attrs, ctx) : dispatch(I, op, attrs);
  if (!r || !I.ok()) return std::nullopt;
  std::vector<ParamRole> roles = param_roles(op, attrs);
  CNNC_INTERNAL_ASSERT(roles.size() == r->params.size())
      << op_name(op) << ": param_roles and shapes disagree";
  for (size_t i = 0; i < roles.size(); ++i)
    CNNC_INTERNAL_ASSERT(roles[i] == r->params[i].role)
        << op_name(op) << ": parameter " << i << " out of order";
  for (const auto& t : r->outputs) {
    if (!check_tensor_limits(t, "the output of layer '" + ctx.layer + "'", ctx.loc, ctx.options,
                             ctx.diag))
      return std::nullopt;
  }
  for (const auto& p : r->params) {
    if (!check_tensor_limits({DType::F32, p.shape},
                             "parameter '" + ctx.layer + "." + param_suffix(p.role) + "'", ctx.loc,
                             ctx.options, ctx.diag))
      return std::nullopt;
  }
  return r;
}

}  // namespace cnnc::ir

namespace cnnc::ir {

bool set_batch(Graph& g, int64_t batch, const ShapeOptions& opts, DiagnosticEngine& diag) {
  for (Value* in : g.inputs()) {
    if (in->type.shape.rank() == 0) continue;
    in->type.shape.dims[0] = batch;
    if (!check_tensor_limits(in->type, "input '" + in->name + "'", in->loc, opts, diag))
      return false;
  }
  for (const auto& n : g.nodes()) {
    auto ops = split_operands(*n);
    CNNC_INTERNAL_ASSERT(ops.has_value())
        << "set_batch on an unverified node '" << n->name() << "'";
    std::vector<TensorType> in;
    std::vector<std::string> names;
    for (Value* d : ops->data) {
      in.push_back(d->type);
      names.push_back(d->name);
    }
    ShapeContext ctx{diag, n->loc, n->name(), nullptr, names, opts, /*report_warnings=*/false};
    auto s = infer_shapes(n->op, n->attrs, in, ctx);
    if (!s) return false;
    for (size_t i = 0; i < n->outputs.size(); ++i) n->outputs[i]->type = s->outputs.at(i);
  }
  return true;
}

}  // namespace cnnc::ir
