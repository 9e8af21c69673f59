#include "training/trainer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "backends/reference/interpreter.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "ir/shape_inference.h"
#include "passes/pass_manager.h"
#include "support/file_io.h"
#include "support/format.h"
#include "support/interrupt.h"
#include "training/checkpoint.h"
#include "training/plot.h"
#include "training/run_settings.h"

namespace cnnc::training {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Row-wise argmax of a [B, K] prediction compared with the labels.
int64_t correct(const ir::Tensor& pred, const ir::Tensor& labels, int64_t valid) {
  const int64_t K = pred.shape[1];
  int64_t hits = 0;
  for (int64_t n = 0; n < valid; ++n) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; ++k)
      if (pred[n * K + k] > pred[n * K + best]) best = k;
    hits += best == static_cast<int64_t>(labels[n]);
  }
  return hits;
}

// The dropout seed of one step: a different stream per step, reproducible.
uint64_t step_seed(uint64_t seed, int64_t step) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(step + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

const char* optimizer_name(passes::TrainingOptions::Optimizer::Kind k) {
  using K = passes::TrainingOptions::Optimizer::Kind;
  return k == K::Sgd ? "sgd" : k == K::Adam ? "adam" : "adamw";
}

std::vector<EpochRecord> parse_history(const std::string& csv) {
  std::vector<EpochRecord> h;
  std::istringstream in(csv);
  std::string line;
  while (std::getline(in, line)) {
    EpochRecord r;
    long long e = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &e, &r.lr, &r.train_loss,
                    &r.train_accuracy, &r.val_loss, &r.val_accuracy, &r.seconds,
                    &r.images_per_s) == 8) {
      r.epoch = e;
      h.push_back(r);
    }
  }
  return h;
}

}  // namespace

std::string history_csv(const std::vector<EpochRecord>& h) {
  std::string out =
      "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy,seconds,images_per_s\n";
  for (const EpochRecord& r : h) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%lld,%.9g,%.9g,%.6f,%.9g,%.6f,%.3f,%.1f\n",
                  static_cast<long long>(r.epoch), r.lr, r.train_loss, r.train_accuracy, r.val_loss,
                  r.val_accuracy, r.seconds, r.images_per_s);
    out += buf;
  }
  return out;
}

Trainer::Trainer(ir::Graph net, const Dataset& data, TrainOptions opts, DiagnosticEngine& diag)
    : eval_(net.clone()),
      train_(std::move(net)),
      data_(data),
      opts_(std::move(opts)),
      diag_(diag),
      schedule_(opts_.schedule) {
  built_ = build();
}

bool Trainer::build() {
  const int before = diag_.error_count();
  if (train_.inputs().size() != 1 || train_.outputs().size() != 1) {
    diag_.error({}, "cnnc train needs a network with one input (the images) and one output; '" +
                        train_.name + "' has " + std::to_string(train_.inputs().size()) + " and " +
                        std::to_string(train_.outputs().size()));
    return false;
  }
  const ir::Value* in = train_.inputs()[0];
  const ir::Shape& want = in->type.shape;
  const ir::Shape& got = data_.train.sample;
  if (want.rank() != 4 || !std::equal(got.dims.begin(), got.dims.end(), want.dims.begin() + 1)) {
    ir::Shape image = want;
    if (image.rank() > 0) image.dims.erase(image.dims.begin());
    diag_.error(make_file_loc(data_.train.images_path),
                "images are " + got.str() + " (channels x height x width), input '" + in->name +
                    "' is " + want.str() + ": it takes " + image.str() + " images");
    return false;
  }
  for (ir::Graph* g : {&train_, &eval_})
    if (!ir::set_batch(*g, opts_.batch, {}, diag_)) return false;
  const ir::Value* pred = eval_.outputs()[0];
  if (pred->type.shape.rank() != 2) {
    diag_.error(pred->loc, "cnnc train classifies: the output '" + pred->name +
                               "' must be [N, classes], not " + pred->type.shape.str());
    return false;
  }
  const int64_t classes = pred->type.shape[1];
  for (const Split* s : {&data_.train, &data_.test}) {
    for (size_t i = 0; i < s->labels.size(); ++i) {
      if (s->labels[i] < classes) continue;
      diag_.error(make_file_loc(s->labels_path),
                  "label " + std::to_string(s->labels[i]) + " at index " + std::to_string(i) +
                      " is out of range for " + std::to_string(classes) + " classes (layer '" +
                      pred->name + "' has " + std::to_string(classes) + " outputs)");
      return false;
    }
  }
  passes::PassManager pm({"autodiff", "optimizer"}, {});
  passes::PassContext ctx(passes::Mode::Training);
  ctx.training = opts_.training;
  // A classifier: cross-entropy on the logits (the output, or the input of a final softmax).
  if (ctx.training.loss == passes::TrainingOptions::Loss::Auto)
    ctx.training.loss = passes::TrainingOptions::Loss::CrossEntropy;
  ctx.diag = &diag_;
  pm.run(train_, ctx);
  if (ctx.errors > 0) return false;
  reference::RunOptions ro;
  ro.mode = reference::Mode::Training;
  if (!reference::check_runnable(train_, ro, diag_)) return false;
  norm_ = channel_statistics(data_.train);
  return diag_.error_count() == before;
}

