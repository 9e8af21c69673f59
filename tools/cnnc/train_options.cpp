#include "tools/cnnc/train_options.h"

namespace cnnc::tool {

void OptimizerFlags::add_to(ArgParser& p, bool searched) {
  auto& opt = training.optimizer;
  p.choice("--optimizer", "sgd (default, PyTorch's SGD), adam or adamw", &optimizer,
           {"sgd", "adam", "adamw"});
  p.double_option("--momentum", "X", "SGD momentum (default 0.9; 0: plain SGD)", &opt.momentum, 0,
                  0.999999);
  p.flag("--nesterov", "SGD with Nesterov momentum", &opt.nesterov);
  if (!searched)
    p.double_option("--weight-decay", "X",
                    "L2 penalty added to the gradient (SGD, Adam) or decoupled (AdamW); default 0",
                    &opt.weight_decay, 0, 1e6);
  p.double_option("--beta1", "X", "Adam's beta1 (default 0.9)", &opt.beta1, 0, 0.999999);
  p.double_option("--beta2", "X", "Adam's beta2 (default 0.999)", &opt.beta2, 0, 0.999999);
  p.repeated_option("--freeze", "PATTERN",
                    "give the parameters of layers whose name matches PATTERN ('*' matches any "
                    "run of characters) no gradient: transfer learning (repeatable)",
                    [&](const std::string& v) {
                      training.freeze.push_back(v);
                      return std::string();
                    });
}

bool OptimizerFlags::finish(DiagnosticEngine& diag) {
  auto& opt = training.optimizer;
  using K = passes::TrainingOptions::Optimizer::Kind;
  opt.kind = optimizer == "sgd" ? K::Sgd : optimizer == "adam" ? K::Adam : K::AdamW;
  if (opt.nesterov && (opt.kind != K::Sgd || opt.momentum == 0)) {
    diag.error({}, "--nesterov needs --optimizer sgd with a --momentum above 0", {},
               ExitCode::Usage);
    return false;
  }
  return true;
}

void TrainFlags::add_to(ArgParser& p, bool searched) {
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
  if (!searched)
    p.double_option("--lr", "X", "learning rate (default 0.01)", &o.schedule.lr, 0, 1e6);
  opt.add_to(p, searched);
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
  p.int_option("--crop-pad", "N", "augment: random crop of the image padded by N pixels", &crop_pad,
               0, 1 << 16);
  p.flag("--hflip", "augment: flip images left-right at random", &o.augment.hflip);
  p.double_option("--brightness", "X", "augment: add a random offset in [-X, X]",
                  &o.augment.brightness, 0, 1e3);
  p.double_option("--contrast", "X", "augment: scale around the mean by 1 + [-X, X]",
                  &o.augment.contrast, 0, 1);
  p.int_option("--train-samples", "N", "use only the first N training images", &train_samples, 0,
               INT64_MAX);
  p.int_option("--test-samples", "N", "use only the first N test images", &test_samples, 0,
               INT64_MAX);
}

bool TrainFlags::finish(const NetworkOptions& net, const WeightsOptions& w,
                        DiagnosticEngine& diag) {
  if (data_dir.empty()) {
    diag.error({}, "--data DIR is required (the dataset to train on)", {}, ExitCode::Usage);
    return false;
  }
  // --batch (a network option) is the batch size; a last partial batch is dropped.
  o.batch = net.batch > 0 ? net.batch : 64;
  o.seed = static_cast<uint64_t>(w.seed);  // also shuffling, augmentation and dropout
  o.augment.crop_pad = crop_pad;
  o.schedule.epochs = o.epochs;
  training::parse_schedule_kind(schedule, o.schedule.kind);
  if (!opt.finish(diag)) return false;
  o.training = opt.training;
  return true;
}

std::optional<training::Dataset> TrainFlags::load(DiagnosticEngine& diag) const {
  auto data = training::load_dataset(data_dir, diag);
  if (!data) return std::nullopt;
  auto trim = [](training::Split& s, int64_t n) {
    if (n <= 0 || n >= s.count) return;
    s.count = n;
    s.images.resize(static_cast<size_t>(n * s.sample_elements()));
    s.labels.resize(static_cast<size_t>(n));
  };
  trim(data->train, train_samples);
  trim(data->test, test_samples);
  return data;
}

}  // namespace cnnc::tool
