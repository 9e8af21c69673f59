// Training checkpoints: one safetensors file per checkpoint,
// <dir>/ckpt-<step>.safetensors, holding every parameter of the training
// graph (weights, batch-norm statistics, optimizer state) and, in its
// metadata, where the run is (epoch, batch, step), its seed, the schedule's
// state, the history of epochs and a CRC-32 of the tensors. Written
// atomically (temporary, fsync, rename): a checkpoint is complete or absent.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "ir/graph.h"
#include "support/diagnostics.h"

namespace cnnc::training {

inline constexpr int kCheckpointFormat = 1;

struct CheckpointState {
  int64_t epoch = 0;  ///< the epoch in progress (0-based)
  int64_t batch = 0;  ///< the next batch of that epoch
  int64_t step = 0;   ///< steps done since the run began
  uint64_t seed = 0;
  int64_t batch_size = 0;
  std::string optimizer;  ///< "sgd", "adam", "adamw": resuming with another is refused
  double initial_loss = 0;
  std::string schedule;  ///< Schedule::state()
  std::string history;   ///< the CSV rows of finished epochs
  std::string settings;  ///< trajectory_settings(); empty in older checkpoints
  /// The epoch in progress so far (its log row continues from them).
  double epoch_loss_sum = 0;
  int64_t epoch_hits = 0, epoch_seen = 0;
};

/// Writes a checkpoint of `g` and returns its path (throws DiagnosticsAbort on
/// an I/O error after reporting it; an existing checkpoint stays valid).
std::string write_checkpoint(const std::string& dir, const ir::Graph& g,
                             const CheckpointState& state, DiagnosticEngine& diag);

/// Loads the newest good checkpoint of `dir` into `g`'s parameters. A damaged
/// one (unreadable, checksum mismatch) is skipped with a warning naming it.
/// A checkpoint of another network (names or shapes differ), a missing
/// optimizer state (unless `reset_optimizer`: it then starts from zero), or a
/// newer format is an error. nullopt when there is none or after errors.
/// `accept`, when given, sees the newest good checkpoint's state before its
/// tensors are matched to `g` and may refuse it (reporting why).
using CheckpointAccept = std::function<bool(const CheckpointState&, const SourceLoc&)>;
std::optional<CheckpointState> load_latest_checkpoint(const std::string& dir, ir::Graph& g,
                                                      bool reset_optimizer, DiagnosticEngine& diag,
                                                      const CheckpointAccept& accept = {});

/// Removes all but the newest `keep` checkpoints and leftover temporaries of
/// interrupted writes.
void prune_checkpoints(const std::string& dir, int64_t keep);

}  // namespace cnnc::training
