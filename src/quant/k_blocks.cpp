// k_blocks.cpp — the 256-element k-quant formats Q2_K..Q6_K and Q8_K: scale packing,
// dequantization, the Q8_K activation quantizer and scalar dot products against Q8_K.
// (The weight quantizers are in quantize_k.cpp.)
//
// Element order shared by Q2_K and Q3_K: the block is two halves of 128; in half n, bit pair
// j (shift 2j) of qs[32n + l] holds element 128n + 32j + l. Q3_K's third bit of element e is
// bit e / 32 of hmask[e % 32]. Q4_K/Q5_K: in each 64-element chunk c, qs[32c + l] holds
// element 64c + l (low nibble) and 64c + 32 + l (high nibble); Q5_K's fifth bit of element e
// is bit e / 32 of qh[e % 32]. Q6_K: see dequant_q6_k.
#include <cmath>

#include "quant/blocks.h"

namespace owl::quant::detail {

// ---- scale packing -----------------------------------------------------------------------

void pack_scale_min_k4(const int sc[8], const int mn[8], uint8_t out[12]) {
  for (int j = 0; j < 4; ++j) {
    out[j] = uint8_t((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));      // scale j, top bits of scale j+4
    out[j + 4] = uint8_t((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));  // min j, top bits of min j+4
    out[j + 8] = uint8_t((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
}

// Byte k of 0..7 holds the low 4 bits of scale k (low nibble) and scale k+8 (high nibble);
// byte 8 + (i % 4) holds the top 2 bits of scale i at bit 2 * (i / 4).
void unpack_q3_k_scales(const uint8_t* b, int out[16]) {
  for (int i = 0; i < 16; ++i) {
    const int low = i < 8 ? (b[i] & 15) : (b[i - 8] >> 4);
    const int high = (b[8 + i % 4] >> (2 * (i / 4))) & 3;
    out[i] = low | high << 4;
  }
}

void pack_q3_k_scales(const int biased[16], uint8_t out[12]) {
  std::memset(out, 0, 12);
  for (int i = 0; i < 16; ++i) {
    const int v = biased[i] & 63;
    if (i < 8)
      out[i] |= uint8_t(v & 15);
    else
      out[i - 8] |= uint8_t((v & 15) << 4);
    out[8 + i % 4] |= uint8_t((v >> 4) << (2 * (i / 4)));
  }
}

// ---- dequantization ----------------------------------------------------------------------

void dequant_q2_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q2_k::size) {
    const float d = load_f16(src + q2_k::d);
    const float dmin = load_f16(src + q2_k::dmin);
    const uint8_t* scales = u8(src + q2_k::scales);
    const uint8_t* qs = u8(src + q2_k::qs);
    for (int n = 0; n < 2; ++n) {
      for (int j = 0; j < 4; ++j) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = scales[8 * n + 2 * j + half];
          const float dl = d * float(sc & 15);
          const float ml = dmin * float(sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * float((qs[32 * n + 16 * half + l] >> (2 * j)) & 3) - ml;
        }
      }
    }
  }
}

void dequant_q3_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q3_k::size) {
    const float d = load_f16(src + q3_k::d);
    const uint8_t* hmask = u8(src + q3_k::hmask);
    const uint8_t* qs = u8(src + q3_k::qs);
    int scales[16];
    unpack_q3_k_scales(u8(src + q3_k::scales), scales);
    for (int n = 0; n < 2; ++n) {
      for (int j = 0; j < 4; ++j) {
        const int hbit = 4 * n + j;
        for (int half = 0; half < 2; ++half) {
          const float dl = d * float(scales[8 * n + 2 * j + half] - 32);
          for (int l = 16 * half; l < 16 * half + 16; ++l) {
            const int q = ((qs[32 * n + l] >> (2 * j)) & 3) - (((hmask[l] >> hbit) & 1) ? 0 : 4);
            *y++ = dl * float(q);
          }
        }
      }
    }
  }
}

void dequant_q4_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q4_k::size) {
    const float d = load_f16(src + q4_k::d);
    const float dmin = load_f16(src + q4_k::dmin);
    const uint8_t* scales = u8(src + q4_k::scales);
    const uint8_t* qs = u8(src + q4_k::qs);
    for (int c = 0; c < 4; ++c, qs += 32) {
      int sc, mn;
      scale_min_k4(2 * c, scales, sc, mn);
      const float d1 = d * float(sc), m1 = dmin * float(mn);
      scale_min_k4(2 * c + 1, scales, sc, mn);
      const float d2 = d * float(sc), m2 = dmin * float(mn);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float(qs[l] & 15) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float(qs[l] >> 4) - m2;
    }
  }
}

