#include "tools/cnnc/train_options.h"

#include "tools/cnnc/compiled_engines.h"

namespace cnnc::tool {

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
  p.choice("--backend",
           "what runs the steps and the validation: compiled (a library of generated kernels, "
           "built once; the kernel cache keeps it quick), reference (the double-precision "
           "interpreter) or auto (default: compiled, else reference with a note saying why the "
           "step could not be compiled)",
           &backend, {"auto", "compiled", "reference"});

  p.choice(
      "--schedule",
      "learning-rate schedule: cosine (default: from --lr to --min-lr over the run), constant, "
      "step (x --lr-factor every --step-epochs), plateau (x --lr-factor after --patience "
      "epochs without a better test accuracy)",
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

void TrainFlags::use_backend(bool quiet, const ir::ShapeOptions& shapes) {
  if (backend == "reference") return;
  CompileOptions co;
  co.quiet = quiet;
  o.engines = compiled_engines(co, shapes, backend == "auto");
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
