/* External weights for models compiled with --weights external: a safetensors
 * file (8-byte little-endian header length, JSON header, data). Everything is
 * checked before it is used; the header is parsed by a small recursive
 * descent parser for exactly the JSON safetensors allows. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cnnc.h"
#include "cnnrt_internal.h"

#define MAX_HEADER 100000000ULL

typedef struct {
  const char* s;
  size_t n, i;
  const char* error;
} lexer;

typedef struct {
  char name[256];
  char dtype[16];
  int rank;
  int64_t shape[8];
  uint64_t begin, end;
} entry;

static void skip_ws(lexer* L) {
  while (L->i < L->n &&
         (L->s[L->i] == ' ' || L->s[L->i] == '\t' || L->s[L->i] == '\n' || L->s[L->i] == '\r'))
    ++L->i;
}
static int eat(lexer* L, char c) {
  skip_ws(L);
  if (L->i < L->n && L->s[L->i] == c) {
    ++L->i;
    return 1;
  }
  return 0;
}
static int fail(lexer* L, const char* why) {
  if (!L->error) L->error = why;
  return 0;
}

/* A JSON string into out (ASCII escapes only; longer names are refused). */
static int string(lexer* L, char* out, size_t cap) {
  skip_ws(L);
  if (L->i >= L->n || L->s[L->i] != '"') return fail(L, "expected a string");
  ++L->i;
  size_t k = 0;
  while (L->i < L->n && L->s[L->i] != '"') {
    char c = L->s[L->i++];
    if (c == '\\') {
      if (L->i >= L->n) return fail(L, "unterminated string");
      char e = L->s[L->i++];
      if (e == 'u') return fail(L, "\\u escapes in tensor names are not supported");
      c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
    }
    if (k + 1 >= cap) return fail(L, "a name is too long");
    out[k++] = c;
  }
  if (L->i >= L->n) return fail(L, "unterminated string");
  ++L->i;
  out[k] = 0;
  return 1;
}

static int uint_value(lexer* L, uint64_t* v) {
  skip_ws(L);
  size_t start = L->i;
  *v = 0;
  while (L->i < L->n && L->s[L->i] >= '0' && L->s[L->i] <= '9') {
    if (*v > (UINT64_MAX - 9) / 10) return fail(L, "a number is too large");
    *v = *v * 10 + (uint64_t)(L->s[L->i++] - '0');
  }
  return L->i > start ? 1 : fail(L, "expected a non-negative integer");
}

/* Reads __metadata__ (an object of strings), keeping "cnnc.layout" and the
 * training step count "cnnc.step". */
static int read_metadata(lexer* L, char* layout, size_t cap, int64_t* step) {
  char key[256], value[1024];
  if (!eat(L, '{')) return fail(L, "__metadata__ must be an object");
  if (eat(L, '}')) return 1;
  do {
    if (!string(L, key, sizeof key) || !eat(L, ':') || !string(L, value, sizeof value)) return 0;
    if (!strcmp(key, "cnnc.layout")) {
      size_t n = strlen(value) < cap - 1 ? strlen(value) : cap - 1;
      memcpy(layout, value, n);
      layout[n] = 0;
    } else if (!strcmp(key, "cnnc.step")) {
      char* end = NULL;
      errno = 0;
      long long v = strtoll(value, &end, 10);
      if (errno || !*value || *end || v < 0) return fail(L, "cnnc.step is not a step count");
      *step = v;
    }
  } while (eat(L, ','));
  return eat(L, '}') ? 1 : fail(L, "expected '}' after __metadata__");
}

static int entry_value(lexer* L, entry* e) {
  char key[32];
  int have = 0;
  if (!eat(L, '{')) return fail(L, "a tensor entry must be an object");
  do {
    if (!string(L, key, sizeof key) || !eat(L, ':')) return 0;
    if (!strcmp(key, "dtype")) {
      if (!string(L, e->dtype, sizeof e->dtype)) return 0;
      have |= 1;
    } else if (!strcmp(key, "shape")) {
      if (!eat(L, '[')) return fail(L, "shape must be a list");
      e->rank = 0;
      if (!eat(L, ']')) {
        do {
          uint64_t v;
          if (e->rank >= 8 || !uint_value(L, &v) || v > INT64_MAX) return fail(L, "invalid shape");
          e->shape[e->rank++] = (int64_t)v;
        } while (eat(L, ','));
        if (!eat(L, ']')) return fail(L, "expected ']' after the shape");
      }
      have |= 2;
    } else if (!strcmp(key, "data_offsets")) {
      if (!eat(L, '[') || !uint_value(L, &e->begin) || !eat(L, ',') || !uint_value(L, &e->end) ||
          !eat(L, ']'))
        return fail(L, "data_offsets must be [begin, end]");
      have |= 4;
    } else {
      return fail(L, "unknown key in a tensor entry");
    }
  } while (eat(L, ','));
  if (!eat(L, '}')) return fail(L, "expected '}' after a tensor entry");
  return have == 7 ? 1 : fail(L, "a tensor entry needs dtype, shape and data_offsets");
}

