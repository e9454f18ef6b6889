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

OWL_AVX2 inline float load1(dtype type, const std::byte* row, int64_t i) {
  float v;
  scalar::to_f32(type, row + i * int64_t(dtype_size(type)), 1, &v);
  return v;
}

// Four tokens share each loaded block of weights: a decode step (n = 1) streams the row
// once; a prompt streams it once per four tokens and keeps the tokens in L1.
OWL_AVX2 void row_times_tokens_avx2(dtype type, const std::byte* row, const float* x, int64_t n, int64_t cols,
                                    int64_t y_stride, float* y, float* scratch) {
  (void)scratch;
  int64_t t = 0;
  for (; t + 4 <= n; t += 4) {
    const float* x0 = x + t * cols;
    const float* x1 = x0 + cols;
    const float* x2 = x1 + cols;
    const float* x3 = x2 + cols;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= cols; i += 8) {
      const __m256 w = load8(type, row, i);
      a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x0 + i), a0);
      a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x1 + i), a1);
      a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x2 + i), a2);
      a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(x3 + i), a3);
    }
    float s0 = horizontal_sum(a0), s1 = horizontal_sum(a1), s2 = horizontal_sum(a2), s3 = horizontal_sum(a3);
    for (; i < cols; ++i) {
      const float w = load1(type, row, i);
      s0 += w * x0[i];
      s1 += w * x1[i];
      s2 += w * x2[i];
      s3 += w * x3[i];
    }
    y[t * y_stride] = s0;
    y[(t + 1) * y_stride] = s1;
    y[(t + 2) * y_stride] = s2;
    y[(t + 3) * y_stride] = s3;
  }
  for (; t < n; ++t) {
    const float* xt = x + t * cols;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= cols; i += 16) {
      a0 = _mm256_fmadd_ps(load8(type, row, i), _mm256_loadu_ps(xt + i), a0);
      a1 = _mm256_fmadd_ps(load8(type, row, i + 8), _mm256_loadu_ps(xt + i + 8), a1);
    }
    for (; i + 8 <= cols; i += 8) a0 = _mm256_fmadd_ps(load8(type, row, i), _mm256_loadu_ps(xt + i), a0);
    float s = horizontal_sum(_mm256_add_ps(a0, a1));
    for (; i < cols; ++i) s += load1(type, row, i) * xt[i];
    y[t * y_stride] = s;
  }
}

// 4 weight rows x 3 tokens of float32: 12 accumulators, 3 token loads and 4 weight loads per
// 8 columns, all in the 16 ymm registers.
OWL_AVX2 void micro_4x3(const float* w, int64_t cols, const float* x0, const float* x1, const float* x2, float out[4][3]) {
  __m256 acc[4][3];
  for (auto& row : acc)
    for (auto& a : row) a = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= cols; i += 8) {
    const __m256 a = _mm256_loadu_ps(x0 + i), b = _mm256_loadu_ps(x1 + i), c = _mm256_loadu_ps(x2 + i);
    for (int r = 0; r < 4; ++r) {
      const __m256 wr = _mm256_loadu_ps(w + r * cols + i);
      acc[r][0] = _mm256_fmadd_ps(wr, a, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(wr, b, acc[r][1]);
      acc[r][2] = _mm256_fmadd_ps(wr, c, acc[r][2]);
    }
  }
  for (int r = 0; r < 4; ++r) {
    out[r][0] = horizontal_sum(acc[r][0]);
    out[r][1] = horizontal_sum(acc[r][1]);
    out[r][2] = horizontal_sum(acc[r][2]);
    for (int64_t k = i; k < cols; ++k) {
      out[r][0] += w[r * cols + k] * x0[k];
      out[r][1] += w[r * cols + k] * x1[k];
      out[r][2] += w[r * cols + k] * x2[k];
    }
  }
}

// One stored row as float32: F16/BF16 with vector conversions, block types through their
// dequantizer.
OWL_AVX2 void widen_row(dtype type, const std::byte* src, int64_t cols, float* dst) {
  if (type != dtype::f16 && type != dtype::bf16) return scalar::to_f32(type, src, cols, dst);
  int64_t i = 0;
  for (; i + 8 <= cols; i += 8) _mm256_storeu_ps(dst + i, load8(type, src, i));
  for (; i < cols; ++i) dst[i] = load1(type, src, i);
}

OWL_AVX2 void gemm_rows_avx2(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                             int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride) {
  // Each weight row is widened once; 16 of them (L2-sized) meet every token, three tokens at a
  // time (L1-sized), through the 4x3 register tile.
  constexpr int64_t row_block = 16;
  thread_local std::vector<float> rows;
  rows.resize(size_t(row_block * cols));
  for (int64_t r0 = row_begin; r0 < row_end; r0 += row_block) {
    const int64_t count = std::min(row_block, row_end - r0);
    const int64_t padded = (count + 3) / 4 * 4;
    for (int64_t r = 0; r < count; ++r) widen_row(type, w + size_t(r0 + r) * row_bytes, cols, rows.data() + r * cols);
    std::fill(rows.begin() + count * cols, rows.begin() + padded * cols, 0.0f);
    int64_t t = 0;
    float out[4][3];
    for (; t + 3 <= n; t += 3) {
      const float *x0 = x + t * cols, *x1 = x0 + cols, *x2 = x1 + cols;
      for (int64_t sub = 0; sub < padded; sub += 4) {
        micro_4x3(rows.data() + sub * cols, cols, x0, x1, x2, out);
        for (int64_t r = 0; r < std::min<int64_t>(4, count - sub); ++r)
          for (int j = 0; j < 3; ++j) y[(t + j) * y_stride + r0 + sub + r] = out[r][j];
      }
    }
    for (; t < n; ++t)
      for (int64_t r = 0; r < count; ++r) y[t * y_stride + r0 + r] = dot_f32_avx2(rows.data() + r * cols, x + t * cols, cols);
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

const kernel_table* avx2_kernels() {
  static const kernel_table table{"avx2", &row_times_tokens_avx2, &gemm_rows_avx2, &dot_f32_avx2};
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
