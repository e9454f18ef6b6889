// k_avx2.cpp — AVX2 dot products of the 256-element formats without a tile kernel (Q2_K,
// Q3_K, Q8_K, IQ4_XS; Q4_K, Q5_K and Q6_K are in tiles_impl.inc) with Q8_K activations. Integer sums per super-block are exact, as in k_blocks.cpp / iq4.cpp;
// the float accumulation order differs.
//
// Bounds that keep the int16 / int32 intermediates exact (activations |a| <= 128):
//   maddubs(level <= 63, a): pair sums <= 2 * 63 * 128 = 16128 < 32767;
//   madd with scales <= 128: <= 4.2M per lane per chunk; a whole super-block stays < 2^31.
#include "quant/avx2_util.h"

#ifdef OWL_QUANT_X86

namespace owl::quant::detail::avx2 {

namespace {

OWL_AVX2 inline __m256i load_bsums(const std::byte* a) { return load32(a + q8_k::bsums); }

// The 16 Q3_K scales, unbiased (-32..31), as bytes. Word k of the result (scales 4k..4k+3):
// low 4 bits from byte nibbles (words 0, 1 low nibbles, then their high nibbles), top 2 bits
// from bits 2k..2k+1 of each byte of the third word.
OWL_AVX2 inline __m128i q3_k_scales(const std::byte* p) {
  const uint32_t u0 = load_u32(p), u1 = load_u32(p + 4), u2 = load_u32(p + 8);
  const uint32_t low[4] = {u0 & 0x0f0f0f0fu, u1 & 0x0f0f0f0fu, (u0 >> 4) & 0x0f0f0f0fu, (u1 >> 4) & 0x0f0f0f0fu};
  uint32_t word[4];
  for (int k = 0; k < 4; ++k) word[k] = low[k] | ((u2 >> (2 * k)) & 0x03030303u) << 4;
  const __m128i biased = _mm_setr_epi32(int(word[0]), int(word[1]), int(word[2]), int(word[3]));
  return _mm_sub_epi8(biased, _mm_set1_epi8(32));
}

}  // namespace

OWL_AVX2 float dot_q2_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i mask2 = _mm256_set1_epi8(3);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q2_k::size, a += q8_k::size) {
    const float d8 = load_f32(a + q8_k::d);
    const __m128i packed = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + q2_k::scales));
    const __m128i scales8 = _mm_and_si128(packed, _mm_set1_epi8(15));
    const __m128i mins8 = _mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15));
    // sum over sub-blocks of min * bsum
    const __m256i mins = _mm256_madd_epi16(load_bsums(a), _mm256_cvtepu8_epi16(mins8));
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q2_k::dmin) * d8), _mm256_cvtepi32_ps(mins), acc_min);

    const int8_t* qa = i8(a + q8_k::qs);
    __m256i sumi = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      __m256i bits = load32(w + q2_k::qs + 32 * n);
      for (int j = 0; j < 4; ++j) {
        const __m256i q = _mm256_and_si256(bits, mask2);
        const __m256i p = _mm256_maddubs_epi16(q, load32(qa + 128 * n + 32 * j));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(scales8, 8 * n + 2 * j)));
        bits = _mm256_srli_epi16(bits, 2);
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q2_k::d) * d8), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc) - hsum(acc_min);
}

OWL_AVX2 float dot_q3_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i mask2 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q3_k::size, a += q8_k::size) {
    const __m128i scales8 = q3_k_scales(w + q3_k::scales);

    // level = (2 low bits | 4 * high bit) - 4; the -4 is applied through the bsums below.
    const int8_t* qa = i8(a + q8_k::qs);
    __m256i high = load32(w + q3_k::hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      __m256i bits = load32(w + q3_k::qs + 32 * n);
      for (int j = 0; j < 4; ++j) {
        const __m256i h = _mm256_slli_epi16(_mm256_and_si256(high, one), 2);
        const __m256i q = _mm256_or_si256(_mm256_and_si256(bits, mask2), h);
        const __m256i p = _mm256_maddubs_epi16(q, load32(qa + 128 * n + 32 * j));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(scales8, 8 * n + 2 * j)));
        bits = _mm256_srli_epi16(bits, 2);
        high = _mm256_srli_epi16(high, 1);
      }
    }
    const __m256i offset = _mm256_madd_epi16(load_bsums(a), _mm256_cvtepi8_epi16(scales8));
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offset, 2));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q3_k::d) * load_f32(a + q8_k::d)), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc);
}

OWL_AVX2 float dot_q8_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q8_k::size, a += q8_k::size) {
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 8; ++c)
      sumi = _mm256_add_epi32(sumi, dot_i8_i8(load32(w + q8_k::qs + 32 * c), load32(a + q8_k::qs + 32 * c)));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(load_f32(w + q8_k::d) * load_f32(a + q8_k::d)), _mm256_cvtepi32_ps(sumi),
                          acc);
  }
  return hsum(acc);
}

OWL_AVX2 float dot_iq4_xs_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i grid = iq4_grid();
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += iq4_xs::size, a += q8_k::size) {
    const uint8_t* scales_l = u8(w + iq4_xs::scales_l);
    const unsigned scales_h = load_u16(w + iq4_xs::scales_h);
    __m256i sumi = _mm256_setzero_si256();
    for (int ib = 0; ib < 8; ++ib) {
      const int ls = (((scales_l[ib / 2] >> (4 * (ib % 2))) & 15) | ((scales_h >> (2 * ib)) & 3) << 4) - 32;
      const __m256i values = _mm256_shuffle_epi8(grid, nibbles32(u8(w + iq4_xs::qs) + 16 * ib));
      const __m256i p = dot_i8_i8(values, load32(a + q8_k::qs + 32 * ib));
      sumi = _mm256_add_epi32(sumi, _mm256_mullo_epi32(p, _mm256_set1_epi32(ls)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + iq4_xs::d) * load_f32(a + q8_k::d)), _mm256_cvtepi32_ps(sumi),
                          acc);
  }
  return hsum(acc);
}

}  // namespace owl::quant::detail::avx2

#endif