int cnnrt_load_weights(const cnnrt_model_desc* d, const char* path, uint8_t** out, int64_t* step,
                       char* why, size_t cap) {
  *out = NULL;
  *step = 0;
  /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
   * forever before the regular-file check could refuse it. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, cap, "%s: cannot open: %s", path, strerror(errno));
    return CNNC_ERR_WEIGHTS;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    snprintf(why, cap, "%s: not a regular file", path);
    close(fd);
    return CNNC_ERR_WEIGHTS;
  }
  FILE* f = fdopen(fd, "rb");
  if (!f) {
    snprintf(why, cap, "%s: cannot open: %s", path, strerror(errno));
    close(fd);
    return CNNC_ERR_WEIGHTS;
  }
  uint64_t size = (uint64_t)st.st_size;
  unsigned char len8[8];
  if (size < 8 || fread(len8, 1, 8, f) != 8) {
    snprintf(why, cap, "%s: truncated: %llu bytes, need at least 8", path,
             (unsigned long long)size);
    fclose(f);
    return CNNC_ERR_WEIGHTS;
  }
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | len8[i];
  if (hlen > MAX_HEADER || hlen > size - 8) {
    snprintf(why, cap, "%s: header length %llu runs past the end of the file (%llu bytes)", path,
             (unsigned long long)hlen, (unsigned long long)size);
    fclose(f);
    return CNNC_ERR_WEIGHTS;
  }
  char* header = (char*)malloc(hlen + 1);
  entry* entries = (entry*)calloc((size_t)d->num_weights + 1, sizeof(entry));
  uint8_t* w = NULL;
  int status = CNNC_ERR_WEIGHTS;
  if (!header || !entries || posix_memalign((void**)&w, 64, (size_t)d->weights_bytes + 64) != 0) {
    snprintf(why, cap, "%s: out of memory", path);
    status = CNNC_ERR_NOMEM;
    goto done;
  }
  if (fread(header, 1, hlen, f) != hlen) {
    snprintf(why, cap, "%s: read failed", path);
    goto done;
  }
  uint64_t data_size = size - 8 - hlen;
  lexer L = {header, (size_t)hlen, 0, NULL};
  if (!eat(&L, '{')) {
    snprintf(why, cap, "%s: header is not a JSON object", path);
    goto done;
  }
  int found = 0;
  char layout[256] = "";
  if (!eat(&L, '}')) {
    do {
      entry e;
      memset(&e, 0, sizeof e);
      if (!string(&L, e.name, sizeof e.name) || !eat(&L, ':')) break;
      if (!strcmp(e.name, "__metadata__")) {
        if (!read_metadata(&L, layout, sizeof layout, step)) break;
        continue;
      }
      if (!entry_value(&L, &e)) break;
      for (int32_t k = 0; k < d->num_weights; ++k) {
        if (strcmp(d->weights[k].name, e.name)) continue;
        if (entries[k].name[0]) {
          L.error = "a tensor is listed twice";
          break;
        }
        entries[k] = e;
        ++found;
      }
    } while (!L.error && eat(&L, ','));
    if (!L.error && !eat(&L, '}')) L.error = "expected ',' or '}'";
  }
  if (L.error) {
    snprintf(why, cap, "%s: invalid header at byte %zu: %s", path, L.i, L.error);
    goto done;
  }
  /* Tensors of the right names and shapes in another layout (a square linear
   * layer untransposed) would be misread silently: the layout must match. */
  if (strcmp(layout, d->weights_layout)) {
    snprintf(why, cap,
             "%s: %s; model '%s' needs weights in its kernel layout %s (the file `cnnc compile "
             "--store-weights "
             "external` writes)",
             path, layout[0] ? "holds weights of another layout" : "has no cnnc.layout metadata",
             d->name, d->weights_layout);
    goto done;
  }
  for (int32_t k = 0; k < d->num_weights; ++k) {
    const cnnrt_weight_desc* wd = &d->weights[k];
    const entry* e = &entries[k];
    if (!e->name[0]) {
      snprintf(why, cap, "%s: tensor '%s' is missing (%d of %d tensors found)", path, wd->name,
               found, d->num_weights);
      goto done;
    }
    if (strcmp(e->dtype, "F32")) {
      snprintf(why, cap, "%s: tensor '%s' is %s; the model needs F32", path, wd->name, e->dtype);
      goto done;
    }
    int same = e->rank == wd->rank;
    for (int i = 0; same && i < wd->rank; ++i) same = e->shape[i] == wd->shape[i];
    if (!same) {
      snprintf(why, cap,
               "%s: tensor '%s' has another shape than the model's (rank %d vs %d, first dim %lld "
               "vs %lld)",
               path, wd->name, e->rank, wd->rank, (long long)(e->rank ? e->shape[0] : 0),
               (long long)(wd->rank ? wd->shape[0] : 0));
      goto done;
    }
    if (e->end < e->begin || e->end - e->begin != (uint64_t)wd->bytes || e->end > data_size) {
      snprintf(why, cap,
               "%s: tensor '%s': data_offsets [%llu, %llu] do not fit %lld bytes in %llu (file "
               "truncated?)",
               path, wd->name, (unsigned long long)e->begin, (unsigned long long)e->end,
               (long long)wd->bytes, (unsigned long long)data_size);
      goto done;
    }
    if (fseek(f, (long)(8 + hlen + e->begin), SEEK_SET) != 0 ||
        fread(w + wd->offset, 1, (size_t)wd->bytes, f) != (size_t)wd->bytes) {
      snprintf(why, cap, "%s: cannot read tensor '%s'", path, wd->name);
      goto done;
    }
  }
  *out = w;
  w = NULL;
  status = CNNC_OK;
