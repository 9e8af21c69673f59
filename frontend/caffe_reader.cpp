#include "frontend/caffe_reader.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <unordered_map>

#include "frontend/caffe_fields.h"
#include "frontend/graph_builder.h"
#include "frontend/prototxt.h"
#include "ir/verifier.h"
#include "support/file_io.h"
#include "support/suggest.h"

namespace cnnc::frontend {

namespace {

using prototxt::Field;
using prototxt::ScalarKind;

constexpr int64_t kMaxAttr = (int64_t{1} << 31) - 1;

const std::set<std::string>& data_layer_types() {
  static const std::set<std::string> t = {"Data",       "ImageData", "HDF5Data",      "MemoryData",
                                          "WindowData", "DummyData", "AnnotatedData", "VideoData"};
  return t;
}

const std::set<std::string>& skipped_layer_types() {
  static const std::set<std::string> t = {
      "Accuracy",     "SoftmaxWithLoss",         "EuclideanLoss",           "HingeLoss",
      "InfogainLoss", "MultinomialLogisticLoss", "SigmoidCrossEntropyLoss", "ContrastiveLoss",
      "Silence"};
  return t;
}

const std::set<std::string>& supported_layer_types() {
  static const std::set<std::string> t = {
      "Input",   "Convolution", "Pooling", "InnerProduct", "ReLU",    "Sigmoid",
      "TanH",    "ELU",         "LRN",     "Dropout",      "Softmax", "Concat",
      "Eltwise", "BatchNorm",   "Scale",   "Split",        "Flatten"};
  return t;
}

class CaffeReader {
 public:
  CaffeReader(const std::string& path, const FrontendOptions& opts, DiagnosticEngine& diag)
      : opts_(opts), diag_(diag), file_(make_file_loc(path)), b_(g_, diag, opts.shapes) {
    g_.source_dir = model_dir(path);
    g_.name = model_name(path);
  }

  std::optional<ir::Graph> read(std::string_view text) {
    auto root = prototxt::parse(text, file_, 64, diag_);
    if (!root) return std::nullopt;
    if (const Field* v1 = root->find("layers")) {
      const Field* n = v1->is_message ? v1->find("name") : nullptr;
      diag_.error(at(*v1), "V1 prototxt (\"layers { }\" with enum types" +
                               (n ? ", layer '" + n->text + "'" : std::string()) +
                               ") is not supported; upgrade it with Caffe's "
                               "upgrade_net_proto_text tool");
      return std::nullopt;
    }
    if (!legacy_inputs(*root)) return std::nullopt;
    std::vector<const Field*> layers;
    for (const Field* l : root->all("layer")) {
      if (!l->is_message) {
        diag_.error(at(*l), "\"layer\" must be a message: layer { ... }");
        return std::nullopt;
      }
      if (in_test_phase(*l)) layers.push_back(l);
    }
    if (static_cast<int64_t>(layers.size()) > opts_.max_layers) {
      diag_.error(file_,
                  "the network has " + std::to_string(layers.size()) + " layers; the limit is " +
                      std::to_string(opts_.max_layers) + " (--max-layers)",
                  {}, ExitCode::ResourceLimit);
      return std::nullopt;
    }
    if (!check_types(layers)) return std::nullopt;
    for (const Field* l : layers) {
      if (!layer(*l)) return std::nullopt;
      if (diag_.has_errors()) return std::nullopt;
    }
    // The network's outputs: blobs produced and never consumed (as Caffe does).
    for (const std::string& blob : order_) {
      auto it = blobs_.find(blob);
      if (!consumed_.count(blob) && it != blobs_.end() && it->second &&
          it->second->kind == ir::ValueKind::Result) {
        if (std::find(g_.outputs().begin(), g_.outputs().end(), it->second) == g_.outputs().end())
          g_.add_output(it->second);
      }
    }
    if (g_.inputs().empty()) {
      diag_.error(file_,
                  "the network has no input: add an Input layer, or pass --input-shape "
                  "for its data layer's top");
      return std::nullopt;
    }
    if (g_.outputs().empty()) {
      diag_.error(file_, "the network computes nothing (no layer after its inputs)");
      return std::nullopt;
    }
    if (!ir::verify(g_, diag_, opts_.shapes)) return std::nullopt;
    return std::move(g_);
  }

