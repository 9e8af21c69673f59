#include <iostream>

#include "passes/passes.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

void PipelineOptions::add_to(ArgParser& p) {
  p.option("--passes", "LIST",
           "passes to run: a comma-separated list, 'default' (the default pipeline of --mode) or "
           "'none'\n"
           "(default: " +
               verb_default + ")",
           [this](const std::string& v) {
             passes = v;
             return std::string();
           });
  p.choice("--mode", "inference (default) or training: the default pipeline and how ops run", &mode,
           {"inference", "training"});
  p.flag("--print-after-all",
         "print the IR after every pass (to stderr), with each pass's decisions",
         &hooks.print_after_all);
  p.repeated_option("--print-after", "PASS", "print the IR after PASS (repeatable)",
                    [this](const std::string& v) {
                      hooks.print_after.push_back(v);
                      return std::string();
                    });
  p.flag("--print-changed", "with --print-after*, print only after passes that changed the IR",
         &hooks.print_changed);
  p.flag("--time-passes", "print how long each pass took (to stderr)", &hooks.time_passes);
  p.flag("--pass-stats", "print what each pass did, e.g. 'fold-batch-norm: 53 folded' (to stderr)",
         &pass_stats);
  p.flag("--verify-each", "run the IR verifier after every pass (the default)", &hooks.verify_each);
  p.flag("--no-verify-each", "skip the verifier between passes", &no_verify);
  std::string list = "passes:\n";
  for (const passes::PassInfo& info : passes::all_passes()) {
    std::string n = info.name;
    list += "  " + n + std::string(n.size() < 18 ? 18 - n.size() : 1, ' ') + info.summary + "\n";
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  list += "default pipelines:\n  inference: " +
          join(passes::default_pipeline(passes::Mode::Inference)) +
          "\n  training:  " + join(passes::default_pipeline(passes::Mode::Training)) + "\n\n";
  p.epilog(list);
}

std::vector<std::string> PipelineOptions::pipeline(DiagnosticEngine& diag) const {
  std::vector<std::string> names;
  if (!passes::parse_pipeline(passes.empty() ? verb_default : passes, pass_mode(), names, diag))
    throw DiagnosticsAbort{};
  for (const std::string& p : hooks.print_after) {
    std::vector<std::string> one;
    if (!passes::parse_pipeline(p, pass_mode(), one, diag)) throw DiagnosticsAbort{};
  }
  return names;
}

passes::PassContext PipelineOptions::run(ir::Graph& g, const ir::ShapeOptions& shapes,
                                         DiagnosticEngine& diag,
                                         passes::PassManager::Observer observer) const {
  passes::PipelineOptions h = hooks;
  h.verify_each = !no_verify;
  passes::PassManager pm(pipeline(diag), h);
  if (observer) pm.set_observer(std::move(observer));
  passes::PassContext ctx(pass_mode(), shapes);
  ctx.training = training;
  ctx.diag = &diag;
  pm.run(g, ctx);
  if (pass_stats) std::cerr << passes::format_pass_stats(ctx);
  return ctx;
}

}  // namespace cnnc::tool
