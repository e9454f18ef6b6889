// libFuzzer target: parse_gguf on arbitrary bytes. Only owl::error may escape the parser; every
// accepted tensor must lie inside the input and have the byte size its type and shape imply (ASan
// checks the reads of the byte sum); every metadata value is walked. When the file carries a
// tokenizer, it is converted to tokenizer.json and loaded too.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "io/gguf.h"
#include "owl/error.h"
#include "owl/tokenizer.h"

namespace {

uint64_t walk(const owl::gguf_value& v, int depth) {
  if (depth > 16) std::abort();  // the parser limits nesting
  uint64_t sum = uint64_t(v.type());
  if (const auto* s = v.get_if<std::string>()) {
    for (char c : *s) sum += uint8_t(c);
  } else if (const auto* a = v.get_if<owl::gguf_array>()) {
    for (const owl::gguf_value& item : a->items) {
      if (item.type() != a->type) std::abort();  // arrays are homogeneous
      sum += walk(item, depth + 1);
    }
  } else if (auto u = v.as_u64()) {
    sum += *u;
  } else if (auto f = v.as_f64()) {
    sum += uint64_t(*f == *f);
  }
  return sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy sized exactly to the input, so reads past the end hit ASan's redzone.
  std::byte* copy = static_cast<std::byte*>(std::malloc(size ? size : 1));
  for (size_t i = 0; i < size; ++i) copy[i] = std::byte(data[i]);
  std::span<const std::byte> bytes(copy, size);
  try {
    owl::gguf_contents contents = owl::parse_gguf(bytes, "fuzz.gguf");
    volatile uint64_t sum = 0;
    for (const auto& [key, value] : contents.metadata) sum = sum + key.size() + walk(value, 0);
    for (const owl::gguf_tensor_info& t : contents.tensors) {
      if (t.data < copy || t.data + t.nbytes > copy + size) std::abort();
      if (t.data != copy + contents.data_offset + t.offset) std::abort();
      if (t.offset % contents.alignment != 0) std::abort();
      const int64_t rows = t.numel() / t.shape[0];
      if (owl::ggml_type_row_bytes(t.ggml_type, t.shape[0]) * size_t(rows) != t.nbytes) std::abort();
      for (size_t i = 0; i < t.nbytes; ++i) sum = sum + std::to_integer<uint8_t>(t.data[i]);
    }
    if (contents.metadata.count("tokenizer.ggml.model")) {
      try {
        const owl::gguf_tokenizer_json j =
            owl::tokenizer_from_gguf(owl::gguf_metadata_reader(contents.metadata, "fuzz.gguf"));
        auto tok = owl::tokenizer::from_json(j.tokenizer_json, j.tokenizer_config_json, "fuzz.gguf");
        const auto ids = tok->encode("Hello world, <s> ab", true);
        sum = sum + tok->decode(ids).size();
      } catch (const owl::error&) {
      }
    }
  } catch (const owl::error&) {
  }
  std::free(copy);
  return 0;
}
