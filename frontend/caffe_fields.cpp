#include "frontend/caffe_fields.h"

#include <map>

namespace cnnc::frontend {

namespace {

using Fields = std::vector<std::string>;

const std::map<std::string, Fields, std::less<>>& schema() {
  static const Fields filler = {"type", "value", "min",    "max",
                                "mean", "std",   "sparse", "variance_norm"};
  static const std::map<std::string, Fields, std::less<>> s = {
      {"layer",
       {"name",
        "type",
        "bottom",
        "top",
        "phase",
        "loss_weight",
        "param",
        "blobs",
        "propagate_down",
        "include",
        "exclude",
        "transform_param",
        "loss_param",
        "accuracy_param",
        "argmax_param",
        "batch_norm_param",
        "bias_param",
        "clip_param",
        "concat_param",
        "contrastive_loss_param",
        "convolution_param",
        "crop_param",
        "data_param",
        "dropout_param",
        "dummy_data_param",
        "eltwise_param",
        "elu_param",
        "embed_param",
        "exp_param",
        "flatten_param",
        "hdf5_data_param",
        "hdf5_output_param",
        "hinge_loss_param",
        "image_data_param",
        "infogain_loss_param",
        "inner_product_param",
        "input_param",
        "log_param",
        "lrn_param",
        "memory_data_param",
        "mvn_param",
        "parameter_param",
        "pooling_param",
        "power_param",
        "prelu_param",
        "python_param",
        "recurrent_param",
        "reduction_param",
        "relu_param",
        "reshape_param",
        "scale_param",
        "sigmoid_param",
        "softmax_param",
        "spp_param",
        "slice_param",
        "swish_param",
        "tanh_param",
        "threshold_param",
        "tile_param",
        "window_data_param"}},
      {"input_param", {"shape"}},
      {"shape", {"dim"}},
      {"elu_param", {"alpha"}},
      {"dropout_param", {"dropout_ratio"}},
      {"softmax_param", {"engine", "axis"}},
      {"concat_param", {"axis", "concat_dim"}},
      {"flatten_param", {"axis", "end_axis"}},
      {"convolution_param",
       {"num_output", "bias_term", "pad", "kernel_size", "stride", "dilation", "pad_h", "pad_w",
        "kernel_h", "kernel_w", "stride_h", "stride_w", "group", "weight_filler", "bias_filler",
        "engine", "axis", "force_nd_im2col"}},
      {"pooling_param",
       {"pool", "pad", "pad_h", "pad_w", "kernel_size", "kernel_h", "kernel_w", "stride",
        "stride_h", "stride_w", "engine", "global_pooling", "round_mode"}},
      {"inner_product_param",
       {"num_output", "bias_term", "weight_filler", "bias_filler", "axis", "transpose"}},
      {"relu_param", {"negative_slope", "engine"}},
      {"sigmoid_param", {"engine"}},
      {"tanh_param", {"engine"}},
      {"lrn_param", {"local_size", "alpha", "beta", "norm_region", "k", "engine"}},
      {"eltwise_param", {"operation", "coeff", "stable_prod_grad"}},
      {"batch_norm_param", {"use_global_stats", "moving_average_fraction", "eps"}},
      {"scale_param", {"axis", "num_axes", "filler", "bias_term", "bias_filler"}},
      {"weight_filler", filler},
      {"bias_filler", filler},
      {"filler", filler},
      {"include", {"phase", "min_level", "max_level", "stage", "not_stage"}},
      {"exclude", {"phase", "min_level", "max_level", "stage", "not_stage"}},
      {"param", {"name", "share_mode", "lr_mult", "decay_mult"}},
  };
  return s;
}

}  // namespace

const std::vector<std::string>* caffe_message_fields(std::string_view field) {
  auto it = schema().find(field);
  return it == schema().end() ? nullptr : &it->second;
}

}  // namespace cnnc::frontend
