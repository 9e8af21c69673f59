#include "io/safetensors.h"

#include <algorithm>
#include <cstring>

#include "io/float_bits.h"
#include "support/checked_math.h"
#include "support/file_io.h"
#include "support/format.h"
#include "support/json_reader.h"

namespace cnnc::io {

namespace {

struct DtypeInfo {
  const char* name;
  int64_t size;
  bool readable;  ///< cnnc widens it to float32
};

constexpr DtypeInfo kDtypes[] = {
    {"F32", 4, true},   {"F16", 2, true},      {"BF16", 2, true},     {"F64", 8, false},
    {"I64", 8, false},  {"I32", 4, false},     {"I16", 2, false},     {"I8", 1, false},
    {"U64", 8, false},  {"U32", 4, false},     {"U16", 2, false},     {"U8", 1, false},
    {"BOOL", 1, false}, {"F8_E4M3", 1, false}, {"F8_E5M2", 1, false},
};

const DtypeInfo* find_dtype(const std::string& s) {
  for (const DtypeInfo& d : kDtypes)
    if (s == d.name) return &d;
  return nullptr;
}

struct Entry {
  std::string name;
  const DtypeInfo* dtype = nullptr;
  ir::Shape shape;
  int64_t begin = 0, end = 0;
};

std::string shape_text(const ir::Shape& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.dims.size(); ++i) t += (i ? ", " : "") + std::to_string(s.dims[i]);
  return t + "]";
}

uint64_t read_u64_le(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Validates one header entry. Returns false after reporting a problem.
bool read_entry(const json::Member& m, const SourceLoc& hloc, DiagnosticEngine& diag, Entry& e) {
  std::string what = "tensor '" + m.key + "'";
  SourceLoc at = hloc.at(m.value.pos.line, m.value.pos.col);
  if (m.value.kind != json::Kind::Object) {
    diag.error(at, what + ": expected an object with dtype, shape and data_offsets, got " +
                       json::kind_phrase(m.value.kind));
    return false;
  }
  for (const json::Member& f : m.value.members) {
    if (f.key != "dtype" && f.key != "shape" && f.key != "data_offsets") {
      diag.error(hloc.at(f.key_pos.line, f.key_pos.col), what + ": unknown key \"" + f.key + "\"");
      return false;
    }
  }
  const json::Value* dt = m.value.find("dtype");
  const json::Value* sh = m.value.find("shape");
  const json::Value* off = m.value.find("data_offsets");
  if (!dt || !sh || !off) {
    diag.error(at, what + ": missing \"" +
                       std::string(!dt   ? "dtype"
                                   : !sh ? "shape"
                                         : "data_offsets") +
                       "\"");
    return false;
  }
  if (dt->kind != json::Kind::String || !(e.dtype = find_dtype(dt->text))) {
    diag.error(hloc.at(dt->pos.line, dt->pos.col),
               what + ": unknown dtype " + json::to_string(*dt));
    return false;
  }
  if (sh->kind != json::Kind::Array) {
    diag.error(hloc.at(sh->pos.line, sh->pos.col), what + ": \"shape\" must be an array of sizes");
    return false;
  }
  for (const json::Value& d : sh->items) {
    if (!d.is_int || d.int_value < 0) {
      diag.error(hloc.at(d.pos.line, d.pos.col),
                 what + ": shape has an invalid size " + json::to_string(d));
      return false;
    }
    e.shape.dims.push_back(d.int_value);
  }
  if (off->kind != json::Kind::Array || off->items.size() != 2) {
    diag.error(hloc.at(off->pos.line, off->pos.col),
               what + ": \"data_offsets\" must be [begin, end]");
    return false;
  }
  const json::Value& b = off->items[0];
  const json::Value& en = off->items[1];
  if (!b.is_int || !en.is_int || b.int_value < 0 || en.int_value < b.int_value) {
    diag.error(hloc.at(off->pos.line, off->pos.col),
               what + ": invalid data_offsets " + json::to_string(*off));
    return false;
  }
  e.name = m.key;
  e.begin = b.int_value;
  e.end = en.int_value;
  auto n = checked_product(e.shape.dims);
  auto bytes = n ? checked_mul(*n, e.dtype->size) : std::nullopt;
  if (!bytes) {
    diag.error(hloc.at(sh->pos.line, sh->pos.col),
               what + ": shape " + shape_text(e.shape) + " overflows");
    return false;
  }
  if (*bytes != e.end - e.begin) {
    diag.error(hloc.at(off->pos.line, off->pos.col),
               what + ": shape " + shape_text(e.shape) + " " + e.dtype->name + " needs " +
                   std::to_string(*bytes) + " bytes, data_offsets give " +
                   std::to_string(e.end - e.begin));
    return false;
  }
  if (!e.dtype->readable) {
    diag.error(hloc.at(dt->pos.line, dt->pos.col),
               what + " is " + e.dtype->name +
                   "; cnnc reads F32, F16 and BF16 weights (convert it to F32)");
    return false;
  }
  return true;
}

// Widens raw little-endian data of `dtype` to float32.
void decode(const Entry& e, const char* p, ir::Tensor& t) {
  size_t n = t.data.size();
  if (std::strcmp(e.dtype->name, "F32") == 0) {
    for (size_t i = 0; i < n; ++i) t.data[i] = float_from_bits(load_u32_le(p + 4 * i));
  } else if (std::strcmp(e.dtype->name, "F16") == 0) {
    for (size_t i = 0; i < n; ++i) t.data[i] = half_to_float(load_u16_le(p + 2 * i));
  } else {  // BF16: the high half of a float32
    for (size_t i = 0; i < n; ++i)
      t.data[i] = float_from_bits(uint32_t{load_u16_le(p + 2 * i)} << 16);
  }
}

}  // namespace

std::optional<std::vector<NamedTensor>> parse_safetensors(std::string_view bytes,
                                                          const std::string& path,
                                                          DiagnosticEngine& diag,
                                                          const SafetensorsLimits& limits,
                                                          Metadata* metadata) {
  SourceLoc file = make_file_loc(path);
  int before = diag.error_count();
  // Formats that execute code when loaded are recognised and refused by name.
  // A safetensors file has '{' at byte 8; its first byte, the low byte of the
  // header length, may well be 0x80, so only other files are checked for magic.
  const bool shaped_like_safetensors = bytes.size() >= 9 && bytes[8] == '{';
  const unsigned char first = bytes.empty() ? 0 : static_cast<unsigned char>(bytes[0]);
  const unsigned char proto = bytes.size() > 1 ? static_cast<unsigned char>(bytes[1]) : 0;
  if (!shaped_like_safetensors && first == 0x80 && proto >= 2 && proto <= 5) {
    diag.error(file,
               "this is a Python pickle (a PyTorch .pt/.pth file?); cnnc never unpickles, as "
               "pickles can run "
               "code. Convert it to safetensors");
    return std::nullopt;
  }
  if (!shaped_like_safetensors && bytes.substr(0, 4) == std::string_view("PK\x03\x04", 4)) {
    diag.error(file,
               "this is a zip archive (a PyTorch torch.save file?); cnnc never unpickles, as "
               "pickles can run "
               "code. Convert it to safetensors");
    return std::nullopt;
  }
  if (bytes.size() < 8) {
    diag.error(file, "truncated: " + std::to_string(bytes.size()) + " bytes, need at least 8");
    return std::nullopt;
  }
  uint64_t n = read_u64_le(bytes.data());
  if (n > static_cast<uint64_t>(limits.max_header_bytes)) {
    diag.error(file,
               "header of " + std::to_string(n) + " bytes exceeds the limit of " +
                   std::to_string(limits.max_header_bytes) + " bytes",
               {}, ExitCode::ResourceLimit);
    return std::nullopt;
  }
  if (n > bytes.size() - 8) {
    diag.error(file, "header length " + std::to_string(n) + " runs past the end of the file (" +
                         std::to_string(bytes.size()) + " bytes)");
    return std::nullopt;
  }
  std::string_view header = bytes.substr(8, n);
  std::string_view data = bytes.substr(8 + n);
  SourceLoc hloc = make_file_loc(path + ": header");
  if (header.find_first_not_of(" \t\r\n") == std::string_view::npos ||
      header[header.find_first_not_of(" \t\r\n")] != '{') {
    diag.error(file, "header is not a JSON object");
    return std::nullopt;
  }
  json::ParseError perr;
  // One member more than the entry limit: "__metadata__".
  auto root = json::parse(header, json::Limits{64, limits.max_entries + 1}, perr);
  if (!root) {
    bool bloat = perr.message.rfind("more than", 0) == 0;
    diag.error(bloat ? file : hloc.at(perr.pos.line, perr.pos.col),
               bloat ? "header lists more than " + std::to_string(limits.max_entries) +
                           " tensors (the limit)"
                     : perr.message,
               {}, bloat ? ExitCode::ResourceLimit : ExitCode::InvalidInput);
    return std::nullopt;
  }
  // The parse allowed one member more for "__metadata__"; without it, that
  // member is one tensor too many.
  const int64_t tensors =
      std::count_if(root->members.begin(), root->members.end(),
                    [](const json::Member& m) { return m.key != "__metadata__"; });
  if (tensors > limits.max_entries) {
    diag.error(
        file,
        "header lists more than " + std::to_string(limits.max_entries) + " tensors (the limit)", {},
        ExitCode::ResourceLimit);
    return std::nullopt;
  }
  std::vector<Entry> entries;
  for (const json::Member& m : root->members) {
    if (m.key == "__metadata__") {
      bool ok = m.value.kind == json::Kind::Object;
      for (const json::Member& kv : m.value.members) ok = ok && kv.value.kind == json::Kind::String;
      if (!ok)
        diag.error(hloc.at(m.value.pos.line, m.value.pos.col),
                   "__metadata__ must map strings to strings");
      else if (metadata)
        for (const json::Member& kv : m.value.members)
          metadata->emplace_back(kv.key, kv.value.text);
      continue;
    }
    Entry e;
    if (read_entry(m, hloc, diag, e)) entries.push_back(std::move(e));
  }
  if (diag.error_count() > before) return std::nullopt;
  // Offsets: sorted, they must start at 0, touch, and end at the data's end.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  int64_t covered = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const Entry& e = *order[i];
    if (e.begin < covered) {
      const Entry& prev = *order[i - 1];
      diag.error(file, "tensors '" + prev.name + "' and '" + e.name + "' overlap ([" +
                           std::to_string(prev.begin) + ", " + std::to_string(prev.end) +
                           ") and [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                           "))");
      return std::nullopt;
    }
    if (e.begin > covered) {
      diag.error(file, "tensor '" + e.name + "': data_offsets [" + std::to_string(e.begin) + ", " +
                           std::to_string(e.end) + "] leave a gap after byte " +
                           std::to_string(covered));
      return std::nullopt;
    }
    covered = e.end;
  }
  if (covered != static_cast<int64_t>(data.size())) {
    diag.error(file, "data section is " + std::to_string(data.size()) +
                         " bytes but the tensors cover " + std::to_string(covered) +
                         (covered > static_cast<int64_t>(data.size()) ? " (file truncated?)"
                                                                      : " (trailing bytes)"));
    return std::nullopt;
  }
  std::vector<NamedTensor> out;
  out.reserve(entries.size());
  for (const Entry& e : entries) {
    NamedTensor t{e.name, ir::Tensor(e.shape)};
    decode(e, data.data() + e.begin, t.tensor);
    out.push_back(std::move(t));
  }
  return out;
}

