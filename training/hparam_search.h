// Random search of the learning rate and weight decay, in log space: a coarse
// round over the whole ranges, then a fine round around the best so far.
// Every trial is a short cnnc train run (the same network, initial weights,
// seed and data) scored on a validation split held out from the training
// images (the test split is never looked at).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "training/dataset.h"
#include "training/trainer.h"

namespace cnnc::training {

struct SearchOptions {
  int64_t trials = 12;  ///< the first half coarse, the rest fine
  double budget_s = 0;  ///< no new trial once this many seconds are spent (0: none)
  double lr_min = 1e-4, lr_max = 0.3;
  double wd_min = 1e-6, wd_max = 1e-2;
  double validation_fraction = 0.1;
};

struct Trial {
  int64_t index = 0;  ///< 1-based, in the order run
  bool fine = false;
  double lr = 0, weight_decay = 0;
  std::string status;  ///< "ok", "diverged", "interrupted"
  double val_accuracy = 0, val_loss = 0, train_loss = 0, seconds = 0;
};

/// The training split cut into training and validation parts (the last
/// `fraction` of the images validate).
Dataset validation_split(const Dataset& d, double fraction);

/// Runs the trials; `base` gives everything but lr and weight decay (its
/// checkpoint directory is replaced by a scratch directory per trial).
/// `on_trial` sees each finished trial. Stops early on SIGINT/SIGTERM.
std::vector<Trial> hparam_search(const ir::Graph& net, const Dataset& data,
                                 const TrainOptions& base, const SearchOptions& so,
                                 const std::function<void(const Trial&)>& on_trial);

/// Trials ranked best first: ok trials by validation accuracy, then the rest.
std::vector<Trial> ranked(std::vector<Trial> trials);

}  // namespace cnnc::training
