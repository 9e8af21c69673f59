#include "frontend/onnx_tensor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "io/float_bits.h"
#include "onnx/onnx_pb.h"
#include "support/checked_math.h"
#include "support/contained_path.h"
#include "support/format.h"

namespace cnnc::frontend {

namespace {

using onnx::TensorProto;

// Bytes per element of the types cnnc reads; 0 for the others.
int element_size(int t) {
  switch (t) {
    case TensorProto::FLOAT:
    case TensorProto::INT32:
      return 4;
    case TensorProto::DOUBLE:
    case TensorProto::INT64:
      return 8;
    case TensorProto::FLOAT16:
    case TensorProto::BFLOAT16:
    case TensorProto::INT16:
    case TensorProto::UINT16:
      return 2;
    case TensorProto::INT8:
    case TensorProto::UINT8:
    case TensorProto::BOOL:
      return 1;
    default:
      return 0;
  }
}

bool is_float_type(int t) {
  return t == TensorProto::FLOAT || t == TensorProto::DOUBLE || t == TensorProto::FLOAT16 ||
         t == TensorProto::BFLOAT16;
}

// One element of type `t` from little-endian bytes.
void decode_element(int t, const char* p, OnnxConst& c) {
  switch (t) {
    case TensorProto::FLOAT:
      c.f.push_back(io::float_from_bits(io::load_u32_le(p)));
      break;
    case TensorProto::DOUBLE: {
      uint64_t u = io::load_u32_le(p) | uint64_t{io::load_u32_le(p + 4)} << 32;
      double d;
      std::memcpy(&d, &u, 8);
      c.f.push_back(static_cast<float>(d));
      break;
    }
    case TensorProto::FLOAT16:
      c.f.push_back(io::half_to_float(io::load_u16_le(p)));
      break;
    case TensorProto::BFLOAT16:
      c.f.push_back(io::float_from_bits(uint32_t{io::load_u16_le(p)} << 16));
      break;
    case TensorProto::INT64:
      c.i.push_back(
          static_cast<int64_t>(io::load_u32_le(p) | uint64_t{io::load_u32_le(p + 4)} << 32));
      break;
    case TensorProto::INT32:
      c.i.push_back(static_cast<int32_t>(io::load_u32_le(p)));
      break;
    case TensorProto::INT16:
      c.i.push_back(static_cast<int16_t>(io::load_u16_le(p)));
      break;
    case TensorProto::UINT16:
      c.i.push_back(io::load_u16_le(p));
      break;
    case TensorProto::INT8:
      c.i.push_back(static_cast<int8_t>(*p));
      break;
    default:  // UINT8, BOOL
      c.i.push_back(static_cast<unsigned char>(*p));
      break;
  }
}

// Reads [offset, offset + length) of an external data file into `out`.
bool read_external(const TensorProto& t, const std::string& what, int64_t need,
                   const TensorReadOptions& opts, const SourceLoc& loc, DiagnosticEngine& diag,
                   std::string& out) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    auto number = [&](int64_t& v) {
      const std::string& s = kv.value();
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) {
        diag.error(loc, what + ": external data " + kv.key() + " '" + printable(s.substr(0, 40)) +
                            "' is not a non-negative integer");
        return false;
      }
      const size_t digits =
          s.find_first_not_of('0') == std::string::npos ? 0 : s.size() - s.find_first_not_of('0');
      errno = 0;
      const unsigned long long u = std::strtoull(s.c_str(), nullptr, 10);
      if (digits > 19 || errno == ERANGE || u > static_cast<unsigned long long>(INT64_MAX)) {
        diag.error(loc, what + ": external data " + kv.key() + " " + s.substr(0, 40) +
                            (s.size() > 40 ? "..." : "") +
                            " is larger than any file (the limit is 2^63-1)");
        return false;
      }
      v = static_cast<int64_t>(u);
      return true;
    };
    if (kv.key() == "location") {
      location = kv.value();
      // A NUL would end the path early: another file would be opened.
      if (location.find('\0') != std::string::npos) {
        diag.error(loc, what + ": external data location '" + printable(location.substr(0, 80)) +
                            "' contains a NUL byte");
        return false;
      }
    } else if (kv.key() == "offset") {
      if (!number(offset)) return false;
    } else if (kv.key() == "length") {
      if (!number(length)) return false;
    }
  }
  if (location.empty()) {
    diag.error(loc, what + ": external data without a 'location'");
    return false;
  }
  ContainedPath cp = contain_path(opts.model_dir, location, opts.allow_outside);
  switch (cp.problem) {
    case PathProblem::None:
      break;
    case PathProblem::Escapes:
    case PathProblem::LeadsOutside:
      diag.error(loc,
                 what + ": external data path '" + location + "' escapes the model directory" +
                     (cp.real.empty() ? "" : " (it leads to '" + cp.real + "')"),
                 {{SourceLoc{}, "pass --allow-paths-outside-model-dir to allow it"}});
      return false;
    case PathProblem::NotFound:
      diag.error(loc,
                 what + ": external data file '" + location +
                     "' not found (relative to the model's directory)",
                 {}, ExitCode::IoError);
      return false;
  }
  int fd = ::open(cp.full.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (fd < 0 || ::fstat(fd, &st) != 0) {
    if (fd >= 0) ::close(fd);
    diag.error(loc, what + ": cannot read external data file '" + location + "'", {},
               ExitCode::IoError);
    return false;
  }
  if (!opts.allow_outside && st.st_nlink > 1) {
    // A hard link is another name for a file that may live anywhere.
    ::close(fd);
    diag.error(loc,
               what + ": external data file '" + location +
                   "' has several hard links; it may be a file outside the model directory",
               {{SourceLoc{}, "pass --allow-paths-outside-model-dir to allow it"}});
    return false;
  }
  int64_t size = st.st_size;
  if (length < 0) length = size - std::min(offset, size);
  auto end = checked_add(offset, length);
  if (!end || *end > size || length != need) {
    ::close(fd);
    if (!end || *end > size)
      diag.error(loc, what + ": external data [offset " + std::to_string(offset) + ", length " +
                          std::to_string(length) + ") exceeds file '" + location + "' (" +
                          std::to_string(size) + " bytes)");
    else
      diag.error(loc, what + ": external data has " + std::to_string(length) +
                          " bytes, its dims need " + std::to_string(need));
    return false;
  }
  out.resize(static_cast<size_t>(length));
  int64_t done = 0;
  while (done < length) {
    ssize_t r = ::pread(fd, out.data() + done, static_cast<size_t>(length - done), offset + done);
    if (r <= 0) break;
    done += r;
  }
  ::close(fd);
  if (done != length) {
    diag.error(loc, what + ": short read from external data file '" + location + "'", {},
               ExitCode::IoError);
    return false;
  }
  return true;
}

}  // namespace

