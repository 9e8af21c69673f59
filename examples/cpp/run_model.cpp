// Runs a model compiled by cnnc on one .npy input, in C++, and prints the
// five best classes of the first image.
//
//   cnnc compile examples/resnet18.json -o libresnet18.so     (writes resnet18.h too)
//   c++ -O2 -std=c++17 -I. -Iexamples/c -Iexamples/cpp -DMODEL_HEADER='"resnet18.h"'
//       examples/cpp/run_model.cpp -L. -l:libresnet18.so -Wl,-rpath,'$ORIGIN' -o run_resnet18
//   (one command)
//   ./run_resnet18 image.npy [scores.npy] [weights.safetensors]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>

#ifndef MODEL_HEADER
#error "compile with -DMODEL_HEADER='\"NAME.h\"' (the header cnnc compile wrote)"
#endif
#include MODEL_HEADER
#include "cnnc_model.hpp"
#include "npy.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s INPUT.npy [OUTPUT.npy] [WEIGHTS.safetensors]\n", argv[0]);
    return 2;
  }
  try {
    cnnc::Model model(argc > 3 ? argv[3] : "");
    std::vector<cnnc::Tensor> in = cnnc::Model::inputs();
    float* data = nullptr;
    int64_t shape[NPY_MAX_RANK];
    int rank = 0;
    char err[512];
    if (npy_read(argv[1], &data, shape, &rank, err, sizeof err) != 0) throw std::runtime_error(err);
    if (std::vector<int64_t>(shape, shape + rank) != in[0].shape) {
      std::free(data);
      throw std::runtime_error(std::string(argv[1]) + ": not of the shape of input '" + in[0].name +
                               "'");
    }
    std::copy(data, data + in[0].data.size(), in[0].data.begin());
    std::free(data);

    std::vector<cnnc::Tensor> out = model.run(in);
    const cnnc::Tensor& scores = out[0];
    if (argc > 2 && npy_write(argv[2], scores.data.data(), scores.shape.data(),
                              static_cast<int>(scores.shape.size())))
      throw std::runtime_error(std::string(argv[2]) + ": cannot write");
    const size_t classes = scores.data.size() / static_cast<size_t>(scores.shape[0]);
    std::vector<size_t> order(classes);
    std::iota(order.begin(), order.end(), 0);
    const size_t k = std::min<size_t>(5, classes);
    std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(),
                      [&](size_t a, size_t b) { return scores.data[a] > scores.data[b]; });
    std::printf("%s: output '%s', top %zu:", cnnc::Model::name().c_str(), scores.name.c_str(), k);
    for (size_t i = 0; i < k; ++i) std::printf(" %zu (%.4g)", order[i], scores.data[order[i]]);
    std::printf("\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
