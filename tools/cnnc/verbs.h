// The verbs of the cnnc driver. Each takes the arguments after the verb and
// returns the process exit status (see ExitCode in support/diagnostics.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "frontend/spec_reader.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "support/diagnostics.h"
#include "tools/cnnc/args.h"

namespace cnnc::tool {

int verb_compile(const std::vector<std::string>& args);
int verb_dump_ir(const std::vector<std::string>& args);
int verb_init(const std::vector<std::string>& args);
int verb_hparam_search(const std::vector<std::string>& args);
int verb_import(const std::vector<std::string>& args);
int verb_report(const std::vector<std::string>& args);
int verb_run(const std::vector<std::string>& args);
int verb_train(const std::vector<std::string>& args);
int verb_tune(const std::vector<std::string>& args);

/// Options every verb that reads a network shares.
struct NetworkOptions {
  frontend::FrontendOptions frontend;
  int64_t batch = 0;  ///< 0: as the network says
  bool werror = false;
  int64_t max_errors = 20;

  void add_to(ArgParser& p);
  DiagnosticOptions diagnostics() const;
};

/// Where parameter values come from, for verbs that compute.
struct WeightsOptions {
  std::string path;  ///< --weights
  bool strict = false;
  int64_t seed = 0;
  int64_t max_size = int64_t{64} << 30;

  /// `allow_file`: also --weights, --strict-weights, --max-weights-size.
  void add_to(ArgParser& p, bool allow_file);
};

/// Gives every parameter of `g` a value: --weights FILE, else the spec's
/// "weights", else the values the model carries (ONNX initializers), else the
/// seeded initialisation (with a note saying so).
/// Throws DiagnosticsAbort after reporting a problem.
void provide_weights(ir::Graph& g, const WeightsOptions& o, DiagnosticEngine& diag);

/// The optimizer and frozen layers: what the autodiff and optimizer passes
/// build into a training graph (cnnc train, hparam-search, compile --mode training).
struct OptimizerFlags {
  std::string optimizer = "sgd";
  passes::TrainingOptions training;
  /// `searched`: --weight-decay is what hparam-search explores, not a flag.
  void add_to(ArgParser& p, bool searched);
  /// Sets the optimizer kind; reports contradictions (exit 2) and returns false.
  bool finish(DiagnosticEngine& diag);
};

/// --passes and the pass manager's hooks, for verbs that optimise; with
/// --mode training also what autodiff and optimizer build (OptimizerFlags, --loss).
struct PipelineOptions {
  std::string passes;        ///< as given; empty: the verb's default
  std::string verb_default;  ///< "none" or "default"
  std::string mode = "inference";
  passes::PipelineOptions hooks;
  OptimizerFlags train;  ///< what autodiff and optimizer build
  std::string loss = "auto";
  bool pass_stats = false;
  bool no_verify = false;

  explicit PipelineOptions(std::string def) : verb_default(std::move(def)) {}
  void add_to(ArgParser& p);
  passes::Mode pass_mode() const {
    return mode == "training" ? passes::Mode::Training : passes::Mode::Inference;
  }
  /// The pass names to run (reports an unknown pass and throws DiagnosticsAbort).
  std::vector<std::string> pipeline(DiagnosticEngine& diag) const;
  /// Runs the pipeline on `g`; prints --pass-stats to stderr. `observer` sees
  /// the graph after each pass.
  passes::PassContext run(ir::Graph& g, const ir::ShapeOptions& shapes, DiagnosticEngine& diag,
                          passes::PassManager::Observer observer = nullptr) const;
};

/// Loads NET with the options (batch override included); nullopt after errors.
std::optional<ir::Graph> load_for_verb(const std::string& net, const NetworkOptions& o,
                                       DiagnosticEngine& diag);

/// Refuses (with an error) to write `path` when it is the input file itself.
bool emit_guard(const std::string& path, const std::string& input, DiagnosticEngine& diag);

/// Refuses (exit 2, before any work) outputs that name one of the command's
/// input files or another output.
void guard_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs,
                   DiagnosticEngine& diag);

/// Writes `text` to `path` atomically, or to stdout when `path` is empty or
/// "-". Refuses to overwrite `input`.
void emit_output(const std::string& path, const std::string& input, const std::string& text,
                 DiagnosticEngine& diag);

/// Help text of the NET argument.
inline constexpr const char* kNetHelp =
    "the network: a .json spec, an .onnx model, a Caffe .prototxt or a .cnnir file";

/// The common frame of verbs that read a network: adds the network options to
/// `p`, parses `args` (which fills `net`), loads the network and calls
/// body(graph, diag). Returns the exit status.
int network_verb(ArgParser& p, const std::vector<std::string>& args, NetworkOptions& opts,
                 const std::string& net,
                 const std::function<void(ir::Graph&, DiagnosticEngine&)>& body);

/// Runs `body`, mapping DiagnosticsAbort and exceptions to exit statuses.
int run_verb(DiagnosticEngine& diag, const std::function<void()>& body);

/// Adds `-o FILE` (written atomically; stdout when absent).
void add_output_option(ArgParser& p, const char* what, std::string* out);

/// Parses a verb's arguments. Returns the exit status when the verb is done
/// (0 after --help, 2 after a usage error), nullopt when it should run.
std::optional<int> parse_verb_args(ArgParser& p, const std::vector<std::string>& args);

}  // namespace cnnc::tool