void Trainer::store(const std::vector<ir::Tensor>& outputs,
                    std::vector<std::pair<std::string, ir::Tensor>>& state) {
  for (size_t i = 2; i < outputs.size(); ++i) {
    const std::string& n = train_.outputs()[i]->name;  // "<param>.next"
    ir::Value* p = train_.find_value(n.substr(0, n.size() - 5), true);
    p->data = std::make_shared<const ir::Tensor>(outputs[i]);
  }
  for (auto& [name, t] : state)
    train_.find_value(name, true)->data = std::make_shared<const ir::Tensor>(std::move(t));
}

void Trainer::sync_from_engine() {
  if (!engine_ || engine_synced_) return;
  std::string error;
  if (!engine_->read_back(train_, error)) {
    diag_.error(
        {}, "reading the parameters back from the " + opts_.engines.name + " backend: " + error);
    throw DiagnosticsAbort{};
  }
  engine_synced_ = true;
}

void Trainer::share_trained_values() {
  sync_from_engine();
  for (ir::Value* p : eval_.params())
    if (const ir::Value* q = train_.find_value(p->name, true)) p->data = q->data;
}

double Trainer::validate(double& loss) {
  share_trained_values();
  BatchSource src(data_.test, norm_, {opts_.batch, false, false, opts_.seed, {}});
  src.start_epoch(0);
  // The output is probabilities (a final softmax) or logits.
  const bool probabilities =
      eval_.outputs()[0]->producer && eval_.outputs()[0]->producer->op == ir::OpKind::Softmax;
  Batch b;
  int64_t hits = 0, seen = 0;
  double loss_sum = 0;
  std::unique_ptr<Predictor> predictor;
  if (opts_.engines.infer) {
    predictor = opts_.engines.infer(eval_, diag_);
    if (!predictor) throw DiagnosticsAbort{};
  }
  while (src.next(b)) {
    ir::Tensor pred;
    std::string error;
    if (!predictor)
      pred = reference::run(eval_, {b.images}, {}).outputs[0];
    else if (!predictor->predict(b.images, pred, error)) {
      diag_.error({}, "validation on the " + opts_.engines.name + " backend: " + error);
      throw DiagnosticsAbort{};
    }
    hits += correct(pred, b.labels, b.valid);
    seen += b.valid;
    const int64_t K = pred.shape[1];
    for (int64_t n = 0; n < b.valid; ++n) {
      const double at_label = pred[n * K + static_cast<int64_t>(b.labels[n])];
      if (probabilities) {
        loss_sum -= std::log(std::max(at_label, 1e-30));
        continue;
      }
      double m = -INFINITY, sum = 0;  // −log softmax from the logits
      for (int64_t k = 0; k < K; ++k) m = std::max(m, static_cast<double>(pred[n * K + k]));
      for (int64_t k = 0; k < K; ++k) sum += std::exp(pred[n * K + k] - m);
      loss_sum += m + std::log(sum) - at_label;
    }
  }
  loss = loss_sum / static_cast<double>(std::max<int64_t>(seen, 1));
  return static_cast<double>(hits) / static_cast<double>(std::max<int64_t>(seen, 1));
}

