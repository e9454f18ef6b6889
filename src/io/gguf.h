// io/gguf.h — reading (mmap'd, validated) and writing GGUF files, and the tokenizer they carry.
//
// Format (little-endian; see docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 key/value
// count; the key/value pairs (string key, u32 value type, value); one info per tensor (string name,
// u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset); padding to the alignment
// (general.alignment, default 32); the data section. Strings are u64 length + bytes (no NUL);
// arrays are u32 element type + u64 count + elements. Versions 2 and 3 are read, 3 is written.
//
// Every file is untrusted: counts and lengths are bounded by the bytes that remain before anything
// is allocated, arithmetic is overflow-checked, and every defect is an owl::error naming the file
// and the key or tensor, what was expected and what was found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace owl {

// Metadata value types; the numbers are the ones stored in the file.
enum class gguf_value_type : uint32_t {
  u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
  string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};
const char* gguf_type_name(gguf_value_type type);  // "u8", ..., "array"; "unknown" otherwise

class gguf_value;

// A homogeneous array: every item has type `type` (arrays of arrays are allowed; each inner array
// carries its own element type).
struct gguf_array {
  gguf_value_type type = gguf_value_type::u8;
  std::vector<gguf_value> items;
  bool operator==(const gguf_array&) const;
};

// One metadata value. The variant's alternative index is the gguf_value_type number.
class gguf_value {
 public:
  using storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string,
                               gguf_array, uint64_t, int64_t, double>;

  gguf_value() = default;  // u8 0
  gguf_value(uint8_t v) : v_(v) {}
  gguf_value(int8_t v) : v_(v) {}
  gguf_value(uint16_t v) : v_(v) {}
  gguf_value(int16_t v) : v_(v) {}
  gguf_value(uint32_t v) : v_(v) {}
  gguf_value(int32_t v) : v_(v) {}
  gguf_value(float v) : v_(v) {}
  gguf_value(bool v) : v_(v) {}
  gguf_value(std::string v) : v_(std::move(v)) {}
  gguf_value(const char* v) : v_(std::string(v)) {}
  gguf_value(gguf_array v) : v_(std::move(v)) {}
  gguf_value(uint64_t v) : v_(v) {}
  gguf_value(int64_t v) : v_(v) {}
  gguf_value(double v) : v_(v) {}

  // An array of `type` items (checked when written: every item must have that type).
  static gguf_value array(gguf_value_type type, std::vector<gguf_value> items) {
    return gguf_value(gguf_array{type, std::move(items)});
  }
  // Arrays of plain values, e.g. make_array<std::string>(tokens), make_array<float>(scores).
  template <typename T>
  static gguf_value make_array(const std::vector<T>& items);

  gguf_value_type type() const { return gguf_value_type(v_.index()); }
  const storage& raw() const { return v_; }
  template <typename T>
  const T* get_if() const { return std::get_if<T>(&v_); }

  bool is_integer() const;  // any of the eight integer types
  bool is_float() const { return type() == gguf_value_type::f32 || type() == gguf_value_type::f64; }
  // Value conversions that never lose information; nullopt when the type or range does not fit.
  std::optional<uint64_t> as_u64() const;  // a non-negative integer of any width
  std::optional<int64_t> as_i64() const;   // an integer that fits in int64
  std::optional<double> as_f64() const;    // f32, f64 or an integer

  bool operator==(const gguf_value&) const = default;

 private:
  storage v_;
};

template <typename T>
gguf_value gguf_value::make_array(const std::vector<T>& items) {
  std::vector<gguf_value> values;
  values.reserve(items.size());
  for (const T& item : items) values.emplace_back(item);
  const gguf_value_type type = values.empty() ? gguf_value(T{}).type() : values.front().type();
  return array(type, std::move(values));
}

// ggml tensor types (the numbers stored in tensor infos).
namespace ggml_types {
inline constexpr uint32_t f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9, q2_k = 10,
                          q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, iq2_xxs = 16, iq2_xs = 17,
                          iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23, i8 = 24,
                          i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35,
                          mxfp4 = 39;
}

struct ggml_type_traits {
  const char* name;     // "F32", "Q4_K", ...
  int64_t block_size;   // elements per block (1 for plain types)
  size_t block_bytes;   // bytes per block
};
// nullptr for a type id owl does not know.
const ggml_type_traits* ggml_type_info(uint32_t ggml_type);
// Bytes of a row of n elements. Throws owl::error for an unknown type, n < 0, or n not a multiple
// of the block size.
size_t ggml_type_row_bytes(uint32_t ggml_type, int64_t n);

// A tensor in a GGUF file; `data` points into the file's bytes.
struct gguf_tensor_info {
  std::string name;
  std::vector<int64_t> shape;  // ggml order: shape[0] (ne[0]) is the fastest-moving (row length)
  uint32_t ggml_type = 0;
  uint64_t offset = 0;  // relative to the data section
  const std::byte* data = nullptr;
  size_t nbytes = 0;

  int64_t numel() const;
};

struct gguf_contents {
  uint32_t version = 3;
  size_t alignment = 32;
  uint64_t data_offset = 0;  // file offset of the data section
  std::map<std::string, gguf_value> metadata;
  std::vector<gguf_tensor_info> tensors;  // in file order
};

// Parses and validates a complete GGUF image; tensor data pointers point into `bytes`.
// `source` names the file in error messages. Throws owl::error on any defect.
gguf_contents parse_gguf(std::span<const std::byte> bytes, const std::string& source);

