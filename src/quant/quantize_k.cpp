// quantize_k.cpp — reference quantizers for Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
//
// Each super-block of 256 is split into sub-blocks (16 of 16, or 8 of 32). A sub-block first
// gets its own float scale (and min) from a small search, then the scales (and mins) of the
// super-block are themselves quantized to 4, 6 or 8 bits against one fp16 super-scale, and
// finally every element is re-rounded against the scale and min that will actually be
// stored. Searches:
//   fit_scale_min  (Q2_K, Q4_K, Q5_K): x ~ scale * L - min with L in [0, nmax], min >= 0.
//     Candidate inverse scales around nmax / (max - min); for each, round, then solve the 2x2
//     weighted least-squares problem for (scale, min) given the levels; keep the smallest
//     weighted error (squared, or absolute for Q2_K).
//   fit_signed_refine (Q3_K): x ~ scale * L with L in [-nmax, nmax - 1], weights x^2; start
//     from scale = max / -nmax and move single levels while that improves the fit.
//   fit_signed_search (Q6_K): same level range, best of 19 candidate scales around
//     max / -nmax, each followed by the least-squares scale for its levels.
#include <cmath>

#include "quant/blocks.h"

namespace owl::quant::detail {

namespace {

// Returns the scale; writes the levels (0..nmax) and the min as a non-negative offset.
float fit_scale_min(int n, int nmax, const float* x, const float* w, uint8_t* levels, float& the_min, float rmin,
                    float rdelta, int nstep, bool abs_error) {
  float lo = x[0], hi = x[0];
  float sum_w = 0.0f, sum_x = 0.0f;
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  lo = std::min(lo, 0.0f);  // the stored min only ever subtracts
  if (!(hi > lo)) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    the_min = -lo;
    return 0.0f;
  }
  auto error_of = [&](float scale, float offset, const uint8_t* l) {
    float err = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float diff = scale * float(l[i]) + offset - x[i];
      err += w[i] * (abs_error ? std::fabs(diff) : diff * diff);
    }
    return err;
  };
  auto round_levels = [&](float iscale, float offset, uint8_t* l) {
    for (int i = 0; i < n; ++i) l[i] = uint8_t(clamp_int(nearest_int(iscale * (x[i] - offset)), 0, nmax));
  };

  float scale = (hi - lo) / float(nmax);
  float offset = lo;  // value = scale * L + offset, offset <= 0
  round_levels(1.0f / scale, offset, levels);
  float best = error_of(scale, offset, levels);

  uint8_t trial[32];
  // Candidates: spans of nmax + rmin .. nmax + rmin + nstep * rdelta levels over [lo, hi], then
  // every shorter whole span from nmax / 2 (these find grids that do not use every level).
  const int shorter = nmax - 1 - nmax / 2 + 1;
  for (int step = 0; step <= nstep + shorter; ++step) {
    const float span = step <= nstep ? rmin + rdelta * float(step) + float(nmax) : float(nmax / 2 + step - nstep - 1);
    const float iscale = span / (hi - lo);
    round_levels(iscale, lo, trial);
    float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const float l = float(trial[i]);
      sum_l += w[i] * l;
      sum_l2 += w[i] * l * l;
      sum_xl += w[i] * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (!(det > 0.0f)) continue;
    float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
    float this_offset = (sum_l2 * sum_x - sum_l * sum_xl) / det;
    if (this_offset > 0.0f) {  // a positive offset is not representable: refit with offset 0
      this_offset = 0.0f;
      this_scale = sum_xl / sum_l2;
    }
    if (!(this_scale > 0.0f)) continue;
    const float err = error_of(this_scale, this_offset, trial);
    if (err < best) {
      best = err;
      scale = this_scale;
      offset = this_offset;
      std::memcpy(levels, trial, size_t(n));
    }
  }
  the_min = -offset;
  return scale;
}

