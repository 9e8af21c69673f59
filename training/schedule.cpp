#include "training/schedule.h"

#include <cmath>
#include <cstdio>

namespace cnnc::training {

bool parse_schedule_kind(const std::string& s, ScheduleOptions::Kind& out) {
  using K = ScheduleOptions::Kind;
  if (s == "constant")
    out = K::Constant;
  else if (s == "step")
    out = K::Step;
  else if (s == "cosine")
    out = K::Cosine;
  else if (s == "plateau")
    out = K::Plateau;
  else
    return false;
  return true;
}

double Schedule::lr(int64_t epoch, int64_t step, int64_t steps_per_epoch) const {
  using K = ScheduleOptions::Kind;
  const double t =
      static_cast<double>(epoch) +
      static_cast<double>(step) / static_cast<double>(std::max<int64_t>(steps_per_epoch, 1));
  double lr = o_.lr;
  switch (o_.kind) {
    case K::Constant:
      break;
    case K::Step:
      lr *= std::pow(o_.factor, static_cast<double>(epoch / std::max<int64_t>(o_.step_epochs, 1)));
      break;
    case K::Cosine: {
      const double T = static_cast<double>(std::max<int64_t>(o_.epochs, 1));
      lr = o_.min_lr + (o_.lr - o_.min_lr) * 0.5 * (1 + std::cos(M_PI * std::min(t, T) / T));
      break;
    }
    case K::Plateau:
      lr *= scale_;
      break;
  }
  if (epoch < o_.warmup_epochs) {
    const double done = static_cast<double>(epoch * steps_per_epoch + step + 1);
    lr *= done / static_cast<double>(o_.warmup_epochs * steps_per_epoch);
  }
  return lr;
}

void Schedule::end_epoch(double accuracy) {
  if (o_.kind != ScheduleOptions::Kind::Plateau) return;
  if (accuracy > best_) {
    best_ = accuracy;
    bad_ = 0;
  } else if (++bad_ >= o_.patience) {
    scale_ *= o_.factor;
    bad_ = 0;
  }
}

std::string Schedule::state() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.17g,%lld,%.17g", best_, static_cast<long long>(bad_), scale_);
  return buf;
}

bool Schedule::restore(const std::string& s) {
  double best = 0, scale = 0;
  long long bad = 0;
  if (std::sscanf(s.c_str(), "%lf,%lld,%lf", &best, &bad, &scale) != 3) return false;
  best_ = best;
  bad_ = bad;
  scale_ = scale;
  return true;
}

}  // namespace cnnc::training
