// Schedules, batches (shuffling, normalisation, augmentation) and datasets of
// the training library.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "training/batches.h"
#include "training/dataset.h"
#include "training/schedule.h"

namespace cnnc::training {
namespace {

using K = ScheduleOptions::Kind;

TEST(Schedule, StepCosineWarmupPlateau) {
  ScheduleOptions o;
  o.lr = 0.1;
  o.kind = K::Step;
  o.step_epochs = 2;
  o.factor = 0.1;
  Schedule step(o);
  EXPECT_DOUBLE_EQ(step.lr(0, 5, 10), 0.1);
  EXPECT_DOUBLE_EQ(step.lr(1, 9, 10), 0.1);
  EXPECT_NEAR(step.lr(2, 0, 10), 0.01, 1e-15);
  EXPECT_NEAR(step.lr(5, 0, 10), 0.001, 1e-15);

  o.kind = K::Cosine;
  o.epochs = 4;
  o.min_lr = 0.001;
  Schedule cosine(o);
  EXPECT_DOUBLE_EQ(cosine.lr(0, 0, 10), 0.1);
  EXPECT_NEAR(cosine.lr(2, 0, 10), 0.001 + 0.099 * 0.5, 1e-12);  // half way
  EXPECT_NEAR(cosine.lr(3, 5, 10), 0.001 + 0.099 * 0.5 * (1 + std::cos(M_PI * 3.5 / 4)), 1e-12);

  o.kind = K::Constant;
  o.warmup_epochs = 1;
  Schedule warm(o);
  EXPECT_DOUBLE_EQ(warm.lr(0, 0, 4), 0.025);  // (0 + 1) / 4 of the way
  EXPECT_DOUBLE_EQ(warm.lr(0, 3, 4), 0.1);
  EXPECT_DOUBLE_EQ(warm.lr(1, 0, 4), 0.1);

  o.kind = K::Plateau;
  o.warmup_epochs = 0;
  o.patience = 2;
  o.factor = 0.5;
  Schedule plateau(o);
  for (double acc : {0.5, 0.6, 0.6, 0.59}) plateau.end_epoch(acc);  // two epochs without gain
  EXPECT_DOUBLE_EQ(plateau.lr(4, 0, 10), 0.05);
  Schedule restored(o);
  ASSERT_TRUE(restored.restore(plateau.state()));
  EXPECT_EQ(restored.state(), plateau.state());
  EXPECT_FALSE(restored.restore("garbage"));
}

Split tiny_split(int64_t n) {
  Split s;
  s.sample = ir::Shape{{1, 3, 3}};
  s.count = n;
  for (int64_t i = 0; i < n; ++i) {
    for (int j = 0; j < 9; ++j) s.images.push_back(static_cast<float>(i) + 0.1f * j);
    s.labels.push_back(static_cast<int32_t>(i % 3));
  }
  return s;
}

std::vector<float> epoch_labels(BatchSource& src, int64_t epoch, int64_t first = 0) {
  std::vector<float> out;
  src.start_epoch(epoch, first);
  Batch b;
  while (src.next(b))
    for (int64_t i = 0; i < b.valid; ++i) out.push_back(b.images[i * 9]);
  return out;
}

TEST(Batches, ShuffleIsSeededPerEpochAndResumable) {
  Split s = tiny_split(10);
  Normalize id{{0.0}, {1.0}};
  BatchSource a(s, id, {3, true, true, 42, {}});
  BatchSource b(s, id, {3, true, true, 42, {}});
  EXPECT_EQ(a.batches_per_epoch(), 3);  // the last partial batch is dropped
  std::vector<float> e0 = epoch_labels(a, 0), e1 = epoch_labels(a, 1);
  EXPECT_EQ(e0.size(), 9u);
  EXPECT_NE(e0, e1);                                // a new order each epoch
  EXPECT_EQ(e1, epoch_labels(b, 1));                // the same seed, the same order
  std::vector<float> tail = epoch_labels(b, 1, 1);  // resumed at batch 1
  EXPECT_EQ(tail, std::vector<float>(e1.begin() + 3, e1.end()));
  BatchSource c(s, id, {3, true, true, 43, {}});
  EXPECT_NE(epoch_labels(c, 1), e1);
}

TEST(Batches, EvaluationPadsTheLastBatchAndNormalises) {
  Split s = tiny_split(5);
  Normalize n = channel_statistics(s);
  ASSERT_EQ(n.mean.size(), 1u);
  EXPECT_NEAR(n.mean[0], 2.0 + 0.4, 1e-6);
  BatchSource src(s, n, {4, false, false, 0, {}});
  EXPECT_EQ(src.batches_per_epoch(), 2);
  src.start_epoch(0);
  Batch b;
  ASSERT_TRUE(src.next(b));
  EXPECT_EQ(b.valid, 4);
  EXPECT_NEAR(b.images[0], (0.0 - n.mean[0]) / n.std[0], 1e-6);
  ASSERT_TRUE(src.next(b));
  EXPECT_EQ(b.valid, 1);
  EXPECT_EQ(b.labels[0], 1.0f);  // sample 4
  EXPECT_FALSE(src.next(b));
}

TEST(Batches, AugmentationIsReproducibleAndChangesImages) {
  Split s = tiny_split(4);
  Normalize id{{0.0}, {1.0}};
  Augment aug;
  aug.crop_pad = 1;
  aug.hflip = true;
  aug.brightness = 0.5;
  BatchSource a(s, id, {4, false, true, 9, aug}), b(s, id, {4, false, true, 9, aug});
  BatchSource plain(s, id, {4, false, true, 9, {}});
  Batch x, y, z;
  a.start_epoch(3);
  b.start_epoch(3);
  plain.start_epoch(3);
  ASSERT_TRUE(a.next(x) && b.next(y) && plain.next(z));
  EXPECT_EQ(x.images.data, y.images.data);
  EXPECT_NE(x.images.data, z.images.data);
  a.start_epoch(4);
  ASSERT_TRUE(a.next(y));
  EXPECT_NE(x.images.data, y.images.data);  // another epoch, other draws
}

// Each augmented image is one of what the options allow, and the draws
// cover them: a crop of the image padded with zeros (offsets in
// [-crop_pad, crop_pad]), possibly mirrored left-right, plus one brightness
// offset in [-b, b]; contrast scales around the image's mean. The 3x3
// images are asymmetric, so a flip upside down or a crop off by one matches
// none of the candidates.
TEST(Batches, AugmentationCropsFlipsAndShiftsAsDocumented) {
  const int64_t n = 64, H = 3, W = 3;
  Split s = tiny_split(n);
  Normalize id{{0.0}, {1.0}};
  Augment aug;
  aug.crop_pad = 1;
  aug.hflip = true;
  aug.brightness = 0.5;
  BatchSource src(s, id, {n, false, false, 9, aug});
  src.start_epoch(0);
  Batch b;
  ASSERT_TRUE(src.next(b));
  std::set<std::tuple<int, int, bool>> seen;
  for (int64_t k = 0; k < n; ++k) {
    const float* orig = &s.images[static_cast<size_t>(k * 9)];
    const float* got = &b.images.data[static_cast<size_t>(k * 9)];
    bool found = false;
    for (int dy = -1; dy <= 1 && !found; ++dy)
      for (int dx = -1; dx <= 1 && !found; ++dx)
        for (bool flip : {false, true}) {
          // Output (y, x) shows padded pixel (y + dy, x + dx), mirrored when flipped.
          auto at = [&](int y, int x) {
            const int sy = y + dy, sx = flip ? W - 1 - (x + dx) : x + dx;
            return sy < 0 || sy >= H || sx < 0 || sx >= W ? 0.0 : double{orig[sy * W + sx]};
          };
          const double shift = got[0] - at(0, 0);
          bool same = std::abs(shift) <= 0.5 + 1e-6;
          for (int y = 0; y < H && same; ++y)
            for (int x = 0; x < W && same; ++x)
              same = std::abs(got[y * W + x] - (at(y, x) + shift)) < 1e-5;
          if (same) {
            found = true;
            seen.insert({dy, dx, flip});
            break;
          }
        }
    EXPECT_TRUE(found) << "image " << k << " is no crop/flip/shift of its original";
  }
  // 64 seeded draws of 18 crop/flip combinations: most of them, both flips.
  EXPECT_GE(seen.size(), 12u);
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](auto t) { return std::get<2>(t); }));
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](auto t) { return !std::get<2>(t); }));

  // Contrast alone: (v - mean) * scale + mean, scale in [1 - c, 1 + c].
  Augment con;
  con.contrast = 0.5;
  BatchSource csrc(s, id, {n, false, false, 9, con});
  csrc.start_epoch(0);
  ASSERT_TRUE(csrc.next(b));
  for (int64_t k = 0; k < n; ++k) {
    const float* orig = &s.images[static_cast<size_t>(k * 9)];
    const float* got = &b.images.data[static_cast<size_t>(k * 9)];
    double mean = 0;
    for (int j = 0; j < 9; ++j) mean += orig[j] / 9.0;
    const double scale = (got[8] - got[0]) / (orig[8] - orig[0]);
    EXPECT_GE(scale, 0.5 - 1e-5);
    EXPECT_LE(scale, 1.5 + 1e-5);
    for (int j = 0; j < 9; ++j)
      EXPECT_NEAR(got[j], (orig[j] - mean) * scale + mean, 1e-5) << "image " << k;
  }
}

