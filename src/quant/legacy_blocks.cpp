// legacy_blocks.cpp — the 32-element formats Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1:
// dequantization, round-to-nearest quantizers and scalar dot products.
//
// Nibble order (all 4/5-bit legacy types): element j (0..15) is the low nibble of qs[j],
// element j + 16 the high nibble. Q5 types keep the 5th bit of element j in bit j of qh.
#include <cmath>

#include "quant/blocks.h"

namespace owl::quant::detail {

namespace {

// The element of largest magnitude (keeping its sign) and that magnitude.
void signed_extreme(const float* x, int n, float& extreme, float& amax) {
  extreme = 0.0f;
  amax = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      extreme = x[i];
    }
  }
}

void min_max(const float* x, int n, float& lo, float& hi) {
  lo = x[0];
  hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
}

// Writes 32 levels (0..15) as the legacy nibble pairs.
void pack_nibbles(const int* q, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(q[j] | (q[j + 16] << 4));
}

// Writes 32 levels (0..31): low 4 bits as nibbles, bit 4 of element j into bit j of qh.
void pack_5bit(const int* q, uint8_t* qs, std::byte* qh) {
  uint32_t high = 0;
  int low[32];
  for (int j = 0; j < 32; ++j) {
    low[j] = q[j] & 15;
    high |= uint32_t(q[j] >> 4) << j;
  }
  pack_nibbles(low, qs);
  store_u32(qh, high);
}

// Level of element j (0..31) of a 5-bit block.
inline int level_5bit(const uint8_t* qs, uint32_t qh, int j) {
  const int low = j < 16 ? (qs[j] & 15) : (qs[j - 16] >> 4);
  return low | int((qh >> j) & 1u) << 4;
}

// Symmetric formats: value = (q - offset) * d, q in [0, 2 * offset - 1], scale = extreme / -offset
// so the extreme element lands exactly on level 0.
void quant_symmetric(const float* x, std::byte* d_field, int offset, int* q) {
  float extreme, amax;
  signed_extreme(x, qk, extreme, amax);
  const float d = store_f16(d_field, extreme / float(-offset));
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < qk; ++j) q[j] = clamp_int(nearest_int(x[j] * id) + offset, 0, 2 * offset - 1);
}

// Asymmetric formats: value = q * d + m with m = block minimum, d = (max - min) / levels.
void quant_asymmetric(const float* x, std::byte* d_field, std::byte* m_field, int levels, int* q) {
  float lo, hi;
  min_max(x, qk, lo, hi);
  const float d = store_f16(d_field, (hi - lo) / float(levels));
  const float m = store_f16(m_field, lo);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  for (int j = 0; j < qk; ++j) q[j] = clamp_int(nearest_int((x[j] - m) * id), 0, levels);
}

// Q8_0 / Q8_1 quants: d = amax / 127, q = round(x / d) in [-127, 127]. Returns sum(q).
int quant_int8(const float* x, std::byte* d_field, int8_t* qs, float& d) {
  float extreme, amax;
  signed_extreme(x, qk, extreme, amax);
  d = store_f16(d_field, amax / 127.0f);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  int sum = 0;
  for (int j = 0; j < qk; ++j) {
    const int v = clamp_int(nearest_int(x[j] * id), -127, 127);
    qs[j] = int8_t(v);
    sum += v;
  }
  return sum;
}

}  // namespace

// ---- dequantization ----------------------------------------------------------------------

void dequant_q4_0(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q4_0::size, y += qk) {
    const float d = load_f16(src + q4_0::d);
    const uint8_t* qs = u8(src + q4_0::qs);
    for (int j = 0; j < 16; ++j) {
      y[j] = float((qs[j] & 15) - 8) * d;
      y[j + 16] = float((qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q4_1::size, y += qk) {
    const float d = load_f16(src + q4_1::d);
    const float m = load_f16(src + q4_1::m);
    const uint8_t* qs = u8(src + q4_1::qs);
    for (int j = 0; j < 16; ++j) {
      y[j] = float(qs[j] & 15) * d + m;
      y[j + 16] = float(qs[j] >> 4) * d + m;
    }
  }
}

void dequant_q5_0(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q5_0::size, y += qk) {
    const float d = load_f16(src + q5_0::d);
    const uint32_t qh = load_u32(src + q5_0::qh);
    const uint8_t* qs = u8(src + q5_0::qs);
    for (int j = 0; j < qk; ++j) y[j] = float(level_5bit(qs, qh, j) - 16) * d;
  }
}

void dequant_q5_1(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q5_1::size, y += qk) {
    const float d = load_f16(src + q5_1::d);
    const float m = load_f16(src + q5_1::m);
    const uint32_t qh = load_u32(src + q5_1::qh);
    const uint8_t* qs = u8(src + q5_1::qs);
    for (int j = 0; j < qk; ++j) y[j] = float(level_5bit(qs, qh, j)) * d + m;
  }
}

void dequant_q8_0(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q8_0::size, y += qk) {
    const float d = load_f16(src + q8_0::d);
    const int8_t* qs = i8(src + q8_0::qs);
    for (int j = 0; j < qk; ++j) y[j] = float(qs[j]) * d;
  }
}

