#include "training/plot.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

namespace cnnc::training {

namespace {

struct Rgb {
  uint8_t r, g, b;
};
constexpr Rgb kWhite{255, 255, 255}, kAxis{60, 60, 60}, kGrid{225, 225, 225}, kTrain{31, 119, 180},
    kTest{255, 127, 14};

// Rows of a 5x7 glyph, bit 4 the leftmost column.
struct Glyph {
  char c;
  uint8_t rows[7];
};
constexpr Glyph kFont[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'.', {0, 0, 0, 0, 0, 0x0C, 0x0C}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'-', {0, 0, 0, 0x1F, 0, 0, 0}},
    {'a', {0, 0, 0x0E, 0x01, 0x0F, 0x11, 0x0F}},
    {'c', {0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E}},
    {'e', {0, 0, 0x0E, 0x11, 0x1F, 0x10, 0x0E}},
    {'h', {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'i', {0x04, 0, 0x0C, 0x04, 0x04, 0x04, 0x0E}},
    {'l', {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'n', {0, 0, 0x16, 0x19, 0x11, 0x11, 0x11}},
    {'o', {0, 0, 0x0E, 0x11, 0x11, 0x11, 0x0E}},
    {'p', {0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10}},
    {'r', {0, 0, 0x16, 0x19, 0x10, 0x10, 0x10}},
    {'s', {0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E}},
    {'t', {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}},
    {'u', {0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D}},
    {'y', {0, 0, 0x11, 0x11, 0x0F, 0x01, 0x0E}},
};

class Canvas {
 public:
  Canvas(int w, int h) : w_(w), h_(h), px_(static_cast<size_t>(w * h), kWhite) {}

  void set(int x, int y, Rgb c) {
    if (x >= 0 && y >= 0 && x < w_ && y < h_) px_[static_cast<size_t>(y * w_ + x)] = c;
  }
  void rect(int x0, int y0, int x1, int y1, Rgb c) {
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) set(x, y, c);
  }
  void line(double x0, double y0, double x1, double y1, Rgb c) {
    const int n = static_cast<int>(std::max(std::fabs(x1 - x0), std::fabs(y1 - y0))) + 1;
    for (int i = 0; i <= n; ++i) {
      const double t = static_cast<double>(i) / n;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0)));
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0)));
      rect(x, y, x + 1, y + 1, c);
    }
  }
  // Text at scale 2, (x, y) its top-left corner; returns its width.
  int text(int x, int y, const std::string& s, Rgb c) {
    int cx = x;
    for (char ch : s) {
      for (const Glyph& g : kFont) {
        if (g.c != ch) continue;
        for (int r = 0; r < 7; ++r)
          for (int col = 0; col < 5; ++col)
            if (g.rows[r] & (0x10 >> col))
              rect(cx + 2 * col, y + 2 * r, cx + 2 * col + 1, y + 2 * r + 1, c);
      }
      cx += 12;
    }
    return cx - x;
  }

  std::string png() const {
    std::string raw;
    for (int y = 0; y < h_; ++y) {
      raw.push_back('\0');  // filter: none
      for (int x = 0; x < w_; ++x) {
        const Rgb& p = px_[static_cast<size_t>(y * w_ + x)];
        raw += {static_cast<char>(p.r), static_cast<char>(p.g), static_cast<char>(p.b)};
      }
    }
    uLongf size = compressBound(static_cast<uLong>(raw.size()));
    std::string z(size, '\0');
    compress2(reinterpret_cast<Bytef*>(z.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
              static_cast<uLong>(raw.size()), 9);
    z.resize(size);
    std::string out("\x89PNG\r\n\x1a\n", 8);
    std::string ihdr;
    be32(ihdr, static_cast<uint32_t>(w_));
    be32(ihdr, static_cast<uint32_t>(h_));
    ihdr += {8, 2, 0, 0, 0};  // 8 bits, RGB, deflate, no filter set, no interlace
    chunk(out, "IHDR", ihdr);
    chunk(out, "IDAT", z);
    chunk(out, "IEND", "");
    return out;
  }

 private:
  static void be32(std::string& s, uint32_t v) {
    for (int i = 3; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  }
  static void chunk(std::string& out, const char* type, const std::string& data) {
    be32(out, static_cast<uint32_t>(data.size()));
    const std::string body = type + data;
    out += body;
    be32(out, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()),
                                          static_cast<uInt>(body.size()))));
  }

  int w_, h_;
  std::vector<Rgb> px_;
};

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(v) >= 10 ? "%.0f" : "%.2f", v);
  return buf;
}

// One panel: axes, ticks and the train and test series against the epoch.
void panel(Canvas& c, int x0, int y0, int w, int h, const std::string& title,
           const std::vector<double>& train, const std::vector<double>& test) {
  double lo = INFINITY, hi = -INFINITY;
  for (const auto* s : {&train, &test})
    for (double v : *s)
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  if (!std::isfinite(lo)) lo = 0, hi = 1;
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const double pad = 0.05 * (hi - lo);
  lo -= pad;
  hi += pad;
  const int n = static_cast<int>(std::max(train.size(), test.size()));
  auto X = [&](int i) { return x0 + (n <= 1 ? w / 2.0 : w * static_cast<double>(i) / (n - 1)); };
  auto Y = [&](double v) { return y0 + h - h * (v - lo) / (hi - lo); };
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    const int y = static_cast<int>(Y(v));
    c.line(x0, y, x0 + w, y, kGrid);
    const std::string s = number(v);
    c.text(x0 - 8 - 12 * static_cast<int>(s.size()), y - 7, s, kAxis);
  }
  const int step = std::max(1, n / 10);
  for (int i = 0; i < n; i += step)
    c.text(static_cast<int>(X(i)) - 6, y0 + h + 8, std::to_string(i + 1), kAxis);
  c.line(x0, y0, x0, y0 + h, kAxis);
  c.line(x0, y0 + h, x0 + w, y0 + h, kAxis);
  c.text(x0 + w / 2 - 6 * static_cast<int>(title.size()), y0 - 26, title, kAxis);
  for (const auto& [s, col] : {std::pair{&train, kTrain}, std::pair{&test, kTest}}) {
    for (size_t i = 0; i < s->size(); ++i) {
      if (!std::isfinite((*s)[i])) continue;
      const double x = X(static_cast<int>(i)), y = Y((*s)[i]);
      c.rect(static_cast<int>(x) - 3, static_cast<int>(y) - 3, static_cast<int>(x) + 3,
             static_cast<int>(y) + 3, col);
      if (i > 0 && std::isfinite((*s)[i - 1]))
        c.line(X(static_cast<int>(i - 1)), Y((*s)[i - 1]), x, y, col);
    }
  }
}

}  // namespace

std::string curves_png(const std::vector<EpochRecord>& history) {
  Canvas c(900, 420);
  std::vector<double> tl, vl, ta, va;
  for (const EpochRecord& r : history) {
    tl.push_back(r.train_loss);
    vl.push_back(r.val_loss);
    ta.push_back(100 * r.train_accuracy);
    va.push_back(100 * r.val_accuracy);
  }
  panel(c, 90, 50, 330, 300, "loss", tl, vl);
  panel(c, 540, 50, 330, 300, "accuracy %", ta, va);
  c.text(400, 392, "epoch", kAxis);
  c.rect(600, 396, 620, 402, kTrain);
  c.text(628, 392, "train", kAxis);
  c.rect(710, 396, 730, 402, kTest);
  c.text(738, 392, "test", kAxis);
  return c.png();
}

}  // namespace cnnc::training
