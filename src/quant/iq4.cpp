// iq4.cpp — IQ4_NL (32-element blocks) and IQ4_XS (256-element super-blocks of 8 x 32):
// 4-bit indices into the fixed non-linear grid kvalues_iq4nl, nibbles in Q4_0 order inside
// each 32 elements.
//
// Quantizer (both): per 32 elements, weights w = x^2; try scales that put the block's extreme
// at either end of the grid (-127 or 113) and 7 neighbouring grid positions on each side,
// give every element its nearest grid value, take the weighted least-squares scale for those
// indices and keep the best fit. IQ4_XS then quantizes the 8 sub-block scales to 6 signed bits
// against an fp16 super-scale (the largest maps to -32) and re-picks every index against the
// scale actually stored.
#include <cmath>

#include "quant/blocks.h"

namespace owl::quant::detail {

namespace {

// Index of the grid value nearest to v (v in grid units).
inline int nearest_grid_index(float v) {
  int index = 0;
  for (int k = 0; k < 15; ++k)
    index += v > 0.5f * float(kvalues_iq4nl[k] + kvalues_iq4nl[k + 1]) ? 1 : 0;
  return index;
}

void pick_indices(const float* x, float inv_scale, uint8_t* idx) {
  for (int i = 0; i < qk; ++i) idx[i] = uint8_t(inv_scale != 0.0f ? nearest_grid_index(x[i] * inv_scale) : 8);
}

// Best signed scale for 32 elements; writes the indices that go with it.
float fit_block(const float* x, uint8_t* idx) {
  float amax = 0.0f, extreme = 0.0f;
  for (int i = 0; i < qk; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      extreme = x[i];
    }
  if (!(amax > 1e-30f)) {
    for (int i = 0; i < qk; ++i) idx[i] = 8;  // grid value 1 times scale 0
    return 0.0f;
  }
  float best_scale = 0.0f, best = -1.0f;
  uint8_t trial[qk];
  for (int end = 0; end < 2; ++end) {
    const float grid_end = end == 0 ? float(kvalues_iq4nl[0]) : float(kvalues_iq4nl[15]);
    const float toward_center = end == 0 ? 1.0f : -1.0f;
    for (int step = 0; step <= 7; ++step) {
      pick_indices(x, (grid_end + toward_center * float(step)) / extreme, trial);
      float sum_qx = 0.0f, sum_q2 = 0.0f;
      for (int i = 0; i < qk; ++i) {
        const float w = x[i] * x[i];
        const float q = float(kvalues_iq4nl[trial[i]]);
        sum_qx += w * q * x[i];
        sum_q2 += w * q * q;
      }
      if (sum_q2 > 0.0f && (best < 0.0f || sum_qx * sum_qx > best * sum_q2)) {
        best_scale = sum_qx / sum_q2;
        best = best_scale * sum_qx;
        std::memcpy(idx, trial, qk);
      }
    }
  }
  return best_scale;
}

void pack_indices(const uint8_t* idx, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = uint8_t(idx[j] | idx[j + 16] << 4);
}

inline int iq4_xs_scale(const std::byte* block, int ib) {
  const int low = (u8(block + iq4_xs::scales_l)[ib / 2] >> (4 * (ib % 2))) & 15;
  const int high = (load_u16(block + iq4_xs::scales_h) >> (2 * ib)) & 3;
  return (low | high << 4) - 32;
}

// sum over 32 elements of grid value * activation
inline int grid_dot32(const uint8_t* qs, const int8_t* a) {
  int s = 0;
  for (int j = 0; j < 16; ++j) s += kvalues_iq4nl[qs[j] & 15] * a[j] + kvalues_iq4nl[qs[j] >> 4] * a[j + 16];
  return s;
}

}  // namespace

void dequant_iq4_nl(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += iq4_nl::size, y += qk) {
    const float d = load_f16(src + iq4_nl::d);
    const uint8_t* qs = u8(src + iq4_nl::qs);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * float(kvalues_iq4nl[qs[j] & 15]);
      y[j + 16] = d * float(kvalues_iq4nl[qs[j] >> 4]);
    }
  }
}

void dequant_iq4_xs(const std::byte* src, float* y, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, src += iq4_xs::size) {
    const float d = load_f16(src + iq4_xs::d);
    for (int ib = 0; ib < 8; ++ib, y += qk) {
      const float dl = d * float(iq4_xs_scale(src, ib));
      const uint8_t* qs = u8(src + iq4_xs::qs) + 16 * ib;
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * float(kvalues_iq4nl[qs[j] & 15]);
        y[j + 16] = dl * float(kvalues_iq4nl[qs[j] >> 4]);
      }
    }
  }
}

void quant_iq4_nl(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk, dst += iq4_nl::size) {
    uint8_t idx[qk];
    const float d = store_f16(dst + iq4_nl::d, fit_block(x, idx));
    pick_indices(x, d != 0.0f ? 1.0f / d : 0.0f, idx);
    pack_indices(idx, u8(dst + iq4_nl::qs));
  }
}

void quant_iq4_xs(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += iq4_xs::size) {
    uint8_t idx[qk_k];
    float scales[8];
    float amax = 0.0f, max_scale = 0.0f;
    for (int ib = 0; ib < 8; ++ib) {
      scales[ib] = fit_block(x + qk * ib, idx + qk * ib);
      if (std::fabs(scales[ib]) > amax) {
        amax = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    const float d = store_f16(dst + iq4_xs::d, amax > 0.0f ? max_scale / -32.0f : 0.0f);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t scales_h = 0;
    uint8_t* scales_l = u8(dst + iq4_xs::scales_l);
    std::memset(scales_l, 0, 4);
    for (int ib = 0; ib < 8; ++ib) {
      const int s = clamp_int(nearest_int(id * scales[ib]), -32, 31);
      const int biased = s + 32;
      scales_l[ib / 2] |= uint8_t((biased & 15) << (4 * (ib % 2)));
      scales_h = uint16_t(scales_h | (biased >> 4) << (2 * ib));
      const float dl = d * float(s);
      pick_indices(x + qk * ib, dl != 0.0f ? 1.0f / dl : 0.0f, idx + qk * ib);
      pack_indices(idx + qk * ib, u8(dst + iq4_xs::qs) + 16 * ib);
    }
    store_u16(dst + iq4_xs::scales_h, scales_h);
  }
}

float dot_iq4_nl_q8_0(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += iq4_nl::size, a += q8_0::size) {
    const int sumi = grid_dot32(u8(w + iq4_nl::qs), i8(a + q8_0::qs));
    sum += float(sumi) * (load_f16(w + iq4_nl::d) * load_f16(a + q8_0::d));
  }
  return sum;
}

float dot_iq4_xs_q8_k(const std::byte* w, const std::byte* a, int64_t nb) {
  float sum = 0.0f;
  for (int64_t b = 0; b < nb; ++b, w += iq4_xs::size, a += q8_k::size) {
    const int8_t* qa = i8(a + q8_k::qs);
    int sumi = 0;
    for (int ib = 0; ib < 8; ++ib)
      sumi += iq4_xs_scale(w, ib) * grid_dot32(u8(w + iq4_xs::qs) + 16 * ib, qa + qk * ib);
    sum += load_f16(w + iq4_xs::d) * load_f32(a + q8_k::d) * float(sumi);
  }
  return sum;
}

}  // namespace owl::quant::detail