void dequant_q8_1(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += q8_1::size, y += qk) {
    const float d = load_f16(src + q8_1::d);
    const int8_t* qs = i8(src + q8_1::qs);
    for (int j = 0; j < qk; ++j) y[j] = float(qs[j]) * d;
  }
}

// ---- quantization ------------------------------------------------------------------------

void quant_q4_0(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q4_0::size) {
    int q[qk];
    quant_symmetric(x, dst + q4_0::d, 8, q);
    pack_nibbles(q, u8(dst + q4_0::qs));
  }
}

void quant_q4_1(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q4_1::size) {
    int q[qk];
    quant_asymmetric(x, dst + q4_1::d, dst + q4_1::m, 15, q);
    pack_nibbles(q, u8(dst + q4_1::qs));
  }
}

void quant_q5_0(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q5_0::size) {
    int q[qk];
    quant_symmetric(x, dst + q5_0::d, 16, q);
    pack_5bit(q, u8(dst + q5_0::qs), dst + q5_0::qh);
  }
}

void quant_q5_1(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q5_1::size) {
    int q[qk];
    quant_asymmetric(x, dst + q5_1::d, dst + q5_1::m, 31, q);
    pack_5bit(q, u8(dst + q5_1::qs), dst + q5_1::qh);
  }
}

void quant_q8_0(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q8_0::size) {
    float d;
    quant_int8(x, dst + q8_0::d, reinterpret_cast<int8_t*>(dst + q8_0::qs), d);
  }
}

void quant_q8_1(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += q8_1::size) {
    float d;
    const int sum = quant_int8(x, dst + q8_1::d, reinterpret_cast<int8_t*>(dst + q8_1::qs), d);
    store_f16(dst + q8_1::s, d * float(sum));
  }
}

// ---- scalar dot products -----------------------------------------------------------------
// Each block: an exact int32 sum of integer products, then one float multiply-add.

float dot_q4_0_q8_0(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q4_0::size, a += q8_0::size) {
    const uint8_t* qs = u8(w + q4_0::qs);
    const int8_t* qa = i8(a + q8_0::qs);
    int sumi = 0;
    for (int j = 0; j < 16; ++j)
      sumi += ((qs[j] & 15) - 8) * qa[j] + ((qs[j] >> 4) - 8) * qa[j + 16];
    sum += float(sumi) * (load_f16(w + q4_0::d) * load_f16(a + q8_0::d));
  }
  return sum;
}

float dot_q4_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q4_1::size, a += q8_1::size) {
    const uint8_t* qs = u8(w + q4_1::qs);
    const int8_t* qa = i8(a + q8_1::qs);
    int sumi = 0;
    for (int j = 0; j < 16; ++j) sumi += (qs[j] & 15) * qa[j] + (qs[j] >> 4) * qa[j + 16];
    // sum_j (q_j d + m) a_j d8 = d d8 sum q_j a_j + m * s8, with s8 = d8 * sum a_j stored
    sum += float(sumi) * (load_f16(w + q4_1::d) * load_f16(a + q8_1::d)) +
           load_f16(w + q4_1::m) * load_f16(a + q8_1::s);
  }
  return sum;
}

float dot_q5_0_q8_0(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q5_0::size, a += q8_0::size) {
    const uint8_t* qs = u8(w + q5_0::qs);
    const uint32_t qh = load_u32(w + q5_0::qh);
    const int8_t* qa = i8(a + q8_0::qs);
    int sumi = 0;
    for (int j = 0; j < qk; ++j) sumi += (level_5bit(qs, qh, j) - 16) * qa[j];
    sum += float(sumi) * (load_f16(w + q5_0::d) * load_f16(a + q8_0::d));
  }
  return sum;
}

float dot_q5_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q5_1::size, a += q8_1::size) {
    const uint8_t* qs = u8(w + q5_1::qs);
    const uint32_t qh = load_u32(w + q5_1::qh);
    const int8_t* qa = i8(a + q8_1::qs);
    int sumi = 0;
    for (int j = 0; j < qk; ++j) sumi += level_5bit(qs, qh, j) * qa[j];
    sum += float(sumi) * (load_f16(w + q5_1::d) * load_f16(a + q8_1::d)) +
           load_f16(w + q5_1::m) * load_f16(a + q8_1::s);
  }
  return sum;
}

float dot_q8_0_q8_0(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q8_0::size, a += q8_0::size) {
    const int8_t* qw = i8(w + q8_0::qs);
    const int8_t* qa = i8(a + q8_0::qs);
    int sumi = 0;
    for (int j = 0; j < qk; ++j) sumi += qw[j] * qa[j];
    sum += float(sumi) * (load_f16(w + q8_0::d) * load_f16(a + q8_0::d));
  }
  return sum;
}

float dot_q8_1_q8_1(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += q8_1::size, a += q8_1::size) {
    const int8_t* qw = i8(w + q8_1::qs);
    const int8_t* qa = i8(a + q8_1::qs);
    int sumi = 0;
    for (int j = 0; j < qk; ++j) sumi += qw[j] * qa[j];
    sum += float(sumi) * (load_f16(w + q8_1::d) * load_f16(a + q8_1::d));
  }
  return sum;
}

}  // namespace owl::quant::detail
