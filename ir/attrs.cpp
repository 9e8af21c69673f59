#include "ir/attrs.h"

#include "support/format.h"

namespace cnnc::ir {

std::string Rule::describe() const {
  bool has_lo = !std::isinf(lo), has_hi = !std::isinf(hi);
  if (has_lo && has_hi)
    return std::string("in ") + (lo_open ? "(" : "[") + format_double(lo) + ", " +
           format_double(hi) + (hi_open ? ")" : "]");
  if (has_lo) return std::string(lo_open ? "> " : ">= ") + format_double(lo);
  if (has_hi) return std::string(hi_open ? "< " : "<= ") + format_double(hi);
  return "finite";
}

Attrs default_attrs(OpKind k) {
  switch (k) {
#define OP(Enum, name, AttrT, fusion, act, role) \
  case OpKind::Enum:                             \
    return AttrT{};
#include "ir/op_defs.def"
#undef OP
    default:  // a backward op has its forward op's attributes
      return default_attrs(op_info(k).forward);
  }
}

const Epilogue* epilogue_of(const Attrs& a) {
  if (auto* c = std::get_if<Conv2dAttrs>(&a)) return &c->epilogue;
  if (auto* l = std::get_if<LinearAttrs>(&a)) return &l->epilogue;
  if (auto* d = std::get_if<AddAttrs>(&a)) return &d->epilogue;
  if (auto* b = std::get_if<BatchNormAttrs>(&a)) return &b->epilogue;
  return nullptr;
}

Epilogue* epilogue_of(Attrs& a) {
  return const_cast<Epilogue*>(epilogue_of(static_cast<const Attrs&>(a)));
}

namespace {

// Checks each field against its Rule.
struct RangeChecker {
  std::vector<AttrProblem>& out;

  void bad(const char* name, const Rule& r, const std::string& got) {
    out.push_back({name, std::string("\"") + name + "\" must be " + r.describe() + ", got " + got});
  }
  void operator()(const char* name, const int64_t& v, const Rule& r) {
    if (!r.accepts(static_cast<double>(v)))
      bad(name, r, std::to_string(v));
    else if (v > kMaxIntAttr || v < -kMaxIntAttr)
      out.push_back({name, std::string("\"") + name +
                               "\" must be at most 2147483647 in magnitude, got " +
                               std::to_string(v)});
  }
  void operator()(const char* name, const double& v, const Rule& r) {
    if (!std::isfinite(v))
      out.push_back(
          {name, std::string("\"") + name + "\" must be finite, got " + format_double(v)});
    else if (!r.accepts(v))
      bad(name, r, format_double(v));
  }
  void operator()(const char* name, const Hw& v, const Rule& r) {
    for (int64_t x : {v.h, v.w}) {
      size_t before = out.size();
      (*this)(name, x, r);
      if (out.size() != before) return;
    }
  }
  void operator()(const char* name, const Pad4& v, const Rule& r) {
    for (int64_t x : {v.top, v.bottom, v.left, v.right}) {
      size_t before = out.size();
      (*this)(name, x, r);
      if (out.size() != before) return;
    }
  }
  void operator()(const char*, const bool&, const Rule&) {}
  void operator()(const char*, const DropoutScaling&, const Rule&) {}
  void operator()(const char* name, const Epilogue& e, const Rule&) {
    if (!e.act.op) return;
    if (!op_info(*e.act.op).is_activation) {
      out.push_back({name, std::string("epilogue activation '") + op_name(*e.act.op) +
                               "' is not an activation op"});
      return;
    }
    if (!std::isfinite(e.act.alpha) || !std::isfinite(e.act.beta))
      out.push_back({name, "epilogue activation parameters must be finite"});
    else if (*e.act.op == OpKind::Clip && e.act.alpha > e.act.beta)
      out.push_back({name, "epilogue clip min " + format_double(e.act.alpha) +
                               " is greater than max " + format_double(e.act.beta)});
  }
};

}  // namespace

std::vector<AttrProblem> check_attrs(OpKind k, const Attrs& a) {
  std::vector<AttrProblem> out;
  std::visit([&](const auto& x) { std::decay_t<decltype(x)>::fields(x, RangeChecker{out}); }, a);
  if (!out.empty()) return out;
  // Cross-field constraints.
  if (auto* c = std::get_if<ClipAttrs>(&a); c && c->min > c->max) {
    out.push_back({"min", "\"min\" " + format_double(c->min) + " is greater than \"max\" " +
                              format_double(c->max)});
  }
  if (auto* l = std::get_if<LrnAttrs>(&a); l && l->size % 2 == 0) {
    out.push_back({"size", "\"size\" must be odd (a window centred on each channel), got " +
                               std::to_string(l->size)});
  }
  if (auto* c = std::get_if<Conv2dAttrs>(&a); c && c->filters % c->groups != 0) {
    out.push_back({"groups", "\"groups\" " + std::to_string(c->groups) +
                                 " must divide \"filters\" " + std::to_string(c->filters)});
  }
  if (auto* d = std::get_if<AddAttrs>(&a); d && d->epilogue.residual) {
    out.push_back({"epilogue", "add cannot have a residual epilogue"});
  }
  if (auto* b = std::get_if<BatchNormAttrs>(&a); b && b->epilogue.residual) {
    out.push_back({"epilogue", "batch_norm cannot have a residual epilogue"});
  }
  if (auto* d = std::get_if<SgdAttrs>(&a); d && d->nesterov && d->momentum == 0) {
    out.push_back({"nesterov", "nesterov needs a momentum above 0 (as PyTorch)"});
  }
  if (const Epilogue* e = epilogue_of(a); e && !e->empty() && is_grad(k)) {
    out.push_back({"epilogue", std::string(op_name(k)) +
                                   " cannot have an epilogue (autodiff runs before fusion)"});
  }
  return out;
}

}  // namespace cnnc::ir
