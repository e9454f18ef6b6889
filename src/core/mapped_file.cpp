#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <limits>

#include "owl/error.h"

namespace owl {

namespace {

// Closes a descriptor on every path out of a function.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

std::string errno_text(int err) { return std::strerror(err); }

std::string open_hint(int err) {
  if (err == ENOENT) return "check the path; the file does not exist";
  if (err == EACCES || err == EPERM) return "check the file's permissions";
  return "check that the path names a readable file";
}

// Opens `path` read-only and checks that it is a regular file; returns the descriptor and size.
int open_regular(const std::filesystem::path& path, const char* what, size_t& size_out) {
  // O_NONBLOCK: opening a FIFO must not hang waiting for a writer; harmless for regular files.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    int err = errno;
    fail(path.string(), std::string("cannot open ") + what + ": " + errno_text(err), open_hint(err));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    fail(path.string(), "cannot stat: " + errno_text(err), "check that the path names a readable file");
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(path.string(), std::string("expected ") + what + ", found a directory",
         "pass the path of the file itself");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path.string(), std::string("expected ") + what + " (a regular file), found a special file",
         "pass the path of an ordinary file");
  }
  if (st.st_size < 0 || uint64_t(st.st_size) > std::numeric_limits<size_t>::max()) {
    ::close(fd);
    fail(path.string(), "file size " + std::to_string(st.st_size) + " cannot be mapped");
  }
  size_out = size_t(st.st_size);
  return fd;
}

}  // namespace

mapped_file mapped_file::open(const std::filesystem::path& path) {
  size_t size = 0;
  fd_guard fd{open_regular(path, "a file to map", size)};
  mapped_file result;
  result.path_ = path;
  if (size == 0) return result;
  void* data = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd.fd, 0);
  if (data == MAP_FAILED) {
    int err = errno;
    fail(path.string(), "cannot map " + std::to_string(size) + " bytes: " + errno_text(err),
         err == ENOMEM ? "not enough address space or memory for this file"
                       : "check that the file is readable and on a local filesystem");
  }
  result.data_ = data;
  result.size_ = size;
  return result;
}

mapped_file::~mapped_file() { reset(); }

mapped_file::mapped_file(mapped_file&& other) noexcept
    : path_(std::move(other.path_)), data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    reset();
    path_ = std::move(other.path_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

std::pair<void*, size_t> mapped_file::release() noexcept {
  std::pair<void*, size_t> result{data_, size_};
  data_ = nullptr;
  size_ = 0;
  return result;
}

void mapped_file::unmap(void* data, size_t size) noexcept {
  if (data != nullptr && size != 0) ::munmap(data, size);
}

void mapped_file::reset() noexcept {
  unmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

void release_mapped_pages(const void* data, size_t size) noexcept {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page, end = (uintptr_t(data) + size) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

anonymous_memory anonymous_memory::allocate(size_t size, const std::string& what) {
  anonymous_memory m;
  if (size == 0) return m;
  // Buffers of 2 MiB and more start on a 2 MiB boundary and ask for transparent huge pages:
  // a decode step streams every weight once, and with 4 KiB pages it took a TLB miss every
  // 4 KiB (the hardware prefetchers also stop at each page's end). Measured on the 2-core
  // EPYC, tg of the 1B-shape Q4_K_M with 1 thread 23-25 -> 29-30 t/s; F16 with 2 threads
  // 10-12 -> 12-16 t/s. Loading cost no more here, but with the kernel's usual "defrag=madvise"
  // a machine with fragmented memory compacts it while the weights are written (an earlier
  // measurement: 5.9 s instead of 1.1 s for 2.3 GB); `defer` in
  // /sys/kernel/mm/transparent_hugepage/defrag trades that for huge pages that come later.
  constexpr size_t huge_page = size_t(2) << 20;
  const bool huge = size >= huge_page;
  if (huge && size > std::numeric_limits<size_t>::max() - huge_page)
    fail(what, "cannot allocate " + std::to_string(size) + " bytes: larger than the address space",
         "the tensor sizes cannot be right; check the model file");
  const size_t reserved = huge ? size + huge_page : size;
  void* data = ::mmap(nullptr, reserved, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (data == MAP_FAILED) {
    const int err = errno;
    fail(what, "cannot allocate " + std::to_string(size) + " bytes: " + errno_text(err),
         "free memory, or load with repacking off (--no-repack) to use the file's pages as they are");
  }
  if (huge) {
    // Keep the 2 MiB-aligned part; give back the pages before and after it.
    const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE)), begin = uintptr_t(data);
    const uintptr_t aligned = (begin + huge_page - 1) & ~uintptr_t(huge_page - 1);
    const uintptr_t end = begin + (reserved + page - 1) / page * page, used_end = aligned + (size + page - 1) / page * page;
    if (aligned > begin) ::munmap(data, aligned - begin);
    if (end > used_end) ::munmap(reinterpret_cast<void*>(used_end), end - used_end);
    data = reinterpret_cast<void*>(aligned);
    ::madvise(data, size, MADV_HUGEPAGE);  // a hint: without THP the pages stay 4 KiB
  }
  m.data_ = data;
  m.size_ = size;
  return m;
}

anonymous_memory::~anonymous_memory() { mapped_file::unmap(data_, size_); }

anonymous_memory::anonymous_memory(anonymous_memory&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

anonymous_memory& anonymous_memory::operator=(anonymous_memory&& other) noexcept {
  if (this != &other) {
    mapped_file::unmap(data_, size_);
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

std::string read_text_file(const std::filesystem::path& path, size_t max_bytes) {
  size_t size = 0;
  fd_guard fd{open_regular(path, "a text file", size)};
  auto too_large = [&](const std::string& found) {
    fail(path.string(),
         "file is " + found + " bytes, larger than the limit of " + std::to_string(max_bytes) + " bytes",
         "this should be a small text file; check that the right file was given");
  };
  if (size > max_bytes) too_large(std::to_string(size));
  std::string text;
  text.resize(size);
  size_t have = 0;
  // The size from fstat is a hint: the file may change while we read, so read to EOF with a cap.
  for (;;) {
    if (have == text.size()) {
      if (text.size() > max_bytes) too_large("more than " + std::to_string(max_bytes));
      text.resize(std::min(max_bytes + 1, std::max<size_t>(text.size() * 2, 4096)));
    }
    ssize_t n = ::read(fd.fd, text.data() + have, text.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      fail(path.string(), "cannot read: " + errno_text(err), "check that the file is readable");
    }
    if (n == 0) break;
    have += size_t(n);
  }
  if (have > max_bytes) too_large("more than " + std::to_string(max_bytes));
  text.resize(have);
  return text;
}

}  // namespace owl
