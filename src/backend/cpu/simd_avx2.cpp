// simd_avx2.cpp — AVX2 + FMA + F16C kernels (x86-64 only; compiled for that target per
// function so the rest of owl stays portable).
#include "backend/cpu/simd_kernels.h"

#include <cstring>

#include "backend/cpu/scalar_kernels.h"

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

}  // namespace

const kernel_table* avx2_kernels() {
  static const kernel_table table{"avx2", &row_times_tokens_avx2, &dot_f32_avx2};
  const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  return supported ? &table : nullptr;
}

}  // namespace owl::simd

#else  // not x86-64

namespace owl::simd {
const kernel_table* avx2_kernels() { return nullptr; }
}  // namespace owl::simd

#endif
