// activations_avx2.cpp — Q8_0 and Q8_K quantization of activation rows with AVX2, storing
// bitwise what the reference quantizers (quant_q8_0 in legacy_blocks.cpp, quant_q8_k in
// k_blocks.cpp) store: the maximum of |x| does not depend on the order it is taken in, the
// scales are the same float expressions, and cvtps rounds to nearest even as lrintf does.
// A block holding a NaN or an infinity goes to the reference code (its rules for those).
#include "quant/avx2_util.h"

#if defined(__x86_64__) || defined(__i386__)

namespace owl::quant::detail::avx2 {
namespace {

// max |x[i]| over n (a multiple of 8) floats; false when one of them is NaN or infinite.
OWL_AVX2 inline bool finite_amax(const float* x, int n, float& amax) {
  const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(__builtin_inff());
  __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
  for (int i = 0; i < n; i += 8) {
    const __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i));
    m = _mm256_max_ps(m, a);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, inf, _CMP_NLT_UQ));  // a >= inf, or NaN
  }
  if (_mm256_movemask_ps(bad)) return false;
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  amax = _mm_cvtss_f32(h);
  return true;
}

// clamp(round(x[i] * id), -127, 127) for 8 floats, as clamp_int(nearest_int(..)) gives it:
// products beyond +-128 (an infinite id after a subnormal maximum, a scale saturated at the
// largest half) saturate first, and a NaN product (0 * inf) becomes -128, then -127, as
// nearest_int's -1e9 does. (max_ps returns its second operand when the first is NaN.)
OWL_AVX2 inline __m256i levels8(const float* x, __m256 id) {
  __m256 p = _mm256_mul_ps(_mm256_loadu_ps(x), id);
  p = _mm256_min_ps(_mm256_max_ps(p, _mm256_set1_ps(-128.0f)), _mm256_set1_ps(128.0f));
  const __m256i v = _mm256_cvtps_epi32(p);
  return _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(-127)), _mm256_set1_epi32(127));
}

// 32 levels (4 vectors of 8 int32, in element order) as 32 bytes.
OWL_AVX2 inline void store_levels(std::byte* dst, const __m256i (&v)[4]) {
  // packs works per 128-bit half: dwords come out as a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7.
  const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                      _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

OWL_AVX2 inline int32_t add_lanes(__m256i v) {
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
  return _mm_cvtsi128_si32(x);
}

}  // namespace

OWL_AVX2 void quant_q8_0(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q8_0::size) {
    float amax;
    if (!finite_amax(x, qk, amax)) {
      detail::quant_q8_0(x, dst, 1);
      continue;
    }
    const float d = store_f16(dst + q8_0::d, amax / 127.0f);
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    const __m256i v[4] = {levels8(x, id), levels8(x + 8, id), levels8(x + 16, id), levels8(x + 24, id)};
    store_levels(dst + q8_0::qs, v);
  }
}

OWL_AVX2 void quant_q8_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q8_k::size) {
    float amax;
    if (!finite_amax(x, qk_k, amax) || !(amax > 0.0f)) {
      detail::quant_q8_k(x, dst, 1);
      continue;
    }
    const float inverse = 127.0f / amax;
    store_f32(dst + q8_k::d, 1.0f / inverse);
    const __m256 id = _mm256_set1_ps(inverse);
    for (int c = 0; c < qk_k; c += 32) {
      const __m256i v[4] = {levels8(x + c, id), levels8(x + c + 8, id), levels8(x + c + 16, id), levels8(x + c + 24, id)};
      store_levels(dst + q8_k::qs + c, v);
      // bsums: the sums of each 16 levels
      store_i16(dst + q8_k::bsums + 2 * (c / 16), int16_t(add_lanes(_mm256_add_epi32(v[0], v[1]))));
      store_i16(dst + q8_k::bsums + 2 * (c / 16 + 1), int16_t(add_lanes(_mm256_add_epi32(v[2], v[3]))));
    }
  }
}

}  // namespace owl::quant::detail::avx2

#endif
