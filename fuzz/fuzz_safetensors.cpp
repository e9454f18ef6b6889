// libFuzzer target: parse_safetensors on arbitrary bytes. Only owl::error may escape the parser,
// and every returned view must lie inside the input (ASan checks the reads of the byte sum).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "owl/error.h"
#include "owl/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A private copy sized exactly to the input, so reads past the end hit ASan's redzone.
  std::byte* copy = static_cast<std::byte*>(std::malloc(size ? size : 1));
  for (size_t i = 0; i < size; ++i) copy[i] = std::byte(data[i]);
  std::span<const std::byte> bytes(copy, size);
  try {
    owl::safetensors_contents contents = owl::parse_safetensors(bytes, "fuzz.safetensors");
    volatile uint64_t sum = 0;
    uint64_t covered = 0;
    for (const owl::tensor_view& t : contents.tensors) {
      if (t.nbytes && (t.data < copy || t.data + t.nbytes > copy + size)) std::abort();
      if (size_t(t.numel()) * owl::dtype_size(t.type) != t.nbytes) std::abort();
      for (size_t i = 0; i < t.nbytes; ++i) sum = sum + std::to_integer<uint8_t>(t.data[i]);
      covered += t.nbytes;
      // Exercise the typed accessors too: they may refuse (owl::error) but must not misbehave.
      try {
        if (t.type == owl::dtype::f32) {
          for (float f : t.as_f32()) sum = sum + uint64_t(f == f);
        } else if (t.type == owl::dtype::i32) {
          for (int32_t v : t.as_i32()) sum = sum + uint64_t(v);
        }
        if (t.nbytes <= (size_t(1) << 20)) {
          if (t.type == owl::dtype::f32 || t.type == owl::dtype::f16 || t.type == owl::dtype::bf16 ||
              t.type == owl::dtype::f64)
            sum = sum + t.to_f32().size();
        }
      } catch (const owl::error&) {
      }
    }
    // Accepted files are exactly covered by their tensors (no holes, no overlaps).
    if (covered > size) std::abort();
  } catch (const owl::error&) {
  }
  std::free(copy);
  return 0;
}
