// The training curves as a PNG image (written next to log.csv): loss on the
// left, accuracy on the right, train and test per epoch. Drawn directly
// (a 5x7 bitmap font, lines) and encoded with zlib: no plotting dependency.
#pragma once

#include <string>
#include <vector>

#include "training/trainer.h"

namespace cnnc::training {

/// The PNG file's bytes (RGB, 8 bits per channel).
std::string curves_png(const std::vector<EpochRecord>& history);

}  // namespace cnnc::training
