// simd_attention_avx2.cpp — attention for one token over the query heads of one KV group,
// with AVX2 + FMA + F16C (x86-64 only; compiled for that target per function, like
// simd_avx2.cpp, so the rest of owl stays portable).
//
// Batch invariance: every (token, head) result is computed in one fixed order that depends
// only on its query, its key range and the cache: each score is one 8-lane FMA accumulator
// over head_dim in order (masked tail), then horizontal_sum; the softmax sum is 8 lanes over
// the keys (lane = key index mod 8, counted from the first key), then horizontal_sum; each
// output element accumulates p * v over the keys in order. Tiling heads and keys only
// interleaves independent computations, so a token gets bitwise the same output alone or in
// a prompt, whatever the thread split (tests/kernels_test.cpp checks this).
#include "backend/cpu/simd_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>

namespace owl::simd {
namespace {

#define OWL_AVX2 __attribute__((target("avx2,fma,f16c")))

OWL_AVX2 inline float horizontal_sum(__m256 v) {
  __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(low, high);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// All lanes below `count` (1..8) set: for masked loads and stores of a row's last elements.
OWL_AVX2 inline __m256i lane_mask(int64_t count) {
  static const int32_t bits[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + 8 - count));
}

// 8 cache elements at element offset `at` as floats (an f16 cache is widened exactly).
template <bool half>
OWL_AVX2 inline __m256 load_cache(const void* base, int64_t at) {
  if constexpr (half)
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(base) + at)));
  else
    return _mm256_loadu_ps(static_cast<const float*>(base) + at);
}

// The last `count` (< 8) cache elements of a row, zero-padded; never reads past the row.
template <bool half>
OWL_AVX2 inline __m256 load_cache_tail(const void* base, int64_t at, int64_t count, __m256i mask) {
  if constexpr (half) {
    alignas(16) uint16_t lanes[8] = {};
    std::memcpy(lanes, static_cast<const uint16_t*>(base) + at, size_t(count) * sizeof(uint16_t));
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(lanes)));
  } else {
    return _mm256_maskload_ps(static_cast<const float*>(base) + at, mask);
  }
}

// exp(x) for x <= 0 (scores minus their maximum), Cephes' expf: x = n ln2 + r with
// |r| <= ln2 / 2, a degree-6 polynomial for exp(r), then 2^n built in the exponent bits. About
// 1 ulp; inputs below the normal range give 0 (the scalar expf gives a denormal there, which
// no softmax sum of at least 1 can see). NaN stays NaN.
OWL_AVX2 inline __m256 exp_ps(__m256 x) {
  const __m256 lowest = _mm256_set1_ps(-87.33654f);
  const __m256 underflow = _mm256_cmp_ps(x, lowest, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), _mm256_max_ps(lowest, x));  // max/min keep a NaN x
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);  // ln2 in two parts
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(y, _mm256_castsi256_ps(exponent)));
}

// Raw scores of H heads against K consecutive keys starting at `key` (absolute index):
// scores[h * score_stride + k] = dot(q_h, key_k) * scale, softcapped when asked.
// q: [H, head_dim]. Registers: H query vectors, H*K accumulators, one key vector.
template <int H, int K, bool half>
OWL_AVX2 void score_tile(const attention_args& a, const float* q, int64_t kv_head, int64_t key, float* scores,
                         int64_t score_stride) {
  const int64_t dim = a.head_dim;
  const int64_t row0 = key * a.k_stride + kv_head * dim;
  __m256 acc[H][K];
  for (int h = 0; h < H; ++h)
    for (int k = 0; k < K; ++k) acc[h][k] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= dim; i += 8) {
    __m256 qv[H];
    for (int h = 0; h < H; ++h) qv[h] = _mm256_loadu_ps(q + h * dim + i);
    for (int k = 0; k < K; ++k) {
      const __m256 kv = load_cache<half>(a.k_cache, row0 + k * a.k_stride + i);
      for (int h = 0; h < H; ++h) acc[h][k] = _mm256_fmadd_ps(qv[h], kv, acc[h][k]);
    }
  }
  if (i < dim) {
    const __m256i mask = lane_mask(dim - i);
    __m256 qv[H];
    for (int h = 0; h < H; ++h) qv[h] = _mm256_maskload_ps(q + h * dim + i, mask);
    for (int k = 0; k < K; ++k) {
      const __m256 kv = load_cache_tail<half>(a.k_cache, row0 + k * a.k_stride + i, dim - i, mask);
      for (int h = 0; h < H; ++h) acc[h][k] = _mm256_fmadd_ps(qv[h], kv, acc[h][k]);
    }
  }
  for (int h = 0; h < H; ++h)
    for (int k = 0; k < K; ++k) {
      float s = horizontal_sum(acc[h][k]) * a.scale;
      if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
      scores[h * score_stride + k] = s;
    }
}

