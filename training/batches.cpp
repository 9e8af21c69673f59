#include "training/batches.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "support/internal_error.h"
#include "support/random.h"

namespace cnnc::training {

Normalize channel_statistics(const Split& s) {
  const int64_t C = s.sample[0], plane = s.sample_elements() / std::max<int64_t>(C, 1);
  Normalize n;
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < s.count; ++i) {
      const float* p = s.images.data() + (i * C + c) * plane;
      for (int64_t j = 0; j < plane; ++j) {
        sum += p[j];
        sq += double{p[j]} * p[j];
      }
    }
    const double m = static_cast<double>(s.count * plane);
    const double mean = sum / m;
    n.mean.push_back(mean);
    n.std.push_back(std::max(std::sqrt(std::max(sq / m - mean * mean, 0.0)), 1e-6));
  }
  return n;
}

BatchSource::BatchSource(const Split& split, Normalize norm, BatchOptions opts)
    : split_(split), norm_(std::move(norm)), opts_(opts) {
  CNNC_INTERNAL_ASSERT(opts_.batch > 0) << "batch " << opts_.batch;
}

BatchSource::~BatchSource() {
  if (pending_.valid()) pending_.wait();
}

int64_t BatchSource::batches_per_epoch() const {
  return opts_.drop_last ? split_.count / opts_.batch
                         : (split_.count + opts_.batch - 1) / opts_.batch;
}

void BatchSource::start_epoch(int64_t epoch, int64_t first) {
  if (pending_.valid()) pending_.wait();
  epoch_ = epoch;
  index_ = first;
  order_.resize(static_cast<size_t>(split_.count));
  for (int64_t i = 0; i < split_.count; ++i) order_[static_cast<size_t>(i)] = i;
  if (opts_.shuffle) {  // Fisher-Yates from the epoch's own stream
    RandomStream rng(opts_.seed, "shuffle:" + std::to_string(epoch));
    for (int64_t i = split_.count - 1; i > 0; --i) {
      const int64_t j = static_cast<int64_t>(rng.next() % static_cast<uint64_t>(i + 1));
      std::swap(order_[static_cast<size_t>(i)], order_[static_cast<size_t>(j)]);
    }
  }
  if (index_ < batches_per_epoch())
    pending_ =
        std::async(std::launch::async, [this, e = epoch_, i = index_] { return make(e, i); });
}

bool BatchSource::next(Batch& out) {
  if (index_ >= batches_per_epoch()) return false;
  out = pending_.get();
  ++index_;
  if (index_ < batches_per_epoch())  // prefetch while the caller computes
    pending_ =
        std::async(std::launch::async, [this, e = epoch_, i = index_] { return make(e, i); });
  return true;
}

Batch BatchSource::make(int64_t epoch, int64_t index) const {
  const int64_t B = opts_.batch, C = split_.sample[0], H = split_.sample[1], W = split_.sample[2],
                plane = H * W;
  Batch b;
  b.images = ir::Tensor(ir::Shape{{B, C, H, W}});
  b.labels = ir::Tensor(ir::Shape{{B}});
  const int64_t start = index * B;
  b.valid = std::min(B, split_.count - start);
  const Augment& a = opts_.augment;
  std::vector<float> img(static_cast<size_t>(C * plane));
  for (int64_t k = 0; k < b.valid; ++k) {
    const int64_t s = order_[static_cast<size_t>(start + k)];
    b.labels[k] = static_cast<float>(split_.labels[static_cast<size_t>(s)]);
    const float* src = split_.images.data() + s * C * plane;
    std::copy(src, src + C * plane, img.begin());
    if (a.any()) {
      // One stream per (epoch, position in the epoch): reproducible under resume.
      RandomStream rng(opts_.seed,
                       "augment:" + std::to_string(epoch) + ":" + std::to_string(start + k));
      const int64_t dy =
          a.crop_pad ? static_cast<int64_t>(rng.next() % (2 * a.crop_pad + 1)) - a.crop_pad : 0;
      const int64_t dx =
          a.crop_pad ? static_cast<int64_t>(rng.next() % (2 * a.crop_pad + 1)) - a.crop_pad : 0;
      const bool flip = a.hflip && (rng.next() & 1);
      const double shift = a.brightness * (2 * rng.uniform() - 1);
      const double scale = 1 + a.contrast * (2 * rng.uniform() - 1);
      for (int64_t c = 0; c < C; ++c) {
        const float* p = src + c * plane;
        double mean = 0;
        for (int64_t j = 0; j < plane; ++j) mean += p[j];
        mean /= static_cast<double>(plane);
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            // Output (y, x) reads the padded image at (y + dy, x + dx), mirrored if flipped.
            const int64_t sy = y + dy, sx0 = x + dx;
            const int64_t sx = flip ? W - 1 - sx0 : sx0;
            double v = (sy < 0 || sy >= H || sx < 0 || sx >= W) ? 0.0 : p[sy * W + sx];
            v = (v - mean) * scale + mean + shift;
            img[static_cast<size_t>(c * plane + y * W + x)] = static_cast<float>(v);
          }
      }
    }
    float* dst = b.images.data.data() + k * C * plane;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < plane; ++j)
        dst[c * plane + j] = static_cast<float>(
            (img[static_cast<size_t>(c * plane + j)] - norm_.mean[static_cast<size_t>(c)]) /
            norm_.std[static_cast<size_t>(c)]);
  }
  return b;
}

}  // namespace cnnc::training
