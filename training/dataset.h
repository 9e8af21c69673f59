// Training data held in memory: the images of a split as float32 (IDX bytes
// scaled to [0, 1]) and their class labels. Two sources:
//   - the Fashion-MNIST / MNIST IDX files (train-images-idx3-ubyte,
//     train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte,
//     each optionally gzip-compressed, as Debian's dataset-fashion-mnist ships
//     them);
//   - a folder of .npy batches: train_images*.npy with train_labels*.npy (and
//     test_*), float32, images [N, C, H, W] or [N, H, W], labels [N] holding
//     class indices; files of one kind are taken in name order.
// Every header is validated before anything is allocated (reliability
// contract, group K).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ir/types.h"
#include "support/diagnostics.h"

namespace cnnc::training {

struct Split {
  std::string images_path;  ///< for messages
  std::string labels_path;
  ir::Shape sample;  ///< one image: [C, H, W]
  int64_t count = 0;
  std::vector<float> images;  ///< count × sample elements
  std::vector<int32_t> labels;
  int64_t sample_elements() const { return sample.elements().value_or(0); }
};

struct Dataset {
  std::string dir;
  std::string format;  ///< "IDX" or "npy"
  Split train, test;
  int64_t classes = 0;  ///< 1 + the largest label in either split
};

struct DataLimits {
  int64_t max_samples = int64_t{1} << 26;  ///< per split (checked before allocating)
  int64_t max_bytes = int64_t{16} << 30;   ///< decompressed bytes per split
};

/// Loads DIR, either format (IDX files win when both are present). Reports
/// problems at the file and returns nullopt.
std::optional<Dataset> load_dataset(const std::string& dir, DiagnosticEngine& diag,
                                    const DataLimits& limits = {});

}  // namespace cnnc::training