std::optional<std::vector<NamedTensor>> read_safetensors(const std::string& path,
                                                         DiagnosticEngine& diag,
                                                         const SafetensorsLimits& limits,
                                                         Metadata* metadata) {
  std::string bytes = read_input_file(path, limits.max_file_bytes, "--max-weights-size", diag);
  return parse_safetensors(bytes, path, diag, limits, metadata);
}

std::string serialize_safetensors(
    const std::vector<std::pair<std::string, const ir::Tensor*>>& tensors,
    const Metadata& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i)
      header +=
          (i ? "," : "") + json::quote(metadata[i].first) + ":" + json::quote(metadata[i].second);
    header += "}";
  }
  int64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (header.size() > 1) header += ",";
    int64_t bytes = t->size() * 4;
    header += json::quote(name) + ":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t->shape.dims.size(); ++i)
      header += (i ? "," : "") + std::to_string(t->shape.dims[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
              std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out += header;
  out.reserve(out.size() + static_cast<size_t>(offset));
  for (const auto& [name, t] : tensors) {
    for (float v : t->data) {
      uint32_t bits = float_bits(v);
      for (int i = 0; i < 4; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
    }
  }
  return out;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const ir::Tensor*>>& tensors,
                       const Metadata& metadata, DiagnosticEngine& diag) {
  write_output_file_atomically(path, serialize_safetensors(tensors, metadata), diag);
}

}  // namespace cnnc::io