TEST(Dataset, NpyFolderWithLabelsOutOfRangeIsAnError) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / "cnnc_training_test_npy";
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto npy = [&](const std::string& name, const std::string& shape, const std::vector<float>& v) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape + "), }";
    h += std::string((64 - (10 + h.size() + 1) % 64) % 64, ' ') + "\n";
    std::ofstream f(dir / name, std::ios::binary);
    f << "\x93NUMPY\x01" << '\0';
    const uint16_t len = static_cast<uint16_t>(h.size());
    f.write(reinterpret_cast<const char*>(&len), 2);
    f << h;
    f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  };
  npy("train_images.npy", "2, 2, 2", {0, 1, 2, 3, 4, 5, 6, 7});
  npy("train_labels.npy", "2,", {1, 0});
  npy("test_images.npy", "1, 2, 2", {1, 1, 1, 1});
  npy("test_labels.npy", "1,", {2});
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto d = load_dataset(dir.string(), diag);
  ASSERT_TRUE(d) << err.str();
  EXPECT_EQ(d->format, "npy");
  EXPECT_EQ(d->train.count, 2);
  EXPECT_EQ(d->train.sample, (ir::Shape{{1, 2, 2}}));
  EXPECT_EQ(d->classes, 3);
  npy("test_labels.npy", "1,", {1.5f});
  std::ostringstream err2;
  DiagnosticEngine diag2(err2);
  EXPECT_FALSE(load_dataset(dir.string(), diag2));
  EXPECT_NE(err2.str().find("label 1.5 at index 0 is not a class index"), std::string::npos)
      << err2.str();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cnnc::training