 private:
  SourceLoc at(const Field& f) const { return file_.at(f.line, f.col); }

  // ---------------------------------------------------------- scalar fields

  std::optional<int64_t> to_int(const Field& f, int64_t lo, int64_t hi) {
    if (f.is_message || f.kind != ScalarKind::Number) {
      diag_.error(at(f), lname_ + ": '" + f.name + "' must be an integer");
      return std::nullopt;
    }
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(f.text.c_str(), &end, 10);
    if (errno || *end || v < lo || v > hi) {
      diag_.error(at(f), lname_ + ": '" + f.name + "' is " + f.text.substr(0, 40) +
                             "; expected an integer in " + std::to_string(lo) + ".." +
                             std::to_string(hi));
      return std::nullopt;
    }
    return v;
  }

  std::optional<int64_t> get_int(const Field* msg, const char* name, int64_t dflt, int64_t lo,
                                 int64_t hi = kMaxAttr) {
    const Field* f = msg ? msg->find(name) : nullptr;
    return f ? to_int(*f, lo, hi) : std::optional<int64_t>(dflt);
  }

  std::optional<double> get_num(const Field* msg, const char* name, double dflt) {
    const Field* f = msg ? msg->find(name) : nullptr;
    if (!f) return dflt;
    char* end = nullptr;
    double v =
        f->is_message || f->kind != ScalarKind::Number ? NAN : std::strtod(f->text.c_str(), &end);
    if (!std::isfinite(v) || (end && *end && !(*end == 'f' && end[1] == '\0'))) {
      diag_.error(at(*f), lname_ + ": '" + f->name + "' must be a finite number");
      return std::nullopt;
    }
    return v;
  }

  std::optional<bool> get_bool(const Field* msg, const char* name, bool dflt) {
    const Field* f = msg ? msg->find(name) : nullptr;
    if (!f) return dflt;
    if (!f->is_message && (f->text == "true" || f->text == "1")) return true;
    if (!f->is_message && (f->text == "false" || f->text == "0")) return false;
    diag_.error(at(*f), lname_ + ": '" + f->name + "' must be true or false");
    return std::nullopt;
  }