// All n_keys scores of H heads: K keys at a time (enough independent accumulators to hide
// the FMA latency), the last few one at a time.
template <int H, bool half>
OWL_AVX2 void scores_for(const attention_args& a, const float* q, int64_t kv_head, int64_t first_key, int64_t n_keys,
                         float* scores) {
  constexpr int K = H == 4 ? 2 : H == 2 ? 4 : 8;
  int64_t j = 0;
  for (; j + K <= n_keys; j += K) score_tile<H, K, half>(a, q, kv_head, first_key + j, scores + j, n_keys);
  for (; j < n_keys; ++j) score_tile<H, 1, half>(a, q, kv_head, first_key + j, scores + j, n_keys);
}

// Scores of one head in place -> probabilities: exp(s - max) / sum, the sink (if any) taking
// its share of the mass.
OWL_AVX2 void softmax_row(float* s, int64_t n, const float* sink) {
  float max_score = sink ? *sink : -std::numeric_limits<float>::infinity();
  __m256 max8 = _mm256_set1_ps(max_score);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) max8 = _mm256_max_ps(max8, _mm256_loadu_ps(s + j));
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, max8);
  for (float v : lanes) max_score = std::max(max_score, v);
  for (; j < n; ++j) max_score = std::max(max_score, s[j]);

  const __m256 max_v = _mm256_set1_ps(max_score);
  __m256 sum8 = _mm256_setzero_ps();
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(s + j), max_v));
    _mm256_storeu_ps(s + j, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  if (j < n) {
    const __m256i mask = lane_mask(n - j);
    const __m256 e = _mm256_and_ps(_mm256_castsi256_ps(mask), exp_ps(_mm256_sub_ps(_mm256_maskload_ps(s + j, mask), max_v)));
    _mm256_maskstore_ps(s + j, mask, e);
    sum8 = _mm256_add_ps(sum8, e);
  }
  const float sum = horizontal_sum(sum8) + (sink ? std::exp(*sink - max_score) : 0.0f);
  const __m256 sum_v = _mm256_set1_ps(sum);
  for (j = 0; j + 8 <= n; j += 8) _mm256_storeu_ps(s + j, _mm256_div_ps(_mm256_loadu_ps(s + j), sum_v));
  for (; j < n; ++j) s[j] /= sum;  // the same IEEE division as the vector lanes
}

// out[h, d0 : d0 + 8V] += sum over keys [j0, j1) of p[h, j] * value_j[d0 : ...], for H heads:
// H*V accumulators held in registers across the keys, read from and written back to out.
// `tail` > 0: a single vector (V = 1) covering only the row's last `tail` elements.
template <int H, int V, bool half>
OWL_AVX2 void value_tile(const attention_args& a, const float* p, int64_t n_keys, int64_t kv_head, int64_t first_key,
                         int64_t j0, int64_t j1, int64_t d0, int64_t tail, float* out) {
  const int64_t v_dim = a.v_dim;
  const __m256i mask = lane_mask(tail > 0 ? tail : 8);
  __m256 acc[H][V];
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v)
      acc[h][v] = tail > 0 ? _mm256_maskload_ps(out + h * v_dim + d0, mask) : _mm256_loadu_ps(out + h * v_dim + d0 + 8 * v);
  for (int64_t j = j0; j < j1; ++j) {
    const int64_t row = (first_key + j) * a.v_stride + kv_head * v_dim + d0;
    __m256 pv[H];
    for (int h = 0; h < H; ++h) pv[h] = _mm256_broadcast_ss(p + h * n_keys + j);
    for (int v = 0; v < V; ++v) {
      const __m256 vv = tail > 0 ? load_cache_tail<half>(a.v_cache, row, tail, mask)
                                 : load_cache<half>(a.v_cache, row + 8 * v);
      for (int h = 0; h < H; ++h) acc[h][v] = _mm256_fmadd_ps(pv[h], vv, acc[h][v]);
    }
  }
  for (int h = 0; h < H; ++h)
    for (int v = 0; v < V; ++v) {
      if (tail > 0) _mm256_maskstore_ps(out + h * v_dim + d0, mask, acc[h][v]);
      else _mm256_storeu_ps(out + h * v_dim + d0 + 8 * v, acc[h][v]);
    }
}

