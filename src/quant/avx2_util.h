// avx2_util.h — small AVX2 helpers shared by legacy_avx2.cpp and k_avx2.cpp. Every function
// carries the target attribute, so the rest of the library stays baseline x86-64; callers
// reach these only after checking the CPU (quant.cpp).
#pragma once

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "quant/blocks.h"

#define OWL_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace owl::quant::detail::avx2 {

OWL_AVX2 inline float half(const std::byte* p) { return _cvtsh_ss(load_u16(p)); }

OWL_AVX2 inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

OWL_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// 16 bytes of nibble pairs -> 32 bytes: low nibbles in bytes 0..15, high nibbles in 16..31
// (the legacy / IQ4 element order).
OWL_AVX2 inline __m256i nibbles32(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i mask = _mm_set1_epi8(15);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), mask), _mm_and_si128(v, mask));
}

// Byte i = 0xFF where bit i of `bits` is set, else 0.
OWL_AVX2 inline __m256i bits_to_bytes(uint32_t bits) {
  const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,  //
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32(int(bits)), spread);
  const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

// Unsigned bytes (each <= 63) times signed bytes, as 8 int32 partial sums (exact).
OWL_AVX2 inline __m256i dot_u8_i8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}

// Signed bytes times signed bytes, as 8 int32 partial sums (exact for every int8 value,
// -128 included: widened to int16 first).
OWL_AVX2 inline __m256i dot_i8_i8(__m256i x, __m256i y) {
  const __m256i x0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x));
  const __m256i x1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1));
  const __m256i y0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(y));
  const __m256i y1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(y, 1));
  return _mm256_add_epi32(_mm256_madd_epi16(x0, y0), _mm256_madd_epi16(x1, y1));
}

// The IQ4 grid in both 128-bit lanes, for _mm256_shuffle_epi8 lookups.
OWL_AVX2 inline __m256i iq4_grid() {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kvalues_iq4nl)));
}

// int16 lanes 0..7 = s[g], lanes 8..15 = s[g + 1], from 16 signed scale bytes: the scale
// vector for a 32-byte maddubs product spanning sub-blocks g and g + 1 of 16 elements.
OWL_AVX2 inline __m256i scale_pair(__m128i scales8, int g) {
  const __m128i index = _mm_add_epi8(_mm_set_epi64x(0x0101010101010101ll, 0), _mm_set1_epi8(char(g)));
  return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales8, index));
}

}  // namespace owl::quant::detail::avx2

#endif