void dequant_q5_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q5_k::size) {
    const float d = load_f16(src + q5_k::d);
    const float dmin = load_f16(src + q5_k::dmin);
    const uint8_t* scales = u8(src + q5_k::scales);
    const uint8_t* qh = u8(src + q5_k::qh);
    const uint8_t* qs = u8(src + q5_k::qs);
    for (int c = 0; c < 4; ++c, qs += 32) {
      int sc, mn;
      scale_min_k4(2 * c, scales, sc, mn);
      const float d1 = d * float(sc), m1 = dmin * float(mn);
      scale_min_k4(2 * c + 1, scales, sc, mn);
      const float d2 = d * float(sc), m2 = dmin * float(mn);
      for (int l = 0; l < 32; ++l) *y++ = d1 * float((qs[l] & 15) | ((qh[l] >> (2 * c)) & 1) << 4) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * float((qs[l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4) - m2;
    }
  }
}

// Q6_K: in half n (128 elements), with ql = ql + 64n, qh = qh + 32n, for l in 0..31:
//   element 128n + l      = low nibble of ql[l]       | bits 0-1 of qh[l] << 4
//   element 128n + 32 + l = low nibble of ql[l + 32]  | bits 2-3 of qh[l] << 4
//   element 128n + 64 + l = high nibble of ql[l]      | bits 4-5 of qh[l] << 4
//   element 128n + 96 + l = high nibble of ql[l + 32] | bits 6-7 of qh[l] << 4
// value = d * scales[e / 16] * (q - 32). Calls f(element, level) for each of the 256.
template <typename F>
inline void for_each_q6_level(const uint8_t* ql, const uint8_t* qh, F&& f) {
  for (int n = 0; n < 2; ++n, ql += 64, qh += 32)
    for (int l = 0; l < 32; ++l) {
      f(128 * n + l, (ql[l] & 15) | (qh[l] & 3) << 4);
      f(128 * n + 32 + l, (ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4);
      f(128 * n + 64 + l, (ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4);
      f(128 * n + 96 + l, (ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4);
    }
}

void dequant_q6_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q6_k::size, y += qk_k) {
    const float d = load_f16(src + q6_k::d);
    const int8_t* scales = i8(src + q6_k::scales);
    for_each_q6_level(u8(src + q6_k::ql), u8(src + q6_k::qh),
                      [&](int e, int q) { y[e] = d * float(scales[e / 16]) * float(q - 32); });
  }
}

void dequant_q8_k(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q8_k::size, y += qk_k) {
    const float d = load_f32(src + q8_k::d);
    const int8_t* qs = i8(src + q8_k::qs);
    for (int e = 0; e < qk_k; ++e) y[e] = d * float(qs[e]);
  }
}

// ---- Q8_K activations: d = amax / 127 (float32), q in [-127, 127], bsums of 16 ------------

void quant_q8_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q8_k::size) {
    float amax = 0.0f;
    for (int e = 0; e < qk_k; ++e) amax = std::max(amax, std::fabs(x[e]));
    int8_t* qs = reinterpret_cast<int8_t*>(dst + q8_k::qs);
    if (!(amax > 0.0f) || !std::isfinite(amax)) {
      store_f32(dst + q8_k::d, 0.0f);
      std::memset(qs, 0, qk_k);
      std::memset(dst + q8_k::bsums, 0, 32);
      continue;
    }
    const float id = 127.0f / amax;
    store_f32(dst + q8_k::d, 1.0f / id);
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int e = 16 * g; e < 16 * g + 16; ++e) {
        const int v = clamp_int(nearest_int(x[e] * id), -127, 127);
        qs[e] = int8_t(v);
        sum += v;
      }
      store_i16(dst + q8_k::bsums + 2 * g, int16_t(sum));
    }
  }
}

// ---- scalar dot products against Q8_K ----------------------------------------------------
// Per super-block: exact int32 sums of (level * activation) per sub-block, weighted by the
// integer sub-block scales; the mins use Q8_K's bsums. One float multiply-add per block.

namespace {
inline int bsum(const std::byte* a, int g) { return load_i16(a + q8_k::bsums + 2 * g); }
}  // namespace

float dot_q2_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q2_k::size, a += q8_k::size) {
    const uint8_t* scales = u8(w + q2_k::scales);
    const uint8_t* qs = u8(w + q2_k::qs);
    const int8_t* qa = i8(a + q8_k::qs);
    int sumi = 0, summ = 0;
    for (int n = 0; n < 2; ++n)
      for (int j = 0; j < 4; ++j)
        for (int half = 0; half < 2; ++half) {
          const int sb = 8 * n + 2 * j + half;
          const int8_t* q8 = qa + 128 * n + 32 * j + 16 * half;
          int s = 0;
          for (int l = 0; l < 16; ++l) s += ((qs[32 * n + 16 * half + l] >> (2 * j)) & 3) * q8[l];
          sumi += (scales[sb] & 15) * s;
          summ += (scales[sb] >> 4) * bsum(a, sb);
        }
    const float d8 = load_f32(a + q8_k::d);
    sum += d8 * (load_f16(w + q2_k::d) * float(sumi) - load_f16(w + q2_k::dmin) * float(summ));
  }
  return sum;
}

