// io/gguf_read.cpp — validated parsing of GGUF images, typed metadata access, mmap'd files.
//
// Everything read here is untrusted (llama.cpp's GGUF reader has had several CVEs). Before any
// allocation or arithmetic the parser checks: the magic and version (2 or 3); the tensor and
// key/value counts against the bytes that remain (each entry needs a minimum number of bytes);
// every string length against the remaining bytes and a 64 MiB cap; every array count times its
// minimum element size against the remaining bytes (overflow-checked) and array nesting depth;
// a total budget of metadata values; unique keys and tensor names; general.alignment (a u32 power
// of two); each tensor's n_dims (1..4), dimensions (> 0, product overflow-checked), ggml type
// (known), row length (a multiple of the block size), offset (a multiple of the alignment) and
// data (inside the file, no overlap with another tensor).
#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "core/mapped_file.h"
#include "io/gguf.h"
#include "io/safetensors_common.h"
#include "owl/error.h"

namespace owl {

using detail::quote_name;

namespace {

constexpr uint64_t max_string_bytes = uint64_t(64) << 20;
constexpr uint64_t max_key_bytes = 65535;
constexpr int max_array_depth = 8;                      // an array may hold arrays 7 levels down
constexpr uint64_t max_metadata_values = uint64_t(1) << 24;  // values + array items, all keys
constexpr uint32_t max_dims = 4;
constexpr uint64_t default_alignment = 32;
constexpr const char* corrupt_hint = "the file is corrupt, truncated or not a GGUF file";
constexpr const char* truncated_hint = "the file is truncated or corrupt; download it again";

// Smallest encoding of one entry: used to bound counts before reading.
constexpr uint64_t min_kv_bytes = 8 + 1 + 4 + 1;                // key length, 1-byte key, type, u8 value
constexpr uint64_t min_tensor_info_bytes = 8 + 1 + 4 + 8 + 4 + 8;  // name, n_dims, one dim, type, offset

std::string where_file(const std::string& source) { return source.empty() ? "gguf" : source; }

// Fixed size of a scalar value type; 0 for string/array/unknown.
uint64_t scalar_size(uint32_t type) {
  switch (gguf_value_type(type)) {
    case gguf_value_type::u8:
    case gguf_value_type::i8:
    case gguf_value_type::boolean: return 1;
    case gguf_value_type::u16:
    case gguf_value_type::i16: return 2;
    case gguf_value_type::u32:
    case gguf_value_type::i32:
    case gguf_value_type::f32: return 4;
    case gguf_value_type::u64:
    case gguf_value_type::i64:
    case gguf_value_type::f64: return 8;
    default: return 0;
  }
}

bool known_value_type(uint32_t type) { return type <= uint32_t(gguf_value_type::f64); }

std::string known_types_text() { return "0..12 (u8, i8, u16, i16, u32, i32, f32, bool, string, array, u64, i64, f64)"; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// What is being read, for messages; built into text only when something fails (array items are
// read by the million).
struct label {
  const std::string& base;
  uint64_t index = 0;
  bool indexed = false;
  const char* suffix = "";
  std::string text() const {
    std::string out = base;
    if (indexed) out += "[" + std::to_string(index) + "]";
    return out + suffix;
  }
  label with(const char* s) const { return {base, index, indexed, s}; }
};

// A bounds-checked little-endian reader over the file image.
class cursor {
 public:
  explicit cursor(std::span<const std::byte> bytes) : bytes_(bytes) {}

  size_t pos() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  void need(uint64_t n, const std::string& where, const label& what) const {
    if (n > remaining())
      fail(where, "truncated: " + what.text() + " needs " + std::to_string(n) + " bytes at offset " +
                      std::to_string(pos_) + ", but only " + std::to_string(remaining()) +
                      " are left (file size " + std::to_string(bytes_.size()) + ")",
           truncated_hint);
  }
  uint64_t read_uint(unsigned width, const std::string& where, const label& what) {
    need(width, where, what);
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) v |= uint64_t(std::to_integer<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    pos_ += width;
    return v;
  }
  uint32_t u32(const std::string& where, const std::string& what) { return uint32_t(read_uint(4, where, {what})); }
  uint64_t u64(const std::string& where, const std::string& what) { return read_uint(8, where, {what}); }

  // A GGUF string: u64 length + bytes.
  std::string string(const std::string& where, const label& what, uint64_t cap = max_string_bytes) {
    const size_t at = pos_;
    const uint64_t len = read_uint(8, where, what.with(" length"));
    if (len > cap)
      fail(where, what.text() + " length " + std::to_string(len) + " (at offset " + std::to_string(at) +
                      ") exceeds the limit of " + std::to_string(cap) + " bytes",
           corrupt_hint);
    if (len > remaining())
      fail(where, what.text() + " length " + std::to_string(len) + " (at offset " + std::to_string(at) +
                      ") runs past the end of the file (" + std::to_string(remaining()) + " bytes left)",
           truncated_hint);
    std::string s(reinterpret_cast<const char*>(bytes_.data()) + pos_, size_t(len));
    pos_ += size_t(len);
    return s;
  }

 private:
  std::span<const std::byte> bytes_;
  size_t pos_ = 0;
};

class parser {
 public:
  parser(std::span<const std::byte> bytes, const std::string& source)
      : bytes_(bytes), file_(where_file(source)), in_(bytes) {}

  gguf_contents run();

 private:
  void read_header();
  gguf_value read_value(uint32_t type, const std::string& where, const label& what, int depth);
  gguf_value read_array(const std::string& where, const label& what, int depth);
  void count_values(uint64_t n, const std::string& where);
  void read_tensor_info(uint64_t index, std::set<std::string>& names);
  void place_tensors();

  std::string where_key(const std::string& key) const { return file_ + ": key " + quote_name(key); }
  std::string where_tensor(const std::string& name) const { return file_ + ": tensor " + quote_name(name); }

  std::span<const std::byte> bytes_;
  std::string file_;
  cursor in_;
  gguf_contents out_;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  uint64_t values_ = 0;
};

void parser::read_header() {
  if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    std::string found = "a " + std::to_string(bytes_.size()) + "-byte file";
    if (bytes_.size() >= 4)
      found = "magic " + quote_name(std::string_view(reinterpret_cast<const char*>(bytes_.data()), 4));
    std::string hint = corrupt_hint;
    auto starts = [&](std::string_view m) {
      return bytes_.size() >= m.size() && std::memcmp(bytes_.data(), m.data(), m.size()) == 0;
    };
    if (starts("lmgg") || starts("fmgg") || starts("tjgg"))
      hint = "this is a pre-GGUF ggml file (GGML/GGMF/GGJT); convert it with a current llama.cpp";
    else if (bytes_.size() >= 9 && std::to_integer<char>(bytes_[8]) == '{')
      hint = "this looks like a safetensors file; open it as safetensors";
    fail(file_, "bad magic: expected \"GGUF\", found " + found, hint);
  }
  in_.u32(file_, "magic");
  const uint32_t version = in_.u32(file_, "version");
  if (version == 1)
    fail(file_, "GGUF version 1 is not supported, expected version 2 or 3",
         "version 1 (2023) used 32-bit lengths; re-convert the model with a current llama.cpp");
  if (version != 2 && version != 3) {
    const bool swapped = version > 0xffff && (version & 0xffff) == 0;
    fail(file_, "unsupported GGUF version " + std::to_string(version) + ", expected 2 or 3",
         swapped ? "this looks like a big-endian GGUF file; owl reads little-endian files only" : corrupt_hint);
  }
  out_.version = version;
  tensor_count_ = in_.u64(file_, "tensor count");
  kv_count_ = in_.u64(file_, "metadata key/value count");
  const uint64_t left = in_.remaining();
  if (kv_count_ > left / min_kv_bytes)
    fail(file_, "metadata key/value count " + std::to_string(kv_count_) + " is impossible: each entry needs at least " +
                    std::to_string(min_kv_bytes) + " bytes and only " + std::to_string(left) + " bytes follow",
         corrupt_hint);
  if (tensor_count_ > (left - kv_count_ * min_kv_bytes) / min_tensor_info_bytes)
    fail(file_, "tensor count " + std::to_string(tensor_count_) + " is impossible: each tensor info needs at least " +
                    std::to_string(min_tensor_info_bytes) + " bytes and only " + std::to_string(left) +
                    " bytes follow (with " + std::to_string(kv_count_) + " metadata entries)",
         corrupt_hint);
}

void parser::count_values(uint64_t n, const std::string& where) {
  if (n > max_metadata_values - values_)
    fail(where, "metadata holds more than " + std::to_string(max_metadata_values) + " values in all",
         "no real model needs that many; the file is corrupt or hostile");
  values_ += n;
}

gguf_value parser::read_value(uint32_t type, const std::string& where, const label& what, int depth) {
  switch (gguf_value_type(type)) {
    case gguf_value_type::u8: return gguf_value(uint8_t(in_.read_uint(1, where, what)));
    case gguf_value_type::i8: return gguf_value(int8_t(uint8_t(in_.read_uint(1, where, what))));
    case gguf_value_type::u16: return gguf_value(uint16_t(in_.read_uint(2, where, what)));
    case gguf_value_type::i16: return gguf_value(int16_t(uint16_t(in_.read_uint(2, where, what))));
    case gguf_value_type::u32: return gguf_value(uint32_t(in_.read_uint(4, where, what)));
    case gguf_value_type::i32: return gguf_value(int32_t(uint32_t(in_.read_uint(4, where, what))));
    case gguf_value_type::u64: return gguf_value(uint64_t(in_.read_uint(8, where, what)));
    case gguf_value_type::i64: return gguf_value(int64_t(in_.read_uint(8, where, what)));
    case gguf_value_type::f32: {
      const uint32_t bits = uint32_t(in_.read_uint(4, where, what));
      float f;
      std::memcpy(&f, &bits, 4);
      return gguf_value(f);
    }
    case gguf_value_type::f64: {
      const uint64_t bits = in_.read_uint(8, where, what);
      double d;
      std::memcpy(&d, &bits, 8);
      return gguf_value(d);
    }
    case gguf_value_type::boolean: {
      const size_t at = in_.pos();
      const uint64_t b = in_.read_uint(1, where, what);
      if (b > 1)
        fail(where, what.text() + ": bool byte at offset " + std::to_string(at) + " is " + std::to_string(b) +
                        ", expected 0 or 1",
             corrupt_hint);
      return gguf_value(b == 1);
    }
    case gguf_value_type::string: return gguf_value(in_.string(where, what));
    case gguf_value_type::array: return read_array(where, what, depth + 1);
  }
  fail(where, what.text() + ": unknown value type " + std::to_string(type) + ", expected " + known_types_text(),
       corrupt_hint);
}

gguf_value parser::read_array(const std::string& where, const label& what, int depth) {
  if (depth > max_array_depth)
    fail(where, what.text() + ": arrays nested more than " + std::to_string(max_array_depth) + " deep",
         "no real model nests arrays; the file is corrupt or hostile");
  const std::string base = what.text();
  const uint32_t item_type = in_.u32(where, base + " item type");
  if (!known_value_type(item_type))
    fail(where, base + ": unknown array item type " + std::to_string(item_type) + ", expected " + known_types_text(),
         corrupt_hint);
  const size_t at = in_.pos();
  const uint64_t count = in_.u64(where, base + " item count");
  // Minimum bytes per item: its fixed size, a string's length field, an array's type + count.
  uint64_t min_item = scalar_size(item_type);
  if (item_type == uint32_t(gguf_value_type::string)) min_item = 8;
  if (item_type == uint32_t(gguf_value_type::array)) min_item = 12;
  if (count > in_.remaining() / min_item)
    fail(where, base + ": array of " + std::to_string(count) + " " + gguf_type_name(gguf_value_type(item_type)) +
                    " items (count at offset " + std::to_string(at) + ") needs at least " +
                    (count > std::numeric_limits<uint64_t>::max() / min_item
                         ? std::string("more than 2^64")
                         : std::to_string(count * min_item)) +
                    " bytes, but only " + std::to_string(in_.remaining()) + " bytes are left",
         truncated_hint);
  count_values(count, where);
  gguf_array array;
  array.type = gguf_value_type(item_type);
  array.items.reserve(size_t(count));
  for (uint64_t i = 0; i < count; ++i)
    array.items.push_back(read_value(item_type, where, label{base, i, true}, depth));
  return gguf_value(std::move(array));
}

void parser::read_tensor_info(uint64_t index, std::set<std::string>& names) {
  const std::string where_index = file_ + ": tensor info " + std::to_string(index);
  gguf_tensor_info t;
  t.name = in_.string(where_index, label{"name"}, max_key_bytes);
  const std::string where = where_tensor(t.name);
  if (t.name.empty()) fail(where_index, "empty tensor name, expected a non-empty name", corrupt_hint);
  if (!names.insert(t.name).second)
    fail(where, "duplicate tensor name, expected every name once", corrupt_hint);
  const uint32_t n_dims = in_.u32(where, "n_dims");
  if (n_dims < 1 || n_dims > max_dims)
    fail(where, "n_dims is " + std::to_string(n_dims) + ", expected 1 to " + std::to_string(max_dims), corrupt_hint);
  int64_t numel = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    const uint64_t raw = in_.u64(where, "ne[" + std::to_string(d) + "]");
    if (raw == 0 || raw > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(where, "dimension ne[" + std::to_string(d) + "] is " +
                      (raw == 0 ? std::string("0") : std::to_string(int64_t(raw)) + " (negative)") +
                      ", expected a positive size",
           corrupt_hint);
    t.shape.push_back(int64_t(raw));
    if (__builtin_mul_overflow(numel, int64_t(raw), &numel))
      fail(where, "element count of shape " + shape_text(t.shape) + "... overflows 64 bits", corrupt_hint);
  }
  t.ggml_type = in_.u32(where, "ggml type");
  const ggml_type_traits* traits = ggml_type_info(t.ggml_type);
  if (!traits)
    fail(where, "unknown ggml type " + std::to_string(t.ggml_type),
         "owl knows F32, F16, BF16, F64, I8..I64 and the Q*/IQ*/TQ*/MXFP4 block types; this file may be newer");
  if (t.shape[0] % traits->block_size != 0)
    fail(where, "row length ne[0] = " + std::to_string(t.shape[0]) + " is not a multiple of the " + traits->name +
                    " block size " + std::to_string(traits->block_size),
         corrupt_hint);
  // Bytes: (numel / block) * block_bytes, overflow-checked.
  uint64_t nbytes = 0;
  if (__builtin_mul_overflow(uint64_t(numel / traits->block_size), uint64_t(traits->block_bytes), &nbytes) ||
      nbytes > uint64_t(std::numeric_limits<size_t>::max()))
    fail(where, "byte size of shape " + shape_text(t.shape) + " x " + traits->name + " overflows", corrupt_hint);
  t.nbytes = size_t(nbytes);
  t.offset = in_.u64(where, "offset");
  if (t.offset % out_.alignment != 0)
    fail(where, "data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
                    std::to_string(out_.alignment),
         corrupt_hint);
  out_.tensors.push_back(std::move(t));
}

void parser::place_tensors() {
  // The data section starts at the first aligned offset after the tensor infos.
  const uint64_t end_of_infos = in_.pos();
  const uint64_t data_start = (end_of_infos + out_.alignment - 1) / out_.alignment * out_.alignment;
  out_.data_offset = data_start;
  if (out_.tensors.empty()) return;
  if (data_start > bytes_.size())
    fail(file_, "truncated: the data section would start at offset " + std::to_string(data_start) +
                    " but the file has " + std::to_string(bytes_.size()) + " bytes",
         truncated_hint);
  const uint64_t data_size = bytes_.size() - data_start;
  for (gguf_tensor_info& t : out_.tensors) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(where_tensor(t.name),
           "data [" + std::to_string(t.offset) + ", " +
               (t.offset > std::numeric_limits<uint64_t>::max() - t.nbytes ? std::string("overflow")
                                                                           : std::to_string(t.offset + t.nbytes)) +
               ") runs past the end of the data section (" + std::to_string(data_size) + " bytes)",
           truncated_hint);
    t.data = bytes_.data() + data_start + t.offset;
  }
  std::vector<const gguf_tensor_info*> order;
  for (const gguf_tensor_info& t : out_.tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < order.size(); ++i) {
    const gguf_tensor_info& prev = *order[i - 1];
    const gguf_tensor_info& cur = *order[i];
    if (cur.offset < prev.offset + prev.nbytes)
      fail(where_tensor(cur.name),
           "data [" + std::to_string(cur.offset) + ", " + std::to_string(cur.offset + cur.nbytes) +
               ") overlaps tensor " + quote_name(prev.name) + " [" + std::to_string(prev.offset) + ", " +
               std::to_string(prev.offset + prev.nbytes) + ")",
           corrupt_hint);
  }
}

gguf_contents parser::run() {
  read_header();
  for (uint64_t i = 0; i < kv_count_; ++i) {
    const std::string where_index = file_ + ": metadata entry " + std::to_string(i);
    std::string key = in_.string(where_index, label{"key"}, max_key_bytes);
    if (key.empty()) fail(where_index, "empty key, expected a non-empty name", corrupt_hint);
    const std::string where = where_key(key);
    if (out_.metadata.count(key)) fail(where, "duplicate key, expected every key once", corrupt_hint);
    const uint32_t type = in_.u32(where, "value type");
    if (!known_value_type(type))
      fail(where, "unknown value type " + std::to_string(type) + ", expected " + known_types_text(), corrupt_hint);
    count_values(1, where);
    const std::string value_label = "value";
    out_.metadata.emplace(std::move(key), read_value(type, where, label{value_label}, 0));
  }
  if (auto it = out_.metadata.find("general.alignment"); it != out_.metadata.end()) {
    const std::string where = where_key("general.alignment");
    const uint32_t* a = it->second.get_if<uint32_t>();
    if (!a) fail(where, std::string("expected a u32, found ") + gguf_type_name(it->second.type()), corrupt_hint);
    if (*a == 0 || (*a & (*a - 1)) != 0)
      fail(where, "alignment " + std::to_string(*a) + " is not a power of two", corrupt_hint);
    out_.alignment = *a;
  } else {
    out_.alignment = default_alignment;
  }
  std::set<std::string> names;
  for (uint64_t i = 0; i < tensor_count_; ++i) read_tensor_info(i, names);
  place_tensors();
  return std::move(out_);
}

std::string value_kind(const gguf_value& v) {
  if (const gguf_array* a = v.get_if<gguf_array>())
    return std::string("an array of ") + gguf_type_name(a->type);
  return std::string("a ") + gguf_type_name(v.type());
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// types

const char* gguf_type_name(gguf_value_type type) {
  switch (type) {
    case gguf_value_type::u8: return "u8";
    case gguf_value_type::i8: return "i8";
    case gguf_value_type::u16: return "u16";
    case gguf_value_type::i16: return "i16";
    case gguf_value_type::u32: return "u32";
    case gguf_value_type::i32: return "i32";
    case gguf_value_type::f32: return "f32";
    case gguf_value_type::boolean: return "bool";
    case gguf_value_type::string: return "string";
    case gguf_value_type::array: return "array";
    case gguf_value_type::u64: return "u64";
    case gguf_value_type::i64: return "i64";
    case gguf_value_type::f64: return "f64";
  }
  return "unknown";
}

bool gguf_array::operator==(const gguf_array& o) const { return type == o.type && items == o.items; }

bool gguf_value::is_integer() const {
  switch (type()) {
    case gguf_value_type::u8:
    case gguf_value_type::i8:
    case gguf_value_type::u16:
    case gguf_value_type::i16:
    case gguf_value_type::u32:
    case gguf_value_type::i32:
    case gguf_value_type::u64:
    case gguf_value_type::i64: return true;
    default: return false;
  }
}

std::optional<uint64_t> gguf_value::as_u64() const {
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>)
            if (v < 0) return std::nullopt;
          return uint64_t(v);
        }
        return std::nullopt;
      },
      v_);
}

