#include "passes/pass_manager.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "ir/printer.h"
#include "ir/verifier.h"
#include "passes/passes.h"
#include "support/internal_error.h"
#include "support/suggest.h"

namespace cnnc::passes {

bool parse_pipeline(const std::string& spec, Mode mode, std::vector<std::string>& out,
                    DiagnosticEngine& diag) {
  out.clear();
  if (spec == "none" || spec.empty()) return true;
  if (spec == "default") {
    out = default_pipeline(mode);
    return true;
  }
  std::vector<std::string> names;
  for (const PassInfo& p : all_passes()) names.emplace_back(p.name);
  std::stringstream ss(spec);
  std::string name;
  bool ok = true;
  while (std::getline(ss, name, ',')) {
    if (!find_pass(name)) {
      diag.error(SourceLoc{},
                 "--passes: unknown pass '" + name + "'" + did_you_mean(name, names) +
                     " (--help lists the passes)",
                 {}, ExitCode::Usage);
      ok = false;
      continue;
    }
    out.push_back(name);
  }
  return ok;
}

PassManager::PassManager(std::vector<std::string> pipeline, PipelineOptions opts)
    : pipeline_(std::move(pipeline)), opts_(opts) {
  for (const std::string& name : pipeline_) {
    const PassInfo* info = find_pass(name);
    CNNC_INTERNAL_ASSERT(info != nullptr) << "pipeline names unknown pass '" << name << "'";
    passes_.push_back(info->create());
  }
}

void PassManager::add(std::unique_ptr<Pass> pass) {
  pipeline_.emplace_back(pass->name());
  passes_.push_back(std::move(pass));
}

bool PassManager::run(ir::Graph& g, PassContext& ctx) {
  std::ostream& out = opts_.print_to ? *opts_.print_to : std::cerr;
  bool changed_any = false;
  std::vector<std::pair<std::string, double>> times;
  for (size_t i = 0; i < passes_.size(); ++i) {
    const std::string name = pipeline_[i];
    Pass* pass = passes_[i].get();
    std::string before = ir::print_graph(g);
    // On an internal error inside the pass or its verification, leave the IR
    // before it and the pipeline in a reproducer file.
    set_internal_error_hook([&, name] {
      std::string path = "cnnc-reproducer-" + name + ".cnnir";
      std::ofstream f(path);
      f << "// cnnc reproducer: the IR before pass '" << name
        << "'\n// RUN: cnnc dump-ir %s --passes " << name << "\n"
        << before;
      std::fprintf(stderr, "note: the IR before '%s' is in %s (pipeline: ", name.c_str(),
                   path.c_str());
      for (size_t i = 0; i < pipeline_.size(); ++i)
        std::fprintf(stderr, "%s%s", i ? "," : "", pipeline_[i].c_str());
      std::fprintf(stderr, ")\n");
    });
    ctx.current_pass = name;
    auto t0 = std::chrono::steady_clock::now();
    const int errors_before = ctx.errors;
    bool changed = pass->run(g, ctx);
    if (ctx.errors > errors_before) {  // the pass refused the graph; it is left as it was
      set_internal_error_hook(nullptr);
      return changed_any;
    }
    times.emplace_back(
        name, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    changed_any = changed_any || changed;
    if (opts_.verify_each) {
      std::ostringstream problems;
      DiagnosticEngine vd(problems);
      CNNC_INTERNAL_ASSERT(ir::verify(g, vd, ctx.shapes))
          << "pass '" << name << "' produced invalid IR:\n"
          << problems.str();
    }
    set_internal_error_hook(nullptr);
    bool print = opts_.print_after_all ||
                 std::find(opts_.print_after.begin(), opts_.print_after.end(), name) !=
                     opts_.print_after.end();
    if (print && (!opts_.print_changed || changed)) {
      out << "// -----// IR after " << name << (changed ? "" : " (unchanged)") << " //----- //\n";
      for (const Remark& r : ctx.remarks)
        if (r.pass == name) out << "// " << (r.applied ? "" : "refused: ") << r.message << "\n";
      ir::print_graph(g, out);
    }
    if (observer_) observer_(name, g);
  }
  if (opts_.time_passes) {
    double total = 0;
    for (const auto& [n, t] : times) total += t;
    out << "===-------------------------------------------------------------------------===\n"
        << "                      ... Pass execution timing report ...\n"
        << "===-------------------------------------------------------------------------===\n";
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  "  Total Execution Time: %.4f seconds\n\n   ---Wall Time---  --- Name ---\n",
                  total);
    out << buf;
    for (const auto& [n, t] : times) {
      std::snprintf(buf, sizeof buf, "   %.4f (%5.1f%%)  %s\n", t,
                    total > 0 ? 100 * t / total : 0.0, n.c_str());
      out << buf;
    }
    std::snprintf(buf, sizeof buf, "   %.4f (100.0%%)  Total\n", total);
    out << buf;
  }
  return changed_any;
}

std::string format_pass_stats(const PassContext& ctx) {
  std::string s;
  for (const auto& [pass, counters] : ctx.stats) {
    s += pass + ":";
    bool first = true;
    for (const auto& [name, n] : counters) {
      s += (first ? " " : ", ") + std::to_string(n) + " " + name;
      first = false;
    }
    s += "\n";
  }
  return s;
}

}  // namespace cnnc::passes