std::string dims_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t k = 0; k < dims.size(); ++k) s += (k ? ", " : "") + std::to_string(dims[k]);
  return s + "]";
}

std::string onnx_type_name(int t) {
  if (TensorProto::DataType_IsValid(t))
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(t));
  return "type " + std::to_string(t);
}

std::optional<OnnxConst> read_onnx_tensor(const TensorProto& t, const std::string& what,
                                          const TensorReadOptions& opts, const SourceLoc& loc,
                                          DiagnosticEngine& diag) {
  OnnxConst c;
  int type = t.data_type();
  int esize = element_size(type);
  if (esize == 0) {
    diag.error(loc, what + " has data_type " + onnx_type_name(type) +
                        "; cnnc reads FLOAT, DOUBLE, FLOAT16, BFLOAT16 and integer tensors");
    return std::nullopt;
  }
  c.is_float = is_float_type(type);
  int64_t n = 1;
  if (t.dims_size() > 8) {
    diag.error(loc, what + " has rank " + std::to_string(t.dims_size()) + "; the limit is 8");
    return std::nullopt;
  }
  for (int64_t d : t.dims()) {
    if (d < 0) {
      diag.error(loc, what + ": dimension " + std::to_string(d) + " is negative");
      return std::nullopt;
    }
    auto m = checked_mul(n, d);
    if (!m || *m > opts.max_elements) {
      diag.error(
          loc,
          what + ": dims overflow (more than " + std::to_string(opts.max_elements) + " elements)",
          {}, ExitCode::ResourceLimit);
      return std::nullopt;
    }
    n = *m;
    c.dims.push_back(d);
  }
  const int64_t need = n * esize;
  std::string external;
  const std::string* raw = nullptr;
  if (t.data_location() == TensorProto::EXTERNAL) {
    if (!read_external(t, what, need, opts, loc, diag, external)) return std::nullopt;
    raw = &external;
  } else if (t.has_raw_data()) {
    raw = &t.raw_data();
  }
  if (raw) {
    if (static_cast<int64_t>(raw->size()) != need) {
      diag.error(loc, what + ": dims " + dims_str(c.dims) + " " + onnx_type_name(type) + " need " +
                          std::to_string(need) + " bytes, raw_data has " +
                          std::to_string(raw->size()));
      return std::nullopt;
    }
    (c.is_float ? c.f.reserve(static_cast<size_t>(n)) : c.i.reserve(static_cast<size_t>(n)));
    for (int64_t k = 0; k < n; ++k) decode_element(type, raw->data() + k * esize, c);
    return c;
  }
  // Typed fields: FLOAT in float_data, DOUBLE in double_data, INT64 in
  // int64_data, every narrower type (FLOAT16 and BFLOAT16 as bit patterns) in int32_data.
  int64_t have = type == TensorProto::FLOAT    ? t.float_data_size()
                 : type == TensorProto::DOUBLE ? t.double_data_size()
                 : type == TensorProto::INT64  ? t.int64_data_size()
                                               : t.int32_data_size();
  if (have != n) {
    diag.error(loc, what + ": dims " + dims_str(c.dims) + " need " + std::to_string(n) +
                        " values, the tensor holds " + std::to_string(have));
    return std::nullopt;
  }
  for (int64_t k = 0; k < n; ++k) {
    int kk = static_cast<int>(k);
    switch (type) {
      case TensorProto::FLOAT:
        c.f.push_back(t.float_data(kk));
        break;
      case TensorProto::DOUBLE:
        c.f.push_back(static_cast<float>(t.double_data(kk)));
        break;
      case TensorProto::INT64:
        c.i.push_back(t.int64_data(kk));
        break;
      case TensorProto::FLOAT16:
        c.f.push_back(io::half_to_float(static_cast<uint16_t>(t.int32_data(kk))));
        break;
      case TensorProto::BFLOAT16:
        c.f.push_back(io::float_from_bits(static_cast<uint32_t>(t.int32_data(kk)) << 16));
        break;
      default:
        c.i.push_back(t.int32_data(kk));
        break;
    }
  }
  return c;
}

}  // namespace cnnc::frontend
