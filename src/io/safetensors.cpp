// io/safetensors.cpp — validated parsing of safetensors images, mmap'd files and model folders.
//
// Everything read here is untrusted. The parser checks, before handing out any view: the 8-byte
// header length against the file size and a 100 MB cap; the header as UTF-8 JSON without duplicate
// keys or deep nesting; each entry's fields and types; the dtype; the element count (checked
// multiplication); byte size == numel x dtype size; offsets inside the data section; and, after
// sorting by offset, that tensors neither overlap nor leave holes and cover the data section
// exactly (as the reference implementation requires).
#include "owl/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>
#include <system_error>

#include "core/mapped_file.h"
#include "io/safetensors_common.h"
#include "owl/error.h"

namespace owl {

using detail::json_kind;
using detail::quote_name;
using json = nlohmann::json;

namespace {

constexpr uint64_t max_header_bytes = 100'000'000;  // the reference's limit
constexpr size_t max_index_bytes = size_t(64) << 20;
constexpr const char* corrupt_hint = "the file is corrupt, truncated or not a safetensors file";

std::string supported_dtypes() {
  std::string out;
  for (int i = 0; i <= int(dtype::boolean); ++i) {
    if (!out.empty()) out += ", ";
    out += dtype_name(dtype(i));
  }
  return out;
}

std::string where_file(const std::string& source) { return source.empty() ? "safetensors" : source; }

std::string where_tensor(const std::string& source, std::string_view name) {
  return where_file(source) + ": tensor " + quote_name(name);
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// A better hint when the bytes are some other weights format.
std::string format_hint(std::span<const std::byte> bytes) {
  auto starts_with = [&](std::string_view magic) {
    return bytes.size() >= magic.size() && std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
  };
  if (starts_with("GGUF")) return "this is a GGUF file, not safetensors; use the original Hugging Face checkpoint";
  if (starts_with("PK\x03\x04"))
    return "this is a zip archive (a PyTorch .bin/.pt checkpoint?), not safetensors; convert it to safetensors";
  if (starts_with("\x80\x02") || starts_with("\x80\x04"))
    return "this is a Python pickle, not safetensors; convert it to safetensors";
  if (starts_with("version https://git-lfs"))
    return "this is a Git LFS pointer, not the weights; fetch the real file (git lfs pull)";
  return corrupt_hint;
}

uint64_t read_u64_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | uint64_t(std::to_integer<uint8_t>(p[i]));
  return v;
}

// One validated entry before sorting.
struct entry {
  tensor_view view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

entry parse_entry(const std::string& source, const std::string& name, const json& value,
                  uint64_t data_size) {
  const std::string where = where_tensor(source, name);
  if (!value.is_object())
    fail(where, "expected an object with dtype, shape and data_offsets, found " + json_kind(value),
         corrupt_hint);
  for (const auto& [key, unused] : value.items()) {
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(where, "unexpected field " + quote_name(key) + ", expected only dtype, shape and data_offsets",
           corrupt_hint);
  }
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!value.contains(field)) fail(where, std::string("missing field '") + field + "'", corrupt_hint);

  entry e;
  e.view.name = name;
  e.view.source = source;

  // dtype
  const json& dt = value["dtype"];
  if (!dt.is_string()) fail(where, "field 'dtype': expected a string, found " + json_kind(dt), corrupt_hint);
  const std::string& dt_name = dt.get_ref<const std::string&>();
  std::optional<dtype> type = dtype_from_name(dt_name);
  if (!type)
    fail(where, "unknown dtype " + quote_name(dt_name) + ", expected one of " + supported_dtypes(),
         "quantized or exotic formats are not supported; convert the checkpoint to F32, F16 or BF16");
  e.view.type = *type;