void Trainer::checkpoint(int64_t epoch, int64_t batch) {
  // Fault for tests: CNNC_TRAIN_FAULT=kill_in_checkpoint@STEP leaves half of
  // the checkpoint of step STEP in its temporary file and dies by SIGKILL, as
  // a kill -9 during the write would.
  if (const char* f = std::getenv("CNNC_TRAIN_FAULT")) {
    long long at = -1;
    if (std::sscanf(f, "kill_in_checkpoint@%lld", &at) == 1 && at == step_) {
      std::filesystem::create_directories(opts_.checkpoint_dir);
      char name[96];
      std::snprintf(name, sizeof name, ".ckpt-%08lld.safetensors.tmp.XXXXXX", at);
      std::string tmpl = (std::filesystem::path(opts_.checkpoint_dir) / name).string();
      const int fd = ::mkstemp(tmpl.data());
      const std::string half(4096, '\x5a');
      if (fd >= 0 && ::write(fd, half.data(), half.size()) > 0) ::raise(SIGKILL);
    }
  }
  sync_from_engine();
  CheckpointState st;
  st.epoch = epoch;
  st.batch = batch;
  st.step = step_;
  st.seed = opts_.seed;
  st.batch_size = opts_.batch;
  st.optimizer = optimizer_name(opts_.training.optimizer.kind);
  st.initial_loss = initial_loss_;
  st.schedule = schedule_.state();
  st.history = history_csv(history_);
  st.settings = trajectory_settings(opts_, data_.train.count);
  st.epoch_loss_sum = loss_sum_;
  st.epoch_hits = hits_;
  st.epoch_seen = seen_;
  // A failed write (disk full, I/O error) leaves the previous checkpoint valid:
  // warn and retry at the next one; three failures in a row stop the run.
  std::ostringstream why;
  DiagnosticEngine quiet(why);
  try {
    write_checkpoint(opts_.checkpoint_dir, train_, st, quiet);
  } catch (const DiagnosticsAbort&) {
  }
  if (quiet.has_errors()) {
    std::string text = why.str();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    if (auto e = text.find(": error: "); e != std::string::npos) text.replace(e, 9, ": ");
    if (++failed_checkpoints_ >= 3) {
      diag_.error({},
                  "3 checkpoints in a row failed; the last: " + text +
                      " (the newest good checkpoint in " + opts_.checkpoint_dir +
                      " is kept; --resume continues from it)",
                  {}, ExitCode::IoError);
      throw DiagnosticsAbort{};
    }
    diag_.warning({}, "checkpoint at step " + std::to_string(step_) + " failed (" + text +
                          "); the previous one stays valid; retrying at the next checkpoint");
    return;
  }
  failed_checkpoints_ = 0;
  prune_checkpoints(opts_.checkpoint_dir, opts_.keep_checkpoints);
}

