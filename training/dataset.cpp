#include "training/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>

#include "io/npy.h"
#include "support/file_io.h"
#include "support/format.h"

namespace cnnc::training {

namespace fs = std::filesystem;

namespace {

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using Gz = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

// Reads up to n bytes; returns how many were read, or -1 (reported) on a
// decompression error.
int64_t gz_read(gzFile f, char* out, int64_t n, const std::string& path, DiagnosticEngine& diag) {
  int64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - got, 1 << 30));
    const int r = gzread(f, out + got, chunk);
    int code = Z_OK;
    const char* msg = gzerror(f, &code);
    if (r < 0 || (r == 0 && code != Z_OK)) {  // a damaged or cut gzip stream
      std::string text = msg ? msg : "gzip error";
      if (text.starts_with(path + ": ")) text = text.substr(path.size() + 2);  // zlib's prefix
      diag.error(make_file_loc(path), "cannot read: " + text, {}, ExitCode::IoError);
      return -1;
    }
    if (r == 0) break;
    got += r;
  }
  return got;
}

// One IDX file of unsigned bytes with `rank` dimensions: the dims and the data.
// The magic is 0, 0, 0x08 (unsigned byte), rank; dims are big-endian uint32.
struct Idx {
  std::vector<int64_t> dims;
  std::string data;
};

std::optional<Idx> read_idx(const std::string& path, int rank, const DataLimits& limits,
                            DiagnosticEngine& diag) {
  const SourceLoc loc = make_file_loc(path);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    diag.error(loc, "not a regular file", {}, ExitCode::IoError);
    return std::nullopt;
  }
  Gz f(gzopen(path.c_str(), "rb"));
  if (!f) {
    diag.error(loc, "cannot open: " + std::string(std::strerror(errno)), {}, ExitCode::IoError);
    return std::nullopt;
  }
  unsigned char head[4 + 4 * 3];
  const int64_t header = 4 + 4 * rank;
  const int64_t got = gz_read(f.get(), reinterpret_cast<char*>(head), header, path, diag);
  if (got < 0) return std::nullopt;
  const uint32_t magic =
      (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
  const uint32_t want = 0x0800u | static_cast<uint32_t>(rank);
  if (got < 4 || magic != want) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "bad IDX magic 0x%08x (expected 0x%08x)", magic, want);
    diag.error(loc, got < 4 ? "too short for an IDX file (" + std::to_string(got) + " bytes)"
                            : std::string(buf));
    return std::nullopt;
  }
  if (got < header) {
    diag.error(loc, "IDX header truncated: " + std::to_string(got) + " of " +
                        std::to_string(header) + " bytes");
    return std::nullopt;
  }
  Idx idx;
  int64_t bytes = 1;
  std::string dims_text;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* d = head + 4 + 4 * i;
    const int64_t v = (int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | d[3];
    idx.dims.push_back(v);
    dims_text += (i ? "x" : "") + std::to_string(v);
    if (v == 0 || v > limits.max_samples) {
      diag.error(
          loc,
          "IDX dimension " + std::to_string(i) + " is " + std::to_string(v) +
              (v == 0 ? "" : ", more than the limit of " + std::to_string(limits.max_samples)),
          {}, v == 0 ? ExitCode::InvalidInput : ExitCode::ResourceLimit);
      return std::nullopt;
    }
    bytes *= v;  // each factor ≤ 2^26 and the product checked every step: no overflow
    if (bytes > limits.max_bytes) {
      diag.error(loc,
                 "header says " + dims_text + "... = more than " + format_bytes(limits.max_bytes) +
                     " of data (the limit)",
                 {}, ExitCode::ResourceLimit);
      return std::nullopt;
    }
  }
  idx.data.resize(static_cast<size_t>(bytes));
  const int64_t body = gz_read(f.get(), idx.data.data(), bytes, path, diag);
  if (body < 0) return std::nullopt;
  if (body < bytes) {
    diag.error(loc, "header says " + dims_text + " = " + std::to_string(bytes) +
                        " bytes of data, file has " + std::to_string(body));
    return std::nullopt;
  }
  char extra;
  const int64_t more = gz_read(f.get(), &extra, 1, path, diag);
  if (more < 0) return std::nullopt;
  if (more > 0) {
    diag.error(loc, "data continues after the " + std::to_string(bytes) +
                        " bytes the header describes (" + dims_text + ")");
    return std::nullopt;
  }
  return idx;
}

// "name" or "name.gz", whichever exists (plain first).
std::string find_file(const std::string& dir, const std::string& name) {
  std::error_code ec;
  for (const std::string& n : {name, name + ".gz"})
    if (fs::exists(fs::path(dir) / n, ec)) return (fs::path(dir) / n).string();
  return "";
}

