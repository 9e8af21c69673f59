/* npy.h: read and write float32 .npy files (C order), for the example
 * programs. Header-only; no dependencies beyond libc.
 *
 *   float* data; int64_t shape[8]; int rank;
 *   if (npy_read("x.npy", &data, shape, &rank, err, sizeof err) != 0) ...
 *   npy_write("y.npy", data, shape, rank);
 */
#ifndef CNNC_EXAMPLE_NPY_H
#define CNNC_EXAMPLE_NPY_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAX_RANK 8

/* Reads a float32 little-endian C-order array. Returns 0, or -1 with `err` set. */
static inline int npy_read(const char* path, float** data, int64_t* shape, int* rank, char* err,
                           size_t err_size) {
  FILE* f = fopen(path, "rb");
  if (!f) {
    snprintf(err, err_size, "%s: cannot open", path);
    return -1;
  }
  unsigned char pre[10];
  char header[4096];
  int ok = fread(pre, 1, 10, f) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1;
  size_t hlen = ok ? (size_t)pre[8] | ((size_t)pre[9] << 8) : 0;
  ok = ok && hlen < sizeof header && fread(header, 1, hlen, f) == hlen;
  if (!ok) {
    snprintf(err, err_size, "%s: not a version 1 .npy file", path);
    fclose(f);
    return -1;
  }
  header[hlen] = 0;
  if (!strstr(header, "'descr': '<f4'") || !strstr(header, "'fortran_order': False")) {
    snprintf(err, err_size, "%s: not a float32 C-order array", path);
    fclose(f);
    return -1;
  }
  const char* p = strstr(header, "'shape': (");
  int64_t n = 1;
  *rank = 0;
  if (p) {
    p += 10;
    while (*p && *p != ')') {
      if (*p >= '0' && *p <= '9') {
        if (*rank == NPY_MAX_RANK) break;
        int64_t d = strtoll(p, (char**)&p, 10);
        shape[(*rank)++] = d;
        n *= d;
      } else {
        ++p;
      }
    }
  }
  *data = (float*)malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
  if (!*data || fread(*data, sizeof(float), (size_t)n, f) != (size_t)n) {
    snprintf(err, err_size, "%s: truncated data (%lld values expected)", path, (long long)n);
    free(*data);
    *data = NULL;
    fclose(f);
    return -1;
  }
  fclose(f);
  return 0;
}

/* Writes a float32 C-order array. Returns 0, or -1. */
static inline int npy_write(const char* path, const float* data, const int64_t* shape, int rank) {
  char dims[256] = "";
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) {
    char d[32];
    snprintf(d, sizeof d, "%s%lld", i ? ", " : "", (long long)shape[i]);
    strcat(dims, d);
    n *= shape[i];
  }
  if (rank == 1) strcat(dims, ",");
  char header[512];
  int len = snprintf(header, sizeof header,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }", dims);
  while ((10 + len + 1) % 64 != 0) header[len++] = ' ';
  header[len++] = '\n';
  FILE* f = fopen(path, "wb");
  if (!f) return -1;
  unsigned char pre[10] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(len & 0xff), (unsigned char)(len >> 8)};
  int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)len, f) == (size_t)len &&
           fwrite(data, sizeof(float), (size_t)n, f) == (size_t)n;
  return fclose(f) == 0 && ok ? 0 : -1;
}

#endif