  // shape
  const json& shape = value["shape"];
  if (!shape.is_array())
    fail(where, "field 'shape': expected an array of non-negative integers, found " + json_kind(shape),
         corrupt_hint);
  uint64_t numel = 1;
  bool overflow = false;
  e.view.shape.reserve(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    const json& d = shape[i];
    if (d.is_number_integer() && !d.is_number_unsigned())  // nlohmann: negative integers only
      fail(where,
           "field 'shape': dimension " + std::to_string(i) + " is negative (" +
               std::to_string(d.get<int64_t>()) + "), expected a non-negative integer",
           corrupt_hint);
    if (!d.is_number_unsigned())
      fail(where,
           "field 'shape': dimension " + std::to_string(i) + " expected a non-negative integer, found " +
               json_kind(d),
           corrupt_hint);
    uint64_t dim = d.get<uint64_t>();
    if (dim > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(where, "field 'shape': dimension " + std::to_string(i) + " = " + std::to_string(dim) +
                      " overflows, expected at most 2^63-1", corrupt_hint);
    e.view.shape.push_back(int64_t(dim));
    if (!overflow && __builtin_mul_overflow(numel, dim, &numel)) overflow = true;
  }
  // A zero dimension makes the product 0 even if an earlier partial product overflowed; the
  // reference rejects any overflow of the running product, and so do we (no real tensor is near).
  if (overflow)
    fail(where, "field 'shape': element count of shape " + shape_text(e.view.shape) +
                    " overflows 64 bits (shape overflow)", corrupt_hint);
  uint64_t expected_bytes = 0;
  if (__builtin_mul_overflow(numel, uint64_t(dtype_size(*type)), &expected_bytes))
    fail(where, "field 'shape': byte size of shape " + shape_text(e.view.shape) + " x " + dt_name +
                    " overflows 64 bits (shape overflow)", corrupt_hint);

  // data_offsets
  const json& offs = value["data_offsets"];
  if (!offs.is_array() || offs.size() != 2)
    fail(where,
         "field 'data_offsets': expected [begin, end] (two non-negative integers), found " +
             (offs.is_array() ? "an array of " + std::to_string(offs.size()) : json_kind(offs)),
         corrupt_hint);
  for (size_t i = 0; i < 2; ++i)
    if (!offs[i].is_number_unsigned())
      fail(where,
           std::string("field 'data_offsets': ") + (i == 0 ? "begin" : "end") +
               " expected a non-negative integer, found " + json_kind(offs[i]),
           corrupt_hint);
  e.begin = offs[0].get<uint64_t>();
  e.end = offs[1].get<uint64_t>();
  if (e.begin > e.end)
    fail(where, "field 'data_offsets': begin " + std::to_string(e.begin) + " > end " + std::to_string(e.end) +
                    ", expected begin <= end", corrupt_hint);
  uint64_t found_bytes = e.end - e.begin;
  if (found_bytes != expected_bytes)
    fail(where,
         "wrong byte size: data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
             "] hold " + std::to_string(found_bytes) + " bytes, expected " + std::to_string(expected_bytes) +
             " (shape " + shape_text(e.view.shape) + " x " + dt_name + " " +
             std::to_string(dtype_size(*type)) + " bytes)",
         corrupt_hint);
  if (e.end > data_size)
    fail(where,
         "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
             "] run past the end of the data section (" + std::to_string(data_size) + " bytes)",
         "the file is truncated or corrupt; download it again");
  e.view.nbytes = size_t(found_bytes);
  return e;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// tensor_view

int64_t tensor_view::numel() const {
  // Parsed views are validated (the product fits); hand-made ones must not overflow silently.
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      fail(where_tensor(source, name), "shape " + shape_text(shape) + " has no valid element count",
           "dimensions must be non-negative and their product must fit in 64 bits");
  return n;
}

namespace {

template <typename T>
std::span<const T> typed_span(const tensor_view& t, dtype want, const char* hint) {
  if (t.type != want)
    fail(where_tensor(t.source, t.name),
         "expected dtype " + std::string(dtype_name(want)) + ", found " + std::string(dtype_name(t.type)), hint);
  if (t.nbytes == 0) return {};
  if (t.nbytes % sizeof(T) != 0)
    fail(where_tensor(t.source, t.name),
         "byte size " + std::to_string(t.nbytes) + " is not a multiple of " + std::to_string(sizeof(T)));
  if (reinterpret_cast<uintptr_t>(t.data) % alignof(T) != 0)
    fail(where_tensor(t.source, t.name),
         "data is not " + std::to_string(alignof(T)) + "-byte aligned in the file (misaligned " +
             std::string(dtype_name(want)) + " data)",
         "use to_f32() to copy it, or re-save the file with the reference writer, which aligns tensors");
  return {reinterpret_cast<const T*>(t.data), t.nbytes / sizeof(T)};
}

}  // namespace

std::span<const float> tensor_view::as_f32() const {
  return typed_span<float>(*this, dtype::f32, "use to_f32() to convert F16/BF16 weights");
}

std::span<const int32_t> tensor_view::as_i32() const {
  return typed_span<int32_t>(*this, dtype::i32, "this tensor does not hold 32-bit integers");
}

std::vector<float> tensor_view::to_f32() const {
  const size_t elem = dtype_size(type);
  if (type != dtype::f32 && type != dtype::f16 && type != dtype::bf16 && type != dtype::f64)
    fail(where_tensor(source, name),
         "expected a float dtype (F32, F16, BF16, F64), found " + std::string(dtype_name(type)),
         "integer and boolean tensors cannot be used as weights");
  if (nbytes % elem != 0)
    fail(where_tensor(source, name),
         "byte size " + std::to_string(nbytes) + " is not a multiple of " + std::to_string(elem));
  const size_t n = nbytes / elem;
  std::vector<float> out(n);
  if (n == 0) return out;
  switch (type) {
    case dtype::f32: std::memcpy(out.data(), data, nbytes); break;
    case dtype::f16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      break;
    case dtype::bf16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i] = bf16_to_f32(h);
      }
      break;
    case dtype::f64:
      for (size_t i = 0; i < n; ++i) {
        double d;
        std::memcpy(&d, data + 8 * i, 8);
        out[i] = float(d);
      }
      break;
    default: break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// parse_safetensors

safetensors_contents parse_safetensors(std::span<const std::byte> bytes, const std::string& source) {
  const std::string where = where_file(source);
  if (bytes.size() < 8)
    fail(where,
         "file is " + std::to_string(bytes.size()) + " bytes, expected at least 8 (the header length); truncated",
         format_hint(bytes));
  const uint64_t header_len = read_u64_le(bytes.data());
  const uint64_t rest = bytes.size() - 8;
  if (header_len > max_header_bytes)
    fail(where,
         "header length " + std::to_string(header_len) + " is too large, expected at most " +
             std::to_string(max_header_bytes) + " bytes",
         format_hint(bytes));
  if (header_len > rest)
    fail(where,
         "header length " + std::to_string(header_len) + " runs past the end of the file (" +
             std::to_string(bytes.size()) + " bytes); truncated",
         format_hint(bytes) == corrupt_hint ? "the file is truncated; download it again" : format_hint(bytes));
  if (header_len < 2)
    fail(where, "header length " + std::to_string(header_len) + " is too small for a JSON object", corrupt_hint);

  std::string_view header_text(reinterpret_cast<const char*>(bytes.data() + 8), size_t(header_len));
  // Root (0) > tensor entry (1) > shape/data_offsets (2); one extra level still gets a precise message.
  json header = detail::parse_untrusted_json(header_text, where, "header", 4);
  if (!header.is_object())
    fail(where, "header: expected a JSON object, found " + json_kind(header), corrupt_hint);

  const std::span<const std::byte> data = bytes.subspan(8 + size_t(header_len));
  const uint64_t data_size = data.size();

  safetensors_contents out;
  std::vector<entry> entries;
  entries.reserve(header.size());
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") {
      if (value.is_null()) continue;  // the reference reads null as "no metadata"
      if (!value.is_object())
        fail(where + ": field '__metadata__'", "expected an object of strings, found " + json_kind(value),
             corrupt_hint);
      for (const auto& [key, v] : value.items()) {
        if (!v.is_string())
          fail(where + ": field '__metadata__'",
               "key " + quote_name(key) + " expected a string value, found " + json_kind(v), corrupt_hint);
        out.metadata.emplace(key, v.get<std::string>());
      }
      continue;
    }
    entries.push_back(parse_entry(source, name, value, data_size));
  }

