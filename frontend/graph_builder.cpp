#include "frontend/graph_builder.h"

namespace cnnc::frontend {

std::string spec_name(const std::string& foreign) {
  std::string s;
  for (char c : foreign) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (c == '/' || c == ':') c = '.', ok = true;
    s += ok ? c : '_';
  }
  size_t lead = s.find_first_not_of(".-");
  s = lead == std::string::npos ? "" : s.substr(lead);
  if (s.empty()) s = "layer";
  if (s[0] >= '0' && s[0] <= '9') s = "_" + s;
  if (s.size() > 120) s.resize(120);
  return s;
}

std::string model_dir(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::string model_name(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string f = slash == std::string::npos ? path : path.substr(slash + 1);
  return spec_name(f.substr(0, f.rfind('.')));
}

std::string GraphBuilder::unique_name(const std::string& foreign) {
  std::string base = spec_name(foreign);
  std::string s = base;
  for (int i = 2; names_.count(s); ++i) s = base + "_" + std::to_string(i);
  names_.insert(s);
  return s;
}

ir::Value* GraphBuilder::add_input(const std::string& foreign, ir::TensorType t,
                                   const SourceLoc& loc) {
  return g_.add_input(unique_name(foreign), std::move(t), loc);
}

ir::Node* GraphBuilder::add_layer(ir::OpKind op, ir::Attrs attrs,
                                  const std::vector<ir::Value*>& ins, const std::string& name,
                                  const SourceLoc& loc, const std::string& what) {
  std::vector<ir::TensorType> types;
  std::vector<std::string> in_names;
  for (ir::Value* v : ins) {
    types.push_back(v->type);
    in_names.push_back(v->name);
  }
  ir::ShapeContext ctx{diag_, loc, what, nullptr, in_names, shapes_};
  auto shapes = ir::infer_shapes(op, attrs, types, ctx);
  if (!shapes) return nullptr;
  std::vector<ir::Value*> operands = ins;
  for (const ir::ParamSpec& p : shapes->params)
    operands.push_back(
        g_.add_param(name + "." + ir::param_suffix(p.role), {ir::DType::F32, p.shape}, loc));
  return g_.add_node(op, std::move(attrs), std::move(operands), {name}, shapes->outputs, loc);
}

std::vector<ir::Value*> GraphBuilder::params_of(const ir::Node& n) {
  auto ops = ir::split_operands(n);
  if (!ops) return {};
  return {ops->params.begin(), ops->params.end()};
}

}  // namespace cnnc::frontend
