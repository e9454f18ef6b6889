// io/safetensors_write.cpp — writing safetensors files atomically (temp file, fsync, rename).
//
// Layout as the reference writes it: 8-byte little-endian header length, the JSON header padded
// with spaces to a multiple of 8 bytes, then the data. Tensors are laid out by decreasing element
// size (stable otherwise), so with the 8-aligned data section every tensor is aligned to its
// element size and as_f32()/as_i32() work on the result.
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

#include "io/safetensors_common.h"
#include "owl/error.h"
#include "owl/safetensors.h"

namespace owl {

using detail::quote_name;

namespace {

const char* write_hint = "check that the folder exists and is writable and that the disk is not full";

// Owns a temporary file until it is committed: on any failure the temp file is closed and removed.
class temp_file {
 public:
  explicit temp_file(const std::filesystem::path& target) : target_(target) {
    static std::atomic<unsigned> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    std::string suffix = ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + "." +
                         std::to_string(uint64_t(stamp) & 0xffffff);
    path_ = target;
    path_ += suffix;
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      int err = errno;
      fail(target.string(), std::string("cannot create temporary file for writing: ") + std::strerror(err),
           write_hint);
    }
  }
  ~temp_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;

  void write(const void* data, size_t size) {
    const char* p = static_cast<const char*>(data);
    while (size > 0) {
      size_t chunk = std::min<size_t>(size, size_t(1) << 30);
      ssize_t n = ::write(fd_, p, chunk);
      if (n < 0) {
        if (errno == EINTR) continue;
        io_error("cannot write");
      }
      if (n == 0) io_error("cannot write (no progress)");
      p += n;
      size -= size_t(n);
    }
  }

  void commit() {
    if (::fsync(fd_) != 0) io_error("cannot flush to disk");
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) io_error("cannot close");
    if (::rename(path_.c_str(), target_.c_str()) != 0) io_error("cannot rename the temporary file into place");
    committed_ = true;
  }

 private:
  [[noreturn]] void io_error(const char* what) {
    int err = errno;
    fail(target_.string(), std::string(what) + ": " + std::strerror(err), write_hint);
  }

  std::filesystem::path target_;
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

}  // namespace

void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string file = path.string();

  // Validate everything before touching the disk.
  std::set<std::string_view> seen;
  std::vector<uint64_t> sizes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const tensor_to_write& t = tensors[i];
    const std::string where = file + ": tensor " + quote_name(t.name);
    if (t.name.empty()) fail(where, "empty tensor name, expected a non-empty name");
    if (t.name == "__metadata__") fail(where, "the name '__metadata__' is reserved for the metadata");
    if (detail::invalid_utf8_offset(t.name) != std::string_view::npos)
      fail(where, "name is not valid UTF-8, expected UTF-8 text");
    if (!seen.insert(t.name).second) fail(where, "duplicate tensor name, expected every name once");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) fail(where, "shape has a negative dimension (" + std::to_string(d) + ")");
      if (__builtin_mul_overflow(numel, uint64_t(d), &numel))
        fail(where, "shape overflow: the element count overflows 64 bits");
    }
    uint64_t expected = 0;
    if (__builtin_mul_overflow(numel, uint64_t(dtype_size(t.type)), &expected))
      fail(where, "shape overflow: the byte size overflows 64 bits");
    if (expected != t.bytes.size())
      fail(where, "wrong byte size: expected " + std::to_string(expected) + " bytes (numel " +
                      std::to_string(numel) + " x " + std::string(dtype_name(t.type)) + "), found " +
                      std::to_string(t.bytes.size()));
    sizes[i] = expected;
  }
  for (const auto& [key, value] : metadata)
    if (detail::invalid_utf8_offset(key) != std::string_view::npos ||
        detail::invalid_utf8_offset(value) != std::string_view::npos)
      fail(file + ": field '__metadata__'", "key " + quote_name(key) + " or its value is not valid UTF-8");

  // Data order: larger elements first, so every tensor lands aligned to its element size.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dtype_size(tensors[a].type) > dtype_size(tensors[b].type);
  });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) meta[key] = value;
    header["__metadata__"] = std::move(meta);
  }
  uint64_t offset = 0;
  for (size_t i : order) {
    const tensor_to_write& t = tensors[i];
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = std::string(dtype_name(t.type));
    entry["shape"] = t.shape;
    entry["data_offsets"] = {offset, offset + sizes[i]};
    header[t.name] = std::move(entry);
    offset += sizes[i];
  }
  std::string text = header.dump();
  while (text.size() % 8 != 0) text += ' ';

  unsigned char length[8];
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) length[i] = static_cast<unsigned char>(n >> (8 * i));

  temp_file out(path);
  out.write(length, 8);
  out.write(text.data(), text.size());
  for (size_t i : order)
    if (!tensors[i].bytes.empty()) out.write(tensors[i].bytes.data(), tensors[i].bytes.size());
  out.commit();
}

}  // namespace owl
