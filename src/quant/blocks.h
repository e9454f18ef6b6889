// blocks.h — byte offsets of every block layout, little-endian field access and the
// per-family kernels behind quant.h (internal to src/quant).
//
// Blocks are addressed as raw bytes (fields read with memcpy), so rows straight from an mmap
// need no particular alignment.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "owl/dtype.h"

namespace owl::quant::detail {

inline constexpr int qk = 32;     // legacy and IQ4_NL block
inline constexpr int qk_k = 256;  // k-quant super-block

// Byte layouts: offsets of each field, total size last.
namespace q4_0 { inline constexpr int d = 0, qs = 2, size = 18; }
namespace q4_1 { inline constexpr int d = 0, m = 2, qs = 4, size = 20; }
namespace q5_0 { inline constexpr int d = 0, qh = 2, qs = 6, size = 22; }
namespace q5_1 { inline constexpr int d = 0, m = 2, qh = 4, qs = 8, size = 24; }
namespace q8_0 { inline constexpr int d = 0, qs = 2, size = 34; }
namespace q8_1 { inline constexpr int d = 0, s = 2, qs = 4, size = 36; }
namespace q2_k { inline constexpr int scales = 0, qs = 16, d = 80, dmin = 82, size = 84; }
namespace q3_k { inline constexpr int hmask = 0, qs = 32, scales = 96, d = 108, size = 110; }
namespace q4_k { inline constexpr int d = 0, dmin = 2, scales = 4, qs = 16, size = 144; }
namespace q5_k { inline constexpr int d = 0, dmin = 2, scales = 4, qh = 16, qs = 48, size = 176; }
namespace q6_k { inline constexpr int ql = 0, qh = 128, scales = 192, d = 208, size = 210; }
namespace q8_k { inline constexpr int d = 0, qs = 4, bsums = 260, size = 292; }
namespace iq4_nl { inline constexpr int d = 0, qs = 2, size = 18; }
namespace iq4_xs { inline constexpr int d = 0, scales_h = 2, scales_l = 4, qs = 8, size = 136; }

// The IQ4 non-linear grid (sorted ascending).
inline constexpr int8_t kvalues_iq4nl[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                            1,    13,   25,  38,  53,  69,  89,  113};

// --- field access -------------------------------------------------------------------------
inline const uint8_t* u8(const std::byte* p) { return reinterpret_cast<const uint8_t*>(p); }
inline uint8_t* u8(std::byte* p) { return reinterpret_cast<uint8_t*>(p); }
inline const int8_t* i8(const std::byte* p) { return reinterpret_cast<const int8_t*>(p); }

inline uint16_t load_u16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t load_u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline int16_t load_i16(const std::byte* p) {
  int16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline float load_f32(const std::byte* p) {
  float v;
  std::memcpy(&v, p, 4);
  return v;
}
inline float load_f16(const std::byte* p) { return f16_to_f32(load_u16(p)); }
inline void store_u16(std::byte* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void store_u32(std::byte* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void store_i16(std::byte* p, int16_t v) { std::memcpy(p, &v, 2); }
inline void store_f32(std::byte* p, float v) { std::memcpy(p, &v, 4); }

// Stores x as fp16 (saturating at the largest finite half so a scale never becomes inf) and
// returns the value actually stored, which quantizers use from then on.
inline float store_f16(std::byte* p, float x) {
  constexpr float max_half = 65504.0f;
  if (x > max_half) x = max_half;
  if (x < -max_half) x = -max_half;
  const uint16_t h = f32_to_f16(x);
  store_u16(p, h);
  return f16_to_f32(h);
}

// Round to nearest (ties to even), safe for any input: NaN and huge values give a finite
// result that the caller clamps to its level range.
inline int nearest_int(float x) {
  if (!(x > -1e9f)) return -1000000000;  // also NaN
  if (x > 1e9f) return 1000000000;
  return int(std::lrintf(x));
}
inline int clamp_int(int v, int lo, int hi) { return std::min(std::max(v, lo), hi); }

// Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins in 12 bytes.
// j < 4: scale = b[j] & 63, min = b[j+4] & 63;
// j >= 4: scale = (b[j+4] & 15) | (b[j-4] >> 6) << 4, min = (b[j+4] >> 4) | (b[j] >> 6) << 4.
inline void scale_min_k4(int j, const uint8_t* b, int& sc, int& mn) {
  if (j < 4) {
    sc = b[j] & 63;
    mn = b[j + 4] & 63;
  } else {
    sc = (b[j + 4] & 15) | ((b[j - 4] >> 6) << 4);
    mn = (b[j + 4] >> 4) | ((b[j] >> 6) << 4);
  }
}
void pack_scale_min_k4(const int sc[8], const int mn[8], uint8_t out[12]);

// Q3_K: 16 six-bit scales (stored with +32 bias) in 12 bytes. Returns the biased 0..63 values.
void unpack_q3_k_scales(const uint8_t* b, int out[16]);
void pack_q3_k_scales(const int biased[16], uint8_t out[12]);

// --- per-type kernels (nb = number of blocks) ---------------------------------------------
using dequant_fn = void (*)(const std::byte* src, float* dst, int64_t nb);
using quant_fn = void (*)(const float* src, std::byte* dst, int64_t nb);
using dot_fn = float (*)(const std::byte* w, const std::byte* a, int64_t nb);  // nb weight blocks

// legacy_blocks.cpp
void dequant_q4_0(const std::byte*, float*, int64_t);
void dequant_q4_1(const std::byte*, float*, int64_t);
void dequant_q5_0(const std::byte*, float*, int64_t);
void dequant_q5_1(const std::byte*, float*, int64_t);
void dequant_q8_0(const std::byte*, float*, int64_t);
void dequant_q8_1(const std::byte*, float*, int64_t);
void quant_q4_0(const float*, std::byte*, int64_t);
void quant_q4_1(const float*, std::byte*, int64_t);
void quant_q5_0(const float*, std::byte*, int64_t);
void quant_q5_1(const float*, std::byte*, int64_t);
void quant_q8_0(const float*, std::byte*, int64_t);
void quant_q8_1(const float*, std::byte*, int64_t);
float dot_q4_0_q8_0(const std::byte*, const std::byte*, int64_t);
float dot_q4_1_q8_1(const std::byte*, const std::byte*, int64_t);
float dot_q5_0_q8_0(const std::byte*, const std::byte*, int64_t);
float dot_q5_1_q8_1(const std::byte*, const std::byte*, int64_t);
float dot_q8_0_q8_0(const std::byte*, const std::byte*, int64_t);
float dot_q8_1_q8_1(const std::byte*, const std::byte*, int64_t);

// k_blocks.cpp (dequantization, Q8_K, dot products); quantize_k.cpp (weight quantizers)
void dequant_q2_k(const std::byte*, float*, int64_t);
void dequant_q3_k(const std::byte*, float*, int64_t);
void dequant_q4_k(const std::byte*, float*, int64_t);
void dequant_q5_k(const std::byte*, float*, int64_t);
void dequant_q6_k(const std::byte*, float*, int64_t);
void dequant_q8_k(const std::byte*, float*, int64_t);
void quant_q2_k(const float*, std::byte*, int64_t);
void quant_q3_k(const float*, std::byte*, int64_t);
void quant_q4_k(const float*, std::byte*, int64_t);
void quant_q5_k(const float*, std::byte*, int64_t);
void quant_q6_k(const float*, std::byte*, int64_t);
void quant_q8_k(const float*, std::byte*, int64_t);
float dot_q2_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q3_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q4_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q5_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q6_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q8_k_q8_k(const std::byte*, const std::byte*, int64_t);

// iq4.cpp
void dequant_iq4_nl(const std::byte*, float*, int64_t);
void dequant_iq4_xs(const std::byte*, float*, int64_t);
void quant_iq4_nl(const float*, std::byte*, int64_t);
void quant_iq4_xs(const float*, std::byte*, int64_t);
float dot_iq4_nl_q8_0(const std::byte*, const std::byte*, int64_t);
float dot_iq4_xs_q8_k(const std::byte*, const std::byte*, int64_t);

// AVX2 versions (legacy_avx2.cpp, k_avx2.cpp); only called when the CPU has AVX2, FMA, F16C.
#if defined(__x86_64__) || defined(__i386__)
#define OWL_QUANT_X86 1
namespace avx2 {
float dot_q4_1_q8_1(const std::byte*, const std::byte*, int64_t);
float dot_q5_1_q8_1(const std::byte*, const std::byte*, int64_t);
float dot_q8_1_q8_1(const std::byte*, const std::byte*, int64_t);
float dot_q2_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q3_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_q8_k_q8_k(const std::byte*, const std::byte*, int64_t);
float dot_iq4_xs_q8_k(const std::byte*, const std::byte*, int64_t);
// The activation quantizers, bitwise the reference ones (activations_avx2.cpp).
void quant_q8_0(const float*, std::byte*, int64_t);
void quant_q8_k(const float*, std::byte*, int64_t);
}  // namespace avx2
#endif

}  // namespace owl::quant::detail
