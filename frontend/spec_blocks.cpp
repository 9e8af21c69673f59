#include "frontend/spec_blocks.h"

#include "ir/ops.h"
#include "support/checked_math.h"

namespace cnnc::frontend {

bool is_instance_key(std::string_view key) {
  return key == "name" || key == "type" || key == "input" || key == "inputs" || key == "if" ||
         key == "repeat" || key == "first";
}

void BlockTable::load(SpecContext& c, const json::Value* blocks) {
  if (!blocks) return;
  if (blocks->kind != json::Kind::Object) {
    c.diag.error(c.at(blocks->pos), "\"blocks\" must be an object of block definitions, got " +
                                        std::string(json::kind_phrase(blocks->kind)));
    return;
  }
  for (const json::Member& m : blocks->members) {
    json::Value key_as_value;
    key_as_value.kind = json::Kind::String;
    key_as_value.text = m.key;
    key_as_value.pos = m.key_pos;
    if (!check_name(c, key_as_value, nullptr, "block name", false)) continue;
    if (ir::op_from_name(m.key)) {
      c.diag.error(c.at(m.key_pos), "block '" + m.key + "' has the name of a built-in layer type");
      continue;
    }
    const json::Value& d = m.value;
    if (d.kind != json::Kind::Object) {
      c.diag.error(c.at(d.pos), "block '" + m.key + "' must be an object with \"layers\", got " +
                                    json::kind_phrase(d.kind));
      continue;
    }
    BlockDef b;
    b.name = m.key;
    b.def = &d;
    b.pos = m.key_pos;
    bool ok = true;
    for (const json::Member& f : d.members) {
      if (f.key == "params") {
        if (f.value.kind != json::Kind::Object) {
          c.diag.error(c.at(f.value.pos),
                       "block '" + b.name + "': \"params\" must be an object of defaults");
          ok = false;
          continue;
        }
        for (const json::Member& p : f.value.members) {
          if (is_instance_key(p.key)) {
            c.diag.error(c.at(p.key_pos),
                         "block '" + b.name + "': parameter name \"" + p.key + "\" is reserved");
            ok = false;
          }
          b.params.emplace_back(p.key, &p.value);
        }
      } else if (f.key == "inputs") {
        if (f.value.kind != json::Kind::Array || f.value.items.empty()) {
          c.diag.error(c.at(f.value.pos),
                       "block '" + b.name + "': \"inputs\" must be a non-empty array of names");
          ok = false;
          continue;
        }
        for (const json::Value& i : f.value.items) {
          if (!check_name(c, i, nullptr, "block input name", true)) {
            ok = false;
            continue;
          }
          b.inputs.push_back(i.text);
        }
      } else if (f.key == "layers") {
        if (f.value.kind != json::Kind::Array || f.value.items.empty()) {
          c.diag.error(c.at(f.value.pos),
                       "block '" + b.name + "': \"layers\" must be a non-empty array");
          ok = false;
          continue;
        }
        b.layers = &f.value;
      } else if (f.key == "output") {
        if (f.value.kind != json::Kind::String) {
          c.diag.error(c.at(f.value.pos),
                       "block '" + b.name + "': \"output\" must be a layer name");
          ok = false;
          continue;
        }
        b.output = &f.value;
      } else if (f.key != "description") {
        c.diag.error(c.at(f.key_pos),
                     "block '" + b.name + "': unknown key \"" + f.key +
                         "\" (a block has: params, inputs, layers, output, description)");
        ok = false;
      }
    }
    if (!b.layers && ok) {
      c.diag.error(c.at(d.pos), "block '" + b.name + "' has no \"layers\"");
      ok = false;
    }
    if (b.inputs.empty()) b.inputs.push_back("x");
    if (!ok) continue;
    index_[b.name] = defs_.size();
    defs_.push_back(std::move(b));
  }
}

const BlockDef* BlockTable::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &defs_[it->second];
}

std::vector<std::string> BlockTable::names() const {
  std::vector<std::string> v;
  for (const auto& b : defs_) v.push_back(b.name);
  return v;
}

std::optional<int64_t> BlockTable::count_layers(SpecContext& c, const json::Value& layers) {
  std::vector<BlockDef*> stack;
  int depth = 0;
  return count(c, layers, stack, depth);
}

std::optional<int64_t> BlockTable::count(SpecContext& c, const json::Value& layers,
                                         std::vector<BlockDef*>& stack, int& depth) {
  int64_t total = 0;
  depth = 0;
  for (const json::Value& l : layers.items) {
    const json::Value* type = l.kind == json::Kind::Object ? l.find("type") : nullptr;
    auto it = type && type->kind == json::Kind::String ? index_.find(type->text) : index_.end();
    if (it == index_.end()) {  // a built-in op, or an error reported while building
      total = sat_add(total, 1);
      continue;
    }
    BlockDef& b = defs_[it->second];
    if (b.in_progress) {
      std::string path;
      bool on = false;
      for (BlockDef* s : stack) {
        on = on || s == &b;
        if (on) path += s->name + " -> ";
      }
      c.diag.error(c.at(type->pos),
                   "block '" + b.name + "' expands itself (" + path + b.name + ")");
      return std::nullopt;
    }
    if (b.expanded < 0) {
      b.in_progress = true;
      stack.push_back(&b);
      auto n = count(c, *b.layers, stack, b.depth);
      stack.pop_back();
      b.in_progress = false;
      if (!n) return std::nullopt;
      b.expanded = *n;
      b.depth += 1;
    }
    if (static_cast<int>(stack.size()) + b.depth > c.opts.max_block_depth) {
      c.diag.error(c.at(type->pos),
                   "blocks nest deeper than " + std::to_string(c.opts.max_block_depth) +
                       " levels (instance of '" + b.name + "')",
                   {}, ExitCode::ResourceLimit);
      return std::nullopt;
    }
    depth = std::max(depth, b.depth);
    // "repeat" must be a literal so that this bound holds before expanding.
    const json::Value* rep = l.find("repeat");
    int64_t r = rep && rep->is_int && rep->int_value > 0 ? rep->int_value : 1;
    total = sat_add(total, sat_mul(r, b.expanded));
  }
  return total;
}

}  // namespace cnnc::frontend
