#include "frontend/spec_reader.h"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <unordered_map>
#include <unordered_set>

#include "frontend/spec_attrs.h"
#include "frontend/spec_blocks.h"
#include "frontend/spec_context.h"
#include "ir/verifier.h"
#include "support/contained_path.h"
#include "support/internal_error.h"
#include "support/suggest.h"

namespace cnnc::frontend {

// ---------------------------------------------------------------------------
// SpecContext helpers

const json::Value* SpecContext::resolve(const json::Value& v, const EnvPtr& env,
                                        const Frame& frame) const {
  if (!is_param_ref(v)) return &v;
  std::string name = v.text.substr(1);
  if (!env) {
    diag.error(
        at(v.pos, frame),
        "'" + v.text + "' refers to a block parameter, but this layer is not inside a block");
    return nullptr;
  }
  auto it = env->values.find(name);
  if (it == env->values.end()) {
    std::vector<std::string> names;
    for (const auto& [k, _] : env->values) names.push_back("$" + k);
    std::sort(names.begin(), names.end());
    diag.error(at(v.pos, frame), "block '" + env->block + "' has no parameter '" + v.text + "'" +
                                     did_you_mean(v.text, names));
    return nullptr;
  }
  return it->second;
}

bool check_name(SpecContext& c, const json::Value& v, const Frame& frame, const char* what,
                bool local) {
  if (v.kind != json::Kind::String) {
    c.diag.error(c.at(v.pos, frame),
                 std::string(what) + " must be a string, got " + json::kind_phrase(v.kind));
    return false;
  }
  const std::string& s = v.text;
  bool ok = !s.empty() && s.size() <= 128;
  for (size_t i = 0; ok && i < s.size(); ++i) {
    char ch = s[i];
    bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
    bool digit = ch >= '0' && ch <= '9';
    ok = i == 0 ? (alpha || (local && digit)) : (alpha || digit || ch == '.' || ch == '-');
  }
  if (!ok) {
    std::string shown;
    for (char ch : s.size() > 40 ? s.substr(0, 40) : s) {
      if (ch == '"' || ch == '\\') shown += '\\';
      shown += static_cast<unsigned char>(ch) < 0x20 ? '?' : ch;
    }
    if (s.size() > 40) shown += "...";
    c.diag.error(c.at(v.pos, frame),
                 std::string(what) + " \"" + shown + "\" is not valid: names must match " +
                     (local ? "[A-Za-z0-9_]" : "[A-Za-z_]") + "[A-Za-z0-9_.-]{0,127}");
  }
  return ok;
}

namespace {

std::string q(const std::string& s) { return "'" + s + "'"; }

// Names visible to the layers of one layers array: the top level or one block instance.
struct Scope {
  std::string prefix;  ///< prepended to local names: "layer1.0."
  EnvPtr env;
  Frame frame;
  std::unordered_map<std::string, ir::Value*>
      values;  ///< nullptr: the layer failed (no follow-up errors)
  std::unordered_map<std::string, json::Pos>
      defined;                       ///< every name in this array, with its position
  std::vector<std::string> visible;  ///< names defined so far, for suggestions
  std::string what = "network";      ///< "network" or "block 'x'"
  bool local = false;
};

class SpecBuilder {
 public:
  SpecBuilder(SpecContext& c, const std::string& dir) : c_(c) { g_.source_dir = dir; }

  std::optional<ir::Graph> build(const json::Value& root);

 private:
  DiagnosticEngine& diag() { return c_.diag; }

  void read_inputs(const json::Value& inputs, Scope& top);
  void read_outputs(const json::Value* outputs, const json::Pos& root_pos, Scope& top,
                    ir::Value* last, bool last_bad);
  void read_weights(const json::Value& w);

  /// Builds every layer of `layers` in `scope`. Returns the last layer's value
  /// (nullptr if it failed); `implicit` is what a first layer without "input" takes.
  ir::Value* build_layers(const json::Value& layers, Scope& scope, ir::Value* implicit,
                          bool implicit_bad, bool& last_bad);
  /// One layer. Sets `bad` when it failed or was skipped because an input failed.
  ir::Value* build_layer(const json::Value& l, Scope& scope, ir::Value* prev, bool prev_bad,
                         bool first, bool& bad);
  ir::Value* build_op(ir::OpKind op, const json::Value& l, Scope& scope, const std::string& full,
                      const std::vector<ir::Value*>& ins, bool& bad);
  ir::Value* build_instance(const BlockDef& b, const json::Value& l, Scope& scope,
                            const std::string& full, const std::vector<ir::Value*>& ins, bool& bad);