std::optional<int64_t> gguf_value::as_i64() const {
  return std::visit(
      [](const auto& v) -> std::optional<int64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_same_v<T, uint64_t>)
            if (v > uint64_t(std::numeric_limits<int64_t>::max())) return std::nullopt;
          return int64_t(v);
        }
        return std::nullopt;
      },
      v_);
}

std::optional<double> gguf_value::as_f64() const {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) return double(v);
        else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) return double(v);
        return std::nullopt;
      },
      v_);
}

const ggml_type_traits* ggml_type_info(uint32_t type) {
  static const ggml_type_traits table[] = {
      {"F32", 1, 4},       {"F16", 1, 2},       {"Q4_0", 32, 18},   {"Q4_1", 32, 20},   {nullptr, 0, 0},
      {nullptr, 0, 0},     {"Q5_0", 32, 22},    {"Q5_1", 32, 24},   {"Q8_0", 32, 34},   {"Q8_1", 32, 36},
      {"Q2_K", 256, 84},   {"Q3_K", 256, 110},  {"Q4_K", 256, 144}, {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
      {"Q8_K", 256, 292},  {"IQ2_XXS", 256, 66}, {"IQ2_XS", 256, 74}, {"IQ3_XXS", 256, 98}, {"IQ1_S", 256, 50},
      {"IQ4_NL", 32, 18},  {"IQ3_S", 256, 110}, {"IQ2_S", 256, 82}, {"IQ4_XS", 256, 136}, {"I8", 1, 1},
      {"I16", 1, 2},       {"I32", 1, 4},       {"I64", 1, 8},      {"F64", 1, 8},      {"IQ1_M", 256, 56},
      {"BF16", 1, 2},      {nullptr, 0, 0},     {nullptr, 0, 0},    {nullptr, 0, 0},    {"TQ1_0", 256, 54},
      {"TQ2_0", 256, 66},  {nullptr, 0, 0},     {nullptr, 0, 0},    {nullptr, 0, 0},    {"MXFP4", 32, 17},
  };
  if (type >= std::size(table) || table[type].name == nullptr) return nullptr;
  return &table[type];
}

size_t ggml_type_row_bytes(uint32_t ggml_type, int64_t n) {
  const ggml_type_traits* t = ggml_type_info(ggml_type);
  if (!t) fail("ggml type " + std::to_string(ggml_type), "unknown ggml type id " + std::to_string(ggml_type));
  if (n < 0 || n % t->block_size != 0)
    fail(std::string("ggml type ") + t->name,
         "row length " + std::to_string(n) + " is not a non-negative multiple of the block size " +
             std::to_string(t->block_size));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(uint64_t(n / t->block_size), uint64_t(t->block_bytes), &bytes) ||
      bytes > std::numeric_limits<size_t>::max())
    fail(std::string("ggml type ") + t->name, "row of " + std::to_string(n) + " elements overflows");
  return size_t(bytes);
}

