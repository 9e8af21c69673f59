#include "frontend/spec_writer.h"

#include <nlohmann/json.hpp>

#include "ir/shape_inference.h"
#include "support/internal_error.h"

namespace cnnc::frontend {

namespace {

using nlohmann::ordered_json;

// The spec fields of an attribute struct as JSON values (IR-only fields left out).
struct FieldWriter {
  ordered_json& out;
  void operator()(const char* n, const int64_t& v, const ir::Rule& r) {
    if (r.in_spec) out[n] = v;
  }
  void operator()(const char* n, const double& v, const ir::Rule& r) {
    if (r.in_spec) out[n] = v;
  }
  void operator()(const char* n, const bool& v, const ir::Rule& r) {
    if (r.in_spec) out[n] = v;
  }
  void operator()(const char* n, const ir::Hw& v, const ir::Rule& r) {
    if (!r.in_spec) return;
    out[n] = v.square() ? ordered_json(v.h) : ordered_json::array({v.h, v.w});
  }
  void operator()(const char* n, const ir::Pad4& v, const ir::Rule& r) {
    if (!r.in_spec) return;
    if (v.top == v.bottom && v.left == v.right)
      out[n] = v.top == v.left ? ordered_json(v.top) : ordered_json::array({v.top, v.left});
    else
      out[n] = ordered_json::array({v.top, v.bottom, v.left, v.right});
  }
  void operator()(const char* n, const ir::DropoutScaling& v, const ir::Rule& r) {
    if (r.in_spec) out[n] = ir::enum_names(v)[static_cast<size_t>(v)];
  }
  void operator()(const char*, const ir::Epilogue& v, const ir::Rule&) {
    CNNC_INTERNAL_ASSERT(v.empty()) << "write_json_spec on a fused graph";
  }
};

}  // namespace

std::string write_json_spec(const ir::Graph& g, const std::string& weights_file,
                            const std::string& description) {
  ordered_json spec;
  spec["cnnc"] = 1;
  spec["name"] = g.name;
  if (!description.empty()) spec["description"] = description;
  if (!weights_file.empty()) spec["weights"] = weights_file;
  ordered_json inputs = ordered_json::object();
  for (const ir::Value* in : g.inputs())
    inputs[in->name] = {{"shape", in->type.shape.dims}, {"dtype", "float32"}};
  spec["inputs"] = inputs;
  ordered_json layers = ordered_json::array();
  for (const auto& n : g.nodes()) {
    ordered_json l;
    l["name"] = n->name();
    l["type"] = ir::op_name(n->op);
    auto ops = ir::split_operands(*n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "write_json_spec on an unverified node";
    if (ops->data.size() == 1) {
      l["input"] = ops->data[0]->name;
    } else {
      ordered_json ins = ordered_json::array();
      for (const ir::Value* v : ops->data) ins.push_back(v->name);
      l["inputs"] = ins;
    }
    std::visit([&](const auto& a) { std::decay_t<decltype(a)>::fields(a, FieldWriter{l}); },
               n->attrs);
    layers.push_back(l);
  }
  spec["layers"] = layers;
  ordered_json outs = ordered_json::array();
  for (const ir::Value* v : g.outputs()) outs.push_back(v->name);
  spec["outputs"] = outs;
  // One layer per line keeps the file readable and diffable.
  std::string text = "{\n";
  size_t k = 0;
  for (auto it = spec.begin(); it != spec.end(); ++it, ++k) {
    text += "  \"" + it.key() + "\": ";
    if (it.key() == "layers") {
      text += "[\n";
      for (size_t j = 0; j < it->size(); ++j)
        text += "    " + (*it)[j].dump() + (j + 1 < it->size() ? ",\n" : "\n");
      text += "  ]";
    } else {
      text += it->dump();
    }
    text += k + 1 < spec.size() ? ",\n" : "\n";
  }
  return text + "}\n";
}

}  // namespace cnnc::frontend
