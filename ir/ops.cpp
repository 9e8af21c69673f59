#include "ir/ops.h"

#include "support/internal_error.h"

namespace cnnc::ir {

namespace {
constexpr OpInfo kOps[] = {
#define OP(Enum, name, Attrs, fusion, act, role) \
  {name, FusionClass::fusion, act, OpRole::role, OpKind::Enum},
#include "ir/op_defs.def"
#undef OP
#define GRAD(Enum, name, Forward) {name, FusionClass::Opaque, false, OpRole::Grad, OpKind::Forward},
#include "ir/grad_op_defs.def"
#undef GRAD
};
}  // namespace

const OpInfo& op_info(OpKind k) { return kOps[static_cast<size_t>(k)]; }

OpKind grad_of(OpKind forward) {
  switch (forward) {
#define GRAD(Enum, name, Forward) \
  case OpKind::Forward:           \
    return OpKind::Enum;
#include "ir/grad_op_defs.def"
#undef GRAD
    default:
      break;
  }
  CNNC_INTERNAL_ERROR() << "grad_of: '" << op_name(forward) << "' is a backward op";
  return forward;
}

bool activation_grad_reads_output(OpKind act, double alpha) {
  switch (act) {
    case OpKind::Relu:
    case OpKind::Selu:
    case OpKind::Sigmoid:
    case OpKind::Tanh:
      return true;
    case OpKind::LeakyRelu:
    case OpKind::Elu:
      return alpha > 0;
    default:
      return false;  // gelu and clip need x
  }
}

std::optional<OpKind> op_from_name(std::string_view name) {
  for (int i = 0; i < kNumOps; ++i)
    if (name == kOps[i].name) return static_cast<OpKind>(i);
  return std::nullopt;
}

std::vector<std::string> all_op_names(bool layers_only) {
  std::vector<std::string> v;
  for (const OpInfo& o : kOps)
    if (!layers_only || o.role == OpRole::Layer) v.emplace_back(o.name);
  return v;
}

}  // namespace cnnc::ir
