// k_avx2.cpp — AVX2 dot products of the 256-element formats (Q2_K..Q6_K, Q8_K, IQ4_XS)
// with Q8_K activations. Integer sums per super-block are exact, as in k_blocks.cpp / iq4.cpp;
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

namespace {

// Q4_K / Q5_K: the 8 scales as bytes (in both 128-bit lanes, for broadcasts) and the min
// term (per lane: min_j * the two bsums of sub-block j). From the packed words u0, u1, u2:
// scales 0-3 = u0 & 63 per byte, mins 0-3 = u1 & 63; scales 4-7 = low nibbles of u2 with the
// top bits of u0's bytes above them, mins 4-7 = high nibbles of u2 with the top bits of u1's.
struct k4_scales {
  __m256i scales;
  __m256i mins;
};

OWL_AVX2 inline k4_scales unpack_k4(const std::byte* packed, const std::byte* a) {
  const uint32_t u0 = load_u32(packed), u1 = load_u32(packed + 4), u2 = load_u32(packed + 8);
  const uint32_t sc_lo = u0 & 0x3f3f3f3fu, mn_lo = u1 & 0x3f3f3f3fu;
  const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
  const uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
  const __m128i mins8 = _mm_setr_epi32(int(mn_lo), int(mn_hi), 0, 0);
  const __m128i pairs = _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);  // a sub-block spans 2 bsums
  k4_scales out;
  out.scales = _mm256_broadcastsi128_si256(_mm_setr_epi32(int(sc_lo), int(sc_hi), 0, 0));
  out.mins = _mm256_madd_epi16(load_bsums(a), _mm256_cvtepu8_epi16(_mm_shuffle_epi8(mins8, pairs)));
  return out;
}

// int16 broadcast of scale byte j (a shuffle index with the high byte 0x80 zeroes it).
OWL_AVX2 inline __m256i scale16(const k4_scales& s, int j) {
  return _mm256_shuffle_epi8(s.scales, _mm256_set1_epi16(int16_t(0x8000 | j)));
}

}  // namespace

OWL_AVX2 float dot_q4_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i mask4 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q4_k::size, a += q8_k::size) {
    const float d8 = load_f32(a + q8_k::d);
    const k4_scales s = unpack_k4(w + q4_k::scales, a);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q4_k::dmin) * d8), _mm256_cvtepi32_ps(s.mins), acc_min);

    const int8_t* qa = i8(a + q8_k::qs);
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load32(w + q4_k::qs + 32 * c);
      const __m256i lo = _mm256_and_si256(v, mask4);
      const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), mask4);
      const __m256i p_lo = _mm256_maddubs_epi16(lo, load32(qa + 64 * c));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, load32(qa + 64 * c + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, scale16(s, 2 * c)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, scale16(s, 2 * c + 1)));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q4_k::d) * d8), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc) - hsum(acc_min);
}

OWL_AVX2 float dot_q5_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i mask4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
  __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q5_k::size, a += q8_k::size) {
    const float d8 = load_f32(a + q8_k::d);
    const k4_scales s = unpack_k4(w + q5_k::scales, a);
    acc_min = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q5_k::dmin) * d8), _mm256_cvtepi32_ps(s.mins), acc_min);

    const int8_t* qa = i8(a + q8_k::qs);
    __m256i high = load32(w + q5_k::qh);  // bit 0 of each byte: fifth bit of the current low half
    __m256i sumi = _mm256_setzero_si256();
    for (int c = 0; c < 4; ++c) {
      const __m256i v = load32(w + q5_k::qs + 32 * c);
      const __m256i h_lo = _mm256_slli_epi16(_mm256_and_si256(high, one), 4);
      const __m256i h_hi = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(high, 1), one), 4);
      const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, mask4), h_lo);
      const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), mask4), h_hi);
      const __m256i p_lo = _mm256_maddubs_epi16(lo, load32(qa + 64 * c));
      const __m256i p_hi = _mm256_maddubs_epi16(hi, load32(qa + 64 * c + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_lo, scale16(s, 2 * c)));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p_hi, scale16(s, 2 * c + 1)));
      high = _mm256_srli_epi16(high, 2);
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q5_k::d) * d8), _mm256_cvtepi32_ps(sumi), acc);
  }
  return hsum(acc) - hsum(acc_min);
}

OWL_AVX2 float dot_q6_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  const __m256i mask4 = _mm256_set1_epi8(15), mask_hi = _mm256_set1_epi8(0x30);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, w += q6_k::size, a += q8_k::size) {
    const __m128i scales8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w + q6_k::scales));
    const int8_t* qa = i8(a + q8_k::qs);
    __m256i sumi = _mm256_setzero_si256();
    for (int n = 0; n < 2; ++n) {
      const __m256i ql0 = load32(w + q6_k::ql + 64 * n);
      const __m256i ql1 = load32(w + q6_k::ql + 64 * n + 32);
      const __m256i qh = load32(w + q6_k::qh + 32 * n);
      // Levels 0..63 of elements 128n + 32k + l, k = 0..3 (see dequant_q6_k).
      const __m256i q[4] = {
          _mm256_or_si256(_mm256_and_si256(ql0, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), mask_hi)),
          _mm256_or_si256(_mm256_and_si256(ql1, mask4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), mask_hi)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), mask4), _mm256_and_si256(qh, mask_hi)),
          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), mask4),
                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), mask_hi)),
      };
      for (int k = 0; k < 4; ++k) {
        const __m256i p = _mm256_maddubs_epi16(q[k], load32(qa + 128 * n + 32 * k));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, scale_pair(scales8, 8 * n + 2 * k)));
      }
    }
    // levels are stored +32: subtract 32 * sum over groups of scale * bsum
    const __m256i offset = _mm256_madd_epi16(load_bsums(a), _mm256_cvtepi8_epi16(scales8));
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(offset, 5));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(half(w + q6_k::d) * load_f32(a + q8_k::d)), _mm256_cvtepi32_ps(sumi), acc);
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
