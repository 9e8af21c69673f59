#include <iostream>

#include "passes/passes.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

void OptimizerFlags::add_to(ArgParser& p, bool searched) {
  auto& opt = training.optimizer;
  p.choice("--optimizer", "sgd (default, PyTorch's SGD), adam or adamw", &optimizer,
           {"sgd", "adam", "adamw"});
  p.double_option("--momentum", "X", "SGD momentum (default 0.9; 0: plain SGD)", &opt.momentum, 0,
                  0.999999);
  p.flag("--nesterov", "SGD with Nesterov momentum", &opt.nesterov);
  if (!searched)
    p.double_option("--weight-decay", "X",
                    "L2 penalty added to the gradient (SGD, Adam) or decoupled (AdamW); default 0",
                    &opt.weight_decay, 0, 1e6);
  p.double_option("--beta1", "X", "Adam's beta1 (default 0.9)", &opt.beta1, 0, 0.999999);
  p.double_option("--beta2", "X", "Adam's beta2 (default 0.999)", &opt.beta2, 0, 0.999999);
  p.repeated_option("--freeze", "PATTERN",
                    "give the parameters of layers whose name matches PATTERN ('*' matches any "
                    "run of characters) no gradient: transfer learning (repeatable)",
                    [&](const std::string& v) {
                      training.freeze.push_back(v);
                      return std::string();
                    });
}

bool OptimizerFlags::finish(DiagnosticEngine& diag) {
  auto& opt = training.optimizer;
  using K = passes::TrainingOptions::Optimizer::Kind;
  opt.kind = optimizer == "sgd" ? K::Sgd : optimizer == "adam" ? K::Adam : K::AdamW;
  if (opt.nesterov && (opt.kind != K::Sgd || opt.momentum == 0)) {
    diag.error({}, "--nesterov needs --optimizer sgd with a --momentum above 0", {},
               ExitCode::Usage);
    return false;
  }
  return true;
}

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
  train.add_to(p, /*searched=*/false);
  p.choice("--loss",
           "--mode training: auto (default: cross-entropy on the logits under a final softmax, "
           "else mean-squared error), ce or mse",
           &loss, {"auto", "ce", "mse"});
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
  OptimizerFlags t = train;
  if (!t.finish(diag)) throw DiagnosticsAbort{};
  ctx.training = t.training;
  using L = passes::TrainingOptions::Loss;
  ctx.training.loss = loss == "ce" ? L::CrossEntropy : loss == "mse" ? L::Mse : L::Auto;
  ctx.diag = &diag;
  pm.run(g, ctx);
  if (pass_stats) std::cerr << passes::format_pass_stats(ctx);
  return ctx;
}

}  // namespace cnnc::tool
