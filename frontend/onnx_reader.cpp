#include "frontend/onnx_reader.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/stubs/logging.h>
#include <sys/stat.h>

#include <climits>
#include <unordered_set>

#include "frontend/onnx_import.h"
#include "ir/verifier.h"
#include "support/file_io.h"

namespace cnnc::frontend {

// ------------------------------------------------------------ OnnxImporter

bool OnnxImporter::fail(const std::string& message) {
  diag.error(file, desc + ": " + message);
  return false;
}

const onnx::AttributeProto* OnnxImporter::attr(const std::string& name) const {
  for (const auto& a : node->attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::optional<int64_t> OnnxImporter::attr_int(const std::string& name, int64_t dflt) {
  const auto* a = attr(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::INT) {
    fail("attribute '" + name + "' must be an int");
    return std::nullopt;
  }
  return a->i();
}

std::optional<double> OnnxImporter::attr_float(const std::string& name, double dflt) {
  const auto* a = attr(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::FLOAT) {
    fail("attribute '" + name + "' must be a float");
    return std::nullopt;
  }
  if (!std::isfinite(a->f())) {
    fail("attribute '" + name + "' is not finite");
    return std::nullopt;
  }
  return a->f();
}

std::optional<std::string> OnnxImporter::attr_string(const std::string& name,
                                                     const std::string& dflt) {
  const auto* a = attr(name);
  if (!a) return dflt;
  if (a->type() != onnx::AttributeProto::STRING) {
    fail("attribute '" + name + "' must be a string");
    return std::nullopt;
  }
  return a->s();
}

std::optional<std::vector<int64_t>> OnnxImporter::attr_ints(const std::string& name,
                                                            size_t max_len) {
  const auto* a = attr(name);
  if (!a) return std::vector<int64_t>{};
  if (a->type() != onnx::AttributeProto::INTS) {
    fail("attribute '" + name + "' must be a list of ints");
    return std::nullopt;
  }
  // Bounded before use: a 10-million-value list is reported, not copied.
  if (static_cast<size_t>(a->ints_size()) > max_len) {
    fail("attribute '" + name + "' has " + std::to_string(a->ints_size()) + " values, expected " +
         std::to_string(max_len == 2 ? 2 : max_len) + (max_len == 2 ? "" : " at most"));
    return std::nullopt;
  }
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

const OnnxValue* OnnxImporter::input(int k) const {
  if (k >= node->input_size() || node->input(k).empty()) return nullptr;
  auto it = values.find(node->input(k));
  return it == values.end() ? nullptr : &it->second;
}

ir::Value* OnnxImporter::data(int k) {
  const OnnxValue* v = input(k);
  if (!v) {
    fail("input " + std::to_string(k) + " is missing");
    return nullptr;
  }
  if (v->c) {
    fail("input '" + node->input(k) +
         "' is a constant where cnnc needs a computed tensor (constant subgraphs are not "
         "supported there)");
    return nullptr;
  }
  if (v->padded) {
    fail("uses the output of " + v->pad_desc +
         "; a Pad is supported only where it folds exactly into the Conv or AveragePool that "
         "consumes it");
    return nullptr;
  }
  return v->v;
}

const OnnxConst* OnnxImporter::constant(int k, const std::string& role) {
  const OnnxValue* v = input(k);
  if (!v) {
    fail(role + " (input " + std::to_string(k) + ") is missing");
    return nullptr;
  }
  if (!v->c) {
    fail(role + " '" + node->input(k) +
         "' is computed by the graph; cnnc needs it to be an initializer or a Constant");
    return nullptr;
  }
  return v->c.get();
}

std::string OnnxImporter::layer_name() {
  const std::string& out = node->output_size() ? node->output(0) : node->name();
  auto it = is_graph_output.find(out);
  if (it != is_graph_output.end() && it->second) return out;
  return node->name().empty() ? out : node->name();
}

ir::Node* OnnxImporter::emit(ir::OpKind op, ir::Attrs attrs, const std::vector<ir::Value*>& ins) {
  std::string name = b.unique_name(layer_name());
  return b.add_layer(op, std::move(attrs), ins, name, file, desc);
}

bool OnnxImporter::set_param(ir::Value* p, std::vector<float> v, const std::string& role) {
  if (!p || static_cast<int64_t>(v.size()) != p->type.shape.elements().value_or(-1))
    return fail(role + " has " + std::to_string(v.size()) + " values, the layer needs " +
                (p ? std::to_string(p->type.shape.elements().value_or(0)) : std::string("none")));
  for (float x : v)
    if (!std::isfinite(x)) return fail(role + " holds NaN or infinite values");
  auto t = std::make_shared<ir::Tensor>();
  t->shape = p->type.shape;
  t->data = std::move(v);
  p->data = std::move(t);
  return true;
}

void OnnxImporter::define(int k, OnnxValue v) {
  if (k < node->output_size() && !node->output(k).empty()) values[node->output(k)] = std::move(v);
}

bool OnnxImporter::output_used(int k) const {
  return k < node->output_size() && !node->output(k).empty() && use_count(node->output(k)) > 0;
}

int OnnxImporter::use_count(const std::string& name) const {
  auto it = uses.find(name);
  return it == uses.end() ? 0 : it->second;
}

// ------------------------------------------------------------ the model

namespace {

std::string node_desc(const onnx::NodeProto& n, int index) {
  std::string op =
      n.domain().empty() || n.domain() == "ai.onnx" ? n.op_type() : n.domain() + "." + n.op_type();
  std::string name = !n.name().empty()     ? n.name()
                     : n.output_size() > 0 ? n.output(0)
                                           : "#" + std::to_string(index);
  return "node '" + name.substr(0, 200) + "' (" + op.substr(0, 100) + ")";
}

void report_too_large(const SourceLoc& file, int64_t bytes, DiagnosticEngine& diag) {
  diag.error(
      file,
      format_bytes(bytes) +
          " ONNX file: protobuf messages are limited to 2 GiB; store weights as external data",
      {}, ExitCode::ResourceLimit);
}

bool is_control_flow(const std::string& op) {
  return op == "If" || op == "Loop" || op == "Scan" || op == "SequenceMap";
}

// Shapes of graph inputs: fixed dims, or a symbolic batch given by --batch.
std::optional<ir::TensorType> input_type(const onnx::ValueInfoProto& vi, const SourceLoc& file,
                                         int64_t batch, DiagnosticEngine& diag) {
  std::string what = "input '" + vi.name().substr(0, 200) + "'";
  if (!vi.type().has_tensor_type()) {
    diag.error(file, what + " is not a tensor");
    return std::nullopt;
  }
  const auto& tt = vi.type().tensor_type();
  if (tt.elem_type() != onnx::TensorProto::FLOAT) {
    diag.error(file, what + " has element type " + onnx_type_name(tt.elem_type()) +
                         "; cnnc computes in FLOAT");
    return std::nullopt;
  }
  if (!tt.has_shape() || tt.shape().dim_size() == 0) {
    diag.error(file, what + " has no shape; cnnc needs fixed input shapes");
    return std::nullopt;
  }
  ir::TensorType t;
  for (int d = 0; d < tt.shape().dim_size(); ++d) {
    const auto& dim = tt.shape().dim(d);
    int64_t v = dim.has_dim_value() ? dim.dim_value() : 0;
    if (v < 1 || v > ir::kMaxDim) {
      std::string sym =
          dim.has_dim_param() ? "'" + dim.dim_param().substr(0, 40) + "'" : std::to_string(v);
      if (dim.has_dim_value() && !dim.has_dim_param()) {
        diag.error(file, what + " has dim " + std::to_string(d) + " = " + std::to_string(v) +
                             "; every dimension must be in 1..2147483647 (no empty tensors)");
        return std::nullopt;
      }
      if (d == 0 && batch > 0) {
        v = batch;
      } else if (d == 0) {
        diag.error(file, what + " has symbolic dim " + sym + " as its batch; pass --batch N");
        return std::nullopt;
      } else {
        diag.error(file, what + " has dim " + std::to_string(d) + " = " + sym +
                             "; cnnc needs fixed sizes (re-export the model with fixed shapes)");
        return std::nullopt;
      }
    }
    t.shape.dims.push_back(v);
  }
  return t;
}

class ModelReader {
 public:
  ModelReader(const std::string& path, const FrontendOptions& opts, DiagnosticEngine& diag)
      : path_(path), opts_(opts), diag_(diag), file_(make_file_loc(path)) {
    dir_ = model_dir(path);
  }

  std::optional<ir::Graph> read(std::string_view bytes) {
    onnx::ModelProto model;
    if (!parse(bytes, model)) return std::nullopt;
    if (!check_versions(model)) return std::nullopt;
    const onnx::GraphProto& graph = model.graph();
    if (graph.node_size() > opts_.max_layers) {
      diag_.error(file_,
                  "the graph has " + std::to_string(graph.node_size()) + " nodes; the limit is " +
                      std::to_string(opts_.max_layers) + " (--max-layers)",
                  {}, ExitCode::ResourceLimit);
      return std::nullopt;
    }
    if (!check_supported(graph)) return std::nullopt;
    ir::Graph g;
    // The file's stem names the model (as for specs); ONNX graph names are
    // often exporter defaults ("main_graph", "torch_jit").
    g.name = model_name(path_);
    g.source_dir = dir_;
    OnnxImporter m(g, diag_, file_, opts_.shapes, opset_);
    if (!check_producers(graph, m) || !read_initializers(graph, m) || !read_inputs(graph, m))
      return std::nullopt;
    for (int k = 0; k < graph.node_size(); ++k) {
      const onnx::NodeProto& n = graph.node(k);
      m.node = &n;
      m.desc = node_desc(n, k);
      for (const std::string& in : n.input())
        if (!in.empty() && !m.values.count(in)) {
          auto later = producer_.find(in);
          m.fail("uses '" + in.substr(0, 200) + "', which " +
                 (later == producer_.end()
                      ? std::string("no node, input or initializer produces")
                      : "is produced only later, by " + later->second +
                            " (nodes must be in topological order; the graph may have a cycle)"));
          return std::nullopt;
        }
      if (!(*onnx_converter(n.op_type()))(m)) return std::nullopt;
      if (diag_.has_errors()) return std::nullopt;
    }
    if (!read_outputs(graph, m)) return std::nullopt;
    if (!ir::verify(g, diag_, opts_.shapes)) return std::nullopt;
    return g;
  }

 private:
  bool parse(std::string_view bytes, onnx::ModelProto& model) {
    if (static_cast<int64_t>(bytes.size()) > kOnnxMaxFileBytes) {
      report_too_large(file_, static_cast<int64_t>(bytes.size()), diag_);
      return false;
    }
    // Protobuf logs parse problems to stderr itself; the error below says it.
    google::protobuf::LogSilencer silence;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetRecursionLimit(100);  // nesting deeper than this is a parse error, not a stack overflow
    if (!model.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
      int at = in.CurrentPosition();
      diag_.error(file_, "not a valid ONNX ModelProto (protobuf parse failed " +
                             (at >= static_cast<int>(bytes.size())
                                  ? "at the end of the " + std::to_string(bytes.size()) +
                                        " bytes: truncated, or nested deeper than 100 levels)"
                                  : "at byte " + std::to_string(at) + " of " +
                                        std::to_string(bytes.size()) + ")"));
      return false;
    }
    if (!model.has_graph()) {
      diag_.error(file_, "not an ONNX model: it has no graph");
      return false;
    }
    return true;
  }

  bool check_versions(const onnx::ModelProto& model) {
    if (!model.has_ir_version() || model.ir_version() < 3) {
      diag_.error(file_, model.has_ir_version()
                             ? "IR version " + std::to_string(model.ir_version()) +
                                   " is older than supported (3.." +
                                   std::to_string(kOnnxMaxIrVersion) + ")"
                             : std::string("the model has no ir_version"));
      return false;
    }
    if (model.ir_version() > kOnnxMaxIrVersion) {
      diag_.error(file_, "IR version " + std::to_string(model.ir_version()) +
                             " is newer than supported (max " + std::to_string(kOnnxMaxIrVersion) +
                             ")");
      return false;
    }
    for (const auto& o : model.opset_import())
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    if (opset_ < kOnnxMinOpset || opset_ > kOnnxMaxOpset) {
      diag_.error(file_, opset_ == 0 ? "the model imports no ai.onnx opset"
                                     : "model imports ai.onnx opset " + std::to_string(opset_) +
                                           "; cnnc supports " + std::to_string(kOnnxMinOpset) +
                                           ".." + std::to_string(kOnnxMaxOpset));
      return false;
    }
    return true;
  }

  // Every unsupported node at once, before converting anything.
  bool check_supported(const onnx::GraphProto& graph) {
    std::vector<std::string> bad;
    for (int k = 0; k < graph.node_size(); ++k) {
      const onnx::NodeProto& n = graph.node(k);
      bool default_domain = n.domain().empty() || n.domain() == "ai.onnx";
      if (default_domain && onnx_converter(n.op_type())) continue;
      std::string d = node_desc(n, k);
      d.insert(d.size() - 1, ", #" + std::to_string(k));
      if (default_domain && is_control_flow(n.op_type())) d += ": control flow is not supported";
      bad.push_back(d);
    }
    if (bad.empty()) return true;
    std::string msg = std::to_string(bad.size()) + " unsupported op" +
                      (bad.size() == 1 ? "" : "s") + " (ai.onnx opset " + std::to_string(opset_) +
                      "): ";
    for (size_t k = 0; k < bad.size() && k < 50; ++k) msg += (k ? ", " : "") + bad[k];
    if (bad.size() > 50) msg += ", and " + std::to_string(bad.size() - 50) + " more";
    diag_.error(file_, msg, {{SourceLoc{}, "supported: see the README's \"ONNX models\" section"}});
    return false;
  }

  // Names produced twice, and who produces what (for order errors).
  bool check_producers(const onnx::GraphProto& graph, OnnxImporter& m) {
    std::unordered_set<std::string> init_names;
    for (const auto& t : graph.initializer()) init_names.insert(t.name());
    for (const auto& in : graph.input()) init_names.insert(in.name());
    for (int k = 0; k < graph.node_size(); ++k) {
      const onnx::NodeProto& n = graph.node(k);
      for (const std::string& in : n.input())
        if (!in.empty()) ++m.uses[in];
      for (const std::string& out : n.output()) {
        if (out.empty()) continue;
        std::string d = node_desc(n, k);
        auto [it, fresh] = producer_.emplace(out, d);
        if (!fresh || init_names.count(out)) {
          diag_.error(file_, "value '" + out.substr(0, 200) + "' is produced by " +
                                 (fresh ? "an input or initializer" : it->second) + " and " + d);
          return false;
        }
      }
    }
    for (const auto& o : graph.output()) {
      ++m.uses[o.name()];
      m.is_graph_output[o.name()] = true;
    }
    return true;
  }

  bool read_initializers(const onnx::GraphProto& graph, OnnxImporter& m) {
    TensorReadOptions o;
    o.model_dir = dir_;
    o.allow_outside = opts_.allow_paths_outside_model_dir;
    for (const auto& t : graph.initializer()) {
      std::string what = "initializer '" + t.name().substr(0, 200) + "'";
      if (m.values.count(t.name())) {
        diag_.error(file_, what + " is defined twice");
        return false;
      }
      auto c = read_onnx_tensor(t, what, o, file_, diag_);
      if (!c) return false;
      OnnxValue v;
      v.c = std::make_shared<const OnnxConst>(std::move(*c));
      m.values[t.name()] = std::move(v);
    }
    return true;
  }

  bool read_inputs(const onnx::GraphProto& graph, OnnxImporter& m) {
    for (const auto& vi : graph.input()) {
      auto it = m.values.find(vi.name());
      if (it != m.values.end() && !it->second.c) {
        diag_.error(file_, "graph input '" + vi.name().substr(0, 200) + "' is listed twice");
        return false;
      }
      if (it != m.values.end()) {
        // Before IR version 4 initializers were listed as inputs too.
        const auto& tt = vi.type().tensor_type();
        std::vector<int64_t> dims;
        for (const auto& d : tt.shape().dim()) dims.push_back(d.dim_value());
        if (tt.has_shape() && dims != it->second.c->dims) {
          diag_.error(file_, "initializer '" + vi.name().substr(0, 200) + "' " +
                                 dims_str(it->second.c->dims) + " conflicts with graph input '" +
                                 vi.name().substr(0, 200) + "' " + dims_str(dims));
          return false;
        }
        continue;
      }
      std::optional<ir::TensorType> t;
      for (const auto& [name, dims] : opts_.input_shapes)
        if (name == vi.name()) t = ir::TensorType{ir::DType::F32, ir::Shape{dims}};
      if (!t) t = input_type(vi, file_, opts_.batch, diag_);
      if (!t ||
          !ir::check_tensor_limits(*t, "input '" + vi.name() + "'", file_, opts_.shapes, diag_))
        return false;
      OnnxValue v;
      v.v = m.b.add_input(vi.name(), *t, file_);
      m.values[vi.name()] = std::move(v);
    }
    if (m.b.graph().inputs().empty()) {
      diag_.error(file_, "the model has no inputs (every graph input is an initializer)");
      return false;
    }
    return true;
  }

  bool read_outputs(const onnx::GraphProto& graph, OnnxImporter& m) {
    ir::Graph& g = m.b.graph();
    std::unordered_set<const ir::Value*> seen;
    for (const auto& o : graph.output()) {
      std::string what = "output '" + o.name().substr(0, 200) + "'";
      auto it = m.values.find(o.name());
      if (it == m.values.end()) {
        diag_.error(file_, what + " is not produced by any node");
        return false;
      }
      const OnnxValue& v = it->second;
      if (v.c || v.padded || !v.v || v.v->kind == ir::ValueKind::Input) {
        diag_.error(file_,
                    what +
                        (v.c        ? " is a constant"
                         : v.padded ? " is a Pad's output, which cnnc folds into its consumer"
                                    : " is a graph input itself") +
                        ": there is nothing to compute for it");
        return false;
      }
      if (!seen.insert(v.v).second) {
        diag_.error(file_, what + " is the same tensor as another output");
        return false;
      }
      rename_layer(v.v, o.name(), m);
      g.add_output(v.v);
    }
    if (g.outputs().empty()) {
      diag_.error(file_, "the model has no outputs");
      return false;
    }
    return true;
  }

  // A graph output keeps its ONNX name (callers bind outputs by it) even when
  // it was reached through Identity/Dropout or folded into an earlier layer.
  void rename_layer(ir::Value* v, const std::string& onnx_name, OnnxImporter& m) {
    if (v->name == spec_name(onnx_name) || !v->producer) return;
    std::string fresh = m.b.unique_name(onnx_name);
    std::string old = v->name;
    v->name = fresh;
    for (ir::Value* p : GraphBuilder::params_of(*v->producer))
      if (p->name.rfind(old + ".", 0) == 0) p->name = fresh + p->name.substr(old.size());
  }

  std::string path_, dir_;
  const FrontendOptions& opts_;
  DiagnosticEngine& diag_;
  SourceLoc file_;
  int64_t opset_ = 0;
  std::unordered_map<std::string, std::string> producer_;  ///< value → producing node
};

}  // namespace

std::optional<ir::Graph> read_onnx_bytes(std::string_view bytes, const std::string& path,
                                         const FrontendOptions& opts, DiagnosticEngine& diag) {
  return ModelReader(path, opts, diag).read(bytes);
}

std::optional<ir::Graph> read_onnx(const std::string& path, const FrontendOptions& opts,
                                   DiagnosticEngine& diag) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > kOnnxMaxFileBytes) {
    report_too_large(make_file_loc(path), st.st_size, diag);
    return std::nullopt;
  }
  std::string bytes = read_input_file(path, kOnnxMaxFileBytes, "the protobuf limit", diag);
  return read_onnx_bytes(bytes, path, opts, diag);
}

}  // namespace cnnc::frontend