int64_t gguf_tensor_info::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      fail("tensor " + quote_name(name), "shape " + shape_text(shape) + " has no valid element count");
  return n;
}

gguf_contents parse_gguf(std::span<const std::byte> bytes, const std::string& source) {
  return parser(bytes, source).run();
}

// ---------------------------------------------------------------------------------------------
// gguf_metadata_reader

std::string gguf_metadata_reader::where(std::string_view key) const {
  return where_file(source_) + ": key " + quote_name(key);
}

const gguf_value* gguf_metadata_reader::find(std::string_view key) const {
  auto it = metadata_.find(std::string(key));
  return it == metadata_.end() ? nullptr : &it->second;
}

const gguf_value& gguf_metadata_reader::get(std::string_view key) const {
  if (const gguf_value* v = find(key)) return *v;
  fail(where(key), "missing key (the file has " + std::to_string(metadata_.size()) + " metadata keys)",
       "the file was not written for this purpose, or by an older converter");
}

const std::string& gguf_metadata_reader::get_string(std::string_view key) const {
  const gguf_value& v = get(key);
  if (const std::string* s = v.get_if<std::string>()) return *s;
  fail(where(key), "expected a string, found " + value_kind(v));
}

uint64_t gguf_metadata_reader::get_u64(std::string_view key) const {
  const gguf_value& v = get(key);
  if (auto u = v.as_u64()) return *u;
  if (v.is_integer()) fail(where(key), "expected a non-negative integer, found " + std::to_string(*v.as_i64()));
  fail(where(key), "expected an unsigned integer, found " + value_kind(v));
}

