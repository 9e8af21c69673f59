#include "tools/cnnc/report_format.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

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

std::string format_report(const ir::Graph& g, const ir::GraphStats& stats,
                          const std::string& format) {
  if (format == "json") return to_json(g, stats).dump(2) + "\n";
  if (format == "csv") return csv(stats);
  if (format == "markdown") return markdown(g, stats);
  return table(g, stats);
}

}  // namespace cnnc::tool