// The element of largest magnitude, with its sign.
float signed_extreme(int n, const float* x, float& amax) {
  float extreme = 0.0f;
  amax = 0.0f;
  for (int i = 0; i < n; ++i)
    if (std::fabs(x[i]) > amax) {
      amax = std::fabs(x[i]);
      extreme = x[i];
    }
  return extreme;
}

// Levels written with the +nmax bias (0..2 nmax - 1); returns the (signed) scale.
float fit_signed_refine(int n, int nmax, const float* x, uint8_t* levels) {
  float amax;
  const float extreme = signed_extreme(n, x, amax);
  if (!(amax > 1e-30f)) {
    for (int i = 0; i < n; ++i) levels[i] = uint8_t(nmax);
    return 0.0f;
  }
  const float iscale = float(-nmax) / extreme;
  int l[32];
  float sum_lx = 0.0f, sum_l2 = 0.0f;
  for (int i = 0; i < n; ++i) {
    l[i] = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * float(l[i]);
    sum_l2 += w * float(l[i] * l[i]);
  }
  // Coordinate ascent on sum_lx^2 / sum_l2 (the weighted fit quality at the optimal scale).
  for (int pass = 0; pass < 5; ++pass) {
    int changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      const float rest_lx = sum_lx - w * x[i] * float(l[i]);
      const float rest_l2 = sum_l2 - w * float(l[i] * l[i]);
      if (!(rest_lx > 0.0f && rest_l2 > 0.0f)) continue;
      const int candidate = clamp_int(nearest_int(x[i] * rest_l2 / rest_lx), -nmax, nmax - 1);
      if (candidate == l[i]) continue;
      const float new_lx = rest_lx + w * x[i] * float(candidate);
      const float new_l2 = rest_l2 + w * float(candidate * candidate);
      if (new_lx > 0.0f && new_lx * new_lx * sum_l2 > sum_lx * sum_lx * new_l2) {
        l[i] = candidate;
        sum_lx = new_lx;
        sum_l2 = new_l2;
        ++changed;
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < n; ++i) levels[i] = uint8_t(l[i] + nmax);
  return sum_l2 > 0.0f ? sum_lx / sum_l2 : 0.0f;
}

float fit_signed_search(int n, int nmax, const float* x, uint8_t* levels) {
  float amax;
  const float extreme = signed_extreme(n, x, amax);
  if (!(amax > 1e-30f)) {
    for (int i = 0; i < n; ++i) levels[i] = uint8_t(nmax);
    return 0.0f;
  }
  float best_scale = 0.0f, best = -1.0f;
  int trial[32];
  for (int step = 0; step <= 18; ++step) {
    const int offset = step == 0 ? 0 : (step <= 9 ? -step : step - 9);  // 0, -1..-9, +1..+9
    const float iscale = -(float(nmax) + 0.1f * float(offset)) / extreme;
    float sum_lx = 0.0f, sum_l2 = 0.0f;
    for (int i = 0; i < n; ++i) {
      trial[i] = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * float(trial[i]);
      sum_l2 += w * float(trial[i] * trial[i]);
    }
    // Fit quality at the least-squares scale: sum_lx^2 / sum_l2.
    if (sum_l2 > 0.0f && (best < 0.0f || sum_lx * sum_lx > best * sum_l2)) {
      best_scale = sum_lx / sum_l2;
      best = best_scale * sum_lx;
      for (int i = 0; i < n; ++i) levels[i] = uint8_t(trial[i] + nmax);
    }
  }
  return best_scale;
}

// Quantizes non-negative sub-block scales (or mins) to levels 0..max_level against one
// fp16 super-scale (returned as stored at `field`).
float quantize_scales(const float* values, int count, int max_level, int* out, std::byte* field) {
  float vmax = 0.0f;
  for (int i = 0; i < count; ++i) vmax = std::max(vmax, values[i]);
  const float d = store_f16(field, vmax / float(max_level));
  const float id = d > 0.0f ? 1.0f / d : 0.0f;
  for (int i = 0; i < count; ++i) out[i] = clamp_int(nearest_int(values[i] * id), 0, max_level);
  return d;
}

// Super-block mean magnitude weights used by Q4_K / Q5_K: av + |x|, av = rms of the block.
void magnitude_weights(const float* x, float* w) {
  float sum2 = 0.0f;
  for (int i = 0; i < qk_k; ++i) sum2 += x[i] * x[i];
  const float av = std::sqrt(sum2 / float(qk_k));
  for (int i = 0; i < qk_k; ++i) w[i] = av + std::fabs(x[i]);
}

// Levels of a sub-block for the stored (scale, min): round((x + min) / scale) in [0, nmax].
void relevel(const float* x, int n, float scale, float mn, int nmax, uint8_t* levels) {
  if (scale == 0.0f) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    return;
  }
  const float iscale = 1.0f / scale;
  for (int i = 0; i < n; ++i) levels[i] = uint8_t(clamp_int(nearest_int((x[i] + mn) * iscale), 0, nmax));
}

