// A graph-to-graph transformation and what it may use while it runs.
//
// Passes never print or time themselves: the pass manager owns verification,
// printing, timing and statistics. A pass explains itself through remarks
// (every rewrite made and every candidate refused, with the reason) and
// counters ("fold-batch-norm: 53 folded, 0 refused").
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"

namespace cnnc::passes {

enum class Mode { Inference, Training };

/// One decision of a pass, for --print-after-all, the report and `--pass-stats`.
struct Remark {
  std::string pass;
  bool applied = false;             ///< a rewrite made, or a candidate refused
  std::vector<std::string> layers;  ///< the layers involved, main one first
  std::string message;              ///< "folded into conv1", "not folded: input has 2 users"
};

/// What the autodiff pass builds (the training pipeline's settings).
struct TrainingOptions {
  /// Auto: cross-entropy on the logits when the network ends in softmax, else
  /// mean-squared error against targets of the prediction's shape.
  enum class Loss { Auto, CrossEntropy, Mse } loss = Loss::Auto;
  /// Layer-name patterns ('*' matches any run of characters) whose parameters
  /// get no gradient (transfer learning: freeze all but the last layers).
  std::vector<std::string> freeze;
  /// What the optimizer pass adds (PyTorch's conventions; see ir/op_defs.def).
  struct Optimizer {
    enum class Kind { Sgd, Adam, AdamW } kind = Kind::Sgd;
    double momentum = 0.9;  ///< SGD
    bool nesterov = false;  ///< SGD
    double weight_decay = 0.0;
    double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< Adam, AdamW
  } optimizer;
};

class PassContext {
 public:
  explicit PassContext(Mode mode = Mode::Inference, ir::ShapeOptions shapes = {})
      : mode(mode), shapes(shapes) {}

  Mode mode;
  ir::ShapeOptions shapes;
  TrainingOptions training;
  /// Where a pass reports input it cannot transform (a network autodiff cannot
  /// train); the pipeline stops after such a pass. Null: the errors are only
  /// counted.
  DiagnosticEngine* diag = nullptr;
  int errors = 0;
  void error(const SourceLoc& loc, std::string message);
  std::vector<Remark> remarks;
  /// pass name -> counter name -> count, in first-seen order of passes.
  std::vector<std::pair<std::string, std::map<std::string, int>>> stats;

  /// Records a remark for the running pass and counts it under `counter`.
  void applied(std::vector<std::string> layers, std::string message, const std::string& counter);
  void refused(std::vector<std::string> layers, std::string message,
               const std::string& counter = "refused");
  /// A remark that is not a decision (counted nowhere), e.g. the memory plan's figures.
  void note(std::vector<std::string> layers, std::string message);
  int& counter(const std::string& name);

  std::string current_pass;  ///< set by the pass manager
};

/// A graph-to-graph transformation. Holds no state between runs.
class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view name() const = 0;  ///< "fold-batch-norm"
  /// Returns true if the graph changed.
  virtual bool run(ir::Graph& g, PassContext& ctx) = 0;
};

}  // namespace cnnc::passes
