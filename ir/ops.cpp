#include "ir/ops.h"

namespace cnnc::ir {

namespace {
constexpr OpInfo kOps[] = {
#define OP(Enum, name, Attrs, fusion, act) {name, FusionClass::fusion, act},
#include "ir/op_defs.def"
#undef OP
};
}  // namespace

const OpInfo& op_info(OpKind k) { return kOps[static_cast<size_t>(k)]; }

std::optional<OpKind> op_from_name(std::string_view name) {
  for (int i = 0; i < kNumOps; ++i)
    if (name == kOps[i].name) return static_cast<OpKind>(i);
  return std::nullopt;
}

std::vector<std::string> all_op_names() {
  std::vector<std::string> v;
  for (const OpInfo& o : kOps) v.emplace_back(o.name);
  return v;
}

}  // namespace cnnc::ir
