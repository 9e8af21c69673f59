#include "training/run_settings.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <vector>

#include "support/format.h"
#include "training/trainer.h"

namespace cnnc::training {

namespace {

std::vector<std::pair<std::string, std::string>> lines(const std::string& text) {
  std::vector<std::pair<std::string, std::string>> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t sp = line.find(' ');
    out.emplace_back(line.substr(0, sp), sp == std::string::npos ? "" : line.substr(sp + 1));
  }
  return out;
}

}  // namespace

std::string trajectory_settings(const TrainOptions& o, int64_t train_images) {
  using S = ScheduleOptions::Kind;
  using K = passes::TrainingOptions::Optimizer::Kind;
  using L = passes::TrainingOptions::Loss;
  const ScheduleOptions& s = o.schedule;
  const auto& opt = o.training.optimizer;
  std::vector<std::pair<std::string, std::string>> v;
  v.emplace_back("--lr", format_double(s.lr));
  v.emplace_back("--schedule", s.kind == S::Constant ? "constant"
                               : s.kind == S::Step   ? "step"
                               : s.kind == S::Cosine ? "cosine"
                                                     : "plateau");
  if (s.kind == S::Step) v.emplace_back("--step-epochs", std::to_string(s.step_epochs));
  if (s.kind == S::Step || s.kind == S::Plateau)
    v.emplace_back("--lr-factor", format_double(s.factor));
  if (s.kind == S::Plateau) v.emplace_back("--patience", std::to_string(s.patience));
  if (s.kind == S::Cosine) {
    v.emplace_back("--min-lr", format_double(s.min_lr));
    v.emplace_back("--epochs", std::to_string(s.epochs));  // the length of the curve
  }
  v.emplace_back("--warmup-epochs", std::to_string(s.warmup_epochs));
  if (opt.kind == K::Sgd) {
    v.emplace_back("--momentum", format_double(opt.momentum));
    v.emplace_back("--nesterov", opt.nesterov ? "yes" : "no");
  } else {
    v.emplace_back("--beta1", format_double(opt.beta1));
    v.emplace_back("--beta2", format_double(opt.beta2));
  }
  v.emplace_back("--weight-decay", format_double(opt.weight_decay));
  std::string freeze;
  for (const std::string& f : o.training.freeze) freeze += (freeze.empty() ? "" : ",") + f;
  v.emplace_back("--freeze", freeze.empty() ? "(none)" : freeze);
  v.emplace_back("--loss", o.training.loss == L::CrossEntropy ? "ce"
                           : o.training.loss == L::Mse        ? "mse"
                                                              : "auto");
  v.emplace_back("--crop-pad", std::to_string(o.augment.crop_pad));
  v.emplace_back("--hflip", o.augment.hflip ? "yes" : "no");
  v.emplace_back("--brightness", format_double(o.augment.brightness));
  v.emplace_back("--contrast", format_double(o.augment.contrast));
  v.emplace_back("training-images", std::to_string(train_images));
  std::string out;
  for (const auto& [k, x] : v) out += k + " " + x + "\n";
  return out;
}

std::string changed_settings(const std::string& recorded, const std::string& now) {
  std::map<std::string, std::string> before;
  for (const auto& [k, x] : lines(recorded)) before[k] = x;
  std::string out;
  auto add = [&](const std::string& item) { out += (out.empty() ? "" : "; ") + item; };
  for (const auto& [k, x] : lines(now)) {
    auto it = before.find(k);
    const std::string was = it == before.end() ? "unused" : it->second;
    if (it != before.end()) before.erase(it);
    if (was != x) add(k + " " + was + " (this run: " + x + ")");
  }
  for (const auto& [k, x] : before) add(k + " " + x + " (this run: unused)");
  return out;
}

}  // namespace cnnc::training
