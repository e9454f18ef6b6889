// io/gguf_write.cpp — writing GGUF v3 files atomically (temp file, fsync, rename).
//
// Layout: header, key/value pairs in the order they were first set, tensor infos in the order the
// tensors were added, zero padding to the alignment, then each tensor's bytes at an offset that is
// a multiple of the alignment (zero padding between them). Everything is validated before the disk
// is touched, with the same rules the reader enforces, so what we write we can read back.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <limits>
#include <set>

#include "io/gguf.h"
#include "io/safetensors_common.h"
#include "owl/error.h"

namespace owl {

using detail::quote_name;

namespace {

constexpr uint32_t gguf_version = 3;
constexpr size_t default_alignment = 32;
constexpr size_t max_string_bytes = size_t(64) << 20;
constexpr size_t max_key_bytes = 65535;
constexpr int max_array_depth = 8;
const char* write_hint = "check that the folder exists and is writable and that the disk is not full";

void put_uint(std::vector<std::byte>& out, uint64_t v, unsigned width) {
  for (unsigned i = 0; i < width; ++i) out.push_back(std::byte(uint8_t(v >> (8 * i))));
}

void put_string(std::vector<std::byte>& out, std::string_view s) {
  put_uint(out, s.size(), 8);
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  out.insert(out.end(), p, p + s.size());
}

void put_value(std::vector<std::byte>& out, const gguf_value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          put_string(out, v);
        } else if constexpr (std::is_same_v<T, gguf_array>) {
          put_uint(out, uint32_t(v.type), 4);
          put_uint(out, v.items.size(), 8);
          for (const gguf_value& item : v.items) put_value(out, item);
        } else if constexpr (std::is_same_v<T, bool>) {
          put_uint(out, v ? 1 : 0, 1);
        } else if constexpr (std::is_same_v<T, float>) {
          uint32_t bits;
          std::memcpy(&bits, &v, 4);
          put_uint(out, bits, 4);
        } else if constexpr (std::is_same_v<T, double>) {
          uint64_t bits;
          std::memcpy(&bits, &v, 8);
          put_uint(out, bits, 8);
        } else {
          put_uint(out, uint64_t(std::make_unsigned_t<T>(v)), sizeof(T));
        }
      },
      value.raw());
}

// Checks what the reader would refuse: string sizes, array homogeneity and nesting.
void check_value(const gguf_value& value, const std::string& where, int depth) {
  if (const std::string* s = value.get_if<std::string>()) {
    if (s->size() > max_string_bytes)
      fail(where, "string of " + std::to_string(s->size()) + " bytes exceeds the limit of " +
                      std::to_string(max_string_bytes));
    return;
  }
  const gguf_array* a = value.get_if<gguf_array>();
  if (!a) return;
  if (depth + 1 > max_array_depth)
    fail(where, "arrays nested more than " + std::to_string(max_array_depth) + " deep");
  if (uint32_t(a->type) > uint32_t(gguf_value_type::f64))
    fail(where, "array item type " + std::to_string(uint32_t(a->type)) + " is not a GGUF value type");
  for (size_t i = 0; i < a->items.size(); ++i) {
    const gguf_value& item = a->items[i];
    if (item.type() != a->type)
      fail(where, "array of " + std::string(gguf_type_name(a->type)) + " holds a " + gguf_type_name(item.type()) +
                      " at index " + std::to_string(i) + ", expected every item to be " + gguf_type_name(a->type));
    check_value(item, where, depth + 1);
  }
}

