#include "ir/printer.h"

#include <sstream>
#include <unordered_set>

#include "support/format.h"

namespace cnnc::ir {

bool is_bare_name(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
  }
  return out + "\"";
}

struct FieldPrinter {
  std::string& out;
  bool first = true;

  void key(const char* name) {
    out += first ? "" : ", ";
    first = false;
    out += name;
    out += '=';
  }
  void operator()(const char* n, const int64_t& v, const Rule&) {
    key(n);
    out += std::to_string(v);
  }
  void operator()(const char* n, const double& v, const Rule&) {
    key(n);
    out += format_double(v);
  }
  void operator()(const char* n, const bool& v, const Rule&) {
    key(n);
    out += v ? "true" : "false";
  }
  void operator()(const char* n, const Hw& v, const Rule&) {
    key(n);
    out += "[" + std::to_string(v.h) + "," + std::to_string(v.w) + "]";
  }
  void operator()(const char* n, const Pad4& v, const Rule&) {
    key(n);
    out += "[" + std::to_string(v.top) + "," + std::to_string(v.bottom) + "," +
           std::to_string(v.left) + "," + std::to_string(v.right) + "]";
  }
  void operator()(const char* n, const DropoutScaling& v, const Rule&) {
    key(n);
    out += enum_names(v)[static_cast<size_t>(v)];
  }
  void operator()(const char* n, const Epilogue& v, const Rule&) {
    if (v.empty()) return;  // IR-only field at its default
    key(n);
    out += print_epilogue(v);
  }
};

}  // namespace

std::string print_epilogue(const Epilogue& e) {
  std::string s;
  if (e.residual) s = "residual";
  if (e.act.op) {
    if (!s.empty()) s += "+";
    s += op_name(*e.act.op);
    switch (*e.act.op) {
      case OpKind::LeakyRelu:
      case OpKind::Elu:
        s += "(" + format_double(e.act.alpha) + ")";
        break;
      case OpKind::Clip:
        s += "(" + format_double(e.act.alpha) + "," + format_double(e.act.beta) + ")";
        break;
      default:
        break;
    }
  }
  return s;
}

std::string print_attrs(const Attrs& a) {
  std::string body;
  std::visit([&](const auto& x) { std::decay_t<decltype(x)>::fields(x, FieldPrinter{body}); }, a);
  return body.empty() ? "" : "{" + body + "}";
}

std::string value_ref(const Value& v) {
  std::string s(v.kind == ValueKind::Param ? "@" : "%");
  return s + (is_bare_name(v.name) ? v.name : quote(v.name));
}

namespace {

std::string type_with_placement(const Value& v) {
  std::string s = v.type.str();
  if (!v.arena_offset) return s;
  s += " in arena[" + std::to_string(*v.arena_offset);
  if (v.arena_batch_stride) s += ", batch_stride=" + std::to_string(v.arena_batch_stride);
  return s + "]";
}

}  // namespace

void print_graph(const Graph& g, std::ostream& out) {
  out << "graph " << quote(g.name) << " {\n";
  if (!g.weights_path.empty()) out << "  weights " << quote(g.weights_path) << "\n";
  if (g.arena_bytes) out << "  arena " << *g.arena_bytes << "\n";
  for (const Value* v : g.inputs())
    out << "  input " << value_ref(*v) << ": " << type_with_placement(*v) << "\n";
  std::unordered_set<const Value*> declared;
  auto declare = [&](const Value* p) {
    if (p->kind != ValueKind::Param || !declared.insert(p).second) return;
    out << "  param " << value_ref(*p) << ": " << type_with_placement(*p) << "\n";
  };
  for (const auto& n : g.nodes()) {
    for (const Value* in : n->inputs) declare(in);
    out << "  ";
    for (size_t i = 0; i < n->outputs.size(); ++i)
      out << (i ? ", " : "") << value_ref(*n->outputs[i]);
    out << " = " << op_name(n->op) << "(";
    for (size_t i = 0; i < n->inputs.size(); ++i)
      out << (i ? ", " : "") << value_ref(*n->inputs[i]);
    out << ")";
    std::string attrs = print_attrs(n->attrs);
    if (!attrs.empty()) out << " " << attrs;
    out << ": ";
    for (size_t i = 0; i < n->outputs.size(); ++i)
      out << (i ? ", " : "") << type_with_placement(*n->outputs[i]);
    out << "\n";
  }
  // Parameters no node uses still belong to the graph (e.g. loaded but unused).
  for (const Value* p : g.params()) declare(p);
  for (const Value* o : g.outputs()) out << "  output " << value_ref(*o) << "\n";
  out << "}\n";
}

std::string print_graph(const Graph& g) {
  std::ostringstream s;
  print_graph(g, s);
  return s.str();
}

}  // namespace cnnc::ir