// Typed metadata access over a metadata map; missing keys and wrong types are owl::errors naming
// `source` and the key. The find_* forms return nullopt when the key is absent (a wrong type is
// still an error).
class gguf_metadata_reader {
 public:
  gguf_metadata_reader(const std::map<std::string, gguf_value>& metadata, std::string source)
      : metadata_(metadata), source_(std::move(source)) {}

  const gguf_value* find(std::string_view key) const;
  const gguf_value& get(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  uint64_t get_u64(std::string_view key) const;  // any non-negative integer type
  int64_t get_i64(std::string_view key) const;   // any integer type that fits
  float get_f32(std::string_view key) const;     // f32, or f64 / integer (converted)
  bool get_bool(std::string_view key) const;
  const gguf_array& get_array(std::string_view key) const;
  // An array whose items all have `item_type`.
  const gguf_array& get_array(std::string_view key, gguf_value_type item_type) const;

  const std::string* find_string(std::string_view key) const;
  std::optional<uint64_t> find_u64(std::string_view key) const;
  std::optional<bool> find_bool(std::string_view key) const;
  const gguf_array* find_array(std::string_view key) const;

  const std::map<std::string, gguf_value>& metadata() const { return metadata_; }
  const std::string& source() const { return source_; }
  std::string where(std::string_view key) const;  // "SOURCE: key 'KEY'"

 private:
  const std::map<std::string, gguf_value>& metadata_;
  std::string source_;
};

// One GGUF file, memory-mapped read-only (tensor data is not copied).
class gguf_file {
 public:
  static std::unique_ptr<gguf_file> open(const std::filesystem::path& path);
  ~gguf_file();
  gguf_file(const gguf_file&) = delete;
  gguf_file& operator=(const gguf_file&) = delete;

  uint32_t version() const { return contents_.version; }
  size_t alignment() const { return contents_.alignment; }
  const std::map<std::string, gguf_value>& metadata() const { return contents_.metadata; }
  const std::vector<gguf_tensor_info>& tensors() const { return contents_.tensors; }
  const gguf_tensor_info* find_tensor(std::string_view name) const;
  const gguf_tensor_info& get_tensor(std::string_view name) const;  // missing -> owl::error
  const std::filesystem::path& path() const { return path_; }
  // The whole mapped file (tensor data points inside it).
  std::span<const std::byte> mapped_bytes() const { return {static_cast<const std::byte*>(mapping_), mapping_size_}; }

  const gguf_metadata_reader& reader() const { return reader_; }
  const gguf_value* find(std::string_view key) const { return reader_.find(key); }
  const std::string& get_string(std::string_view key) const { return reader_.get_string(key); }
  uint64_t get_u64(std::string_view key) const { return reader_.get_u64(key); }
  int64_t get_i64(std::string_view key) const { return reader_.get_i64(key); }
  float get_f32(std::string_view key) const { return reader_.get_f32(key); }
  bool get_bool(std::string_view key) const { return reader_.get_bool(key); }
  const gguf_array& get_array(std::string_view key) const { return reader_.get_array(key); }

 private:
  explicit gguf_file(const std::filesystem::path& path);
  std::filesystem::path path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  gguf_contents contents_;
  gguf_metadata_reader reader_;
};

// Builds a GGUF v3 file. Keys keep the order of their first set(); tensors are laid out in the
// order they were added, each at an offset that is a multiple of the alignment (general.alignment
// when set — it must be a u32 power of two — else 32).
class gguf_writer {
 public:
  void set(const std::string& key, gguf_value value);  // replaces an earlier value of the key
  const gguf_value* find(std::string_view key) const;
  // `bytes` must stay valid until write()/to_bytes(); the second form keeps its own copy.
  void add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                  std::span<const std::byte> bytes);
  void add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                  std::vector<std::byte> owned_bytes);

  // Writes to a temporary file next to `path`, flushes it and renames it into place.
  void write(const std::filesystem::path& path) const;
  std::vector<std::byte> to_bytes() const;

 private:
  struct tensor {
    std::string name;
    uint32_t ggml_type;
    std::vector<int64_t> shape;
    std::span<const std::byte> bytes;
    std::shared_ptr<std::vector<std::byte>> owned;
  };
  size_t alignment() const;
  std::vector<std::byte> header(std::vector<uint64_t>& offsets, uint64_t& data_size) const;

  std::vector<std::pair<std::string, gguf_value>> kv_;
  std::vector<tensor> tensors_;
};

// The tokenizer a GGUF carries (tokenizer.ggml.*), as Hugging Face files that
// owl::tokenizer::from_json accepts.
struct gguf_tokenizer_json {
  std::string tokenizer_json;
  std::string tokenizer_config_json;  // bos/eos tokens, add_bos/eos_token, chat_template
};
gguf_tokenizer_json tokenizer_from_gguf(const gguf_file& file);
gguf_tokenizer_json tokenizer_from_gguf(const gguf_metadata_reader& metadata);

// The reverse, for writing: fills tokenizer.ggml.* (and tokenizer.chat_template) from a Hugging Face
// tokenizer folder (tokenizer.json, optional tokenizer_config.json).
void tokenizer_to_gguf(const std::filesystem::path& hf_tokenizer_dir, gguf_writer& writer);

}  // namespace owl
