// simd_avx2.cpp — AVX2 + FMA + F16C kernels (x86-64 only; compiled for that target per
// function so the rest of owl stays portable).
#include "backend/cpu/simd_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/scalar_kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
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

OWL_AVX2 float dot_f32_avx2(const float* a, const float* b, int64_t n) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// 8 weights of the row as floats, whatever their stored type.
OWL_AVX2 inline __m256 load8(dtype type, const std::byte* row, int64_t i) {
  switch (type) {
    case dtype::f16:
      return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i)));
    case dtype::bf16: {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * i));
      return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    default:
      return _mm256_loadu_ps(reinterpret_cast<const float*>(row) + i);
  }
}

// Every output of the matmul kernels below is computed in one canonical order, whatever the
// tile or the number of tokens: one 8-lane accumulator over the columns in order (the last,
// partial block zero-padded), then horizontal_sum. So a token's row of results is bitwise the
// same in a decode step of one sequence, in a batch of many (owl serve's continuous batching),
// or in a prompt GEMM: a request's greedy output never depends on its neighbours. Latency is
// hidden by running many independent accumulators (rows x tokens), not by splitting one.
template <dtype type>
OWL_AVX2 inline __m256 load8_as(const std::byte* row, int64_t i) {
  return load8(type, row, i);
}

// The last cols % 8 weights and activations, zero-padded to 8 lanes.
template <dtype type>
OWL_AVX2 inline __m256 load_tail_weights(const std::byte* row, int64_t i, int64_t cols) {
  alignas(32) float lanes[8] = {};
  scalar::to_f32(type, row + i * int64_t(dtype_size(type)), cols - i, lanes);
  return _mm256_load_ps(lanes);
}

OWL_AVX2 inline __m256 load_tail(const float* x, int64_t i, int64_t cols) {
  alignas(32) float lanes[8] = {};
  std::memcpy(lanes, x + i, size_t(cols - i) * sizeof(float));
  return _mm256_load_ps(lanes);
}

// out[r][j] = dot(weight row r, token j) for an R x T tile, rows stored as `type`.
template <dtype type, int R, int T>
OWL_AVX2 inline void tile_dot(const std::byte* w, size_t row_bytes, int64_t cols, const float* const* xs, float* y,
                              int64_t y_stride) {
  __m256 acc[R][T];
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < T; ++j) acc[r][j] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    __m256 xv[T];
    for (int j = 0; j < T; ++j) xv[j] = _mm256_loadu_ps(xs[j] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = load8_as<type>(w + size_t(r) * row_bytes, i);
      for (int j = 0; j < T; ++j) acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
    }
  }
  if (i < cols) {
    __m256 xv[T];
    for (int j = 0; j < T; ++j) xv[j] = load_tail(xs[j], i, cols);
    for (int r = 0; r < R; ++r) {
      const __m256 wv = load_tail_weights<type>(w + size_t(r) * row_bytes, i, cols);
      for (int j = 0; j < T; ++j) acc[r][j] = _mm256_fmadd_ps(wv, xv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < T; ++j) y[j * y_stride + r] = horizontal_sum(acc[r][j]);
}

// y[t * y_stride + r] for rows [0, rows) of w and tokens [0, n): 4 x 3 tiles (12 accumulators,
// 3 token loads and 4 weight loads per 8 columns, all in the 16 ymm registers), and smaller
// tiles for the edges, all with the same per-output arithmetic.
template <dtype type>
OWL_AVX2 void block_product(const std::byte* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x, int64_t n,
                            float* y, int64_t y_stride) {
  int64_t t = 0;
  auto row_tiles = [&]<int T>(const float* const* xs, float* y_t) {
    int64_t r = 0;
    for (; r + 4 <= rows; r += 4) tile_dot<type, 4, T>(w + size_t(r) * row_bytes, row_bytes, cols, xs, y_t + r, y_stride);
    for (; r < rows; ++r) tile_dot<type, 1, T>(w + size_t(r) * row_bytes, row_bytes, cols, xs, y_t + r, y_stride);
  };
  for (; t + 3 <= n; t += 3) {
    const float* xs[3] = {x + t * cols, x + (t + 1) * cols, x + (t + 2) * cols};
    row_tiles.template operator()<3>(xs, y + t * y_stride);
  }
  if (n - t == 2) {
    const float* xs[2] = {x + t * cols, x + (t + 1) * cols};
    row_tiles.template operator()<2>(xs, y + t * y_stride);
  } else if (n - t == 1) {
    const float* xs[1] = {x + t * cols};
    row_tiles.template operator()<1>(xs, y + t * y_stride);
  }
}

// Decode steps and short batches: the stored weights stream through once per call (the path
// bound by memory bandwidth), converted in registers.
OWL_AVX2 void gemv_rows_avx2(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                             int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride) {
  const std::byte* rows = w + size_t(row_begin) * row_bytes;
  float* out = y + row_begin;
  const int64_t count = row_end - row_begin;
  switch (type) {
    case dtype::f16: return block_product<dtype::f16>(rows, row_bytes, count, cols, x, n, out, y_stride);
    case dtype::bf16: return block_product<dtype::bf16>(rows, row_bytes, count, cols, x, n, out, y_stride);
    default: return block_product<dtype::f32>(rows, row_bytes, count, cols, x, n, out, y_stride);
  }
}

// One stored F16/BF16 row as float32 (exact: the GEMM then sees the same values as gemv).
OWL_AVX2 void widen_row(dtype type, const std::byte* src, int64_t cols, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= cols; i += 8) _mm256_storeu_ps(dst + i, load8(type, src, i));
  if (i < cols) scalar::to_f32(type, src + i * int64_t(dtype_size(type)), cols - i, dst + i);
}

