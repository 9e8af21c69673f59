// The settings a training run's trajectory depends on, recorded in every
// checkpoint so that --resume can refuse to continue with other ones: a
// resumed run is promised to equal the uninterrupted one, which a changed
// learning rate or augmentation would silently break.
#pragma once

#include <cstdint>
#include <string>

namespace cnnc::training {

struct TrainOptions;

/// One "--flag value" line per setting (flags as `cnnc train` spells them;
/// values exact), beyond the network, seed, batch size and optimizer kind,
/// which the checkpoint records apart. `train_images`: the training split's
/// size (--train-samples, or another dataset).
std::string trajectory_settings(const TrainOptions& o, int64_t train_images);

/// The settings that differ, as "--lr 0.1 (this run: 0.05)" ("unused" for a
/// setting of one run's schedule or optimizer only), joined by "; ";
/// empty when `recorded` and `now` agree.
std::string changed_settings(const std::string& recorded, const std::string& now);

}  // namespace cnnc::training