  /// Resolves the layer's inputs. Returns false (and sets `bad` when an error
  /// was reported or an input failed earlier) if they could not be resolved.
  bool resolve_inputs(const json::Value& l, Scope& scope, const std::string& local,
                      const std::string& name, ir::Value* prev, bool prev_bad, bool first,
                      std::vector<ir::Value*>& out, bool& bad);
  bool lookup(const json::Value& ref, Scope& scope, const std::string& local,
              const std::string& layer, ir::Value*& out, bool& bad);

  /// Registers a full layer name; reports duplicates across the whole network.
  bool claim_name(const std::string& full, const SourceLoc& loc);

  SpecContext& c_;
  BlockTable blocks_;
  ir::Graph g_;
  std::unordered_map<std::string, SourceLoc> full_names_;
  int depth_ = 0;
};

std::optional<ir::Graph> SpecBuilder::build(const json::Value& root) {
  if (root.kind != json::Kind::Object) {
    diag().error(c_.at(root.pos), "top level must be an object with \"cnnc\": 1, got " +
                                      std::string(json::kind_phrase(root.kind)));
    return std::nullopt;
  }
  static const std::vector<std::string> kTopKeys = {"cnnc",   "name",    "description", "inputs",
                                                    "layers", "outputs", "blocks",      "weights"};
  for (const json::Member& m : root.members) {
    if (std::find(kTopKeys.begin(), kTopKeys.end(), m.key) == kTopKeys.end())
      diag().error(c_.at(m.key_pos),
                   "unknown top-level key \"" + m.key + "\"" + did_you_mean(m.key, kTopKeys, '"'));
  }
  const json::Value* version = root.find("cnnc");
  if (!version) {
    diag().fatal(c_.at(root.pos), "missing \"cnnc\": 1 (the spec format version)");
  } else if (!version->is_int) {
    diag().fatal(c_.at(version->pos),
                 "\"cnnc\" must be the integer 1, got " + json::to_string(*version));
  } else if (version->int_value > 1) {
    diag().fatal(c_.at(version->pos),
                 "spec version " + version->text + " is newer than this cnnc (supports 1)");
  } else if (version->int_value != 1) {
    diag().fatal(c_.at(version->pos),
                 "spec version " + version->text + " is not valid (supported: 1)");
  }
  if (const json::Value* n = root.find("name")) {
    if (n->kind != json::Kind::String)
      diag().error(c_.at(n->pos),
                   "\"name\" must be a string, got " + std::string(json::kind_phrase(n->kind)));
    else
      g_.name = n->text;
  }
  if (g_.name.empty()) {
    std::string f = *c_.file().file;
    f = f.substr(f.rfind('/') == std::string::npos ? 0 : f.rfind('/') + 1);
    g_.name = f.substr(0, f.rfind('.'));
  }
  if (const json::Value* d = root.find("description"); d && d->kind != json::Kind::String)
    diag().error(c_.at(d->pos), "\"description\" must be a string");
  if (const json::Value* w = root.find("weights")) read_weights(*w);
  blocks_.load(c_, root.find("blocks"));

  Scope top;
  const json::Value* inputs = root.find("inputs");
  if (!inputs) {
    diag().error(c_.at(root.pos),
                 "missing \"inputs\" (e.g. \"inputs\": {\"data\": {\"shape\": [1, 3, 224, 224]}})");
  } else {
    read_inputs(*inputs, top);
  }
  const json::Value* layers = root.find("layers");
  if (!layers) diag().fatal(c_.at(root.pos), "missing \"layers\"");
  if (layers->kind != json::Kind::Array)
    diag().fatal(c_.at(layers->pos), "\"layers\" must be an array, got " +
                                         std::string(json::kind_phrase(layers->kind)));
  if (layers->items.empty()) diag().fatal(c_.at(layers->pos), "network has no layers");
  // Bound the expansion before building anything (macro bombs).
  auto count = blocks_.count_layers(c_, *layers);
  if (!count) diag().check();
  if (count && *count > c_.opts.max_layers) {
    diag().fatal(c_.at(layers->pos),
                 "the network expands to up to " +
                     (*count == INT64_MAX ? std::string("2^63") : std::to_string(*count)) +
                     " layers, more than the limit of " + std::to_string(c_.opts.max_layers) +
                     " (--max-layers)",
                 {}, ExitCode::ResourceLimit);
  }
  diag().check();  // malformed inputs or blocks make layer errors unreliable

  ir::Value* implicit = g_.inputs().size() == 1 ? g_.inputs()[0] : nullptr;
  bool last_bad = false;
  ir::Value* last = build_layers(*layers, top, implicit, false, last_bad);
  read_outputs(root.find("outputs"), root.pos, top, last, last_bad);
  diag().check();

  for (const std::string& dead : g_.remove_dead_nodes()) {
    auto it = full_names_.find(dead);
    diag().warning(it != full_names_.end() ? it->second : c_.file(),
                   "layer '" + dead + "' does not reach any output; removed");
  }
  diag().check();  // warnings promoted by -Werror
  DiagnosticEngine internal(std::cerr);
  CNNC_INTERNAL_ASSERT(ir::verify(g_, internal, c_.opts.shapes))
      << "the JSON frontend built an invalid graph";
  return std::move(g_);
}

void SpecBuilder::read_weights(const json::Value& w) {
  if (w.kind != json::Kind::String || w.text.empty()) {
    diag().error(c_.at(w.pos), "\"weights\" must be a file name (a safetensors file), got " +
                                   std::string(json::kind_phrase(w.kind)));
    return;
  }
  const std::string& p = w.text;
  ContainedPath cp = contain_path(g_.source_dir, p, c_.opts.allow_paths_outside_model_dir);
  std::vector<Note> hint = {{SourceLoc{}, "pass --allow-paths-outside-model-dir to allow it"}};
  switch (cp.problem) {
    case PathProblem::None:
      break;
    case PathProblem::Escapes:
      diag().error(c_.at(w.pos), "\"weights\" path '" + p + "' escapes the spec's directory", hint);
      return;
    case PathProblem::NotFound:
      diag().error(c_.at(w.pos),
                   "weights file '" + p + "' not found (relative to the spec's directory)", {},
                   ExitCode::IoError);
      return;
    case PathProblem::LeadsOutside:
      diag().error(
          c_.at(w.pos),
          "\"weights\" path '" + p + "' leads outside the spec's directory (to '" + cp.real + "')",
          hint);
      return;
  }
  g_.weights_path = p;
}

void SpecBuilder::read_inputs(const json::Value& inputs, Scope& top) {
  if (inputs.kind != json::Kind::Object || inputs.members.empty()) {
    diag().error(c_.at(inputs.pos),
                 "\"inputs\" must be a non-empty object: {\"data\": {\"shape\": [...]}}");
    return;
  }
  for (const json::Member& m : inputs.members) {
    json::Value key;
    key.kind = json::Kind::String;
    key.text = m.key;
    key.pos = m.key_pos;
    if (!check_name(c_, key, nullptr, "input name", false)) continue;
    const json::Value& d = m.value;
    std::string what = "input " + q(m.key);
    if (d.kind != json::Kind::Object) {
      diag().error(c_.at(d.pos),
                   what + " must be an object with \"shape\", got " + json::kind_phrase(d.kind));
      continue;
    }
    bool ok = true;
    for (const json::Member& f : d.members) {
      if (f.key != "shape" && f.key != "dtype") {
        diag().error(c_.at(f.key_pos), what + ": unknown key \"" + f.key + "\"" +
                                           did_you_mean(f.key, {"shape", "dtype"}, '"') +
                                           " (an input has: shape, dtype)");
        ok = false;
      }
    }
    if (const json::Value* t = d.find("dtype")) {
      if (t->kind != json::Kind::String) {
        diag().error(c_.at(t->pos), what + ": \"dtype\" must be a string such as \"float32\"");
        ok = false;
      } else if (t->text != "float32") {
        diag().error(c_.at(t->pos),
                     what + ": dtype \"" + t->text + "\" is not supported (supported: float32)");
        ok = false;
      }
    }
    const json::Value* s = d.find("shape");
    if (!s) {
      diag().error(c_.at(d.pos), what + ": missing \"shape\" (e.g. [1, 3, 224, 224])");
      continue;
    }
    if (s->kind != json::Kind::Array || s->items.empty()) {
      diag().error(c_.at(s->pos), what + ": \"shape\" must be a non-empty array of dimensions");
      continue;
    }
    if (s->items.size() > static_cast<size_t>(ir::kMaxRank)) {
      diag().error(c_.at(s->pos),
                   what + " has rank " + std::to_string(s->items.size()) + "; the limit is 8");
      continue;
    }
    ir::TensorType t;
    for (size_t i = 0; i < s->items.size(); ++i) {
      const json::Value& dim = s->items[i];
      if (!dim.is_int || dim.int_value < 1 || dim.int_value > ir::kMaxDim) {
        std::string got = dim.kind == json::Kind::Number ? dim.text : json::kind_phrase(dim.kind);
        diag().error(c_.at(dim.pos), what + ": dimension " + std::to_string(i) + " is " + got +
                                         "; every dimension must be an integer in 1..2147483647");
        ok = false;
        break;
      }
      t.shape.dims.push_back(dim.int_value);
    }
    if (!ok || !ir::check_tensor_limits(t, what, c_.at(s->pos), c_.opts.shapes, diag())) continue;
    if (!claim_name(m.key, c_.at(m.key_pos))) continue;
    ir::Value* v = g_.add_input(m.key, t, c_.at(m.key_pos));
    top.values[m.key] = v;
    top.defined[m.key] = m.key_pos;
    top.visible.push_back(m.key);
  }
}

void SpecBuilder::read_outputs(const json::Value* outputs, const json::Pos& root_pos, Scope& top,
                               ir::Value* last, bool last_bad) {
  if (!outputs) {
    // Without "outputs" the network's output is its last layer.
    if (last)
      g_.add_output(last);
    else if (!last_bad)
      diag().error(c_.at(root_pos), "network has no output");
    return;
  }
  std::vector<const json::Value*> names;
  if (outputs->kind == json::Kind::String) {
    names.push_back(outputs);
  } else if (outputs->kind == json::Kind::Array) {
    for (const json::Value& v : outputs->items) names.push_back(&v);
  } else {
    diag().error(c_.at(outputs->pos), "\"outputs\" must be an array of layer names");
    return;
  }
  if (names.empty()) {
    diag().error(c_.at(outputs->pos), "\"outputs\" is empty; name at least one layer");
    return;
  }
  std::unordered_set<std::string> seen;
  for (const json::Value* v : names) {
    if (v->kind != json::Kind::String) {
      diag().error(c_.at(v->pos), "an output must be a layer name, got " +
                                      std::string(json::kind_phrase(v->kind)));
      continue;
    }
    if (!seen.insert(v->text).second) {
      diag().error(c_.at(v->pos), "output " + q(v->text) + " is listed twice");
      continue;
    }
    auto it = top.values.find(v->text);
    if (it == top.values.end()) {
      diag().error(c_.at(v->pos), "output " + q(v->text) + " is not a layer or input" +
                                      did_you_mean(v->text, top.visible));
      continue;
    }
    if (it->second) g_.add_output(it->second);
  }
}

bool SpecBuilder::claim_name(const std::string& full, const SourceLoc& loc) {
  auto [it, fresh] = full_names_.emplace(full, loc);
  if (fresh) return true;
  diag().error(loc, "duplicate layer name " + q(full) + " (first defined at " +
                        std::to_string(it->second.line) + ":" + std::to_string(it->second.col) +
                        ")");
  return false;
}

ir::Value* SpecBuilder::build_layers(const json::Value& layers, Scope& scope, ir::Value* implicit,
                                     bool implicit_bad, bool& last_bad) {
  // Every name of this array first, so that a reference to a later layer gets
  // "defined later" rather than "not defined".
  for (const json::Value& l : layers.items) {
    if (l.kind != json::Kind::Object) continue;
    const json::Value* n = l.find("name");
    if (n && n->kind == json::Kind::String) scope.defined.emplace(n->text, n->pos);
  }
  ir::Value* prev = implicit;
  bool prev_bad = implicit_bad;
  bool first = true;
  for (const json::Value& l : layers.items) {
    bool bad = false;
    ir::Value* v = build_layer(l, scope, prev, prev_bad, first, bad);
    prev = v;
    prev_bad = bad;
    first = false;
  }
  last_bad = prev_bad;
  return prev;
}

ir::Value* SpecBuilder::build_layer(const json::Value& l, Scope& scope, ir::Value* prev,
                                    bool prev_bad, bool first, bool& bad) {
  bad = true;
  if (l.kind != json::Kind::Object) {
    diag().error(c_.at(l.pos, scope.frame),
                 "a layer must be an object, got " + std::string(json::kind_phrase(l.kind)));
    return nullptr;
  }
  const json::Value* name_v = l.find("name");
  if (!name_v) {
    diag().error(c_.at(l.pos, scope.frame), "layer has no \"name\"");
    return nullptr;
  }
  if (!check_name(c_, *name_v, scope.frame, "layer name", scope.local)) return nullptr;
  const std::string& name = name_v->text;
  std::string full = scope.prefix + name;
  SourceLoc loc = c_.at(name_v->pos, scope.frame);
  if (scope.values.count(name)) {
    json::Pos first_at = scope.defined.count(name) ? scope.defined[name] : name_v->pos;
    diag().error(loc, "duplicate layer name " + q(full) + " (first defined at " +
                          std::to_string(first_at.line) + ":" + std::to_string(first_at.col) + ")");
    return nullptr;
  }
  std::vector<ir::Value*> ins;
  bool inputs_ok = resolve_inputs(l, scope, name, full, prev, prev_bad, first, ins, bad);
  // From here on the name exists (nullptr marks a failed layer, silencing follow-ups).
  scope.values[name] = nullptr;
  scope.visible.push_back(name);
  if (!claim_name(full, loc)) return nullptr;

  // "if": false skips the layer; its name then refers to its first input.
  if (const json::Value* cond_raw = l.find("if")) {
    const json::Value* cond = c_.resolve(*cond_raw, scope.env, scope.frame);
    if (!cond) return nullptr;
    if (cond->kind != json::Kind::Bool) {
      diag().error(c_.at(cond->pos, scope.frame), "layer " + q(full) +
                                                      ": \"if\" must be true or false, got " +
                                                      json::kind_phrase(cond->kind));
      return nullptr;
    }
    if (!cond->boolean) {
      if (!inputs_ok) return nullptr;
      full_names_.erase(full);
      scope.values[name] = ins[0];
      bad = false;
      return ins[0];
    }
  }

  const json::Value* type = l.find("type");
  if (!type) {
    diag().error(loc, "layer " + q(full) + " has no \"type\"");
    return nullptr;
  }
  if (type->kind != json::Kind::String) {
    diag().error(
        c_.at(type->pos, scope.frame),
        "layer " + q(full) + ": \"type\" must be a string, got " + json::kind_phrase(type->kind));
    return nullptr;
  }
  auto op = ir::op_from_name(type->text);
  if (op && ir::op_info(*op).role != ir::OpRole::Layer) {
    diag().error(c_.at(type->pos, scope.frame),
                 "layer " + q(full) + ": \"" + type->text +
                     "\" is made by cnnc's training pipeline (autodiff) and is not a layer type");
    return nullptr;
  }
  const BlockDef* block = op ? nullptr : blocks_.find(type->text);
  if (!op && !block) {
    std::vector<std::string> all = ir::all_op_names(/*layers_only=*/true);
    for (const auto& b : blocks_.names()) all.push_back(b);
    diag().error(c_.at(type->pos, scope.frame), "layer " + q(full) + ": unknown type \"" +
                                                    type->text + "\"" +
                                                    did_you_mean(type->text, all, '"'));
    return nullptr;
  }
  if (!inputs_ok) return nullptr;
  ir::Value* out = op ? build_op(*op, l, scope, full, ins, bad)
                      : build_instance(*block, l, scope, full, ins, bad);
  if (out) scope.values[name] = out;
  return out;
}

bool SpecBuilder::lookup(const json::Value& ref_raw, Scope& scope, const std::string& local,
                         const std::string& layer, ir::Value*& out, bool& bad) {
  const json::Value* ref = c_.resolve(ref_raw, scope.env, scope.frame);
  if (!ref) return false;
  if (ref->kind != json::Kind::String) {
    diag().error(c_.at(ref->pos, scope.frame), "layer " + q(layer) +
                                                   ": an input must be a layer name, got " +
                                                   json::kind_phrase(ref->kind));
    return false;
  }
  auto it = scope.values.find(ref->text);
  if (it != scope.values.end()) {
    if (!it->second) {  // failed earlier: already reported
      bad = true;
      return false;
    }
    out = it->second;
    return true;
  }
  SourceLoc at = c_.at(ref->pos, scope.frame);
  if (ref->text == local) {
    diag().error(at,
                 "layer " + q(layer) + " uses itself as input; inputs must name earlier layers");
  } else if (auto d = scope.defined.find(ref->text); d != scope.defined.end()) {
    diag().error(at, "layer " + q(layer) + " uses " + q(ref->text) +
                         ", which is defined later (line " + std::to_string(d->second.line) +
                         "); inputs must name earlier layers");
  } else {
    diag().error(at, "layer " + q(layer) + ": input " + q(ref->text) + " is not defined in the " +
                         scope.what + did_you_mean(ref->text, scope.visible));
  }
  return false;
}

bool SpecBuilder::resolve_inputs(const json::Value& l, Scope& scope, const std::string& local,
                                 const std::string& name, ir::Value* prev, bool prev_bad,
                                 bool first, std::vector<ir::Value*>& out, bool& bad) {
  const json::Value* one = l.find("input");
  const json::Value* many = l.find("inputs");
  if (one && many) {
    diag().error(c_.at(many->pos, scope.frame),
                 "layer " + q(name) + ": give \"input\" or \"inputs\", not both");
    return false;
  }
  if (one) {
    ir::Value* v = nullptr;
    if (!lookup(*one, scope, local, name, v, bad)) return false;
    out.push_back(v);
    return true;
  }
  if (many) {
    const json::Value* list = c_.resolve(*many, scope.env, scope.frame);
    if (!list) return false;
    if (list->kind != json::Kind::Array || list->items.empty()) {
      diag().error(c_.at(list->pos, scope.frame),
                   "layer " + q(name) + ": \"inputs\" must be a non-empty array of names");
      return false;
    }
    bool ok = true;
    for (const json::Value& r : list->items) {
      ir::Value* v = nullptr;
      if (lookup(r, scope, local, name, v, bad))
        out.push_back(v);
      else
        ok = false;
    }
    return ok;
  }
  if (prev) {
    out.push_back(prev);
    return true;
  }
  if (prev_bad) return false;  // the previous layer failed; it was reported
  if (first && !scope.local && g_.inputs().size() > 1) {
    diag().error(c_.at(l.pos, scope.frame), "layer " + q(name) +
                                                " must name its input: the network has " +
                                                std::to_string(g_.inputs().size()) + " inputs");
  } else if (g_.inputs().empty()) {
    bad = true;  // "inputs" was missing or malformed: reported already
  } else {
    diag().error(c_.at(l.pos, scope.frame), "layer " + q(name) + " has no input");
  }
  return false;
}

ir::Value* SpecBuilder::build_op(ir::OpKind op, const json::Value& l, Scope& scope,
                                 const std::string& full, const std::vector<ir::Value*>& ins,
                                 bool& bad) {
  for (const char* k : {"repeat", "first"}) {
    if (const json::Member* m = l.find_member(k)) {
      diag().error(c_.at(m->key_pos, scope.frame),
                   "layer " + q(full) + ": \"" + k + "\" applies to block instances only, not to " +
                       ir::op_name(op));
      return nullptr;
    }
  }
  SourceLoc loc = c_.at(l.find("name")->pos, scope.frame);
  ir::Arity ar = ir::data_arity(op);
  int n = static_cast<int>(ins.size());
  if (n < ar.min || (ar.max >= 0 && n > ar.max)) {
    std::string want = ar.max < 0 ? "at least " + std::to_string(ar.min) : std::to_string(ar.min);
    diag().error(loc, "layer " + q(full) + ": " + ir::op_name(op) + " takes " + want + " input" +
                          (ar.min == 1 && ar.max == 1 ? "" : "s") + ", got " + std::to_string(n));
    return nullptr;
  }
  auto attrs = read_layer_attrs(c_, op, l, scope.env, scope.frame, full);
  if (!attrs) return nullptr;
  if (attrs->pad_same) {
    const ir::Shape& x = ins[0]->type.shape;
    if (x.rank() == 4) {
      if (auto* cv = std::get_if<ir::Conv2dAttrs>(&attrs->attrs))
        cv->pad = same_upper_pad(x[2], x[3], cv->kernel, cv->stride, cv->dilation);
      ir::PoolAttrs* p = std::get_if<ir::PoolAttrs>(&attrs->attrs);
      if (auto* ap = std::get_if<ir::AvgPoolAttrs>(&attrs->attrs)) p = &ap->pool;
      if (p) p->pad = same_upper_pad(x[2], x[3], p->kernel, p->stride, ir::Hw{1, 1});
    }
  }
  std::vector<ir::TensorType> types;
  std::vector<std::string> names;
  for (ir::Value* v : ins) {
    types.push_back(v->type);
    names.push_back(v->name);
  }
  auto locs = attrs->locs;
  ir::ShapeContext ctx{diag(),
                       loc,
                       full,
                       [&](std::string_view a) {
                         auto it = locs.find(std::string(a));
                         return it == locs.end() ? SourceLoc{} : it->second;
                       },
                       names,
                       c_.opts.shapes};
  auto shapes = ir::infer_shapes(op, attrs->attrs, types, ctx);
  if (!shapes) return nullptr;
  std::vector<ir::Value*> operands = ins;
  for (const ir::ParamSpec& p : shapes->params)
    operands.push_back(
        g_.add_param(full + "." + ir::param_suffix(p.role), {ir::DType::F32, p.shape}, loc));
  ir::Node* node =
      g_.add_node(op, std::move(attrs->attrs), std::move(operands), {full}, shapes->outputs, loc);
  bad = false;
  return node->output();
}

ir::Value* SpecBuilder::build_instance(const BlockDef& b, const json::Value& l, Scope& scope,
                                       const std::string& full, const std::vector<ir::Value*>& ins,
                                       bool& bad) {
  SourceLoc loc = c_.at(l.find("name")->pos, scope.frame);
  std::string what = "layer " + q(full) + " (block '" + b.name + "')";
  std::vector<std::string> param_names;
  for (const auto& [k, _] : b.params) param_names.push_back(k);
  auto param_list = [&] {
    std::string s;
    for (const auto& k : param_names) s += (s.empty() ? "" : ", ") + k;
    return s.empty() ? std::string("none") : s;
  };
  bool ok = true;
  auto bind_args = [&](const json::Value& obj, Env& env, bool overrides) {
    for (const json::Member& m : obj.members) {
      if (!overrides && is_instance_key(m.key)) continue;
      if (std::find(param_names.begin(), param_names.end(), m.key) == param_names.end()) {
        std::string hint = did_you_mean(m.key, param_names, '"');
        diag().error(c_.at(m.key_pos, scope.frame),
                     what + ": unknown parameter \"" + m.key + "\"" +
                         (hint.empty() ? " (parameters: " + param_list() + ")" : hint));
        ok = false;
        continue;
      }
      const json::Value* v = c_.resolve(m.value, scope.env, scope.frame);
      if (!v) {
        ok = false;
        continue;
      }
      env.values[m.key] = v;
    }
  };
  auto base = std::make_shared<Env>();
  base->block = b.name;
  for (const auto& [k, v] : b.params)
    if (v->kind != json::Kind::Null) base->values[k] = v;
  bind_args(l, *base, false);
  const json::Value* first = l.find("first");
  auto first_env = std::make_shared<Env>(*base);
  if (first) {
    if (first->kind != json::Kind::Object)
      diag().error(c_.at(first->pos, scope.frame),
                   what + ": \"first\" must be an object of parameter values");
    else
      bind_args(*first, *first_env, true);
  }
  int64_t repeat = 1;
  bool repeated = false;
  if (const json::Value* r = l.find("repeat")) {
    repeated = true;
    if (!r->is_int || r->int_value < 1 || r->int_value > c_.opts.max_layers) {
      diag().error(c_.at(r->pos, scope.frame),
                   what + ": \"repeat\" must be an integer literal in 1.." +
                       std::to_string(c_.opts.max_layers) + ", got " + json::to_string(*r));
      ok = false;
    } else {
      repeat = r->int_value;
    }
  }
  for (const auto& [k, v] : b.params) {
    if (v->kind != json::Kind::Null) continue;
    for (const Env* e : {base.get(), first_env.get()}) {
      if (!e->values.count(k)) {
        diag().error(loc, what + ": missing parameter \"" + k + "\"" +
                              (e == first_env.get() ? " (in instance 0)" : ""));
        ok = false;
        break;
      }
    }
  }
  if (ins.size() != b.inputs.size()) {
    diag().error(loc, what + ": the block takes " + std::to_string(b.inputs.size()) +
                          " input(s), given " + std::to_string(ins.size()));
    ok = false;
  } else if (repeated && b.inputs.size() != 1) {
    diag().error(
        loc, what +
                 ": \"repeat\" chains instances and needs a block with one input, this one has " +
                 std::to_string(b.inputs.size()));
    ok = false;
  }
  if (!ok) return nullptr;
  CNNC_INTERNAL_ASSERT(depth_ < c_.opts.max_block_depth)
      << "block depth was bounded before expansion";
  ++depth_;
  std::vector<ir::Value*> cur = ins;
  ir::Value* out = nullptr;
  for (int64_t i = 0; i < repeat; ++i) {
    std::string inst = repeated ? full + "." + std::to_string(i) : full;
    if (repeated && !claim_name(inst, loc)) {
      --depth_;
      return nullptr;
    }
    Scope inner;
    inner.prefix = inst + ".";
    inner.env = i == 0 ? EnvPtr(first_env) : EnvPtr(base);
    inner.frame = std::make_shared<InstantiationFrame>(InstantiationFrame{loc, inst, b.name});
    inner.local = true;
    inner.what = "block '" + b.name + "'";
    for (size_t k = 0; k < b.inputs.size(); ++k) {
      inner.values[b.inputs[k]] = cur[k];
      inner.defined[b.inputs[k]] = b.pos;
      inner.visible.push_back(b.inputs[k]);
    }
    bool last_bad = false;
    ir::Value* last = build_layers(*b.layers, inner, cur[0], false, last_bad);
    if (b.output) {
      auto it = inner.values.find(b.output->text);
      if (it == inner.values.end()) {
        diag().error(c_.at(b.output->pos, inner.frame),
                     "block '" + b.name + "': \"output\" " + q(b.output->text) +
                         " is not a layer of the block" +
                         did_you_mean(b.output->text, inner.visible));
        last = nullptr;
      } else {
        last = it->second;
      }
    }
    if (!last) {
      --depth_;
      return nullptr;
    }
    out = last;
    cur = {last};
  }
  --depth_;
  bad = false;
  return out;
}

}  // namespace

std::optional<ir::Graph> read_json_spec_text(std::string_view text, const SourceLoc& file,
                                             const std::string& dir, const FrontendOptions& opts,
                                             DiagnosticEngine& diag) {
  json::ParseError err;
  auto root = json::parse(text, json::Limits{opts.max_depth}, err);
  if (!root) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
      diag.error(file.at(1, 1), "expected a JSON object, found end of file");
    else
      diag.error(file.at(err.pos.line, err.pos.col), err.message, {},
                 err.message.rfind("nesting deeper", 0) == 0 ? ExitCode::ResourceLimit
                                                             : ExitCode::InvalidInput);
    return std::nullopt;
  }
  SpecContext c(diag, file, opts);
  try {
    return SpecBuilder(c, dir).build(*root);
  } catch (const DiagnosticsAbort&) {
    return std::nullopt;
  }
}

std::optional<ir::Graph> read_json_spec(const std::string& path, const FrontendOptions& opts,
                                        DiagnosticEngine& diag) {
  std::string text = read_input_file(path, opts.max_input_size, "--max-input-size", diag);
  std::string dir = path.rfind('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  if (dir.empty()) dir = "/";
  return read_json_spec_text(text, make_file_loc(path), dir, opts, diag);
}

}  // namespace cnnc::frontend