uint64_t align_up(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// Owns a temporary file until it is committed: on any failure the temp file is closed and removed.
class staged_file {
 public:
  explicit staged_file(const std::filesystem::path& target) : target_(target) {
    static std::atomic<unsigned> counter{0};
    const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    temp_ = target;
    temp_ += ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
             std::to_string(uint64_t(stamp) & 0xffffff);
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) io_error("cannot create a temporary file for writing");
  }
  ~staged_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  void write(const std::byte* data, size_t size) {
    while (size > 0) {
      const ssize_t n = ::write(fd_, data, std::min<size_t>(size, size_t(1) << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        io_error("cannot write");
      }
      if (n == 0) io_error("cannot write (no progress)");
      data += n;
      size -= size_t(n);
    }
  }
  void zeros(size_t n) {
    static const std::byte pad[256] = {};
    while (n > 0) {
      const size_t k = std::min(n, sizeof pad);
      write(pad, k);
      n -= k;
    }
  }
  void commit() {
    if (::fsync(fd_) != 0) io_error("cannot flush to disk");
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) io_error("cannot close");
    if (::rename(temp_.c_str(), target_.c_str()) != 0) io_error("cannot rename the temporary file into place");
    committed_ = true;
  }

 private:
  [[noreturn]] void io_error(const char* what) {
    const int err = errno;
    fail(target_.string(), std::string(what) + ": " + std::strerror(err), write_hint);
  }
  std::filesystem::path target_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void gguf_writer::set(const std::string& key, gguf_value value) {
  const std::string where = "gguf writer: key " + quote_name(key);
  if (key.empty()) fail(where, "empty key, expected a non-empty name");
  if (key.size() > max_key_bytes)
    fail(where, "key of " + std::to_string(key.size()) + " bytes, expected at most " + std::to_string(max_key_bytes));
  check_value(value, where, 0);
  if (key == "general.alignment") {
    const uint32_t* a = value.get_if<uint32_t>();
    if (!a) fail(where, std::string("expected a u32, found a ") + gguf_type_name(value.type()));
    if (*a == 0 || (*a & (*a - 1)) != 0) fail(where, "alignment " + std::to_string(*a) + " is not a power of two");
  }
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

const gguf_value* gguf_writer::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

void gguf_writer::add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                             std::span<const std::byte> bytes) {
  const std::string where = "gguf writer: tensor " + quote_name(name);
  if (name.empty()) fail(where, "empty tensor name, expected a non-empty name");
  if (name.size() > max_key_bytes) fail(where, "name of " + std::to_string(name.size()) + " bytes is too long");
  for (const tensor& t : tensors_)
    if (t.name == name) fail(where, "duplicate tensor name, expected every name once");
  if (shape.empty() || shape.size() > 4)
    fail(where, "shape has " + std::to_string(shape.size()) + " dimensions, expected 1 to 4");
  const ggml_type_traits* traits = ggml_type_info(ggml_type);
  if (!traits) fail(where, "unknown ggml type " + std::to_string(ggml_type));
  int64_t rows = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] <= 0)
      fail(where, "dimension ne[" + std::to_string(i) + "] is " + std::to_string(shape[i]) + ", expected > 0");
    if (i > 0 && __builtin_mul_overflow(rows, shape[i], &rows)) fail(where, "element count overflows 64 bits");
  }
  if (shape[0] % traits->block_size != 0)
    fail(where, "row length ne[0] = " + std::to_string(shape[0]) + " is not a multiple of the " + traits->name +
                    " block size " + std::to_string(traits->block_size));
  uint64_t expected = 0;
  if (__builtin_mul_overflow(uint64_t(ggml_type_row_bytes(ggml_type, shape[0])), uint64_t(rows), &expected))
    fail(where, "byte size overflows 64 bits");
  if (expected != bytes.size())
    fail(where, "wrong byte size: expected " + std::to_string(expected) + " bytes for " + traits->name +
                    " ne[0] = " + std::to_string(shape[0]) + " x " + std::to_string(rows) + " rows, found " +
                    std::to_string(bytes.size()));
  tensors_.push_back(tensor{name, ggml_type, std::move(shape), bytes, nullptr});
}

void gguf_writer::add_tensor(const std::string& name, uint32_t ggml_type, std::vector<int64_t> shape,
                             std::vector<std::byte> owned_bytes) {
  auto owned = std::make_shared<std::vector<std::byte>>(std::move(owned_bytes));
  add_tensor(name, ggml_type, std::move(shape), std::span<const std::byte>(*owned));
  tensors_.back().owned = std::move(owned);
}

size_t gguf_writer::alignment() const {
  if (const gguf_value* v = find("general.alignment"))
    if (const uint32_t* a = v->get_if<uint32_t>()) return *a;
  return default_alignment;
}

// Header, metadata and tensor infos, padded to the alignment; fills each tensor's data offset.
std::vector<std::byte> gguf_writer::header(std::vector<uint64_t>& offsets, uint64_t& data_size) const {
  const uint64_t align = alignment();
  std::vector<std::byte> out;
  put_uint(out, 0x46554747, 4);  // "GGUF"
  put_uint(out, gguf_version, 4);
  put_uint(out, tensors_.size(), 8);
  put_uint(out, kv_.size(), 8);
  for (const auto& [key, value] : kv_) {
    put_string(out, key);
    put_uint(out, uint32_t(value.type()), 4);
    put_value(out, value);
  }
  offsets.clear();
  data_size = 0;
  for (const tensor& t : tensors_) {
    put_string(out, t.name);
    put_uint(out, t.shape.size(), 4);
    for (int64_t d : t.shape) put_uint(out, uint64_t(d), 8);
    put_uint(out, t.ggml_type, 4);
    data_size = align_up(data_size, align);
    offsets.push_back(data_size);
    put_uint(out, data_size, 8);
    data_size += t.bytes.size();
  }
  out.resize(align_up(out.size(), align), std::byte{0});
  return out;
}

std::vector<std::byte> gguf_writer::to_bytes() const {
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  std::vector<std::byte> out = header(offsets, data_size);
  const size_t data_start = out.size();
  out.resize(data_start + data_size, std::byte{0});
  for (size_t i = 0; i < tensors_.size(); ++i)
    if (!tensors_[i].bytes.empty())
      std::memcpy(out.data() + data_start + offsets[i], tensors_[i].bytes.data(), tensors_[i].bytes.size());
  return out;
}

void gguf_writer::write(const std::filesystem::path& path) const {
  std::vector<uint64_t> offsets;
  uint64_t data_size = 0;
  const std::vector<std::byte> head = header(offsets, data_size);
  staged_file file(path);
  file.write(head.data(), head.size());
  uint64_t written = 0;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    file.zeros(size_t(offsets[i] - written));
    file.write(tensors_[i].bytes.data(), tensors_[i].bytes.size());
    written = offsets[i] + tensors_[i].bytes.size();
  }
  file.commit();
}

}  // namespace owl
