// cnnc train: train a network on a dataset (Fashion-MNIST IDX files or .npy
// batches) with the reference backend: the training graph of the autodiff and
// optimizer passes, a progress bar, validation each epoch, checkpoints,
// --resume, a CSV log.
#include <unistd.h>

#include <cstdio>
#include <filesystem>

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
  std::string net, data_dir, optimizer = "sgd", schedule = "constant", dir;
  training::TrainOptions o;
  auto& opt = o.training.optimizer;
  int64_t crop_pad = 0, train_samples = 0, test_samples = 0;
  bool quiet = false;
  ArgParser p("cnnc train NET --data DIR [options]",
              "Trains the network on a dataset with the reference backend: the training graph "
              "(the autodiff and optimizer passes: softmax cross-entropy on the logits under the "
              "final softmax, then the update of every parameter) runs batch by batch; test "
              "accuracy is measured after every epoch. Writes to --checkpoint-dir a checkpoint "
              "after every epoch (and on SIGINT/SIGTERM, then exits 130), log.csv (one row per "
              "epoch) and, at the end, weights.safetensors for cnnc run/compile --weights. "
              "Stops with an error when the loss becomes NaN or more than 3x its first value. "
              "--seed seeds the initialisation, shuffling, augmentation and dropout: the same "
              "--seed gives the same run, bit for bit, also across --resume.");
  p.positional("NET", kNetHelp, &net);
  p.option("--data", "DIR",
           "the dataset: Fashion-MNIST/MNIST IDX files (train-images-idx3-ubyte[.gz], "
           "train-labels-idx1-ubyte[.gz], t10k-...; Debian's dataset-fashion-mnist installs them "
           "in /usr/share/datasets/fashion-mnist) or train_images*.npy, train_labels*.npy, "
           "test_images*.npy, test_labels*.npy (float32; labels are class indices)",
           [&](const std::string& v) {
             data_dir = v;
             return std::string();
           });
  p.int_option("--epochs", "E", "epochs to train (default 5)", &o.epochs, 1, 1000000);
  p.double_option("--lr", "X", "learning rate (default 0.01)", &o.schedule.lr, 0, 1e6);
  p.choice("--optimizer", "sgd (default, PyTorch's SGD), adam or adamw", &optimizer,
           {"sgd", "adam", "adamw"});
  p.double_option("--momentum", "X", "SGD momentum (default 0.9; 0: plain SGD)", &opt.momentum, 0,
                  0.999999);
  p.flag("--nesterov", "SGD with Nesterov momentum", &opt.nesterov);
  p.double_option("--weight-decay", "X",
                  "L2 penalty added to the gradient (SGD, Adam) or decoupled (AdamW); default 0",
                  &opt.weight_decay, 0, 1e6);
  p.double_option("--beta1", "X", "Adam's beta1 (default 0.9)", &opt.beta1, 0, 0.999999);
  p.double_option("--beta2", "X", "Adam's beta2 (default 0.999)", &opt.beta2, 0, 0.999999);
  p.choice("--schedule",
           "learning-rate schedule: constant (default), step (x --lr-factor every --step-epochs), "
           "cosine (to --min-lr over the run), plateau (x --lr-factor after --patience epochs "
           "without a better test accuracy)",
           &schedule, {"constant", "step", "cosine", "plateau"});
  p.int_option("--step-epochs", "N", "step schedule: epochs between decays (default 30)",
               &o.schedule.step_epochs, 1, 1000000);
  p.double_option("--lr-factor", "X", "step and plateau schedules: the decay (default 0.1)",
                  &o.schedule.factor, 0, 1);
  p.int_option("--patience", "N", "plateau schedule: epochs without improvement (default 2)",
               &o.schedule.patience, 1, 1000000);
  p.int_option("--warmup-epochs", "N", "linear warm-up of the learning rate (default 0)",
               &o.schedule.warmup_epochs, 0, 1000000);
  p.double_option("--min-lr", "X", "cosine schedule: the final learning rate (default 0)",
                  &o.schedule.min_lr, 0, 1e6);
  p.repeated_option("--freeze", "PATTERN",
                    "give the parameters of layers whose name matches PATTERN ('*' matches any "
                    "run of characters) no gradient: transfer learning (repeatable)",
                    [&](const std::string& v) {
                      o.training.freeze.push_back(v);
                      return std::string();
                    });
  p.int_option("--crop-pad", "N", "augment: random crop of the image padded by N pixels", &crop_pad,
               0, 1 << 16);
  p.flag("--hflip", "augment: flip images left-right at random", &o.augment.hflip);
  p.double_option("--brightness", "X", "augment: add a random offset in [-X, X]",
                  &o.augment.brightness, 0, 1e3);
  p.double_option("--contrast", "X", "augment: scale around the mean by 1 + [-X, X]",
                  &o.augment.contrast, 0, 1);
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
         "with a warning); the result equals the uninterrupted run's",
         &o.resume);
  p.flag("--reset-optimizer", "with --resume: accept a checkpoint without optimizer state",
         &o.reset_optimizer);
  p.int_option("--max-steps", "N", "stop after N steps in all (with a checkpoint)", &o.max_steps, 0,
               INT64_MAX);
  p.int_option("--train-samples", "N", "use only the first N training images", &train_samples, 0,
               INT64_MAX);
  p.int_option("--test-samples", "N", "use only the first N test images", &test_samples, 0,
               INT64_MAX);
  p.flag("--quiet", "no progress bar and epoch lines", &quiet);
  w.add_to(p, /*allow_file=*/true);
  p.epilog(
      "--batch B sets the batch size (default 64); a last partial batch of the training set is "
      "dropped.\n\nexample: cnnc train examples/lenet5.json --data "
      "/usr/share/datasets/fashion-mnist "
      "--epochs 5 --lr 0.01\n\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    if (data_dir.empty()) {
      diag.error({}, "--data DIR is required (the dataset to train on)", {}, ExitCode::Usage);
      return;
    }
    // --batch (a network option) is the batch size; a last partial batch is dropped.
    o.batch = net_opts.batch > 0 ? net_opts.batch : 64;
    o.seed = static_cast<uint64_t>(w.seed);  // also shuffling, augmentation and dropout
    o.augment.crop_pad = crop_pad;
    o.schedule.epochs = o.epochs;
    training::parse_schedule_kind(schedule, o.schedule.kind);
    using K = passes::TrainingOptions::Optimizer::Kind;
    opt.kind = optimizer == "sgd" ? K::Sgd : optimizer == "adam" ? K::Adam : K::AdamW;
    if (opt.nesterov && (opt.kind != K::Sgd || opt.momentum == 0)) {
      diag.error({}, "--nesterov needs --optimizer sgd with a --momentum above 0", {},
                 ExitCode::Usage);
      return;
    }
    o.checkpoint_dir = dir.empty() ? std::filesystem::path(net).stem().string() + ".train" : dir;
    auto data = training::load_dataset(data_dir, diag);
    if (!data) return;
    auto trim = [](training::Split& s, int64_t n) {
      if (n <= 0 || n >= s.count) return;
      s.count = n;
      s.images.resize(static_cast<size_t>(n * s.sample_elements()));
      s.labels.resize(static_cast<size_t>(n));
    };
    trim(data->train, train_samples);
    trim(data->test, test_samples);
    provide_weights(graph, w, diag);
    training::Trainer trainer(std::move(graph), *data, o, diag);
    if (diag.has_errors()) return;
    const bool tty = isatty(2);
    if (!quiet)
      std::fprintf(stderr, "cnnc: train: %lld training and %lld test images (%s, %s), batch %lld\n",
                   static_cast<long long>(data->train.count),
                   static_cast<long long>(data->test.count), data->format.c_str(), data_dir.c_str(),
                   static_cast<long long>(o.batch));
    const int status = trainer.run([&](const training::Progress& pr) { show(pr, tty, quiet); });
    if (status == 0 && !quiet)
      std::fprintf(stderr, "cnnc: train: done; %s/weights.safetensors, log.csv and checkpoints\n",
                   o.checkpoint_dir.c_str());
    if (status != 0 && !diag.has_errors())
      diag.error({}, "training stopped", {}, static_cast<ExitCode>(status));
  });
}

}  // namespace cnnc::tool
