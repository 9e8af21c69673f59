// cnnc train --backend compiled: the training step and the validation batches
// run by libraries compiled from the trainer's graphs (training/engine.h).
#pragma once

#include "tools/cnnc/compile_options.h"
#include "training/engine.h"

namespace cnnc::tool {

/// Engines that compile the training graph once (with the training pipeline:
/// fuse-activation, dce, plan-memory) and the network once per validation
/// (the default inference pipeline, with the trained values embedded); the
/// kernel cache makes the later compiles quick.
/// `fallback`: when the training step cannot be compiled (an op without a
/// compiled backward kernel), say so in a note and train on the reference
/// backend instead of failing.
training::Engines compiled_engines(const CompileOptions& co, const ir::ShapeOptions& shapes,
                                   bool fallback);

}  // namespace cnnc::tool