int64_t gguf_metadata_reader::get_i64(std::string_view key) const {
  const gguf_value& v = get(key);
  if (auto i = v.as_i64()) return *i;
  if (v.is_integer()) fail(where(key), "expected an integer that fits in 64 signed bits, found " +
                                           std::to_string(*v.as_u64()));
  fail(where(key), "expected an integer, found " + value_kind(v));
}

float gguf_metadata_reader::get_f32(std::string_view key) const {
  const gguf_value& v = get(key);
  if (auto d = v.as_f64()) return float(*d);
  fail(where(key), "expected a number (f32), found " + value_kind(v));
}

bool gguf_metadata_reader::get_bool(std::string_view key) const {
  const gguf_value& v = get(key);
  if (const bool* b = v.get_if<bool>()) return *b;
  fail(where(key), "expected a bool, found " + value_kind(v));
}

const gguf_array& gguf_metadata_reader::get_array(std::string_view key) const {
  const gguf_value& v = get(key);
  if (const gguf_array* a = v.get_if<gguf_array>()) return *a;
  fail(where(key), "expected an array, found " + value_kind(v));
}

const gguf_array& gguf_metadata_reader::get_array(std::string_view key, gguf_value_type item_type) const {
  const gguf_array& a = get_array(key);
  if (a.type != item_type)
    fail(where(key), std::string("expected an array of ") + gguf_type_name(item_type) + ", found an array of " +
                         gguf_type_name(a.type));
  return a;
}