  std::sort(entries.begin(), entries.end(), [](const entry& a, const entry& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return a.view.name < b.view.name;
  });

  uint64_t covered = 0;
  const entry* previous = nullptr;
  for (const entry& e : entries) {
    if (e.begin < covered)
      fail(where_tensor(source, e.view.name),
           "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "] overlap tensor " +
               quote_name(previous->view.name) + " [" + std::to_string(previous->begin) + ", " +
               std::to_string(previous->end) + "], expected tensors to be disjoint",
           corrupt_hint);
    if (e.begin > covered)
      fail(where_tensor(source, e.view.name),
           "hole in the data section: bytes [" + std::to_string(covered) + ", " + std::to_string(e.begin) +
               ") before this tensor belong to no tensor, expected the data section to be fully covered",
           corrupt_hint);
    covered = e.end;
    previous = &e;
  }
  if (covered != data_size)
    fail(where,
         "hole in the data section: its last " + std::to_string(data_size - covered) +
             " bytes (from offset " + std::to_string(covered) + " of " + std::to_string(data_size) +
             ") belong to no tensor, expected the data section to be fully covered",
         corrupt_hint);

  out.tensors.reserve(entries.size());
  for (entry& e : entries) {
    e.view.data = data.data() + size_t(e.begin);
    out.tensors.push_back(std::move(e.view));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// safetensors_file

std::unique_ptr<safetensors_file> safetensors_file::open(const std::filesystem::path& path) {
  mapped_file mapped = mapped_file::open(path);
  std::unique_ptr<safetensors_file> file(new safetensors_file());
  file->path_ = path;
  file->contents_ = parse_safetensors(mapped.bytes(), path.string());
  auto [mapping, size] = mapped.release();
  file->mapping_ = mapping;
  file->mapping_size_ = size;
  return file;
}

safetensors_file::~safetensors_file() { mapped_file::unmap(mapping_, mapping_size_); }

const tensor_view* safetensors_file::find(std::string_view name) const {
  for (const tensor_view& t : contents_.tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const tensor_view& safetensors_file::get(std::string_view name) const {
  if (const tensor_view* t = find(name)) return *t;
  fail(where_tensor(path_.string(), name),
       "not found among the file's " + std::to_string(contents_.tensors.size()) + " tensors",
       "the file does not hold this tensor; check the name or the file");
}

// ---------------------------------------------------------------------------------------------
// weight_store

namespace {

bool is_plain_file_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || c == '\\' || c == '\0') return false;
  return true;
}

bool exists_no_throw(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::exists(p, ec);
}

}  // namespace

std::unique_ptr<weight_store> weight_store::open_dir(const std::filesystem::path& dir) {
  const std::string hint_folder = "pass a Hugging Face model folder (config.json + model.safetensors or sharded "
                                  "model-*.safetensors with model.safetensors.index.json)";
  std::error_code ec;
  auto status = std::filesystem::status(dir, ec);
  if (ec || !std::filesystem::exists(status))
    fail(dir.string(), "model folder not found", hint_folder);
  if (!std::filesystem::is_directory(status))
    fail(dir.string(), "expected a model folder, found a file", hint_folder);

  std::unique_ptr<weight_store> store(new weight_store());
  store->dir_ = dir;
  const std::filesystem::path index_path = dir / "model.safetensors.index.json";
  const std::filesystem::path single_path = dir / "model.safetensors";

  // Name -> file it was found in (a shard's file name), for both layouts.
  std::map<std::string_view, const std::string*> found_in;
  std::vector<std::string> shard_names;  // stable storage for found_in's values

  auto add_file = [&](std::unique_ptr<safetensors_file> file, const std::string* file_name) {
    for (const tensor_view& t : file->tensors()) {
      auto [it, inserted] = store->by_name_.emplace(t.name, &t);
      if (!inserted) {
        const std::string& first = *found_in.at(it->first);
        fail(dir.string() + ": tensor " + quote_name(t.name),
             "duplicate tensor: found in shard " + quote_name(first) + " and in shard " + quote_name(*file_name),
             "each tensor must be stored once; the shards do not belong together");
      }
      found_in.emplace(it->first, file_name);
    }
    store->mapped_.push_back(file->mapped_bytes());
    store->files_.push_back(std::move(file));
  };

  if (exists_no_throw(index_path)) {
    const std::string where = index_path.string();
    json index = detail::parse_untrusted_json(read_text_file(index_path, max_index_bytes), where, "index", 8);
    if (!index.is_object()) fail(where, "expected a JSON object, found " + json_kind(index), "the index is corrupt");
    if (!index.contains("weight_map"))
      fail(where, "missing field 'weight_map'", "the index is corrupt or not a safetensors index");
    const json& weight_map = index["weight_map"];
    if (!weight_map.is_object())
      fail(where + ": field 'weight_map'", "expected an object of tensor name -> shard file, found " +
                                               json_kind(weight_map), "the index is corrupt");
    if (weight_map.empty()) fail(where + ": field 'weight_map'", "expected at least one tensor, found an empty object",
                                 "the index is corrupt");

    // Shard names, validated, each opened once (in sorted order).
    std::set<std::string> shards;
    for (const auto& [name, shard] : weight_map.items()) {
      const std::string field = where + ": field 'weight_map' tensor " + quote_name(name);
      if (!shard.is_string()) fail(field, "expected a shard file name (string), found " + json_kind(shard),
                                   "the index is corrupt");
      const std::string& shard_name = shard.get_ref<const std::string&>();
      if (!is_plain_file_name(shard_name))
        fail(field,
             "shard " + quote_name(shard_name) + " is not a plain file name inside the folder (no '/', '\\' or '..')",
             "the index is corrupt or malicious; shards must sit next to the index");
      shards.insert(shard_name);
    }
    shard_names.assign(shards.begin(), shards.end());
    for (const std::string& shard_name : shard_names) {
      const std::filesystem::path shard_path = dir / shard_name;
      if (!exists_no_throw(shard_path))
        fail(where, "shard " + quote_name(shard_name) + " listed in 'weight_map' not found in the folder",
             "the download is incomplete; fetch every model-*.safetensors shard");
      add_file(safetensors_file::open(shard_path), &shard_name);
    }

    // The index and the shards must agree, in both directions.
    for (const auto& [name, shard] : weight_map.items()) {
      const std::string& shard_name = shard.get_ref<const std::string&>();
      auto it = found_in.find(name);
      if (it == found_in.end())
        fail(where + ": tensor " + quote_name(name),
             "listed in 'weight_map' for shard " + quote_name(shard_name) + " but not found in that shard",
             "the index does not match the shards; download the model again");
      if (*it->second != shard_name)
        fail(where + ": tensor " + quote_name(name),
             "listed in 'weight_map' for shard " + quote_name(shard_name) + " but found in shard " +
                 quote_name(*it->second),
             "the index does not match the shards; download the model again");
    }
    if (found_in.size() != weight_map.size()) {
      for (const auto& [name, file_name] : found_in)
        if (!weight_map.contains(std::string(name)))
          fail(where + ": tensor " + quote_name(name),
               "found in shard " + quote_name(*file_name) + " but not listed in 'weight_map'",
               "the index does not match the shards; download the model again");
    }
    return store;
  }

  if (exists_no_throw(single_path)) {
    shard_names.push_back("model.safetensors");
    add_file(safetensors_file::open(single_path), &shard_names.back());
    return store;
  }

  std::string also;
  if (exists_no_throw(dir / "pytorch_model.bin") || exists_no_throw(dir / "pytorch_model.bin.index.json"))
    also = "; found pytorch_model.bin, which owl does not read — convert it to safetensors";
  fail(dir.string(), "no weights found: expected model.safetensors or model.safetensors.index.json" + also,
       hint_folder);
}

std::unique_ptr<weight_store> weight_store::from_views(std::vector<tensor_view> views, std::shared_ptr<const void> owner,
                                                       const std::filesystem::path& source,
                                                       std::vector<std::span<const std::byte>> mapped) {
  auto store = std::unique_ptr<weight_store>(new weight_store());
  store->dir_ = source;
  store->mapped_ = std::move(mapped);
  store->views_ = std::move(views);
  store->owner_ = std::move(owner);
  for (const tensor_view& t : store->views_)
    if (!store->by_name_.emplace(t.name, &t).second)
      fail(source.string() + ": tensor " + quote_name(t.name), "appears twice", "tensor names must be unique");
  return store;
}

bool weight_store::is_mapped(const std::byte* p) const {
  for (std::span<const std::byte> m : mapped_)
    if (p >= m.data() && p < m.data() + m.size()) return true;
  return false;
}

const tensor_view* weight_store::find(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

const tensor_view& weight_store::get(std::string_view name) const {
  if (const tensor_view* t = find(name)) return *t;
  fail(dir_.string() + ": tensor " + quote_name(name),
       "not found among the model's " + std::to_string(by_name_.size()) + " tensors",
       "the checkpoint does not match the architecture in config.json, or is incomplete");
}

std::vector<std::string> weight_store::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, unused] : by_name_) out.push_back(name);
  return out;
}

}  // namespace owl
