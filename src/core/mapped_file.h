// core/mapped_file.h — a read-only memory mapping of a file (RAII), anonymous memory for large
// buffers, and a size-limited text reader.
//
// Both throw owl::error naming the file when it is missing, unreadable, not a regular file or (for
// read_text_file) larger than the caller's limit. A mapping stays valid while its owner lives; if
// another process truncates the file underneath it, touching the lost pages raises SIGBUS — that is
// the price of zero-copy weights and the same for every mmap-based loader.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <utility>

namespace owl {

class mapped_file {
 public:
  // Maps the whole file read-only. An empty file gives an empty span (no mapping).
  static mapped_file open(const std::filesystem::path& path);

  mapped_file() = default;
  ~mapped_file();
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;

  std::span<const std::byte> bytes() const { return {static_cast<const std::byte*>(data_), size_}; }
  const std::byte* data() const { return static_cast<const std::byte*>(data_); }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

  // Gives up ownership: the caller must later call unmap(first, second).
  std::pair<void*, size_t> release() noexcept;
  static void unmap(void* data, size_t size) noexcept;

 private:
  void reset() noexcept;
  std::filesystem::path path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the pages wholly inside [data, data + size) of a read-only file mapping from this
// process's resident set (madvise MADV_DONTNEED): the file still holds them, and a later read
// maps them again. For weights copied into another layout, so they are not resident twice.
void release_mapped_pages(const void* data, size_t size) noexcept;

// Page-aligned anonymous memory for large buffers (weights rewritten at load). RAII. Buffers of
// 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages (MADV_HUGEPAGE).
class anonymous_memory {
 public:
  // Throws owl::error naming `what` when the memory cannot be had.
  static anonymous_memory allocate(size_t size, const std::string& what);
  anonymous_memory() = default;
  ~anonymous_memory();
  anonymous_memory(anonymous_memory&& other) noexcept;
  anonymous_memory& operator=(anonymous_memory&& other) noexcept;
  anonymous_memory(const anonymous_memory&) = delete;
  anonymous_memory& operator=(const anonymous_memory&) = delete;
  std::byte* data() const { return static_cast<std::byte*>(data_); }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// Reads a small text file (config.json, tokenizer_config.json, an index...) into a string.
// Throws owl::error "PATH: ..." when it is missing, unreadable, not a regular file, or longer than
// max_bytes. The content is returned as stored (no UTF-8 check, no newline conversion).
std::string read_text_file(const std::filesystem::path& path, size_t max_bytes = size_t(64) << 20);

}  // namespace owl
