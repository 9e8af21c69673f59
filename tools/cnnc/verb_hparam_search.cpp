// cnnc hparam-search: random search of the learning rate and weight decay
// (log space, coarse then fine) with short training runs scored on a
// validation split; prints a ranked table and the best configuration.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "support/file_io.h"
#include "support/interrupt.h"
#include "tools/cnnc/train_options.h"
#include "tools/cnnc/verbs.h"
#include "training/hparam_search.h"

namespace cnnc::tool {

namespace {

std::string row(const training::Trial& t, int64_t rank) {
  char acc[16] = "", vloss[16] = "-", tloss[16] = "-";
  if (t.status == "ok") {
    std::snprintf(acc, sizeof acc, "%.2f%%", 100 * t.val_accuracy);
    if (std::isfinite(t.val_loss)) std::snprintf(vloss, sizeof vloss, "%.4f", t.val_loss);
    std::snprintf(tloss, sizeof tloss, "%.4f", t.train_loss);
  } else {
    std::snprintf(acc, sizeof acc, "%s", t.status.c_str());
  }
  char buf[200];
  std::snprintf(buf, sizeof buf, "%-5lld %-6lld %-7s %-10.3g %-13.3g %-9s %-9s %-11s %7.1f",
                static_cast<long long>(rank), static_cast<long long>(t.index),
                t.fine ? "fine" : "coarse", t.lr, t.weight_decay, acc, vloss, tloss, t.seconds);
  return buf;
}

}  // namespace

int verb_hparam_search(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  WeightsOptions w;
  TrainFlags tf;
  training::SearchOptions so;
  std::string net, out_csv;
  bool quiet = false;
  tf.o.epochs = 1;
  ArgParser p("cnnc hparam-search NET --data DIR [--trials N] [--budget SECONDS] [options]",
              "Searches the learning rate and weight decay at random in log space: the first "
              "half of the trials over the whole ranges (coarse), the rest around the best so far "
              "(fine: ±0.25 decades of learning rate, ±0.5 of weight decay). Each trial is a "
              "short cnnc train run (--epochs, default 1; --train-samples to shorten it further) "
              "from the same initial weights and seed, scored by its accuracy on a validation "
              "split held out from the training images (the test images are not used). Prints "
              "the trials ranked and the best configuration as a cnnc train command line.");
  p.positional("NET", kNetHelp, &net);
  tf.add_to(p, /*searched=*/true);
  p.int_option("--trials", "N", "trials in all (default 12)", &so.trials, 1, 100000);
  p.double_option("--budget", "SECONDS", "start no trial after this much time (default: none)",
                  &so.budget_s, 0, 1e9);
  p.double_option("--lr-min", "X", "smallest learning rate tried (default 1e-4)", &so.lr_min, 1e-12,
                  1e6);
  p.double_option("--lr-max", "X", "largest learning rate tried (default 0.3)", &so.lr_max, 1e-12,
                  1e6);
  p.double_option("--wd-min", "X", "smallest weight decay tried (default 1e-6)", &so.wd_min, 1e-12,
                  1e6);
  p.double_option("--wd-max", "X", "largest weight decay tried (default 1e-2)", &so.wd_max, 1e-12,
                  1e6);
  p.double_option("--validation-fraction", "X",
                  "share of the training images held out for scoring (default 0.1)",
                  &so.validation_fraction, 0.001, 0.5);
  p.option("-o", "FILE.csv", "also write the ranked trials as CSV", [&](const std::string& v) {
    out_csv = v;
    return std::string();
  });
  p.flag("--quiet", "no line per trial", &quiet);
  w.add_to(p, /*allow_file=*/true);
  p.epilog(
      "--epochs defaults to 1 here. --batch B sets the batch size (default 64).\n\n"
      "example: cnnc hparam-search examples/lenet5.json --data "
      "/usr/share/datasets/fashion-mnist --train-samples 12000 --trials 10\n\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    if (!tf.finish(net_opts, w, diag)) return;
    tf.use_backend(/*quiet=*/true, net_opts.frontend.shapes);
    if (so.lr_min > so.lr_max || so.wd_min > so.wd_max) {
      diag.error({}, "--lr-min/--wd-min must not exceed --lr-max/--wd-max", {}, ExitCode::Usage);
      return;
    }
    auto data = tf.load(diag);
    if (!data) return;
    provide_weights(graph, w, diag);
    {  // the network and data must fit before any trial (errors name the place)
      const training::Dataset split = training::validation_split(*data, so.validation_fraction);
      training::Trainer check(graph.clone(), split, tf.o, diag);
      if (diag.has_errors()) return;
    }
    InterruptScope interrupts;
    const std::string header =
        "rank  trial  phase   lr         weight_decay  val acc   val loss  train loss  seconds";
    if (!quiet)
      std::fprintf(stderr, "cnnc: hparam-search: %lld trials, %lld epoch(s) each\n",
                   static_cast<long long>(so.trials), static_cast<long long>(tf.o.epochs));
    auto trials = training::hparam_search(graph, *data, tf.o, so, [&](const training::Trial& t) {
      if (!quiet) std::fprintf(stderr, "trial %s\n", row(t, 0).substr(6).c_str());
    });
    auto best = training::ranked(trials);
    std::printf("%s\n", header.c_str());
    std::string csv =
        "rank,trial,phase,lr,weight_decay,status,val_accuracy,val_loss,train_loss,seconds\n";
    for (size_t i = 0; i < best.size(); ++i) {
      const training::Trial& t = best[i];
      std::printf("%s\n", row(t, static_cast<int64_t>(i + 1)).c_str());
      char line[256];
      std::snprintf(line, sizeof line, "%zu,%lld,%s,%.6g,%.6g,%s,%.6f,%.6g,%.6g,%.2f\n", i + 1,
                    static_cast<long long>(t.index), t.fine ? "fine" : "coarse", t.lr,
                    t.weight_decay, t.status.c_str(), t.val_accuracy, t.val_loss, t.train_loss,
                    t.seconds);
      csv += line;
    }
    if (!out_csv.empty()) write_output_file_atomically(out_csv, csv, diag);
    if (best.empty() || best[0].status != "ok") {
      diag.error(
          {}, "no trial finished (every one diverged or was interrupted): try a smaller --lr-max");
      return;
    }
    std::printf("best: --lr %.3g --weight-decay %.3g (validation accuracy %.2f%%)\n", best[0].lr,
                best[0].weight_decay, 100 * best[0].val_accuracy);
    std::printf("cnnc train %s --data %s --optimizer %s --lr %.3g --weight-decay %.3g\n",
                net.c_str(), tf.data_dir.c_str(), tf.opt.optimizer.c_str(), best[0].lr,
                best[0].weight_decay);
    if (interrupted())
      diag.error({}, "interrupted: the table shows the trials finished so far", {},
                 ExitCode::Interrupted);
  });
}

}  // namespace cnnc::tool