done:
  free(w);
  free(header);
  free(entries);
  fclose(f);
  return status;
}

/* JSON-escapes s into out (names are ASCII; quotes and backslashes escaped). */
static void json_string(FILE* f, const char* s) {
  fputc('"', f);
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') fputc('\\', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

int cnnrt_save_weights(const cnnrt_model_desc* d, const uint8_t* weights, int64_t step,
                       const char* path, char* why, size_t cap) {
  /* The header first, in memory, to know its length. */
  char* header = NULL;
  size_t header_len = 0;
  FILE* h = open_memstream(&header, &header_len);
  if (!h) {
    snprintf(why, cap, "%s: out of memory", path);
    return CNNC_ERR_NOMEM;
  }
  fputs("{\"__metadata__\":{\"cnnc.network\":", h);
  json_string(h, d->name);
  fputs(",\"cnnc.layout\":", h);
  json_string(h, d->weights_layout);
  fprintf(h, ",\"cnnc.step\":\"%lld\"}", (long long)step);
  uint64_t at = 0;
  for (int32_t k = 0; k < d->num_weights; ++k) {
    const cnnrt_weight_desc* w = &d->weights[k];
    fputc(',', h);
    json_string(h, w->name);
    fputs(":{\"dtype\":\"F32\",\"shape\":[", h);
    for (int i = 0; i < w->rank; ++i) fprintf(h, "%s%lld", i ? "," : "", (long long)w->shape[i]);
    fprintf(h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)at,
            (unsigned long long)(at + (uint64_t)w->bytes));
    at += (uint64_t)w->bytes;
  }
  fputc('}', h);
  if (fclose(h) != 0) {
    free(header);
    snprintf(why, cap, "%s: out of memory", path);
    return CNNC_ERR_NOMEM;
  }
  /* Written beside the target, flushed, then renamed over it: a crash leaves
   * the old file or the new one, never a torn one. */
  size_t plen = strlen(path);
  char* tmp = (char*)malloc(plen + 16);
  if (!tmp) {
    free(header);
    snprintf(why, cap, "%s: out of memory", path);
    return CNNC_ERR_NOMEM;
  }
  snprintf(tmp, plen + 16, "%s.tmp", path);
  int status = CNNC_ERR_IO;
  FILE* f = fopen(tmp, "wb");
  if (!f) {
    snprintf(why, cap, "%s: cannot write: %s", tmp, strerror(errno));
    goto done;
  }
  unsigned char len8[8];
  for (int i = 0; i < 8; ++i) len8[i] = (unsigned char)((uint64_t)header_len >> (8 * i));
  int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, header_len, f) == header_len;
  for (int32_t k = 0; ok && k < d->num_weights; ++k)
    ok = fwrite(weights + d->weights[k].offset, 1, (size_t)d->weights[k].bytes, f) ==
         (size_t)d->weights[k].bytes;
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  int err = errno;
  if (fclose(f) != 0 && ok) {
    ok = 0;
    err = errno;
  }
  if (!ok) {
    snprintf(why, cap, "%s: write failed: %s", tmp, strerror(err));
    remove(tmp);
    goto done;
  }
  if (rename(tmp, path) != 0) {
    snprintf(why, cap, "%s: cannot rename into place: %s", path, strerror(errno));
    remove(tmp);
    goto done;
  }
  status = CNNC_OK;
done:
  free(tmp);
  free(header);
  return status;
}