const std::string* gguf_metadata_reader::find_string(std::string_view key) const {
  return find(key) ? &get_string(key) : nullptr;
}

std::optional<uint64_t> gguf_metadata_reader::find_u64(std::string_view key) const {
  if (!find(key)) return std::nullopt;
  return get_u64(key);
}

std::optional<bool> gguf_metadata_reader::find_bool(std::string_view key) const {
  if (!find(key)) return std::nullopt;
  return get_bool(key);
}

const gguf_array* gguf_metadata_reader::find_array(std::string_view key) const {
  return find(key) ? &get_array(key) : nullptr;
}

// ---------------------------------------------------------------------------------------------
// gguf_file

gguf_file::gguf_file(const std::filesystem::path& path)
    : path_(path), reader_(contents_.metadata, path.string()) {}

std::unique_ptr<gguf_file> gguf_file::open(const std::filesystem::path& path) {
  mapped_file mapped = mapped_file::open(path);
  std::unique_ptr<gguf_file> file(new gguf_file(path));
  file->contents_ = parse_gguf(mapped.bytes(), path.string());
  auto [mapping, size] = mapped.release();
  file->mapping_ = mapping;
  file->mapping_size_ = size;
  return file;
}

gguf_file::~gguf_file() { mapped_file::unmap(mapping_, mapping_size_); }

const gguf_tensor_info* gguf_file::find_tensor(std::string_view name) const {
  for (const gguf_tensor_info& t : contents_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const gguf_tensor_info& gguf_file::get_tensor(std::string_view name) const {
  if (const gguf_tensor_info* t = find_tensor(name)) return *t;
  fail(path_.string() + ": tensor " + quote_name(name),
       "not found among the file's " + std::to_string(contents_.tensors.size()) + " tensors",
       "the file does not hold this tensor; check the name or the file");
}

}  // namespace owl
