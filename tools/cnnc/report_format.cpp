#include "tools/cnnc/report_format.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ir/printer.h"
#include "ir/shape_inference.h"
#include "support/file_io.h"
#include "support/format.h"

namespace cnnc::tool {

namespace {

struct Row {
  std::string name, type, shape;
  std::vector<std::string> inputs;
  std::vector<int64_t> dims;
  const ir::LayerStats* s;
};

std::vector<Row> make_rows(const ir::GraphStats& st) {
  std::vector<Row> rows;
  for (const ir::LayerStats& s : st.rows) {
    Row r;
    r.s = &s;
    r.name = s.value->name;
    r.type = s.node ? ir::op_name(s.node->op) : "input";
    r.shape = s.value->type.shape.str();
    r.dims = s.value->type.shape.dims;
    if (s.node) {
      auto ops = ir::split_operands(*s.node);
      for (const ir::Value* d : ops->data) r.inputs.push_back(d->name);
      if (ops->residual) r.inputs.push_back(ops->residual->name);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string hw_or_one(int64_t h, int64_t w) {
  return h == w ? std::to_string(h) : std::to_string(h) + "x" + std::to_string(w);
}
std::string rf_size(const ir::ReceptiveField& rf) { return hw_or_one(rf.size_h, rf.size_w); }
std::string rf_jump(const ir::ReceptiveField& rf) { return hw_or_one(rf.jump_h, rf.jump_w); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

int64_t per_image(int64_t v, int64_t batch) { return batch > 0 ? v / batch : v; }

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::vector<std::string> contents(const ir::Node& n) {
  std::vector<std::string> c = {n.name()};
  c.insert(c.end(), n.fused.begin(), n.fused.end());
  return c;
}

std::string probe_text(const OptimizedView& o, const passes::Remark& r) {
  if (r.pass != "fold-batch-norm" || !r.applied || r.layers.size() != 2) return "";
  auto it = o.probes.find(r.layers[1]);
  if (it == o.probes.end()) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, " (probe: max change %.3g)", it->second);
  return buf;
}

double ratio(const passes::MemoryStats& m) {
  return m.lower_bound_bytes > 0
             ? static_cast<double>(m.planned_bytes) / static_cast<double>(m.lower_bound_bytes)
             : 1.0;
}

std::string optimized_table(const ir::Graph& g, const OptimizedView& o) {
  std::ostringstream out;
  out << "\nafter optimisation (" << join(o.pipeline, ", ") << "): " << g.nodes().size()
      << " layers -> " << o.graph->nodes().size() << " kernels\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"kernel", "op", "output", "arena offset", "contains"}};
  for (const auto& n : o.graph->nodes()) {
    const ir::Value* v = n->output();
    std::string place = v->arena_offset ? format_thousands(*v->arena_offset) : "-";
    if (v->arena_batch_stride)  // a slice of a concatenation at batch > 1
      place += " (images " + format_thousands(v->arena_batch_stride) + " apart)";
    rows.push_back(
        {n->name(), ir::op_name(n->op), v->type.shape.str(), place, join(contents(*n), " + ")});
  }
  std::vector<size_t> w(5, 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < 4; ++c) w[c] = std::max(w[c], r[c].size());
  for (const auto& r : rows) {
    std::string line;
    for (size_t c = 0; c < 5; ++c) {
      std::string cell = r[c];
      if (c == 3)
        cell = std::string(w[c] - cell.size(), ' ') + cell;  // numbers right-aligned
      else if (c < 4)
        cell += std::string(w[c] - cell.size(), ' ');
      line += (c ? "  " : "") + cell;
    }
    out << line << "\n";
  }
  const passes::MemoryStats& m = o.memory;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", ratio(m));
  out << "\nmemory plan       naive " << format_bytes(m.naive_bytes)
      << " (every result its own buffer), planned "
      << (m.planned_bytes ? format_bytes(m.planned_bytes) : std::string("- (no plan-memory)"))
      << ", lower bound " << format_bytes(m.lower_bound_bytes);
  if (m.planned_bytes) out << "; planned / lower bound " << buf;
  out << "\n                  " << m.buffers << " buffers: " << m.views << " views, " << m.in_place
      << " in place, " << m.concat_slices << " concat slices\n";
  int made = 0, refused = 0;
  for (const auto& r : o.ctx->remarks)
    if (!r.layers.empty()) ++(r.applied ? made : refused);
  out << "\ndecisions (" << made << " made, " << refused << " refused"
      << (o.have_weights ? ")" : "; pass --weights to measure what each batch_norm fold changes)")
      << ":\n";
  for (const auto& r : o.ctx->remarks) {
    if (r.layers.empty()) continue;
    out << "  " << r.pass << std::string(r.pass.size() < 16 ? 16 - r.pass.size() : 1, ' ')
        << (r.applied ? "" : "refused: ") << r.message << probe_text(o, r) << "\n";
  }
  return out.str();
}

nlohmann::ordered_json optimized_json(const OptimizedView& o) {
  nlohmann::ordered_json j;
  j["passes"] = o.pipeline;
  auto kernels = nlohmann::ordered_json::array();
  for (const auto& n : o.graph->nodes()) {
    nlohmann::ordered_json k;
    k["name"] = n->name();
    k["op"] = ir::op_name(n->op);
    k["contains"] = contents(*n);
    if (const ir::Epilogue* e = ir::epilogue_of(n->attrs); e && !e->empty())
      k["epilogue"] = ir::print_epilogue(*e);
    k["output_shape"] = n->output()->type.shape.dims;
    if (n->output()->arena_offset) k["arena_offset"] = *n->output()->arena_offset;
    if (n->output()->arena_batch_stride) k["arena_batch_stride"] = n->output()->arena_batch_stride;
    kernels.push_back(std::move(k));
  }
  j["kernels"] = std::move(kernels);
  const passes::MemoryStats& m = o.memory;
  j["memory"] = {{"naive_bytes", m.naive_bytes},
                 {"planned_bytes", m.planned_bytes},
                 {"lower_bound_bytes", m.lower_bound_bytes},
                 {"buffers", m.buffers},
                 {"views", m.views},
                 {"in_place", m.in_place},
                 {"concat_slices", m.concat_slices}};
  auto decisions = nlohmann::ordered_json::array();
  for (const auto& r : o.ctx->remarks) {
    if (r.layers.empty()) continue;
    nlohmann::ordered_json x = {
        {"pass", r.pass}, {"applied", r.applied}, {"layers", r.layers}, {"message", r.message}};
    if (r.pass == "fold-batch-norm" && r.applied && r.layers.size() == 2 &&
        o.probes.count(r.layers[1]))
      x["probe_max_change"] = o.probes.at(r.layers[1]);
    decisions.push_back(std::move(x));
  }
  j["decisions"] = std::move(decisions);
  nlohmann::ordered_json stats = nlohmann::ordered_json::object();
  for (const auto& [pass, counters] : o.ctx->stats)
    for (const auto& [name, n] : counters) stats[pass][name] = n;
  j["pass_stats"] = std::move(stats);
  return j;
}

std::string optimized_markdown(const OptimizedView& o) {
  std::ostringstream out;
  out << "\n#### After optimisation (" << join(o.pipeline, ", ") << "): " << o.graph->nodes().size()
      << " kernels\n\n| kernel | op | output | contains |\n| --- | --- | --- | --- |\n";
  for (const auto& n : o.graph->nodes())
    out << "| " << n->name() << " | " << ir::op_name(n->op) << " | "
        << n->output()->type.shape.str() << " | " << join(contents(*n), " + ") << " |\n";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", ratio(o.memory));
  out << "\nMemory: naive " << format_bytes(o.memory.naive_bytes) << ", planned "
      << format_bytes(o.memory.planned_bytes) << ", lower bound "
      << format_bytes(o.memory.lower_bound_bytes) << " (planned / lower bound " << buf << ").\n";
  return out.str();
}

std::string table(const ir::Graph& g, const ir::GraphStats& st) {
  std::vector<Row> rows = make_rows(st);
  const std::vector<std::string> head = {"layer",  "type", "output", "activations", "act. bytes",
                                         "params", "MACs", "FLOPs",  "RF",          "jump"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    const ir::LayerStats& s = *r.s;
    cells.push_back({r.name, r.type, r.shape,
                     format_thousands(s.activation_elements) + (s.in_place ? "*" : " "),
                     format_bytes(s.activation_elements * 4), format_thousands(s.params),
                     format_thousands(s.macs), format_thousands(s.flops), rf_size(s.rf),
                     rf_jump(s.rf)});
  }
  cells.push_back({"total", "", "", format_thousands(st.activation_elements) + " ",
                   format_bytes(st.activation_bytes), format_thousands(st.params),
                   format_thousands(st.macs), format_thousands(st.flops), "", ""});
  std::vector<size_t> w(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    w[c] = head[c].size();
    for (const auto& row : cells) w[c] = std::max(w[c], row[c].size());
  }
  // Text columns align left, numbers right.
  auto left = [](size_t c) { return c < 3; };
  std::ostringstream o;
  o << "network '" << g.name << "', batch " << st.batch << ", " << g.nodes().size()
    << " layers\n\n";
  auto emit = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      std::string pad(w[c] - row[c].size(), ' ');
      line += (c ? "  " : "") + (left(c) ? row[c] + pad : pad + row[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    o << line << "\n";
  };
  emit(head);
  size_t total_w = 0;
  for (size_t c : w) total_w += c + 2;
  o << std::string(total_w - 2, '-') << "\n";
  for (size_t i = 0; i + 1 < cells.size(); ++i) emit(cells[i]);
  o << std::string(total_w - 2, '-') << "\n";
  emit(cells.back());
  o << "\n";
  o << "parameters        " << format_thousands(st.params) << " trainable";
  if (st.state) o << " + " << format_thousands(st.state) << " batch-norm running statistics";
  o << " (" << format_bytes(st.param_bytes) << " as f32)\n";
  o << "multiply-adds     " << format_thousands(st.macs) << " ("
    << format_si(static_cast<double>(st.macs)) << "); per image "
    << format_thousands(per_image(st.macs, st.batch)) << "\n";
  o << "FLOPs             " << format_thousands(st.flops) << " ("
    << format_si(static_cast<double>(st.flops)) << "); per image "
    << format_thousands(per_image(st.flops, st.batch)) << "\n";
  o << "activations       " << format_thousands(st.activation_elements) << " values, "
    << format_bytes(st.activation_bytes) << "; per image "
    << format_bytes(per_image(st.activation_bytes, st.batch))
    << " (forward, no reuse between layers, * = in place; about twice for training)\n";
  o << "                  " << format_thousands(st.activation_elements_all) << " values, "
    << format_bytes(st.activation_elements_all * 4) << " without in-place layers\n";
  return o.str();
}

nlohmann::ordered_json to_json(const ir::Graph& g, const ir::GraphStats& st) {
  nlohmann::ordered_json j;
  j["network"] = g.name;
  j["batch"] = st.batch;
  auto layers = nlohmann::ordered_json::array();
  for (const Row& r : make_rows(st)) {
    const ir::LayerStats& s = *r.s;
    nlohmann::ordered_json l;
    l["name"] = r.name;
    l["type"] = r.type;
    l["inputs"] = r.inputs;
    l["output_shape"] = r.dims;
    l["activation_elements"] = s.activation_elements;
    l["activation_bytes"] = s.activation_elements * 4;
    l["in_place"] = s.in_place;
    l["params"] = s.params;
    l["state"] = s.state;
    l["macs"] = s.macs;
    l["flops"] = s.flops;
    l["receptive_field"] = {{"size", {s.rf.size_h, s.rf.size_w}},
                            {"jump", {s.rf.jump_h, s.rf.jump_w}}};
    layers.push_back(std::move(l));
  }
  j["layers"] = std::move(layers);
  j["totals"] = {
      {"layers", g.nodes().size()},
      {"params", st.params},
      {"state", st.state},
      {"param_bytes", st.param_bytes},
      {"macs", st.macs},
      {"flops", st.flops},
      {"activation_elements", st.activation_elements},
      {"activation_bytes", st.activation_bytes},
      {"activation_bytes_per_image", per_image(st.activation_bytes, st.batch)},
      {"activation_elements_all", st.activation_elements_all},
      {"macs_per_image", per_image(st.macs, st.batch)},
  };
  return j;
}

std::string csv(const ir::GraphStats& st) {
  std::ostringstream o;
  o << "name,type,output_shape,activation_elements,activation_bytes,in_place,params,macs,flops,rf_"
       "h,rf_w,jump_h,jump_w\n";
  for (const Row& r : make_rows(st)) {
    const ir::LayerStats& s = *r.s;
    o << csv_field(r.name) << "," << r.type << "," << r.shape << "," << s.activation_elements << ","
      << s.activation_elements * 4 << "," << (s.in_place ? "1" : "0") << "," << s.params << ","
      << s.macs << "," << s.flops << "," << s.rf.size_h << "," << s.rf.size_w << "," << s.rf.jump_h
      << "," << s.rf.jump_w << "\n";
  }
  o << "total,,," << st.activation_elements << "," << st.activation_bytes << ",," << st.params
    << "," << st.macs << "," << st.flops << ",,,,\n";
  return o.str();
}

std::string markdown(const ir::Graph& g, const ir::GraphStats& st) {
  std::ostringstream o;
  o << "### " << g.name << " (batch " << st.batch << ")\n\n";
  o << "| layer | type | output | activations | params | MACs | FLOPs | RF | jump |\n";
  o << "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  auto esc = [](const std::string& s) {
    std::string r;
    for (char c : s) r += c == '|' ? std::string("\\|") : std::string(1, c);
    return r;
  };
  for (const Row& r : make_rows(st)) {
    const ir::LayerStats& s = *r.s;
    o << "| " << esc(r.name) << " | " << r.type << " | " << r.shape << " | "
      << format_thousands(s.activation_elements) << (s.in_place ? "*" : "") << " | "
      << format_thousands(s.params) << " | " << format_thousands(s.macs) << " | "
      << format_thousands(s.flops) << " | " << rf_size(s.rf) << " | " << rf_jump(s.rf) << " |\n";
  }
  o << "| **total** | | | " << format_thousands(st.activation_elements) << " | "
    << format_thousands(st.params) << " | " << format_thousands(st.macs) << " | "
    << format_thousands(st.flops) << " | | |\n\n";
  o << "Parameters: " << format_thousands(st.params) << " (" << format_bytes(st.param_bytes)
    << "). Activations: " << format_bytes(st.activation_bytes) << " ("
    << format_bytes(per_image(st.activation_bytes, st.batch))
    << " per image; * layers work in place).\n";
  return o.str();
}

}  // namespace

std::string format_report(const ir::Graph& g, const ir::GraphStats& stats, const OptimizedView& opt,
                          const std::string& format) {
  const bool with_opt = opt.graph != nullptr;
  if (format == "json") {
    nlohmann::ordered_json j = to_json(g, stats);
    if (with_opt) {
      const nlohmann::ordered_json extra = optimized_json(opt);
      for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = *it;
    }
    return j.dump(2) + "\n";
  }
  if (format == "csv") return csv(stats);
  if (format == "markdown") return markdown(g, stats) + (with_opt ? optimized_markdown(opt) : "");
  return table(g, stats) + (with_opt ? optimized_table(g, opt) : "");
}

}  // namespace cnnc::tool
