#include "training/hparam_search.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "support/interrupt.h"
#include "support/random.h"
#include "support/temp_dir.h"

namespace cnnc::training {

Dataset validation_split(const Dataset& d, double fraction) {
  Dataset out;
  out.dir = d.dir;
  out.format = d.format;
  out.classes = d.classes;
  const Split& s = d.train;
  const int64_t val = std::clamp<int64_t>(
      static_cast<int64_t>(std::llround(static_cast<double>(s.count) * fraction)), 1,
      std::max<int64_t>(s.count - 1, 1));
  const int64_t train = s.count - val, e = s.sample_elements();
  for (Split* part : {&out.train, &out.test}) {
    part->images_path = s.images_path;
    part->labels_path = s.labels_path;
    part->sample = s.sample;
  }
  out.train.count = train;
  out.train.images.assign(s.images.begin(), s.images.begin() + train * e);
  out.train.labels.assign(s.labels.begin(), s.labels.begin() + train);
  out.test.count = val;
  out.test.images.assign(s.images.begin() + train * e, s.images.end());
  out.test.labels.assign(s.labels.begin() + train, s.labels.end());
  return out;
}

std::vector<Trial> ranked(std::vector<Trial> trials) {
  std::stable_sort(trials.begin(), trials.end(), [](const Trial& a, const Trial& b) {
    const bool ao = a.status == "ok", bo = b.status == "ok";
    if (ao != bo) return ao;
    return a.val_accuracy > b.val_accuracy;
  });
  return trials;
}

std::vector<Trial> hparam_search(const ir::Graph& net, const Dataset& data,
                                 const TrainOptions& base, const SearchOptions& so,
                                 const std::function<void(const Trial&)>& on_trial) {
  const Dataset split = validation_split(data, so.validation_fraction);
  const double l0 = std::log10(so.lr_min), l1 = std::log10(so.lr_max);
  const double w0 = std::log10(so.wd_min), w1 = std::log10(so.wd_max);
  const int64_t coarse = (so.trials + 1) / 2;
  std::vector<Trial> done;
  const auto t0 = std::chrono::steady_clock::now();
  double longest = 0;
  for (int64_t i = 0; i < so.trials; ++i) {
    const double spent =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (so.budget_s > 0 && !done.empty() && spent + longest > so.budget_s) break;
    Trial t;
    t.index = i + 1;
    t.fine = i >= coarse;
    RandomStream rng(base.seed, "hparam:" + std::to_string(i));
    double ll = l0 + (l1 - l0) * rng.uniform(), lw = w0 + (w1 - w0) * rng.uniform();
    if (t.fine) {  // around the best trial so far: ±0.25 decades of lr, ±0.5 of decay
      const std::vector<Trial> best = ranked(done);
      if (!best.empty() && best[0].status == "ok") {
        ll = std::clamp(std::log10(best[0].lr) + 0.5 * (rng.uniform() - 0.5), l0, l1);
        lw = std::clamp(std::log10(best[0].weight_decay) + (rng.uniform() - 0.5), w0, w1);
      }
    }
    t.lr = std::pow(10.0, ll);
    t.weight_decay = std::pow(10.0, lw);
    TrainOptions o = base;
    o.schedule.lr = t.lr;
    o.training.optimizer.weight_decay = t.weight_decay;
    o.resume = false;
    TempDir scratch("cnnc-hparam");
    o.checkpoint_dir = scratch.path();
    std::ostringstream quiet;
    DiagnosticEngine diag(quiet);
    const auto s0 = std::chrono::steady_clock::now();
    int status = 1;
    try {
      Trainer trainer(net.clone(), split, o, diag);
      status = trainer.run([](const Progress&) {});
      if (!trainer.history().empty()) {
        const EpochRecord& r = trainer.history().back();
        t.val_accuracy = r.val_accuracy;
        t.val_loss = r.val_loss;
        t.train_loss = r.train_loss;
      }
    } catch (const DiagnosticsAbort&) {
    }
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - s0).count();
    longest = std::max(longest, t.seconds);
    t.status = status == 0 ? "ok" : status == 130 ? "interrupted" : "diverged";
    done.push_back(t);
    on_trial(t);
    if (status == 130 || interrupted()) break;
  }
  return done;
}

}  // namespace cnnc::training
