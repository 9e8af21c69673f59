// Batches of a split for training or evaluation: per-epoch shuffling from the
// seed, per-channel normalisation, augmentation (random crop with zero
// padding, horizontal flip, brightness/contrast jitter) and prefetching of
// the next batch on a background thread.
//
// Every batch is a function of (seed, epoch, batch index) alone, so a run
// resumed at any batch sees exactly the batches the uninterrupted run saw,
// whatever the thread timing.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <vector>

#include "ir/tensor.h"
#include "training/dataset.h"

namespace cnnc::training {

struct Augment {
  int64_t crop_pad = 0;     ///< random crop of the image padded by this many zeros per side
  bool hflip = false;       ///< flip left-right with probability 1/2
  double brightness = 0.0;  ///< add a uniform offset in [-b, b]
  double contrast = 0.0;    ///< scale around the image mean by 1 + uniform in [-c, c]
  bool any() const { return crop_pad > 0 || hflip || brightness > 0 || contrast > 0; }
};

/// Per-channel statistics of a split (what normalisation subtracts and divides by).
struct Normalize {
  std::vector<double> mean, std;
};
Normalize channel_statistics(const Split& s);

struct Batch {
  ir::Tensor images;  ///< [B, C, H, W], normalised
  ir::Tensor labels;  ///< [B] class indices
  int64_t valid = 0;  ///< samples that are real (the rest pads a final partial batch)
};

struct BatchOptions {
  int64_t batch = 64;
  bool shuffle = false;
  bool drop_last = false;  ///< training: only full batches; evaluation: pad the last
  uint64_t seed = 0;
  Augment augment;
};

class BatchSource {
 public:
  BatchSource(const Split& split, Normalize norm, BatchOptions opts);
  ~BatchSource();

  int64_t batches_per_epoch() const;
  /// Starts an epoch at batch `first` (resuming); prefetches it.
  void start_epoch(int64_t epoch, int64_t first = 0);
  /// The next batch of the epoch; false at its end.
  bool next(Batch& out);

 private:
  Batch make(int64_t epoch, int64_t index) const;

  const Split& split_;
  Normalize norm_;
  BatchOptions opts_;
  std::vector<int64_t> order_;
  int64_t epoch_ = 0, index_ = 0;
  std::future<Batch> pending_;
};

}  // namespace cnnc::training
