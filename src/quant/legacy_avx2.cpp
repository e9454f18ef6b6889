// legacy_avx2.cpp — AVX2 dot products for the 32-element formats with a min term (Q4_1, Q5_1,
// Q8_1; Q4_0, Q5_0, Q8_0 and IQ4_NL have tile kernels, tiles_impl.inc). Same integer sums
// per block as the scalar kernels in legacy_blocks.cpp; only the float accumulation order
// differs.
#include "quant/avx2_util.h"

#ifdef OWL_QUANT_X86

namespace owl::quant::detail::avx2 {

namespace {

// 32 five-bit levels of a Q5 block: nibbles plus bit j of qh as bit 4 of element j.
OWL_AVX2 inline __m256i levels_5bit(const std::byte* qs, const std::byte* qh) {
  const __m256i high = _mm256_and_si256(bits_to_bytes(load_u32(qh)), _mm256_set1_epi8(16));
  return _mm256_or_si256(nibbles32(u8(qs)), high);
}

// One block's contribution: acc += d_w * d_a * (exact int32 sums). The drivers below keep two
// accumulators so consecutive blocks do not wait on each other's multiply-add.
struct q4_1_step {
  static constexpr int wsize = q4_1::size, asize = q8_1::size;
  OWL_AVX2 static __m256 run(const std::byte* w, const std::byte* a, __m256 acc, float& mins) {
    const __m256i sumi = dot_u8_i8(nibbles32(u8(w + q4_1::qs)), load32(a + q8_1::qs));
    mins += half(w + q4_1::m) * half(a + q8_1::s);  // sum_j m * a_j = m * s
    return _mm256_fmadd_ps(_mm256_set1_ps(half(w + q4_1::d) * half(a + q8_1::d)), _mm256_cvtepi32_ps(sumi), acc);
  }
};
struct q5_1_step {
  static constexpr int wsize = q5_1::size, asize = q8_1::size;
  OWL_AVX2 static __m256 run(const std::byte* w, const std::byte* a, __m256 acc, float& mins) {
    const __m256i sumi = dot_u8_i8(levels_5bit(w + q5_1::qs, w + q5_1::qh), load32(a + q8_1::qs));
    mins += half(w + q5_1::m) * half(a + q8_1::s);
    return _mm256_fmadd_ps(_mm256_set1_ps(half(w + q5_1::d) * half(a + q8_1::d)), _mm256_cvtepi32_ps(sumi), acc);
  }
};
template <int WQS, int AQS, int WSIZE, int ASIZE>
struct int8_step {  // Q8_1 x Q8_1 (d at offset 0)
  static constexpr int wsize = WSIZE, asize = ASIZE;
  OWL_AVX2 static __m256 run(const std::byte* w, const std::byte* a, __m256 acc, float&) {
    const __m256i sumi = dot_i8_i8(load32(w + WQS), load32(a + AQS));
    return _mm256_fmadd_ps(_mm256_set1_ps(half(w) * half(a)), _mm256_cvtepi32_ps(sumi), acc);
  }
};

template <typename Step>
OWL_AVX2 inline float run_blocks(const std::byte* w, const std::byte* a, int64_t nb) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float mins0 = 0.0f, mins1 = 0.0f;
  int64_t b = 0;
  for (; b + 1 < nb; b += 2, w += 2 * Step::wsize, a += 2 * Step::asize) {
    acc0 = Step::run(w, a, acc0, mins0);
    acc1 = Step::run(w + Step::wsize, a + Step::asize, acc1, mins1);
  }
  if (b < nb) acc0 = Step::run(w, a, acc0, mins0);
  return hsum(_mm256_add_ps(acc0, acc1)) + (mins0 + mins1);
}

}  // namespace

OWL_AVX2 float dot_q4_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) { return run_blocks<q4_1_step>(w, a, nb); }
OWL_AVX2 float dot_q5_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) { return run_blocks<q5_1_step>(w, a, nb); }
OWL_AVX2 float dot_q8_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) {
  return run_blocks<int8_step<q8_1::qs, q8_1::qs, q8_1::size, q8_1::size>>(w, a, nb);
}

}  // namespace owl::quant::detail::avx2

#endif
