// The Halide algorithm templates, one per kernel family, each reading its
// tiling from a Schedule. Internal to backends/halide: it includes Halide.h,
// which costs ~10 s per translation unit, so only the template files and the
// kernel compiler include it.
#pragma once

#include <optional>
#include <vector>

#include "Halide.h"
#include "backends/halide/kernel_spec.h"

namespace cnnc::halide::tmpl {

/// What a template builds: the output Func and its input buffers in call
/// order (ImageParams, so the tuner can bind buffers to them and run the
/// kernel with Halide's JIT).
struct Built {
  Halide::Func output;
  std::vector<Halide::ImageParam> args;
  std::vector<Halide::Argument> arguments() const { return {args.begin(), args.end()}; }
};

/// An input buffer whose bounds and strides are the constants of `g`, so the
/// compiled code is specialised to them (and checks them at run time).
Halide::ImageParam fixed_input(const Geometry& g, const std::string& name);
/// Fixes the output buffer of `f` to `g`.
void fix_output(Halide::Func& f, const Geometry& g);

/// The buffers of a conv or linear kernel, in call order: x, w, then the bias
/// and the residual when the spec has them (appended to b.args).
struct ProductArgs {
  Halide::ImageParam x, w;
  std::optional<Halide::ImageParam> bias, res;
};
ProductArgs product_args(const KernelSpec& k, Built& b);

/// Pads the storage of `f`, an internal stage that vector loops read along
/// `dim`, to a multiple of `lanes` there. Two Halide 14 bugs, each found by
/// the differential tester (test/fuzz/difftest.py), need it:
///  - a vector loop of two iterations whose guarded tail holds one lane,
///    reading `f` through a value used twice (an epilogue's select): the
///    simplifier takes the odd lanes of the tail's predicated load for an
///    access past the allocation, declares the tail unreachable and deletes
///    it, so the row's last output is never written;
///  - stride-2 vector loads from rows whose length is not a multiple of the
///    vector: the dense loads they are made of are emitted as aligned
///    (vmovaps) at unaligned addresses, and the kernel dies of SIGSEGV.
void pad_storage(Halide::Func f, const Halide::Var& dim, int lanes);

/// The largest divisor of n that is ≤ limit (≥ 1).
int divisor_at_most(int n, int limit);

/// The fused epilogue's activation applied to v. NaN in, NaN out, and
/// finite at any finite input (PyTorch's semantics), though Halide compiles
/// float code with fast-math flags.
Halide::Expr activate(const ir::Activation& act, Halide::Expr v);
/// e^v as float32 has it for every v (0 below -104, +inf above 89, NaN for
/// NaN): Halide's own exp overflows its exponent for |v| >~ 2^31 / log2(e).
Halide::Expr exp_safe(Halide::Expr v);
/// select(is_nan(v), v, f), kept strict under fast-math.
Halide::Expr keep_nan(Halide::Expr v, Halide::Expr f);
/// max(a, b) that is NaN when either is (PyTorch's max pooling and softmax).
Halide::Expr nan_max(Halide::Expr a, Halide::Expr b);

/// The accumulator acc(x, y, channel, n) of a convolution-like template,
/// computed per register tile at out's `xo`: vectors of V along x, unrolled
/// over the tile's vectors and channels, the reduction `r` inside.
void schedule_tile_accumulator(Halide::Func& acc, Halide::Func& out, const Halide::Var& xo,
                               const Halide::RDom& r, int V);

/// A convolution-like sum for output maps narrower than two vectors, where
/// vectors along a row would leave lanes empty: the output pixels of all
/// images are one dimension p = x + Wo·(y + Ho·n), gathered ("im2col") into a
/// buffer with p innermost, so that register tiles of tile_k channels ×
/// tile_x vectors of pixels fill every lane. A parallel task is
/// parallel_split whole images; within it, each block of tiles gathers its
/// pixels once (~160 KiB, in L2) and every channel tile streams its weights
/// past them.
struct PixelSum {
  Halide::Func src;   ///< src(u, v, channel, n): the input, zero wherever a tap lands outside
  Halide::Func wt;    ///< wt(s, r, cg, oc)
  Halide::Func init;  ///< init(oc): the sum's start (the bias, or 0)
  int S = 1, R = 1;   ///< taps
  int channels = 1;   ///< of src
  int in_group = 1, out_group = 1;  ///< channels per group summed over, and computed
  bool grouped = false;
  /// The source pixel of output (x, y), tap (s, r): x·step_x + s·dil_x + off_x, likewise in y.
  int step_x = 1, step_y = 1, dil_x = 1, dil_y = 1, off_x = 0, off_y = 0;
};
struct PixelStages {
  Halide::Func col, acc;  ///< col(p, s, r, channel); acc(p, oc): one register tile
  Halide::Func group;     ///< group(p, oc): a task's sums
  Halide::Func sum;       ///< sum(x, y, oc, n): the sum at the pixel's index, inlined into out
  Halide::RDom r;         ///< acc's reduction: taps s, r, then the group's channels
  int width = 0, image = 0, pixels = 0;  ///< Wo, Wo·Ho, N·Wo·Ho
  int64_t col_bytes = 0;                 ///< gathered bytes per pixel
};
/// The stages for an output of geometry `gy` ([Wo, Ho, channels, N]).
PixelStages pixel_sum(const PixelSum& p, const Geometry& gy);
/// Schedules `out` (args (x, y, oc, n), reading st.sum) and the stages.
void schedule_pixel_sum(PixelStages& st, Halide::Func& out, const Schedule& s);

Built conv(const KernelSpec& k, const Schedule& s);
Built conv_blocked(const KernelSpec& k, const Schedule& s);   ///< KernelSpec::block > 0
Built conv_winograd(const KernelSpec& k, const Schedule& s);  ///< KernelSpec::winograd
Built linear(const KernelSpec& k, const Schedule& s);
Built pool(const KernelSpec& k, const Schedule& s);  ///< max, avg
/// Average pooling's divisor for the window starting at (ws, hs) of a W×H
/// input: the window clipped to the padded input, or to the input.
Halide::Expr avg_pool_count(const KernelSpec& k, Halide::Expr ws, Halide::Expr hs, int W, int H);
Built global_avg_pool(const KernelSpec& k, const Schedule& s);
Built lrn(const KernelSpec& k, const Schedule& s);
Built softmax(const KernelSpec& k, const Schedule& s);
Built elementwise(const KernelSpec& k, const Schedule& s);

/// f'(v) of the activation, from its input, or from its output when
/// `from_output` (ir::activation_grad_reads_output).
Halide::Expr activate_grad(const ir::Activation& act, bool from_output, Halide::Expr v);
/// The factor training-mode dropout multiplies element `index` by.
Halide::Expr dropout_factor(const KernelSpec& k, const Halide::ImageParam& seed,
                            Halide::Expr index);

// Training (templates_grad.cpp).
Built conv_grad_input(const KernelSpec& k, const Schedule& s);
Built conv_grad_weight(const KernelSpec& k, const Schedule& s);
Built channel_sum(const KernelSpec& k, const Schedule& s);
Built max_pool_grad(const KernelSpec& k, const Schedule& s);
Built avg_pool_grad(const KernelSpec& k, const Schedule& s);
Built batch_norm_train(const KernelSpec& k, const Schedule& s);
Built batch_norm_stats(const KernelSpec& k, const Schedule& s);
Built batch_norm_grad(const KernelSpec& k, const Schedule& s);
Built loss(const KernelSpec& k, const Schedule& s);
Built update(const KernelSpec& k, const Schedule& s);
Built lrn_grad(const KernelSpec& k, const Schedule& s);
Built softmax_grad(const KernelSpec& k, const Schedule& s);

/// Dispatches on the family.
Built build(const KernelSpec& k, const Schedule& s);

}  // namespace cnnc::halide::tmpl
