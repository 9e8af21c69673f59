// The training loop on the reference backend: the network's training graph
// (autodiff + optimizer passes) run step by step on batches of a dataset,
// validation accuracy after every epoch, checkpoints, exact resume, and the
// guards a long run needs (NaN or exploding loss, SIGINT/SIGTERM).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "passes/pass.h"
#include "support/diagnostics.h"
#include "training/batches.h"
#include "training/dataset.h"
#include "training/engine.h"
#include "training/schedule.h"

namespace cnnc::training {

struct TrainOptions {
  int64_t epochs = 5;
  int64_t batch = 64;
  uint64_t seed = 0;
  passes::TrainingOptions training;  ///< loss, frozen layers, optimizer
  ScheduleOptions schedule;
  Augment augment;
  std::string checkpoint_dir;    ///< checkpoints, log.csv, weights.safetensors
  int64_t checkpoint_every = 0;  ///< also every this many steps (0: at epoch ends only)
  int64_t keep_checkpoints = 2;
  bool resume = false;
  bool reset_optimizer = false;         ///< resume without optimizer state
  bool allow_changed_settings = false;  ///< resume with other trajectory_settings() (a warning)
  int64_t max_steps = 0;                ///< stop (with a checkpoint) after this many steps in all
  Engines engines;                      ///< what runs steps and validation (default: reference)
};

struct EpochRecord {
  int64_t epoch = 0;  ///< 1-based
  double lr = 0, train_loss = 0, train_accuracy = 0, val_loss = 0, val_accuracy = 0;
  double seconds = 0, images_per_s = 0;
};

struct Progress {
  int64_t epoch = 0, epochs = 0;  ///< 1-based epoch
  int64_t batch = 0, batches = 0;
  double loss = 0, accuracy = 0;  ///< running means over the epoch so far
  double lr = 0, images_per_s = 0, eta_s = 0;
  const EpochRecord* finished = nullptr;  ///< set once per epoch, after validation
  bool validating = false;
};

/// The CSV header and one row per record (log.csv).
std::string history_csv(const std::vector<EpochRecord>& h);

class Trainer {
 public:
  /// `net`: the network with weights; `data`: both splits. Checks that they
  /// fit each other (reported at the data's files or the layer).
  Trainer(ir::Graph net, const Dataset& data, TrainOptions opts, DiagnosticEngine& diag);

  /// Trains; returns the exit status (0, 1 when the loss diverged, 130 when
  /// interrupted after writing a checkpoint).
  int run(const std::function<void(const Progress&)>& progress);

  const std::vector<EpochRecord>& history() const { return history_; }

 private:
  bool build();
  /// Gives the inference graph the training graph's current parameter values
  /// (first fetching them from the step engine, if any).
  void share_trained_values();
  /// Brings the training graph's parameters up to date with the step engine
  /// (once per change: validation and the checkpoint after it share one read).
  void sync_from_engine();
  double validate(double& loss);
  void checkpoint(int64_t epoch, int64_t batch);
  // The epoch in progress: its running sums (checkpointed with it).
  double loss_sum_ = 0;
  int64_t hits_ = 0, seen_ = 0;
  void store(const std::vector<ir::Tensor>& outputs,
             std::vector<std::pair<std::string, ir::Tensor>>& state);

  ir::Graph eval_, train_;
  const Dataset& data_;
  TrainOptions opts_;
  DiagnosticEngine& diag_;
  Schedule schedule_;
  Normalize norm_;
  std::vector<EpochRecord> history_;
  int64_t step_ = 0;
  int failed_checkpoints_ = 0;
  double initial_loss_ = 0;
  bool built_ = false;
  std::unique_ptr<StepEngine> engine_;  ///< null: the reference backend steps
  bool engine_synced_ = false;          ///< train_ holds the engine's values (no step since)
};

}  // namespace cnnc::training
