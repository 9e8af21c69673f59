#include "frontend/spec_attrs.h"

#include <cmath>
#include <unordered_set>

#include "support/format.h"
#include "support/suggest.h"

namespace cnnc::frontend {

using ir::Hw;
using ir::Pad4;
using ir::Rule;

bool is_layer_key(std::string_view key) {
  return key == "name" || key == "type" || key == "input" || key == "inputs" || key == "if";
}

namespace {

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

// Reads fields from the JSON object of one layer.
class JsonFieldReader {
 public:
  JsonFieldReader(SpecContext& c, const json::Value& layer, const EnvPtr& env, const Frame& frame,
                  const std::string& layer_name, LayerAttrs& out)
      : c_(c), layer_(layer), env_(env), frame_(frame), name_(layer_name), out_(out) {}

  bool ok = true;

  void operator()(const char* n, int64_t& v, const Rule& r) {
    if (const json::Value* j = get(n, r)) read_int(*j, n, r, v);
  }
  void operator()(const char* n, double& v, const Rule& r) {
    const json::Value* j = get(n, r);
    if (!j) return;
    if (j->kind != json::Kind::Number) return type_error(*j, n, "a number");
    if (!std::isfinite(j->number))
      return error(*j, quoted(n) + " must be a finite number, got " + j->text);
    v = j->number;
  }
  void operator()(const char* n, bool& v, const Rule& r) {
    const json::Value* j = get(n, r);
    if (!j) return;
    if (j->kind != json::Kind::Bool) return type_error(*j, n, "true or false");
    v = j->boolean;
  }
  void operator()(const char* n, Hw& v, const Rule& r) {
    const json::Value* j = get(n, r);
    if (!j) return;
    if (j->kind == json::Kind::Number) {
      int64_t x = 0;
      if (read_int(*j, n, r, x)) v = {x, x};
      return;
    }
    if (j->kind != json::Kind::Array) return type_error(*j, n, "an int or [h, w]");
    if (j->items.size() != 2)
      return error(
          *j, quoted(n) + " takes 1 or 2 values ([h, w]), got " + std::to_string(j->items.size()));
    int64_t h = 0, w = 0;
    if (read_int(j->items[0], n, r, h) && read_int(j->items[1], n, r, w)) v = {h, w};
  }
  void operator()(const char* n, Pad4& v, const Rule& r) {
    const json::Value* j = get(n, r);
    if (!j) return;
    if (j->kind == json::Kind::String) {
      if (j->text == "same") {
        out_.pad_same = true;
        return;
      }
      return error(*j,
                   quoted(n) +
                       " must be an int, [h, w], [top, bottom, left, right] or \"same\", got \"" +
                       j->text + "\"" + did_you_mean(j->text, {"same"}, '"'));
    }
    if (j->kind == json::Kind::Number) {
      int64_t x = 0;
      if (read_int(*j, n, r, x)) v = {x, x, x, x};
      return;
    }
    if (j->kind != json::Kind::Array)
      return type_error(*j, n, "an int, [h, w], [top, bottom, left, right] or \"same\"");
    size_t k = j->items.size();
    if (k != 2 && k != 4)
      return error(*j, quoted(n) + " takes 1, 2 or 4 values, got " + std::to_string(k));
    int64_t x[4] = {};
    for (size_t i = 0; i < k; ++i)
      if (!read_int(j->items[i], n, r, x[i])) return;
    v = k == 2 ? Pad4{x[0], x[0], x[1], x[1]} : Pad4{x[0], x[1], x[2], x[3]};
  }
  void operator()(const char* n, ir::DropoutScaling& v, const Rule& r) {
    const json::Value* j = get(n, r);
    if (!j) return;
    const auto& names = ir::enum_names(v);
    std::string list;
    for (const auto& s : names) list += (list.empty() ? "\"" : ", \"") + s + "\"";
    if (j->kind != json::Kind::String) return type_error(*j, n, "one of " + list);
    auto it = std::find(names.begin(), names.end(), j->text);
    if (it == names.end())
      return error(*j, quoted(n) + " must be one of " + list + ", got \"" + j->text + "\"" +
                           did_you_mean(j->text, names, '"'));
    v = static_cast<ir::DropoutScaling>(it - names.begin());
  }
  void operator()(const char*, ir::Epilogue&, const Rule&) {}  // IR-only

 private:
  // The value of attribute `n` (after `$param` substitution), or nullptr.
  // The value of attribute `n` after `$param` substitution, or nullptr.
  // Errors point at the value as written in the layer (inside a block: the
  // "$param" on the block's line); a note says what it stood for and where.
  const json::Value* get(const char* n, const Rule& r) {
    if (!r.in_spec) return nullptr;
    const json::Member* m = layer_.find_member(n);
    if (!m) return nullptr;
    const json::Value* v = c_.resolve(m->value, env_, frame_);
    if (!v) {
      ok = false;
      return nullptr;
    }
    out_.locs[n] = c_.at(m->value.pos, frame_);
    written_ = &m->value;
    return v;
  }

