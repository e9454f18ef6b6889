// owl/safetensors.h — reading (mmap'd, validated) and writing safetensors files.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the data section. Every file is untrusted:
// the header, offsets, sizes and overlaps are checked before any tensor is handed out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "owl/dtype.h"

namespace owl {

// A tensor stored in a file: a typed, shaped view of bytes that live as long as its file.
struct tensor_view {
  std::string name;
  dtype type = dtype::f32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  std::string source;  // the file it came from, for error messages

  int64_t numel() const;
  std::span<const float> as_f32() const;  // requires type == f32 (checked, throws owl::error)
  std::span<const int32_t> as_i32() const;
  // Any float type converted to f32 (a copy).
  std::vector<float> to_f32() const;
};

// Parses and validates a complete safetensors file image. Views point into `bytes`.
// `source` names the file in error messages. Throws owl::error on any defect.
struct safetensors_contents {
  std::vector<tensor_view> tensors;           // sorted by data offset
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only)
};
safetensors_contents parse_safetensors(std::span<const std::byte> bytes, const std::string& source);

// One safetensors file, memory-mapped read-only (no copy of the data).
class safetensors_file {
 public:
  static std::unique_ptr<safetensors_file> open(const std::filesystem::path& path);
  ~safetensors_file();
  safetensors_file(const safetensors_file&) = delete;
  safetensors_file& operator=(const safetensors_file&) = delete;

  const std::vector<tensor_view>& tensors() const { return contents_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return contents_.metadata; }
  const tensor_view* find(std::string_view name) const;
  // Like find, but a missing tensor is an owl::error naming the file and the tensor.
  const tensor_view& get(std::string_view name) const;
  const std::filesystem::path& path() const { return path_; }
  // The whole mapped file (tensor data points inside it).
  std::span<const std::byte> mapped_bytes() const { return {static_cast<const std::byte*>(mapping_), mapping_size_}; }

 private:
  safetensors_file() = default;
  std::filesystem::path path_;
  void* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  safetensors_contents contents_;
};

// The weights of a model folder: model.safetensors, or model.safetensors.index.json + shards.
// Tensor names are unique across shards; the index must agree with the shards.
class weight_store {
 public:
  static std::unique_ptr<weight_store> open_dir(const std::filesystem::path& dir);
  // A store over tensors that live elsewhere (e.g. a GGUF mapping that `owner` keeps alive),
  // already renamed to Hugging Face names. Names must be unique.
  // `mapped`: the read-only file mappings the views may point into (see is_mapped).
  static std::unique_ptr<weight_store> from_views(std::vector<tensor_view> views, std::shared_ptr<const void> owner,
                                                  const std::filesystem::path& source,
                                                  std::vector<std::span<const std::byte>> mapped = {});
  const tensor_view* find(std::string_view name) const;
  const tensor_view& get(std::string_view name) const;  // missing -> owl::error with a hint
  std::vector<std::string> names() const;
  const std::filesystem::path& dir() const { return dir_; }
  // Whether p lies in a read-only file mapping (else in a buffer the store's owner allocated).
  bool is_mapped(const std::byte* p) const;

 private:
  std::filesystem::path dir_;
  std::vector<std::unique_ptr<safetensors_file>> files_;
  std::vector<tensor_view> views_;       // from_views: the tensors
  std::shared_ptr<const void> owner_;    // from_views: keeps their bytes alive
  std::vector<std::span<const std::byte>> mapped_;
  std::map<std::string, const tensor_view*, std::less<>> by_name_;
};

// A tensor to write: float32 or int32 data with a shape.
struct tensor_to_write {
  std::string name;
  dtype type = dtype::f32;  // f32 or i32
  std::vector<int64_t> shape;
  std::span<const std::byte> bytes;
};
void write_safetensors(const std::filesystem::path& path, std::span<const tensor_to_write> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace owl
