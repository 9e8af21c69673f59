// cnnc train: train a network on a dataset (Fashion-MNIST IDX files or .npy
// batches) with the reference backend: the training graph of the autodiff and
// optimizer passes, a progress bar, validation each epoch, checkpoints,
// --resume, a CSV log.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "tools/cnnc/train_options.h"
#include "tools/cnnc/verbs.h"
#include "training/trainer.h"

namespace cnnc::tool {

namespace {

std::string clock_text(double s) {
  const int v = static_cast<int>(std::max(0.0, s));
  char buf[32];
  if (v >= 3600)
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", v / 3600, v / 60 % 60, v % 60);
  else
    std::snprintf(buf, sizeof buf, "%d:%02d", v / 60, v % 60);
  return buf;
}

void show(const training::Progress& p, bool tty, bool quiet) {
  if (quiet) return;
  if (p.finished) {
    const training::EpochRecord& r = *p.finished;
    char line[256];
    std::snprintf(line, sizeof line,
                  "epoch %lld/%lld: train loss %.4f acc %.2f%%  val %sacc %.2f%%  lr %.3g  "
                  "(%.1f s, %.0f images/s)",
                  static_cast<long long>(r.epoch), static_cast<long long>(p.epochs), r.train_loss,
                  100 * r.train_accuracy,
                  std::isnan(r.val_loss)
                      ? ""
                      : ("loss " + std::to_string(r.val_loss).substr(0, 6) + " ").c_str(),
                  100 * r.val_accuracy, r.lr, r.seconds, r.images_per_s);
    std::fprintf(stderr, "%s%s\n", tty ? "\r\033[K" : "", line);
    return;
  }
  if (p.validating) {
    if (tty)
      std::fprintf(stderr, "\r\033[Kepoch %lld/%lld: validating...",
                   static_cast<long long>(p.epoch), static_cast<long long>(p.epochs));
    return;
  }
  // A log (not a terminal) gets a line every tenth of an epoch.
  const int64_t tenth = std::max<int64_t>(p.batches / 10, 1);
  if (!tty && p.batch % tenth != 0 && p.batch != p.batches) return;
  const int width = 20;
  const int filled = static_cast<int>(width * p.batch / std::max<int64_t>(p.batches, 1));
  std::string bar = std::string(static_cast<size_t>(filled), '#') +
                    std::string(static_cast<size_t>(width - filled), '.');
  char line[256];
  std::snprintf(line, sizeof line,
                "epoch %lld/%lld [%s] %lld/%lld loss %.4f acc %.2f%% lr %.3g %.0f images/s ETA %s",
                static_cast<long long>(p.epoch), static_cast<long long>(p.epochs), bar.c_str(),
                static_cast<long long>(p.batch), static_cast<long long>(p.batches), p.loss,
                100 * p.accuracy, p.lr, p.images_per_s, clock_text(p.eta_s).c_str());
  std::fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", line);
  std::fflush(stderr);
}

}  // namespace

int verb_train(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  WeightsOptions w;
  std::string net, dir;
  TrainFlags tf;
  training::TrainOptions& o = tf.o;
  bool quiet = false;
  ArgParser p(
      "cnnc train NET --data DIR [options]",
      "Trains the network on a dataset: the training graph (the autodiff and optimizer "
      "passes: softmax cross-entropy on the logits under the final softmax, then the "
      "update of every parameter), compiled into generated kernels (--backend), runs "
      "batch by batch; test "
      "accuracy is measured after every epoch. Writes to --checkpoint-dir a checkpoint "
      "after every epoch (and on SIGINT/SIGTERM/SIGHUP, then exits 130), log.csv (one row per "
      "epoch) and, at the end, weights.safetensors for cnnc run/compile --weights. "
      "Stops with an error when the loss becomes NaN or more than 3x its first value. "
      "--seed seeds the initialisation, shuffling, augmentation and dropout: the same "
      "--seed gives the same run, bit for bit, also across --resume.");
  p.positional("NET", kNetHelp, &net);
  tf.add_to(p, /*searched=*/false);
  p.option("--checkpoint-dir", "DIR",
           "where checkpoints, log.csv and weights.safetensors go (default: NET's name + "
           "'.train' in the current directory)",
           [&](const std::string& v) {
             dir = v;
             return std::string();
           });
  p.int_option("--checkpoint-every", "N", "also checkpoint every N steps (default: each epoch)",
               &o.checkpoint_every, 0, INT64_MAX);
  p.int_option("--keep-checkpoints", "N", "checkpoints kept (default 2)", &o.keep_checkpoints, 1,
               1000000);
  p.flag("--resume",
         "continue from the newest good checkpoint in --checkpoint-dir (a damaged one is skipped "
         "with a warning); the result equals the uninterrupted run's. The run's settings (--lr, "
         "--schedule and its options, --momentum, --weight-decay, --freeze, augmentation, the "
         "training images; --epochs under the cosine schedule) must be the checkpoint's",
         &o.resume);
  p.flag("--allow-changed-settings",
         "with --resume: continue with settings other than the checkpoint's (a warning lists "
         "them; later checkpoints record the new ones); the result is then no longer the "
         "uninterrupted run's",
         &o.allow_changed_settings);
  p.flag("--reset-optimizer", "with --resume: accept a checkpoint without optimizer state",
         &o.reset_optimizer);
  p.int_option("--max-steps", "N", "stop after N steps in all (with a checkpoint)", &o.max_steps, 0,
               INT64_MAX);
  p.flag("--quiet", "no progress bar and epoch lines", &quiet);
  w.add_to(p, /*allow_file=*/true);
  p.epilog(
      "--batch B sets the batch size (default 64); a last partial batch of the training set is "
      "dropped.\n\nexample: cnnc train examples/lenet5.json --data "
      "/usr/share/datasets/fashion-mnist "
      "--epochs 5 --lr 0.01\n\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    if (!tf.finish(net_opts, w, diag)) return;
    o.checkpoint_dir = dir.empty() ? std::filesystem::path(net).stem().string() + ".train" : dir;
    auto data = tf.load(diag);
    if (!data) return;
    provide_weights(graph, w, diag);
    tf.use_backend(quiet, net_opts.frontend.shapes);
    training::Trainer trainer(std::move(graph), *data, o, diag);
    if (diag.has_errors()) return;
    const bool tty = isatty(2);
    if (!quiet)
      std::fprintf(stderr, "cnnc: train: %lld training and %lld test images (%s, %s), batch %lld\n",
                   static_cast<long long>(data->train.count),
                   static_cast<long long>(data->test.count), data->format.c_str(),
                   tf.data_dir.c_str(), static_cast<long long>(o.batch));
    const int status = trainer.run([&](const training::Progress& pr) { show(pr, tty, quiet); });
    if (status == 0 && !quiet)
      std::fprintf(stderr, "cnnc: train: done; %s/weights.safetensors, log.csv and checkpoints\n",
                   o.checkpoint_dir.c_str());
    if (status != 0 && !diag.has_errors())
      diag.error({}, "training stopped", {}, static_cast<ExitCode>(status));
  });
}

}  // namespace cnnc::tool