  void error(const json::Value& j, const std::string& msg) {
    std::vector<Note> notes;
    const json::Value* at = &j;
    if (written_ && written_ != &j && is_param_ref(*written_)) {
      notes.push_back(
          {c_.at(j.pos, frame_), "'" + written_->text + "' is " + json::to_string(j) + " here"});
      at = written_;
    }
    c_.diag.error(c_.at(at->pos, frame_), "layer '" + name_ + "': " + msg, std::move(notes));
    ok = false;
  }
  void type_error(const json::Value& j, const char* n, const std::string& want) {
    error(j, quoted(n) + " must be " + want + ", got " + json::kind_phrase(j.kind));
  }

  bool read_int(const json::Value& j, const char* n, const Rule& r, int64_t& out) {
    std::string range = std::isinf(r.lo) ? "" : " in " + format_double(r.lo) + "..2147483647";
    if (j.kind != json::Kind::Number) {
      type_error(j, n, "an integer" + range);
      return false;
    }
    if (!j.is_int) {
      // A fraction is a type problem; 1e400 or 20 digits is a range problem.
      bool fraction = std::isfinite(j.number) && j.number != std::floor(j.number);
      error(j, quoted(n) + " must be an integer" + (fraction ? "" : range) + ", got " + j.text);
      return false;
    }
    if (j.int_value > ir::kMaxIntAttr || j.int_value < -ir::kMaxIntAttr) {
      error(j, quoted(n) + " must be an integer" +
                   (range.empty() ? " of magnitude at most 2147483647" : range) + ", got " +
                   j.text);
      return false;
    }
    out = j.int_value;
    return true;
  }

  SpecContext& c_;
  const json::Value& layer_;
  const EnvPtr& env_;
  const Frame& frame_;
  const std::string& name_;
  LayerAttrs& out_;
  const json::Value* written_ = nullptr;  ///< the attribute value being read, as written
};

}  // namespace

std::optional<LayerAttrs> read_layer_attrs(SpecContext& c, ir::OpKind op, const json::Value& layer,
                                           const EnvPtr& env, const Frame& frame,
                                           const std::string& layer_name) {
  LayerAttrs out;
  out.attrs = ir::default_attrs(op);
  std::vector<std::string> known;
  bool ok = true;
  std::visit(
      [&](auto& a) {
        using A = std::decay_t<decltype(a)>;
        A::fields(a, [&](const char* n, auto&, const Rule& r) {
          if (r.in_spec) known.emplace_back(n);
        });
        JsonFieldReader reader(c, layer, env, frame, layer_name, out);
        A::fields(a, reader);
        ok = reader.ok;
        A::fields(a, [&](const char* n, auto&, const Rule& r) {
          if (r.is_required && !layer.find(n)) {
            c.diag.error(c.at(layer.pos, frame), "layer '" + layer_name +
                                                     "': missing required attribute \"" + n +
                                                     "\" for " + ir::op_name(op));
            ok = false;
          }
        });
      },
      out.attrs);
  for (const json::Member& m : layer.members) {
    if (is_layer_key(m.key) || std::find(known.begin(), known.end(), m.key) != known.end())
      continue;
    std::vector<std::string> all = known;
    for (const char* k : {"name", "type", "input", "inputs"}) all.emplace_back(k);
    std::string hint = did_you_mean(m.key, all, '"');
    if (hint.empty() && !known.empty()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      hint = " (" + std::string(ir::op_name(op)) + " takes: " + list + ")";
    } else if (known.empty() && hint.empty()) {
      hint = std::string(" (") + ir::op_name(op) + " takes no attributes)";
    }
    c.diag.error(c.at(m.key_pos, frame),
                 "layer '" + layer_name + "': unknown attribute \"" + m.key + "\"" + hint);
    ok = false;
  }
  if (!ok) return std::nullopt;
  ir::derive_defaults(out.attrs, [&](std::string_view n) { return layer.find(n) != nullptr; });
  for (const auto& p : ir::check_attrs(op, out.attrs)) {
    auto it = out.locs.find(p.field);
    SourceLoc where = it != out.locs.end() ? it->second : c.at(layer.pos, frame);
    c.diag.error(where, "layer '" + layer_name + "': " + p.message);
    ok = false;
  }
  if (!ok) return std::nullopt;
  return out;
}

ir::Pad4 same_upper_pad(int64_t in_h, int64_t in_w, Hw kernel, Hw stride, Hw dilation) {
  auto total = [](int64_t in, int64_t k, int64_t s, int64_t d) {
    int64_t out = (in + s - 1) / s;
    return std::max<int64_t>((out - 1) * s + d * (k - 1) + 1 - in, 0);
  };
  int64_t th = total(in_h, kernel.h, stride.h, dilation.h);
  int64_t tw = total(in_w, kernel.w, stride.w, dilation.w);
  return Pad4{th / 2, th - th / 2, tw / 2, tw - tw / 2};
}

}  // namespace cnnc::frontend
