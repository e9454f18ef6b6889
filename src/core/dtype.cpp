#include "owl/dtype.h"

#include <array>
#include <bit>

namespace owl {

namespace {
struct dtype_row {
  dtype type;
  std::string_view name;
  size_t size;
};
constexpr std::array<dtype_row, 10> dtype_table{{
    {dtype::f32, "F32", 4},  {dtype::f16, "F16", 2}, {dtype::bf16, "BF16", 2},
    {dtype::f64, "F64", 8},  {dtype::i8, "I8", 1},   {dtype::u8, "U8", 1},
    {dtype::i16, "I16", 2},  {dtype::i32, "I32", 4}, {dtype::i64, "I64", 8},
    {dtype::boolean, "BOOL", 1},
}};
}  // namespace

bool is_quantized(dtype type) { return size_t(type) >= dtype_table.size(); }
size_t dtype_size(dtype type) { return is_quantized(type) ? 0 : dtype_table[size_t(type)].size; }

std::optional<dtype> dtype_from_name(std::string_view name) {
  for (const auto& row : dtype_table)
    if (row.name == name) return row.type;
  return std::nullopt;
}

uint16_t f32_to_bf16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalize
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      bits = sign | uint32_t(127 - 15 + 1 - shift) << 23 | mantissa << 13;
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(bits);
}

uint16_t f32_to_f16(float f) {
  uint32_t bits = std::bit_cast<uint32_t>(f);
  uint32_t sign = (bits >> 16) & 0x8000u;
  uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return uint16_t(sign | 0x7e00u);     // NaN
  if (abs_bits >= 0x477ff000u) return uint16_t(sign | 0x7c00u);    // overflow -> inf
  if (abs_bits < 0x38800000u) {                                    // subnormal or zero
    float magnitude = std::bit_cast<float>(abs_bits);
    // Adding 0.5 aligns the subnormal mantissa at the bottom bits with round-to-nearest-even.
    uint32_t rounded = std::bit_cast<uint32_t>(magnitude + 0.5f) - std::bit_cast<uint32_t>(0.5f);
    return uint16_t(sign | rounded);
  }
  uint32_t mantissa_odd = (abs_bits >> 13) & 1u;
  abs_bits += 0xc8000fffu + mantissa_odd;  // rebias exponent (-112 << 23) and round to nearest even
  return uint16_t(sign | (abs_bits >> 13));
}

}  // namespace owl
