// The fields Caffe's schema (caffe.proto) allows in the messages cnnc reads:
// Caffe's own text-format parser rejects any other, and a misspelt field
// (`strid: 2`) read as absent would silently change the network.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace cnnc::frontend {

/// The fields of the message a field named `field` holds inside a layer
/// ("layer" itself, "convolution_param", "weight_filler", "shape", ...), or
/// null when cnnc does not check that message.
const std::vector<std::string>* caffe_message_fields(std::string_view field);

}  // namespace cnnc::frontend