// Q4_K and Q5_K share everything but the level count and the search parameters.
void quant_k_scale_min(const float* x, std::byte* dst, int nmax, float rmin, float rdelta, int nstep,
                       uint8_t* levels, int d_field, int dmin_field, int scales_field) {
  float w[qk_k];
  magnitude_weights(x, w);
  float scales[8], mins[8];
  for (int j = 0; j < 8; ++j)
    scales[j] = fit_scale_min(32, nmax, x + 32 * j, w + 32 * j, levels + 32 * j, mins[j], rmin, rdelta, nstep,
                              false);
  int sc[8], mn[8];
  const float d = quantize_scales(scales, 8, 63, sc, dst + d_field);
  const float dmin = quantize_scales(mins, 8, 63, mn, dst + dmin_field);
  pack_scale_min_k4(sc, mn, u8(dst + scales_field));
  for (int j = 0; j < 8; ++j) relevel(x + 32 * j, 32, d * float(sc[j]), dmin * float(mn[j]), nmax, levels + 32 * j);
}

}  // namespace

void quant_q2_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q2_k::size) {
    uint8_t levels[qk_k];
    float w[16], scales[16], mins[16];
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) w[l] = std::fabs(x[16 * j + l]);
      scales[j] = fit_scale_min(16, 3, x + 16 * j, w, levels + 16 * j, mins[j], -0.5f, 0.1f, 15, true);
    }
    int sc[16], mn[16];
    const float d = quantize_scales(scales, 16, 15, sc, dst + q2_k::d);
    const float dmin = quantize_scales(mins, 16, 15, mn, dst + q2_k::dmin);
    uint8_t* packed_scales = u8(dst + q2_k::scales);
    for (int j = 0; j < 16; ++j) {
      packed_scales[j] = uint8_t(sc[j] | mn[j] << 4);
      relevel(x + 16 * j, 16, d * float(sc[j]), dmin * float(mn[j]), 3, levels + 16 * j);
    }
    uint8_t* qs = u8(dst + q2_k::qs);
    for (int n = 0; n < 2; ++n)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* e = levels + 128 * n + l;
        qs[32 * n + l] = uint8_t(e[0] | e[32] << 2 | e[64] << 4 | e[96] << 6);
      }
  }
}