// out[H, v_dim] = p[H, n_keys] @ values. Keys go in blocks whose value rows fit in L1, so
// the column tiles of a block reuse them; each output element still sums its keys in order.
template <int H, bool half>
OWL_AVX2 void values_for(const attention_args& a, const float* p, int64_t kv_head, int64_t first_key, int64_t n_keys,
                         float* out) {
  constexpr int V = 8 / H;
  const int64_t v_dim = a.v_dim;
  const int64_t row_bytes = v_dim * int64_t(half ? 2 : 4);
  const int64_t key_block = std::clamp<int64_t>((16 << 10) / std::max<int64_t>(row_bytes, 1), 8, 256);
  std::fill(out, out + H * v_dim, 0.0f);
  for (int64_t j0 = 0; j0 < n_keys; j0 += key_block) {
    const int64_t j1 = std::min(n_keys, j0 + key_block);
    int64_t d = 0;
    for (; d + 8 * V <= v_dim; d += 8 * V) value_tile<H, V, half>(a, p, n_keys, kv_head, first_key, j0, j1, d, 0, out);
    for (; d + 8 <= v_dim; d += 8) value_tile<H, 1, half>(a, p, n_keys, kv_head, first_key, j0, j1, d, 0, out);
    if (d < v_dim) value_tile<H, 1, half>(a, p, n_keys, kv_head, first_key, j0, j1, d, v_dim - d, out);
  }
}

template <int H, bool half>
OWL_AVX2 void attend_tile(const attention_args& a, const float* q, int64_t kv_head, int64_t first_key, int64_t n_keys,
                          const float* sinks, float* scores, float* out) {
  scores_for<H, half>(a, q, kv_head, first_key, n_keys, scores);
  for (int h = 0; h < H; ++h) softmax_row(scores + h * n_keys, n_keys, sinks ? sinks + h : nullptr);
  values_for<H, half>(a, scores, kv_head, first_key, n_keys, out);
}

template <bool half>
OWL_AVX2 void attend_heads_as(const attention_args& a, const float* q, int64_t n_q, int64_t kv_head, int64_t first_key,
                              int64_t n_keys, const float* sinks, float* scores, float* out) {
  // Heads four at a time share each loaded key and value row; the rest two or one at a time.
  int64_t h = 0;
  for (; h + 4 <= n_q; h += 4)
    attend_tile<4, half>(a, q + h * a.head_dim, kv_head, first_key, n_keys, sinks ? sinks + h : nullptr,
                         scores + h * n_keys, out + h * a.v_dim);
  for (; h + 2 <= n_q; h += 2)
    attend_tile<2, half>(a, q + h * a.head_dim, kv_head, first_key, n_keys, sinks ? sinks + h : nullptr,
                         scores + h * n_keys, out + h * a.v_dim);
  for (; h < n_q; ++h)
    attend_tile<1, half>(a, q + h * a.head_dim, kv_head, first_key, n_keys, sinks ? sinks + h : nullptr,
                         scores + h * n_keys, out + h * a.v_dim);
}

}  // namespace

void attend_heads_avx2(const attention_args& a, const float* q, int64_t n_q, int64_t kv_head, int64_t first_key,
                       int64_t n_keys, const float* sinks, float* scores, float* out) {
  if (a.kv_type == dtype::f16) attend_heads_as<true>(a, q, n_q, kv_head, first_key, n_keys, sinks, scores, out);
  else attend_heads_as<false>(a, q, n_q, kv_head, first_key, n_keys, sinks, scores, out);
}

}  // namespace owl::simd

#endif
