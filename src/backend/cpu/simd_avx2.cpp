// simd_avx2.cpp — AVX2 + FMA + F16C kernels (x86-64 only; compiled for that target per
// function so the rest of owl stays portable).
#include "backend/cpu/simd_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/scalar_kernels.h"
#include "core/cpu_features.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace owl::simd {

#define OWL_AVX2 __attribute__((target("avx2,fma,f16c")))

// The matmul kernels (simd_float_impl.inc) for AVX2: 16 ymm registers, 4 x 3 tiles.
namespace avx2_float {
#define OWL_SIMD OWL_AVX2
#define OWL_FLOAT_ROWS 4
#define OWL_FLOAT_TOKENS 3
#define OWL_FLOAT_GROUP_ROWS 4
#define OWL_FLOAT_GROUP_TOKENS 3
#include "backend/cpu/simd_float_impl.inc"
#undef OWL_SIMD
#undef OWL_FLOAT_ROWS
#undef OWL_FLOAT_TOKENS
#undef OWL_FLOAT_GROUP_ROWS
#undef OWL_FLOAT_GROUP_TOKENS
}  // namespace avx2_float

namespace {

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
  float sum = avx2_float::horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

}  // namespace

bool cpu_has_avx2_fma_f16c() { return cpu::has_avx2_fma_f16c(); }

// simd_attention_avx2.cpp
void attend_heads_avx2(const attention_args& a, const float* q, int64_t n_q, int64_t kv_head, int64_t first_key,
                       int64_t n_keys, const float* sinks, float* scores, float* out);

const kernel_table* avx2_kernels() {
  static const kernel_table table{"avx2", &avx2_float::matmul_rows, &dot_f32_avx2, &attend_heads_avx2,
                                  &avx2_float::matmul_interleaved};
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
