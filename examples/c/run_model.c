/* Runs a model compiled by cnnc on one .npy input, in plain C.
 *
 *   cnnc compile examples/resnet18.json -o libresnet18.so     (writes resnet18.h too)
 *   cc -O2 -I. -Iexamples/c -DMODEL_HEADER='"resnet18.h"' examples/c/run_model.c \
 *      -L. -l:libresnet18.so -Wl,-rpath,'$ORIGIN' -o run_resnet18
 *   ./run_resnet18 image.npy [scores.npy] [weights.safetensors]
 *
 * Any model works: the program sizes its buffers from the header's constants
 * and checks the input's shape against them. */
#include <stdio.h>
#include <stdlib.h>

#include "npy.h"

#ifndef MODEL_HEADER
#error "compile with -DMODEL_HEADER='\"NAME.h\"' (the header cnnc compile wrote)"
#endif
#include MODEL_HEADER

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s INPUT.npy [OUTPUT.npy] [WEIGHTS.safetensors]\n", argv[0]);
    return 2;
  }
#if CNNC_MODEL_NUM_INPUTS != 1
#error "this example feeds one input"
#endif
  const int64_t want[] = CNNC_MODEL_INPUT0_SHAPE;
  float* input;
  int64_t shape[NPY_MAX_RANK];
  int rank;
  char err[512];
  if (npy_read(argv[1], &input, shape, &rank, err, sizeof err) != 0) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  int same = rank == CNNC_MODEL_INPUT0_RANK;
  for (int i = 0; same && i < rank; ++i) same = shape[i] == want[i];
  if (!same) {
    fprintf(stderr, "%s: the model '%s' takes input '%s' of %d dims", argv[1], CNNC_MODEL_NAME,
            CNNC_MODEL_INPUT0_NAME, CNNC_MODEL_INPUT0_RANK);
    for (int i = 0; i < CNNC_MODEL_INPUT0_RANK; ++i)
      fprintf(stderr, "%s%lld", i ? "x" : " ", (long long)want[i]);
    fprintf(stderr, "\n");
    return 1;
  }

  cnnc_model* m = cnnc_create(argc > 3 ? argv[3] : NULL);
  if (!m) {
    fprintf(stderr, "cnnc_create: %s\n", cnnc_last_error(NULL));
    return 1;
  }
  static float output[CNNC_MODEL_OUTPUT0_ELEMENTS];
  const float* inputs[] = {input};
  float* outputs[] = {output};
  if (cnnc_run(m, inputs, outputs) != CNNC_OK) {
    fprintf(stderr, "cnnc_run: %s\n", cnnc_last_error(m));
    cnnc_destroy(m);
    return 1;
  }
  const int64_t out_shape[] = CNNC_MODEL_OUTPUT0_SHAPE;
  if (argc > 2 && npy_write(argv[2], output, out_shape, CNNC_MODEL_OUTPUT0_RANK) != 0) {
    fprintf(stderr, "%s: cannot write\n", argv[2]);
    return 1;
  }
  /* The best class of the first image. */
  const int64_t classes = CNNC_MODEL_OUTPUT0_ELEMENTS / out_shape[0];
  int64_t best = 0;
  for (int64_t i = 1; i < classes; ++i)
    if (output[i] > output[best]) best = i;
  printf("%s: output '%s', class %lld (score %g)\n", CNNC_MODEL_NAME, CNNC_MODEL_OUTPUT0_NAME,
         (long long)best, output[best]);
  cnnc_destroy(m);
  free(input);
  return 0;
}