OWL_AVX2 void gemm_rows_avx2(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                             int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride) {
  // Prompts: each F16/BF16 weight row is widened once; 16 of them (L2-sized) meet every token,
  // three tokens at a time (L1-sized).
  if (type == dtype::f32) return gemv_rows_avx2(type, w, row_bytes, row_begin, row_end, cols, x, n, y, y_stride);
  constexpr int64_t row_block = 16;
  thread_local std::vector<float> rows;
  rows.resize(size_t(row_block * cols));
  const size_t f32_row_bytes = size_t(cols) * sizeof(float);
  for (int64_t r0 = row_begin; r0 < row_end; r0 += row_block) {
    const int64_t count = std::min(row_block, row_end - r0);
    for (int64_t r = 0; r < count; ++r) widen_row(type, w + size_t(r0 + r) * row_bytes, cols, rows.data() + r * cols);
    block_product<dtype::f32>(reinterpret_cast<const std::byte*>(rows.data()), f32_row_bytes, count, cols, x, n,
                              y + r0, y_stride);
  }
}

}  // namespace

// AVX2, FMA and F16C, and an OS that saves the ymm registers. (clang 14's
// __builtin_cpu_supports does not know "f16c", so CPUID is read directly.)
bool cpu_has_avx2_fma_f16c() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
  const bool fma = c & (1u << 12), f16c = c & (1u << 29), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && f16c && osxsave && avx)) return false;
  unsigned xcr0_low, xcr0_high;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & 6u) != 6u) return false;  // xmm and ymm state enabled by the OS
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return b & (1u << 5);  // AVX2
}

// simd_attention_avx2.cpp
void attend_heads_avx2(const attention_args& a, const float* q, int64_t n_q, int64_t kv_head, int64_t first_key,
                       int64_t n_keys, const float* sinks, float* scores, float* out);

const kernel_table* avx2_kernels() {
  static const kernel_table table{"avx2", &gemv_rows_avx2, &gemm_rows_avx2, &dot_f32_avx2, &attend_heads_avx2};
  static const bool supported = cpu_has_avx2_fma_f16c();
  return supported ? &table : nullptr;
}

}  // namespace owl::simd

#else  // not x86-64

namespace owl::simd {
bool cpu_has_avx2_fma_f16c() { return false; }
const kernel_table* avx2_kernels() { return nullptr; }
}  // namespace owl::simd

#endif