int Trainer::run(const std::function<void(const Progress&)>& progress) {
  if (!built_) return static_cast<int>(ExitCode::InvalidInput);
  int64_t first_epoch = 0, first_batch = 0;
  if (opts_.resume) {
    // The checkpoint's run must have had this run's settings (checked before
    // its tensors are matched: another optimizer or --freeze would otherwise
    // show as missing optimizer state).
    auto same_run = [&](const CheckpointState& ck, const SourceLoc& at) {
      const std::string opt = optimizer_name(opts_.training.optimizer.kind);
      if (ck.batch_size != opts_.batch || ck.optimizer != opt) {
        diag_.error(at,
                    "the checkpoint was made with --batch " + std::to_string(ck.batch_size) +
                        " --optimizer " + ck.optimizer + "; this run has --batch " +
                        std::to_string(opts_.batch) + " --optimizer " + opt +
                        " (resume with the same settings)",
                    {}, ExitCode::Usage);
        return false;
      }
      const std::string changed =
          ck.settings.empty()
              ? ""
              : changed_settings(ck.settings, trajectory_settings(opts_, data_.train.count));
      if (ck.settings.empty())
        diag_.warning(at,
                      "the checkpoint does not record its run's settings (an older cnnc wrote "
                      "it): they are taken to be this run's");
      else if (!changed.empty() && opts_.allow_changed_settings)
        diag_.warning(at, "resuming with other settings than the checkpoint's run (" + changed +
                              "): the result is no longer the uninterrupted run's");
      else if (!changed.empty()) {
        diag_.error(at,
                    "the checkpoint's run has other settings: " + changed +
                        ". --resume continues that run as it would have gone on uninterrupted: "
                        "resume with its settings, or add --allow-changed-settings",
                    {}, ExitCode::Usage);
        return false;
      }
      return true;
    };
    auto st = load_latest_checkpoint(opts_.checkpoint_dir, train_, opts_.reset_optimizer, diag_,
                                     same_run);
    if (diag_.has_errors()) return static_cast<int>(diag_.exit_code());
    if (!st) {
      diag_.error(make_file_loc(opts_.checkpoint_dir), "--resume: no checkpoint to resume from", {},
                  ExitCode::IoError);
      return static_cast<int>(ExitCode::IoError);
    }
    if (st->seed != opts_.seed)
      diag_.warning({}, "--seed " + std::to_string(opts_.seed) +
                            " ignored: the checkpoint's run uses seed " + std::to_string(st->seed));
    opts_.seed = st->seed;
    first_epoch = st->epoch;
    first_batch = st->batch;
    step_ = st->step;
    initial_loss_ = st->initial_loss;
    history_ = parse_history(st->history);
    loss_sum_ = st->epoch_loss_sum;
    hits_ = st->epoch_hits;
    seen_ = st->epoch_seen;
    if (!schedule_.restore(st->schedule))
      diag_.warning({}, "the checkpoint has no schedule state; the schedule restarts");
  }
  BatchSource src(data_.train, norm_, {opts_.batch, true, true, opts_.seed, opts_.augment});
  const int64_t nb = src.batches_per_epoch();
  if (nb == 0) {
    diag_.error(make_file_loc(data_.train.images_path), std::to_string(data_.train.count) +
                                                            " training images make no batch of " +
                                                            std::to_string(opts_.batch));
    return static_cast<int>(ExitCode::InvalidInput);
  }
  const bool adam = opts_.training.optimizer.kind != passes::TrainingOptions::Optimizer::Kind::Sgd;
  if (opts_.engines.train) {  // from the values resumed (or initialised) above
    const int errors = diag_.error_count();
    engine_ = opts_.engines.train(train_, diag_);
    if (diag_.error_count() > errors) return static_cast<int>(ExitCode::InvalidInput);
    if (!engine_) opts_.engines = {};  // the engine declined: the reference backend
  }
  InterruptScope interrupts;
  const auto run_t0 = Clock::now();
  int64_t run_steps = 0;
  for (int64_t epoch = first_epoch; epoch < opts_.epochs; ++epoch) {
    const int64_t start = epoch == first_epoch ? first_batch : 0;
    src.start_epoch(epoch, start);
    const auto t0 = Clock::now();
    if (start == 0) loss_sum_ = 0, hits_ = 0, seen_ = 0;
    double lr = 0;
    int64_t seen_here = 0;  // images of this epoch in this process (for images/s)
    Batch b;
    for (int64_t i = start; src.next(b); ++i) {
      lr = schedule_.lr(epoch, i, nb);
      std::vector<ir::Tensor> inputs = {b.images, b.labels, ir::Tensor(ir::Shape{{1}}, lr)};
      if (adam) inputs.emplace_back(ir::Shape{{1}}, static_cast<float>(step_ + 1));
      reference::RunOptions ro;
      ro.mode = reference::Mode::Training;
      ro.seed = step_seed(opts_.seed, step_);
      reference::RunResult r;
      double loss = 0;
      if (engine_) {
        r.outputs.resize(2);
        std::string error;
        engine_synced_ = false;
        if (!engine_->step(inputs, ro.seed, loss, r.outputs[1], error)) {
          diag_.error({}, "step " + std::to_string(step_ + 1) + " on the " + opts_.engines.name +
                              " backend failed: " + error);
          return static_cast<int>(ExitCode::InvalidInput);
        }
      } else {
        r = reference::run(train_, inputs, ro);
        loss = r.outputs[0][0];
      }
      if (step_ == 0) initial_loss_ = loss;
      // Diverged: NaN, or 3x the first loss (with a floor, so that a run that starts
      // near zero loss, e.g. fine-tuning a trained network, is not stopped by noise).
      if (!std::isfinite(loss) || loss > 3 * std::max(initial_loss_, 1e-3)) {
        diag_.error(
            {},
            "training diverged at epoch " + std::to_string(epoch + 1) + ", batch " +
                std::to_string(i + 1) + ": the loss is " + format_double(loss) +
                (std::isfinite(loss) ? ", more than 3x its initial " + format_double(initial_loss_)
                                     : "") +
                " (lr " + format_double(lr) + "); nothing was saved from this step: lower --lr");
        return static_cast<int>(ExitCode::InvalidInput);
      }
      if (!engine_) store(r.outputs, r.updated_state);
      ++step_;
      ++run_steps;
      loss_sum_ += loss * static_cast<double>(b.valid);
      hits_ += correct(r.outputs[1], b.labels, b.valid);
      seen_ += b.valid;
      seen_here += b.valid;
      const double el = seconds_since(t0);
      Progress p;
      p.epoch = epoch + 1;
      p.epochs = opts_.epochs;
      p.batch = i + 1;
      p.batches = nb;
      p.loss = loss_sum_ / static_cast<double>(seen_);
      p.accuracy = static_cast<double>(hits_) / static_cast<double>(seen_);
      p.lr = lr;
      p.images_per_s = static_cast<double>(seen_here) / std::max(el, 1e-9);
      const double per_step = seconds_since(run_t0) / static_cast<double>(run_steps);
      p.eta_s = per_step * static_cast<double>((opts_.epochs - epoch - 1) * nb + (nb - i - 1));
      progress(p);
      const bool stop = opts_.max_steps > 0 && step_ >= opts_.max_steps;
      if (interrupted() || stop) {
        checkpoint(epoch, i + 1);
        if (stop) return 0;
        diag_.error({},
                    "interrupted at epoch " + std::to_string(epoch + 1) + ", batch " +
                        std::to_string(i + 1) + ": a checkpoint is in " + opts_.checkpoint_dir +
                        "; --resume continues from it",
                    {}, ExitCode::Interrupted);
        return static_cast<int>(ExitCode::Interrupted);
      }
      if (opts_.checkpoint_every > 0 && step_ % opts_.checkpoint_every == 0 && i + 1 < nb)
        checkpoint(epoch, i + 1);
    }
    EpochRecord rec;
    rec.epoch = epoch + 1;
    // The last batch's rate, also when a run interrupted after that batch
    // resumes here without running one.
    rec.lr = start < nb ? lr : schedule_.lr(epoch, nb - 1, nb);
    rec.train_loss = loss_sum_ / static_cast<double>(std::max<int64_t>(seen_, 1));
    rec.train_accuracy =
        static_cast<double>(hits_) / static_cast<double>(std::max<int64_t>(seen_, 1));
    rec.seconds = seconds_since(t0);
    rec.images_per_s = static_cast<double>(seen_here) / std::max(rec.seconds, 1e-9);
    loss_sum_ = 0, hits_ = 0, seen_ = 0;  // the checkpoint below starts the next epoch
    Progress p;
    p.epoch = epoch + 1;
    p.epochs = opts_.epochs;
    p.validating = true;
    progress(p);
    rec.val_accuracy = validate(rec.val_loss);
    history_.push_back(rec);
    schedule_.end_epoch(rec.val_accuracy);
    checkpoint(epoch + 1, 0);
    const std::filesystem::path out(opts_.checkpoint_dir);
    write_output_file_atomically((out / "log.csv").string(), history_csv(history_), diag_);
    write_output_file_atomically((out / "curves.png").string(), curves_png(history_), diag_);
    p.validating = false;
    p.finished = &history_.back();
    progress(p);
    if (interrupted()) {
      diag_.error({},
                  "interrupted after epoch " + std::to_string(epoch + 1) + ": a checkpoint is in " +
                      opts_.checkpoint_dir + "; --resume continues from it",
                  {}, ExitCode::Interrupted);
      return static_cast<int>(ExitCode::Interrupted);
    }
  }
  // The trained network's parameters, for cnnc run / compile --weights.
  share_trained_values();
  io::write_safetensors(
      (std::filesystem::path(opts_.checkpoint_dir) / "weights.safetensors").string(),
      io::collect_weights(eval_), {{"cnnc.network", eval_.name}}, diag_);
  return 0;
}

}  // namespace cnnc::training
