// The flags cnnc train and cnnc hparam-search share: the dataset, the
// optimizer and its schedule, frozen layers, augmentation, subsets.
#pragma once

#include <optional>
#include <string>

#include "tools/cnnc/args.h"
#include "tools/cnnc/verbs.h"
#include "training/dataset.h"
#include "training/trainer.h"

namespace cnnc::tool {

struct TrainFlags {
  std::string data_dir, schedule = "cosine", backend = "auto";
  OptimizerFlags opt;
  training::TrainOptions o;
  int64_t crop_pad = 0, train_samples = 0, test_samples = 0;

  /// `searched`: --lr and --weight-decay are what hparam-search explores, not flags.
  void add_to(ArgParser& p, bool searched);
  /// Completes `o` after parsing (the batch from --batch, the seed from --seed,
  /// the kinds); reports contradictions (exit 2) and returns false.
  bool finish(const NetworkOptions& net, const WeightsOptions& w, DiagnosticEngine& diag);
  /// --backend: gives `o` the compiled engines unless it is "reference".
  void use_backend(bool quiet, const ir::ShapeOptions& shapes);
  /// The dataset of --data, cut to --train-samples / --test-samples.
  std::optional<training::Dataset> load(DiagnosticEngine& diag) const;
};

}  // namespace cnnc::tool
