// owl/dtype.h — element types of stored tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace owl {

// Element types of stored tensors. Safetensors files hold the plain ones (weights f32/f16/bf16;
// the integer types appear in golden files and are rejected as weights). The block-quantized
// types come from GGUF files: the matmul dispatches on them like on any other weight type.
enum class dtype : uint8_t {
  f32, f16, bf16, f64, i8, u8, i16, i32, i64, boolean,
  // Block-quantized (GGUF / ggml layouts), in the order of owl::quant::qtype.
  q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_k, q3_k, q4_k, q5_k, q6_k, q8_k, iq4_nl, iq4_xs,
};

size_t dtype_size(dtype type);                          // bytes per element; 0 for block types
std::string_view dtype_name(dtype type);                // "F32", "BF16", "Q4_K", ...
std::optional<dtype> dtype_from_name(std::string_view name);  // safetensors dtypes only
bool is_quantized(dtype type);
int64_t dtype_block_size(dtype type);                   // elements per block (1 for plain types)
// Bytes of a row of n elements; n must be a multiple of the block size (owl::error if not).
size_t dtype_row_bytes(dtype type, int64_t n);

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