  std::optional<std::string> get_enum(const Field* msg, const char* name, const char* dflt,
                                      std::initializer_list<const char*> allowed) {
    const Field* f = msg ? msg->find(name) : nullptr;
    if (!f) return std::string(dflt);
    std::string list;
    for (const char* a : allowed) {
      if (!f->is_message && f->text == a) return f->text;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    diag_.error(at(*f),
                lname_ + ": '" + f->name + "' is " +
                    (f->is_message ? std::string("a message") : "'" + f->text.substr(0, 40) + "'") +
                    "; supported: " + list);
    return std::nullopt;
  }

  std::optional<std::string> get_string(const Field& msg, const char* name) {
    const Field* f = msg.find(name);
    if (!f) return std::string();
    if (f->is_message || f->kind != ScalarKind::String) {
      diag_.error(at(*f), lname_ + ": '" + name + "' must be a string");
      return std::nullopt;
    }
    return f->text;
  }

  // Caffe's 2-D window fields: `kernel_size` (1 or 2 values) or kernel_h/kernel_w.
  bool pair(const Field* msg, const char* base, const char* h, const char* w, int64_t dflt,
            int64_t lo, ir::Hw& out, bool& given) {
    std::vector<int64_t> v;
    for (const Field* f : msg ? msg->all(base) : std::vector<const Field*>{}) {
      auto x = to_int(*f, lo, kMaxAttr);
      if (!x) return false;
      v.push_back(*x);
    }
    const Field* fh = msg ? msg->find(h) : nullptr;
    const Field* fw = msg ? msg->find(w) : nullptr;
    if (v.size() > 2) {
      diag_.error(at(*msg->all(base)[2]), lname_ + ": '" + base + "' has " +
                                              std::to_string(v.size()) +
                                              " values; cnnc supports 2-D windows");
      return false;
    }
    if ((fh || fw) && !v.empty()) {
      diag_.error(at(fh ? *fh : *fw),
                  lname_ + ": give '" + base + "' or '" + h + "'/'" + w + "', not both");
      return false;
    }
    given = !v.empty() || fh || fw;
    out = ir::Hw{dflt, dflt};
    if (v.size() == 1) out = ir::Hw{v[0], v[0]};
    if (v.size() == 2) out = ir::Hw{v[0], v[1]};
    if (fh || fw) {
      auto hh = get_int(msg, h, dflt, lo), ww = get_int(msg, w, dflt, lo);
      if (!hh || !ww) return false;
      out = ir::Hw{*hh, *ww};
    }
    return true;
  }

  // ---------------------------------------------------------- structure

  bool in_test_phase(const Field& l) {
    auto phase_of = [](const Field* rule) -> std::string {
      const Field* p = rule->is_message ? rule->find("phase") : nullptr;
      return p ? p->text : "";
    };
    auto includes = l.all("include");
    if (!includes.empty()) {
      bool any = false;
      for (const Field* r : includes) any = any || phase_of(r).empty() || phase_of(r) == "TEST";
      if (!any) return false;
    }
    for (const Field* r : l.all("exclude"))
      if (phase_of(r) == "TEST") return false;
    return true;
  }

  // Every unsupported layer type at once, before building anything.
  bool check_types(const std::vector<const Field*>& layers) {
    std::string list;
    int n = 0;
    const Field* first = nullptr;
    for (const Field* l : layers) {
      const Field* t = l->find("type");
      const Field* nm = l->find("name");
      std::string name = nm ? nm->text : "?";
      if (!t) {
        diag_.error(at(*l), "layer '" + name + "' has no type");
        return false;
      }
      if (t->text == "Python") {
        diag_.error(at(*t),
                    "layer '" + name + "': Python layers run arbitrary code and are not supported");
        return false;
      }
      if (supported_layer_types().count(t->text) || data_layer_types().count(t->text) ||
          skipped_layer_types().count(t->text))
        continue;
      if (!first) first = t;
      ++n;
      if (n <= 30)
        list += (list.empty() ? "" : ", ") + std::string("layer '") + name + "' (" +
                t->text.substr(0, 60) + ", line " + std::to_string(t->line) + ")";
    }
    if (!n) return true;
    if (n > 30) list += ", and " + std::to_string(n - 30) + " more";
    diag_.error(at(*first),
                std::to_string(n) + " unsupported layer type" + (n == 1 ? "" : "s") + ": " + list,
                {{SourceLoc{}, "supported: see the README's \"Caffe prototxt\" section"}});
    return false;
  }

  const std::vector<int64_t>* override_shape(const std::string& name) const {
    for (const auto& [n, dims] : opts_.input_shapes)
      if (n == name) return &dims;
    return nullptr;
  }

  bool define_input(const std::string& name, std::vector<int64_t> dims, const Field& where) {
    if (const auto* o = override_shape(name)) dims = *o;
    ir::TensorType t;
    t.shape.dims = dims;
    if (dims.empty()) {
      diag_.error(at(where), "input '" + name + "' has no shape");
      return false;
    }
    for (int64_t d : dims)
      if (d < 1 || d > ir::kMaxDim) {
        diag_.error(at(where), "input '" + name + "': dimension " + std::to_string(d) +
                                   " is not in 1..2147483647");
        return false;
      }
    if (!ir::check_tensor_limits(t, "input '" + name + "'", at(where), opts_.shapes, diag_))
      return false;
    if (blobs_.count(name)) {
      diag_.error(at(where), "input '" + name + "' is defined twice");
      return false;
    }
    bind(name, b_.add_input(name, t, at(where)));
    return true;
  }

  void bind(const std::string& blob, ir::Value* v) {
    if (!blobs_.count(blob)) order_.push_back(blob);
    blobs_[blob] = v;
    consumed_.erase(blob);
  }

  std::optional<std::vector<int64_t>> shape_dims(const Field& shape) {
    std::vector<int64_t> dims;
    for (const Field* d : shape.all("dim")) {
      auto v = to_int(*d, 1, kMaxAttr);
      if (!v) return std::nullopt;
      dims.push_back(*v);
    }
    return dims;
  }

  // Top-level `input:` with `input_shape { }` or four `input_dim:` per input.
  bool legacy_inputs(const Field& root) {
    auto names = root.all("input");
    if (names.empty()) return true;
    lname_ = "net";
    auto shapes = root.all("input_shape");
    auto dims = root.all("input_dim");
    if (!dims.empty() && dims.size() != 4 * names.size()) {
      diag_.error(at(*dims[0]), "input_dim has " + std::to_string(dims.size()) +
                                    " values; expected 4 per input (" +
                                    std::to_string(4 * names.size()) + ")");
      return false;
    }
    for (size_t k = 0; k < names.size(); ++k) {
      std::vector<int64_t> d;
      if (k < shapes.size()) {
        auto s = shape_dims(*shapes[k]);
        if (!s) return false;
        d = *s;
      } else if (!dims.empty()) {
        for (size_t j = 0; j < 4; ++j) {
          auto v = to_int(*dims[4 * k + j], 1, kMaxAttr);
          if (!v) return false;
          d.push_back(*v);
        }
      } else if (!override_shape(names[k]->text)) {
        diag_.error(at(*names[k]), "input '" + names[k]->text +
                                       "' has no input_shape or input_dim; pass --input-shape");
        return false;
      }
      if (!define_input(names[k]->text, d, *names[k])) return false;
    }
    return true;
  }

  // The IR values of a layer's bottoms, each checked to exist.
  std::optional<std::vector<ir::Value*>> bottoms(const Field& l) {
    std::vector<ir::Value*> out;
    for (const Field* f : l.all("bottom")) {
      auto it = blobs_.find(f->text);
      if (it == blobs_.end()) {
        diag_.error(at(*f), lname_ + ": bottom '" + f->text.substr(0, 100) +
                                "' is not produced by any earlier layer");
        return std::nullopt;
      }
      if (!it->second) {
        diag_.error(at(*f), lname_ + ": bottom '" + f->text.substr(0, 100) +
                                "' comes from a skipped data or loss layer");
        return std::nullopt;
      }
      consumed_.insert(f->text);
      out.push_back(it->second);
    }
    return out;
  }

  ir::Node* emit(ir::OpKind op, ir::Attrs a, const std::vector<ir::Value*>& ins) {
    return b_.add_layer(op, std::move(a), ins, b_.unique_name(caffe_name_), loc_, lname_);
  }

  bool produce(const Field& l, ir::Value* v) {
    auto tops = l.all("top");
    if (tops.empty()) {
      diag_.error(loc_, lname_ + " has no top");
      return false;
    }
    for (const Field* t : tops) bind(t->text, v);
    return true;
  }

  bool need_inputs(const std::vector<ir::Value*>& ins, size_t lo, size_t hi) {
    if (ins.size() >= lo && ins.size() <= hi) return true;
    diag_.error(loc_, lname_ + " takes " +
                          (lo == hi ? std::to_string(lo) : std::to_string(lo) + "+") + " bottom" +
                          (lo == 1 && hi == 1 ? "" : "s") + ", got " + std::to_string(ins.size()));
    return false;
  }

  // Caffe refuses fields its schema lacks, and so does cnnc in the layers it
  // reads (data and loss layers, skipped, may carry a fork's extensions).
  bool known_fields(const Field& msg, std::string_view kind) {
    const std::vector<std::string>* fields = caffe_message_fields(kind);
    if (!fields) return true;
    for (const Field& f : msg.fields) {
      if (std::find(fields->begin(), fields->end(), f.name) == fields->end()) {
        diag_.error(at(f), lname_ + ": " +
                               (kind == "layer" ? std::string("a layer") : std::string(kind)) +
                               " has no field '" + f.name.substr(0, 60) + "'" +
                               did_you_mean(f.name, *fields));
        return false;
      }
      if (f.is_message && !known_fields(f, f.name)) return false;
    }
    return true;
  }

  // ---------------------------------------------------------- layers

  bool layer(const Field& l) {
    const Field* nm = l.find("name");
    caffe_name_ = nm ? nm->text : "layer";
    std::string type = l.find("type")->text;
    lname_ = "layer '" + caffe_name_ + "'";
    loc_ = at(nm ? *nm : l);
    if (supported_layer_types().count(type) && !known_fields(l, "layer")) return false;
    if (type == "Input") {
      const Field* p = l.find("input_param");
      auto tops = l.all("top");
      auto shapes = p ? p->all("shape") : std::vector<const Field*>{};
      for (size_t k = 0; k < tops.size(); ++k) {
        std::vector<int64_t> d;
        if (!shapes.empty()) {
          auto s = shape_dims(*shapes[std::min(k, shapes.size() - 1)]);
          if (!s) return false;
          d = *s;
        } else if (!override_shape(tops[k]->text)) {
          diag_.error(loc_,
                      lname_ + ": Input without input_param { shape { } }; pass --input-shape");
          return false;
        }
        if (!define_input(tops[k]->text, d, *tops[k])) return false;
      }
      return true;
    }
    if (data_layer_types().count(type)) {
      // A data layer reads files; its `source` is never opened. Its first top
      // becomes an input when --input-shape gives its shape.
      auto tops = l.all("top");
      for (size_t k = 0; k < tops.size(); ++k) {
        if (k == 0 && override_shape(tops[0]->text)) {
          if (!define_input(tops[0]->text, {}, *tops[0])) return false;
          continue;
        }
        if (k == 0) {
          diag_.error(
              loc_,
              "data layer '" + caffe_name_ + "' (" + type +
                  ") reads its data from files; cnnc needs the shape of '" + tops[0]->text + "'",
              {{SourceLoc{},
                "pass --input-shape " + tops[0]->text + "=NxCxHxW, or use the deploy prototxt"}});
          return false;
        }
        if (!blobs_.count(tops[k]->text)) order_.push_back(tops[k]->text);
        blobs_[tops[k]->text] = nullptr;  // labels: only loss layers use them
      }
      diag_.note(loc_, "data layer '" + caffe_name_ + "' ignored (its source is never opened)");
      return true;
    }
    if (skipped_layer_types().count(type)) {
      // Its bottoms stay network outputs if nothing else uses them.
      diag_.note(loc_, type + " layer '" + caffe_name_ + "' skipped (training/evaluation only)");
      return true;
    }
    auto ins = bottoms(l);
    if (!ins) return false;
    if (type == "Split") {
      if (!need_inputs(*ins, 1, 1)) return false;
      return produce(l, (*ins)[0]);
    }
    if (type == "Scale") return scale(l, *ins);
    ir::Node* n = nullptr;
    if (type == "Convolution")
      n = convolution(l, *ins);
    else if (type == "Pooling")
      n = pooling(l, *ins);
    else if (type == "InnerProduct")
      n = inner_product(l, *ins);
    else if (type == "ReLU")
      n = relu(l, *ins);
    else if (type == "Sigmoid" || type == "TanH") {
      if (need_inputs(*ins, 1, 1))
        n = emit(type == "Sigmoid" ? ir::OpKind::Sigmoid : ir::OpKind::Tanh, ir::NoAttrs{}, *ins);
    } else if (type == "ELU") {
      auto alpha = get_num(l.find("elu_param"), "alpha", 1.0);
      ir::EluAttrs a;
      if (alpha && need_inputs(*ins, 1, 1)) {
        a.alpha = *alpha;
        n = emit(ir::OpKind::Elu, a, *ins);
      }
    } else if (type == "LRN")
      n = lrn(l, *ins);
    else if (type == "Dropout") {
      auto r = get_num(l.find("dropout_param"), "dropout_ratio", 0.5);
      ir::DropoutAttrs a;
      if (r && (*r < 0 || *r >= 1)) {
        diag_.error(loc_, lname_ + ": dropout_ratio must be in [0, 1)");
        return false;
      }
      if (r && need_inputs(*ins, 1, 1)) {
        a.rate = *r;  // Caffe scales kept units by 1/(1 − ratio) in training
        n = emit(ir::OpKind::Dropout, a, *ins);
      }
    } else if (type == "Softmax") {
      auto axis = get_int(l.find("softmax_param"), "axis", 1, -8, 7);
      ir::SoftmaxAttrs a;
      if (axis && need_inputs(*ins, 1, 1)) {
        a.axis = *axis;
        n = emit(ir::OpKind::Softmax, a, *ins);
      }
    } else if (type == "Concat") {
      const Field* p = l.find("concat_param");
      auto axis = get_int(p, "axis", 1, -8, 7);
      if (axis && p && p->find("concat_dim")) axis = get_int(p, "concat_dim", 1, 0, 7);
      ir::ConcatAttrs a;
      if (axis && need_inputs(*ins, 1, 64)) {
        if (ins->size() == 1) return produce(l, (*ins)[0]);
        a.axis = *axis;
        n = emit(ir::OpKind::Concat, a, *ins);
      }
    } else if (type == "Eltwise")
      n = eltwise(l, *ins);
    else if (type == "BatchNorm")
      n = batch_norm(l, *ins);
    else if (type == "Flatten") {
      auto axis = get_int(l.find("flatten_param"), "axis", 1, -8, 7);
      if (axis && *axis != 1) {
        diag_.error(loc_, lname_ + ": Flatten with axis " + std::to_string(*axis) +
                              " is not supported (only to [N, rest])");
        return false;
      }
      if (axis && need_inputs(*ins, 1, 1)) n = emit(ir::OpKind::Flatten, ir::NoAttrs{}, *ins);
    }
    if (!n) return false;
    return produce(l, n->output());
  }

  ir::Node* convolution(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("convolution_param");
    if (!need_inputs(ins, 1, 1)) return nullptr;
    if (!p) {
      diag_.error(loc_, lname_ + ": convolution_param is required");
      return nullptr;
    }
    ir::Conv2dAttrs a;
    bool kgiven = false, unused = false;
    auto filters = get_int(p, "num_output", 0, 1);
    auto bias = get_bool(p, "bias_term", true);
    auto group = get_int(p, "group", 1, 1);
    ir::Hw pad;
    if (!filters || !bias || !group ||
        !pair(p, "kernel_size", "kernel_h", "kernel_w", 0, 1, a.kernel, kgiven) ||
        !pair(p, "stride", "stride_h", "stride_w", 1, 1, a.stride, unused) ||
        !pair(p, "pad", "pad_h", "pad_w", 0, 0, pad, unused) ||
        !pair(p, "dilation", "dilation_h", "dilation_w", 1, 1, a.dilation, unused))
      return nullptr;
    if (!p->find("num_output")) {
      diag_.error(at(*p), lname_ + ": convolution_param needs num_output");
      return nullptr;
    }
    if (!kgiven) {
      diag_.error(at(*p), lname_ + ": convolution_param needs kernel_size (or kernel_h, kernel_w)");
      return nullptr;
    }
    a.filters = *filters;
    a.bias = *bias;
    a.groups = *group;
    a.pad = ir::Pad4{pad.h, pad.h, pad.w, pad.w};
    return emit(ir::OpKind::Conv2d, a, ins);
  }

  ir::Node* pooling(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("pooling_param");
    if (!need_inputs(ins, 1, 1)) return nullptr;
    auto kind = get_enum(p, "pool", "MAX", {"MAX", "AVE"});
    auto global = get_bool(p, "global_pooling", false);
    auto round = get_enum(p, "round_mode", "CEIL", {"CEIL", "FLOOR"});
    if (!kind || !global || !round) return nullptr;
    const ir::Shape& x = ins[0]->type.shape;
    if (x.rank() != 4) {
      diag_.error(loc_, lname_ + ": pooling needs an N, C, H, W input, got " + x.str());
      return nullptr;
    }
    ir::PoolAttrs pa;
    bool kgiven = false, unused = false;
    ir::Hw pad;
    if (!pair(p, "kernel_size", "kernel_h", "kernel_w", 0, 1, pa.kernel, kgiven) ||
        !pair(p, "stride", "stride_h", "stride_w", 1, 1, pa.stride, unused) ||
        !pair(p, "pad", "pad_h", "pad_w", 0, 0, pad, unused))
      return nullptr;
    if (*global) {
      if (*kind == "AVE") return emit(ir::OpKind::GlobalAvgPool, ir::NoAttrs{}, ins);
      pa.kernel = ir::Hw{x[2], x[3]};
      pa.stride = ir::Hw{1, 1};
    } else if (!kgiven) {
      diag_.error(loc_, lname_ + ": pooling_param needs kernel_size (or global_pooling)");
      return nullptr;
    }
    pa.pad = ir::Pad4{pad.h, pad.h, pad.w, pad.w};
    // Caffe rounds the output size up and drops a last window that would start
    // in the padding: PyTorch's ceil_mode rule, and the divisor of AVE counts
    // the padding inside the padded input (count_include_pad).
    pa.ceil_mode = *round == "CEIL" && !*global;
    if (*kind == "MAX") return emit(ir::OpKind::MaxPool, pa, ins);
    ir::AvgPoolAttrs aa;
    aa.pool = pa;
    aa.count_include_pad = true;
    return emit(ir::OpKind::AvgPool, aa, ins);
  }

  ir::Node* inner_product(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("inner_product_param");
    if (!need_inputs(ins, 1, 1)) return nullptr;
    auto units = get_int(p, "num_output", 0, 1);
    auto bias = get_bool(p, "bias_term", true);
    auto axis = get_int(p, "axis", 1, -8, 7);
    auto transpose = get_bool(p, "transpose", false);
    if (!units || !bias || !axis || !transpose) return nullptr;
    if (!p || !p->find("num_output")) {
      diag_.error(loc_, lname_ + ": inner_product_param needs num_output");
      return nullptr;
    }
    if (*axis != 1 || *transpose) {
      diag_.error(loc_, lname_ + ": only axis 1 and transpose false are supported");
      return nullptr;
    }
    ir::LinearAttrs a;
    a.units = *units;
    a.bias = *bias;
    return emit(ir::OpKind::Linear, a, ins);
  }

  ir::Node* relu(const Field& l, const std::vector<ir::Value*>& ins) {
    auto slope = get_num(l.find("relu_param"), "negative_slope", 0.0);
    if (!slope || !need_inputs(ins, 1, 1)) return nullptr;
    if (*slope == 0) return emit(ir::OpKind::Relu, ir::NoAttrs{}, ins);
    ir::LeakyReluAttrs a;
    a.alpha = *slope;
    return emit(ir::OpKind::LeakyRelu, a, ins);
  }

  ir::Node* lrn(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("lrn_param");
    auto size = get_int(p, "local_size", 5, 1);
    auto alpha = get_num(p, "alpha", 1.0), beta = get_num(p, "beta", 0.75),
         k = get_num(p, "k", 1.0);
    auto region = get_enum(p, "norm_region", "ACROSS_CHANNELS", {"ACROSS_CHANNELS"});
    if (!size || !alpha || !beta || !k || !region || !need_inputs(ins, 1, 1)) return nullptr;
    if (!(*k > 0)) {
      diag_.error(loc_, lname_ + ": k must be > 0");
      return nullptr;
    }
    ir::LrnAttrs a;
    a.size = *size;
    a.alpha = *alpha;
    a.beta = *beta;
    a.k = *k;
    return emit(ir::OpKind::Lrn, a, ins);
  }

  ir::Node* eltwise(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("eltwise_param");
    auto op = get_enum(p, "operation", "SUM", {"SUM"});
    if (!op || !need_inputs(ins, 2, 64)) return nullptr;
    for (const Field* c : p ? p->all("coeff") : std::vector<const Field*>{}) {
      auto v = get_num(p, "coeff", 1.0);
      if (!v) return nullptr;
      if (std::strtod(c->text.c_str(), nullptr) != 1.0) {
        diag_.error(at(*c), lname_ + ": Eltwise coefficients other than 1 are not supported");
        return nullptr;
      }
    }
    return emit(ir::OpKind::Add, ir::AddAttrs{}, ins);
  }

  ir::Node* batch_norm(const Field& l, const std::vector<ir::Value*>& ins) {
    const Field* p = l.find("batch_norm_param");
    auto eps = get_num(p, "eps", 1e-5);
    auto frac = get_num(p, "moving_average_fraction", 0.999);
    if (!eps || !frac || !need_inputs(ins, 1, 1)) return nullptr;
    if (!(*eps > 0) || *frac < 0 || *frac > 1) {
      diag_.error(loc_, lname_ + ": eps must be > 0 and moving_average_fraction in [0, 1]");
      return nullptr;
    }
    ir::BatchNormAttrs a;
    a.eps = *eps;
    a.momentum = 1.0 - *frac;
    ir::Node* n = emit(ir::OpKind::BatchNorm, a, ins);
    // Caffe's BatchNorm has no scale or shift; a following Scale layer gives them.
    if (n) bn_nodes_.insert(n);
    return n;
  }

  // Scale (with its bias) right after a BatchNorm is that batch norm's gamma
  // and beta.
  bool scale(const Field& l, const std::vector<ir::Value*>& ins) {
    if (!need_inputs(ins, 1, 1)) return false;
    ir::Node* bn = ins[0]->producer;
    if (!bn || !bn_nodes_.count(bn)) {
      diag_.error(loc_, lname_ + ": a Scale layer is supported only right after a BatchNorm");
      return false;
    }
    bn_nodes_.erase(bn);
    bn->fused.push_back(spec_name(caffe_name_));
    return produce(l, ins[0]);
  }

  const FrontendOptions& opts_;
  DiagnosticEngine& diag_;
  SourceLoc file_;
  ir::Graph g_;
  GraphBuilder b_;
  std::unordered_map<std::string, ir::Value*> blobs_;  ///< blob → current value (null: skipped)
  std::vector<std::string> order_;                     ///< blobs in order of definition
  std::set<std::string> consumed_;
  std::set<const ir::Node*> bn_nodes_;  ///< batch norms still without their Scale
  std::string caffe_name_, lname_;
  SourceLoc loc_;
};

}  // namespace

std::optional<ir::Graph> read_caffe_text(std::string_view text, const std::string& path,
                                         const FrontendOptions& opts, DiagnosticEngine& diag) {
  return CaffeReader(path, opts, diag).read(text);
}

std::optional<ir::Graph> read_caffe_prototxt(const std::string& path, const FrontendOptions& opts,
                                             DiagnosticEngine& diag) {
  std::string text = read_input_file(path, opts.max_input_size, "--max-input-size", diag);
  return read_caffe_text(text, path, opts, diag);
}

}  // namespace cnnc::frontend
