#include "io/npy.h"

#include <cctype>

#include "io/float_bits.h"
#include "support/checked_math.h"
#include "support/file_io.h"

namespace cnnc::io {

namespace {

// The header is a Python dict literal:
//   {'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }
// This reads exactly that grammar: strings, True/False, integer tuples.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view s) : s_(s) {}

  std::string error;
  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  bool has_descr = false, has_fortran = false, has_shape = false;

  bool parse() {
    ws();
    if (!eat('{')) return fail("expected '{'");
    while (true) {
      ws();
      if (eat('}')) break;
      std::string key;
      if (!string(key)) return fail("expected a quoted key");
      ws();
      if (!eat(':')) return fail("expected ':' after '" + key + "'");
      ws();
      if (key == "descr") {
        if (!string(descr)) return fail("'descr' must be a string");
        has_descr = true;
      } else if (key == "fortran_order") {
        if (word("True"))
          fortran = true;
        else if (word("False"))
          fortran = false;
        else
          return fail("'fortran_order' must be True or False");
        has_fortran = true;
      } else if (key == "shape") {
        if (!tuple()) return false;
        has_shape = true;
      } else {
        return fail("unknown key '" + key + "'");
      }
      ws();
      if (eat(',')) continue;
      ws();
      if (eat('}')) break;
      return fail("expected ',' or '}'");
    }
    if (!has_descr || !has_fortran || !has_shape)
      return fail("needs 'descr', 'fortran_order' and 'shape'");
    return true;
  }

 private:
  bool fail(std::string m) {
    if (error.empty()) error = std::move(m);
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool string(std::string& out) {
    if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"')) return false;
    char q = s_[i_++];
    while (i_ < s_.size() && s_[i_] != q) out += s_[i_++];
    return eat(q);
  }
  bool tuple() {
    if (!eat('(')) return fail("'shape' must be a tuple");
    while (true) {
      ws();
      if (eat(')')) return true;
      size_t start = i_;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
      if (i_ == start || i_ - start > 18) return fail("'shape' must hold non-negative integers");
      shape.push_back(std::stoll(std::string(s_.substr(start, i_ - start))));
      ws();
      if (eat(',')) continue;
      ws();
      if (eat(')')) return true;
      return fail("expected ',' or ')' in 'shape'");
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string conversion_hint(const std::string& descr) {
  if (descr == "|O") return "an object array, which only pickle can read; cnnc never unpickles";
  if (descr == ">f4") return "big-endian float32; save it with x.astype('<f4')";
  if (descr.size() >= 2 &&
      (descr[1] == 'f' || descr[1] == 'i' || descr[1] == 'u' || descr[1] == 'b'))
    return "dtype '" + descr + "'; cnnc reads float32 ('<f4'): save x.astype(numpy.float32)";
  return "dtype '" + descr + "'; cnnc reads float32 ('<f4')";
}

}  // namespace

std::optional<ir::Tensor> parse_npy(std::string_view bytes, const std::string& path,
                                    DiagnosticEngine& diag) {
  SourceLoc file = make_file_loc(path);
  if (bytes.substr(0, 6) != "\x93NUMPY") {
    diag.error(file, "not a .npy file (missing the \\x93NUMPY magic)");
    return std::nullopt;
  }
  if (bytes.size() < 10) {
    diag.error(file, "truncated: " + std::to_string(bytes.size()) + " bytes");
    return std::nullopt;
  }
  int major = static_cast<unsigned char>(bytes[6]);
  size_t len_bytes = major == 1 ? 2 : 4;
  if (major < 1 || major > 3) {
    diag.error(file,
               ".npy format version " + std::to_string(major) + " is not supported (1, 2 or 3)");
    return std::nullopt;
  }
  if (bytes.size() < 8 + len_bytes) {
    diag.error(file, "truncated: " + std::to_string(bytes.size()) + " bytes");
    return std::nullopt;
  }
  uint64_t hlen = major == 1 ? load_u16_le(bytes.data() + 8) : load_u32_le(bytes.data() + 8);
  if (hlen > static_cast<uint64_t>(kMaxNpyHeader)) {
    diag.error(
        file, "header length " + std::to_string(hlen) + " exceeds " + std::to_string(kMaxNpyHeader),
        {}, ExitCode::ResourceLimit);
    return std::nullopt;
  }
  size_t start = 8 + len_bytes;
  if (hlen > bytes.size() - start) {
    diag.error(file, "header length " + std::to_string(hlen) + " runs past the end of the file (" +
                         std::to_string(bytes.size()) + " bytes)");
    return std::nullopt;
  }
  HeaderParser h(bytes.substr(start, hlen));
  if (!h.parse()) {
    diag.error(file, "invalid header: " + h.error);
    return std::nullopt;
  }
  if (h.descr != "<f4") {
    diag.error(file, "array is " + conversion_hint(h.descr));
    return std::nullopt;
  }
  if (h.fortran) {
    diag.error(file, "array is in Fortran order; save numpy.ascontiguousarray(x)");
    return std::nullopt;
  }
  ir::Shape shape{h.shape};
  auto n = checked_product(shape.dims);
  auto need = n ? checked_mul(*n, 4) : std::nullopt;
  std::string_view data = bytes.substr(start + hlen);
  if (!need || *need != static_cast<int64_t>(data.size())) {
    diag.error(file, "shape (" + shape.str() + ") float32 needs " +
                         (need ? std::to_string(*need) : "too many") +
                         " bytes of data, the file has " + std::to_string(data.size()));
    return std::nullopt;
  }
  ir::Tensor t(shape);
  for (size_t i = 0; i < t.data.size(); ++i)
    t.data[i] = float_from_bits(load_u32_le(data.data() + 4 * i));
  return t;
}

std::optional<ir::Tensor> read_npy(const std::string& path, DiagnosticEngine& diag) {
  std::string bytes = read_input_file(path, int64_t{64} << 30, "a 64 GiB limit", diag);
  return parse_npy(bytes, path, diag);
}

std::string serialize_npy(const ir::Tensor& t) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape.dims.size(); ++i) dict += std::to_string(t.shape.dims[i]) + ", ";
  if (t.shape.dims.size() > 1) dict.erase(dict.size() - 2);  // (1, 2) but (3,)
  if (t.shape.dims.size() == 1) dict.erase(dict.size() - 1);
  dict += "), }";
  size_t total = 10 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += static_cast<char>(dict.size() & 0xFF);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  for (float v : t.data) {
    uint32_t b = float_bits(v);
    for (int i = 0; i < 4; ++i) out += static_cast<char>((b >> (8 * i)) & 0xFF);
  }
  return out;
}

void write_npy(const std::string& path, const ir::Tensor& t, DiagnosticEngine& diag) {
  write_output_file_atomically(path, serialize_npy(t), diag);
}

}  // namespace cnnc::io
