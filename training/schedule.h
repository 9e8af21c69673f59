// Learning-rate schedules, evaluated before every step (so warm-up and cosine
// move per step). The plateau schedule keeps state (best accuracy, epochs
// without improvement), saved in checkpoints.
#pragma once

#include <cstdint>
#include <string>

namespace cnnc::training {

struct ScheduleOptions {
  enum class Kind { Constant, Step, Cosine, Plateau } kind = Kind::Constant;
  double lr = 0.01;
  int64_t step_epochs = 30;   ///< step: multiply by `factor` every this many epochs
  double factor = 0.1;        ///< step and plateau
  int64_t patience = 2;       ///< plateau: epochs without a better validation accuracy
  int64_t warmup_epochs = 0;  ///< linear warm-up from lr/steps to lr over these epochs
  double min_lr = 0.0;        ///< cosine: the value it decays to
  int64_t epochs = 1;         ///< cosine: the length of the run
};

/// Parses "constant", "step", "cosine", "plateau".
bool parse_schedule_kind(const std::string& s, ScheduleOptions::Kind& out);

class Schedule {
 public:
  explicit Schedule(ScheduleOptions o) : o_(o) {}
  /// The learning rate for step `step` (0-based) of epoch `epoch` (0-based).
  double lr(int64_t epoch, int64_t step, int64_t steps_per_epoch) const;
  /// After each epoch's validation (plateau only).
  void end_epoch(double accuracy);

  /// The plateau state as "best,bad,scale" (checkpoints); parse returns false on bad text.
  std::string state() const;
  bool restore(const std::string& s);

 private:
  ScheduleOptions o_;
  double best_ = -1, scale_ = 1;
  int64_t bad_ = 0;
};

}  // namespace cnnc::training