bool load_idx_split(const std::string& dir, const std::string& prefix, Split& s,
                    const DataLimits& limits, DiagnosticEngine& diag) {
  const std::string ip = find_file(dir, prefix + "-images-idx3-ubyte");
  const std::string lp = find_file(dir, prefix + "-labels-idx1-ubyte");
  if (ip.empty() || lp.empty()) {
    diag.error(make_file_loc(dir),
               "no " + prefix + "-" + (ip.empty() ? "images-idx3" : "labels-idx1") +
                   "-ubyte[.gz] in this directory",
               {}, ExitCode::IoError);
    return false;
  }
  auto images = read_idx(ip, 3, limits, diag);
  auto labels = read_idx(lp, 1, limits, diag);
  if (!images || !labels) return false;
  if (images->dims[0] != labels->dims[0]) {
    diag.error(make_file_loc(lp), std::to_string(images->dims[0]) + " images but " +
                                      std::to_string(labels->dims[0]) + " labels");
    return false;
  }
  s.images_path = ip;
  s.labels_path = lp;
  s.count = images->dims[0];
  s.sample = ir::Shape{{1, images->dims[1], images->dims[2]}};
  s.images.resize(images->data.size());
  for (size_t i = 0; i < images->data.size(); ++i)
    s.images[i] = static_cast<float>(static_cast<unsigned char>(images->data[i])) / 255.0f;
  s.labels.resize(labels->data.size());
  for (size_t i = 0; i < labels->data.size(); ++i)
    s.labels[i] = static_cast<unsigned char>(labels->data[i]);
  return true;
}

// The .npy files of one kind in name order, concatenated along dim 0.
bool load_npy_split(const std::string& dir, const std::string& prefix, Split& s,
                    DiagnosticEngine& diag) {
  std::vector<std::string> image_files, label_files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (!n.ends_with(".npy")) continue;
    if (n.starts_with(prefix + "_images")) image_files.push_back(e.path().string());
    if (n.starts_with(prefix + "_labels")) label_files.push_back(e.path().string());
  }
  std::sort(image_files.begin(), image_files.end());
  std::sort(label_files.begin(), label_files.end());
  if (image_files.empty() || image_files.size() != label_files.size()) {
    diag.error(make_file_loc(dir),
               std::to_string(image_files.size()) + " " + prefix + "_images*.npy and " +
                   std::to_string(label_files.size()) + " " + prefix +
                   "_labels*.npy files: they must pair up",
               {}, ExitCode::IoError);
    return false;
  }
  for (size_t f = 0; f < image_files.size(); ++f) {
    auto x = io::read_npy(image_files[f], diag);
    auto y = io::read_npy(label_files[f], diag);
    if (!x || !y) return false;
    ir::Shape sample = x->shape;
    if (sample.rank() == 3) sample.dims.insert(sample.dims.begin() + 1, 1);
    if (sample.rank() != 4 || y->shape.rank() != 1 || y->shape[0] != sample[0]) {
      diag.error(make_file_loc(label_files[f]),
                 "images " + x->shape.str() + " and labels " + y->shape.str() +
                     " do not pair up (want [N, C, H, W] or [N, H, W] images and [N] labels)");
      return false;
    }
    const int64_t n = sample[0];
    sample.dims.erase(sample.dims.begin());
    if (f == 0) {
      s.images_path = image_files[0];
      s.labels_path = label_files[0];
      s.sample = sample;
    } else if (sample != s.sample) {
      diag.error(make_file_loc(image_files[f]), "images are " + sample.str() + ", those of " +
                                                    image_files[0] + " " + s.sample.str());
      return false;
    }
    for (int64_t i = 0; i < n; ++i) {
      const float l = (*y)[i];
      if (!(l >= 0 && l < 2147483647.0f && l == std::floor(l))) {
        diag.error(make_file_loc(label_files[f]), "label " + format_double(l) + " at index " +
                                                      std::to_string(i) +
                                                      " is not a class index (0, 1, 2, ...)");
        return false;
      }
      s.labels.push_back(static_cast<int32_t>(l));
    }
    s.images.insert(s.images.end(), x->data.begin(), x->data.end());
    s.count += n;
  }
  return true;
}

}  // namespace

std::optional<Dataset> load_dataset(const std::string& dir, DiagnosticEngine& diag,
                                    const DataLimits& limits) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    diag.error(make_file_loc(dir),
               fs::exists(dir, ec) ? "--data must name a directory" : "no such directory", {},
               ExitCode::IoError);
    return std::nullopt;
  }
  Dataset d;
  d.dir = dir;
  bool ok;
  if (!find_file(dir, "train-images-idx3-ubyte").empty()) {
    d.format = "IDX";
    ok = load_idx_split(dir, "train", d.train, limits, diag) &&
         load_idx_split(dir, "t10k", d.test, limits, diag);
  } else {
    bool any_npy = false;
    for (const auto& e : fs::directory_iterator(dir, ec))
      any_npy = any_npy || e.path().extension() == ".npy";
    if (!any_npy) {
      diag.error(make_file_loc(dir),
                 "no training data: expected the IDX files train-images-idx3-ubyte[.gz], "
                 "train-labels-idx1-ubyte[.gz], t10k-... or train_images*.npy / "
                 "train_labels*.npy / test_*.npy",
                 {}, ExitCode::IoError);
      return std::nullopt;
    }
    d.format = "npy";
    ok = load_npy_split(dir, "train", d.train, diag) && load_npy_split(dir, "test", d.test, diag);
  }
  if (!ok) return std::nullopt;
  if (d.train.sample != d.test.sample) {
    diag.error(make_file_loc(d.test.images_path), "test images are " + d.test.sample.str() +
                                                      ", training images " + d.train.sample.str());
    return std::nullopt;
  }
  for (const Split* s : {&d.train, &d.test})
    for (int32_t l : s->labels) d.classes = std::max<int64_t>(d.classes, l + 1);
  return d;
}

}  // namespace cnnc::training