void quant_q3_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q3_k::size) {
    uint8_t levels[qk_k];
    float scales[16];
    float max_scale = 0.0f, amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_signed_refine(16, 4, x + 16 * j, levels + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    // The largest sub-scale maps to -32, the end of the 6-bit signed range [-32, 31].
    int biased[16];
    const float d = store_f16(dst + q3_k::d, amax > 0.0f ? max_scale / -32.0f : 0.0f);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 16; ++j) {
      const int s = clamp_int(nearest_int(id * scales[j]), -32, 31);
      biased[j] = s + 32;
      const float dl = d * float(s);
      const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
      for (int l = 0; l < 16; ++l)
        levels[16 * j + l] = uint8_t(dl != 0.0f ? clamp_int(nearest_int(x[16 * j + l] * idl), -4, 3) + 4 : 4);
    }
    pack_q3_k_scales(biased, u8(dst + q3_k::scales));
    // Level 0..7: bits 0-1 go to qs (Q2_K order), bit 2 to hmask (bit e / 32 of byte e % 32).
    uint8_t* hmask = u8(dst + q3_k::hmask);
    uint8_t* qs = u8(dst + q3_k::qs);
    std::memset(hmask, 0, 32);
    for (int e = 0; e < qk_k; ++e) hmask[e % 32] |= uint8_t((levels[e] >> 2) << (e / 32));
    for (int n = 0; n < 2; ++n)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* e = levels + 128 * n + l;
        qs[32 * n + l] = uint8_t((e[0] & 3) | (e[32] & 3) << 2 | (e[64] & 3) << 4 | (e[96] & 3) << 6);
      }
  }
}

void quant_q4_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q4_k::size) {
    uint8_t levels[qk_k];
    quant_k_scale_min(x, dst, 15, -1.0f, 0.1f, 20, levels, q4_k::d, q4_k::dmin, q4_k::scales);
    uint8_t* qs = u8(dst + q4_k::qs);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) qs[32 * c + l] = uint8_t(levels[64 * c + l] | levels[64 * c + 32 + l] << 4);
  }
}

void quant_q5_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q5_k::size) {
    uint8_t levels[qk_k];
    quant_k_scale_min(x, dst, 31, -0.5f, 0.1f, 15, levels, q5_k::d, q5_k::dmin, q5_k::scales);
    uint8_t* qh = u8(dst + q5_k::qh);
    uint8_t* qs = u8(dst + q5_k::qs);
    std::memset(qh, 0, 32);
    for (int e = 0; e < qk_k; ++e) qh[e % 32] |= uint8_t((levels[e] >> 4) << (e / 32));
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        qs[32 * c + l] = uint8_t((levels[64 * c + l] & 15) | (levels[64 * c + 32 + l] & 15) << 4);
  }
}

void quant_q6_k(const float* x, std::byte* dst, int64_t nb) {
  for (int64_t b = 0; b < nb; ++b, x += qk_k, dst += q6_k::size) {
    uint8_t levels[qk_k];
    float scales[16];
    float max_scale = 0.0f, amax = 0.0f;
    for (int j = 0; j < 16; ++j) {
      scales[j] = fit_signed_search(16, 32, x + 16 * j, levels + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    // int8 sub-scales: the largest maps to -128.
    const float d = store_f16(dst + q6_k::d, amax > 0.0f ? max_scale / -128.0f : 0.0f);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int8_t* sc = reinterpret_cast<int8_t*>(dst + q6_k::scales);
    for (int j = 0; j < 16; ++j) {
      const int s = clamp_int(nearest_int(id * scales[j]), -128, 127);
      sc[j] = int8_t(s);
      const float dl = d * float(s);
      const float idl = dl != 0.0f ? 1.0f / dl : 0.0f;
      for (int l = 0; l < 16; ++l)
        levels[16 * j + l] = uint8_t(dl != 0.0f ? clamp_int(nearest_int(x[16 * j + l] * idl), -32, 31) + 32 : 32);
    }
    uint8_t* ql = u8(dst + q6_k::ql);
    uint8_t* qh = u8(dst + q6_k::qh);
    for (int n = 0; n < 2; ++n)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* e = levels + 128 * n + l;
        ql[64 * n + l] = uint8_t((e[0] & 15) | (e[64] & 15) << 4);
        ql[64 * n + 32 + l] = uint8_t((e[32] & 15) | (e[96] & 15) << 4);
        qh[32 * n + l] = uint8_t((e[0] >> 4) | (e[32] >> 4) << 2 | (e[64] >> 4) << 4 | (e[96] >> 4) << 6);
      }
  }
}

}  // namespace owl::quant::detail
