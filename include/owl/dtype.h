// owl/dtype.h — element types of stored tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace owl {

// Element types a safetensors file may hold. Weights may be f32/f16/bf16; the integer types
// appear in golden files (input ids) and are rejected as weights with a clear message.
enum class dtype : uint8_t { f32, f16, bf16, f64, i8, u8, i16, i32, i64, boolean };

size_t dtype_size(dtype type);
std::string_view dtype_name(dtype type);               // safetensors spelling: "F32", "BF16", ...
std::optional<dtype> dtype_from_name(std::string_view name);

// IEEE half and bfloat16 <-> float, exact (round-to-nearest-even when narrowing).
inline float bf16_to_f32(uint16_t h) {
  uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace owl