float dot_q3_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q3_k::size, a += q8_k::size) {
    const uint8_t* hmask = u8(w + q3_k::hmask);
    const uint8_t* qs = u8(w + q3_k::qs);
    const int8_t* qa = i8(a + q8_k::qs);
    int scales[16];
    unpack_q3_k_scales(u8(w + q3_k::scales), scales);
    int sumi = 0;
    for (int n = 0; n < 2; ++n)
      for (int j = 0; j < 4; ++j)
        for (int half = 0; half < 2; ++half) {
          const int8_t* q8 = qa + 128 * n + 32 * j + 16 * half;
          int s = 0;
          for (int l = 0; l < 16; ++l) {
            const int li = 16 * half + l;
            const int q = ((qs[32 * n + li] >> (2 * j)) & 3) - (((hmask[li] >> (4 * n + j)) & 1) ? 0 : 4);
            s += q * q8[l];
          }
          sumi += (scales[8 * n + 2 * j + half] - 32) * s;
        }
    sum += load_f16(w + q3_k::d) * load_f32(a + q8_k::d) * float(sumi);
  }
  return sum;
}

float dot_q4_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q4_k::size, a += q8_k::size) {
    const uint8_t* scales = u8(w + q4_k::scales);
    const uint8_t* qs = u8(w + q4_k::qs);
    const int8_t* qa = i8(a + q8_k::qs);
    int sumi = 0, summ = 0;
    for (int c = 0; c < 4; ++c) {
      int sc1, mn1, sc2, mn2;
      scale_min_k4(2 * c, scales, sc1, mn1);
      scale_min_k4(2 * c + 1, scales, sc2, mn2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += (qs[32 * c + l] & 15) * qa[64 * c + l];
        s2 += (qs[32 * c + l] >> 4) * qa[64 * c + 32 + l];
      }
      sumi += sc1 * s1 + sc2 * s2;
      summ += mn1 * (bsum(a, 4 * c) + bsum(a, 4 * c + 1)) + mn2 * (bsum(a, 4 * c + 2) + bsum(a, 4 * c + 3));
    }
    const float d8 = load_f32(a + q8_k::d);
    sum += d8 * (load_f16(w + q4_k::d) * float(sumi) - load_f16(w + q4_k::dmin) * float(summ));
  }
  return sum;
}

float dot_q5_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q5_k::size, a += q8_k::size) {
    const uint8_t* scales = u8(w + q5_k::scales);
    const uint8_t* qh = u8(w + q5_k::qh);
    const uint8_t* qs = u8(w + q5_k::qs);
    const int8_t* qa = i8(a + q8_k::qs);
    int sumi = 0, summ = 0;
    for (int c = 0; c < 4; ++c) {
      int sc1, mn1, sc2, mn2;
      scale_min_k4(2 * c, scales, sc1, mn1);
      scale_min_k4(2 * c + 1, scales, sc2, mn2);
      int s1 = 0, s2 = 0;
      for (int l = 0; l < 32; ++l) {
        s1 += ((qs[32 * c + l] & 15) | ((qh[l] >> (2 * c)) & 1) << 4) * qa[64 * c + l];
        s2 += ((qs[32 * c + l] >> 4) | ((qh[l] >> (2 * c + 1)) & 1) << 4) * qa[64 * c + 32 + l];
      }
      sumi += sc1 * s1 + sc2 * s2;
      summ += mn1 * (bsum(a, 4 * c) + bsum(a, 4 * c + 1)) + mn2 * (bsum(a, 4 * c + 2) + bsum(a, 4 * c + 3));
    }
    const float d8 = load_f32(a + q8_k::d);
    sum += d8 * (load_f16(w + q5_k::d) * float(sumi) - load_f16(w + q5_k::dmin) * float(summ));
  }
  return sum;
}

float dot_q6_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q6_k::size, a += q8_k::size) {
    const int8_t* scales = i8(w + q6_k::scales);
    const int8_t* qa = i8(a + q8_k::qs);
    int group[16] = {};
    for_each_q6_level(u8(w + q6_k::ql), u8(w + q6_k::qh), [&](int e, int q) { group[e / 16] += (q - 32) * qa[e]; });
    int sumi = 0;
    for (int g = 0; g < 16; ++g) sumi += scales[g] * group[g];
    sum += load_f16(w + q6_k::d) * load_f32(a + q8_k::d) * float(sumi);
  }
  return sum;
}

float dot_q8_k_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q8_k::size, a += q8_k::size) {
    const int8_t* qw = i8(w + q8_k::qs);
    const int8_t* qa = i8(a + q8_k::qs);
    int sumi = 0;
    for (int e = 0; e < qk_k; ++e) sumi += qw[e] * qa[e];
    sum += load_f32(w + q8_k::d) * load_f32(a + q8_k::d) * float(sumi);
  }
  return sum;
}

}  // namespace owl::quant::detail
