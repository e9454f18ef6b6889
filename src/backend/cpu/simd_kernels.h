// simd_kernels.h — vectorized versions of the hot scalar kernels, chosen at run time.
//
// Each entry computes exactly what its scalar counterpart in scalar_kernels.h computes, up
// to float summation order; tests/kernels_test.cpp holds them to that. A build for any
// x86-64 (or arm64) runs everywhere: the AVX2 code is compiled for that target only and
// called only when the processor reports AVX2, FMA and F16C.
#pragma once

#include <cstddef>
#include <cstdint>

#include "owl/dtype.h"

namespace owl::simd {

// y[t * y_stride + r] = dot(row r of w, x + t * cols) for rows [row_begin, row_end) and all n
// tokens. Both kernels compute every output in the same canonical order, so results do not
// depend on n or on which kernel ran (batch invariance, see simd_avx2.cpp).
// gemv_rows: few tokens; the stored rows stream through once, converted in registers.
// gemm_rows: prompts; rows are widened to float32 a few at a time and reused across tokens.
using gemm_rows_fn = void (*)(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                              int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride);

struct kernel_table {
  const char* name = "scalar";
  gemm_rows_fn gemv_rows = nullptr;  // null: use the scalar path (F32/F16/BF16 weights only)
  gemm_rows_fn gemm_rows = nullptr;
  float (*dot_f32)(const float*, const float*, int64_t) = nullptr;
};

// True when the processor (and OS) support AVX2, FMA and F16C.
bool cpu_has_avx2_fma_f16c();
// The best table this processor supports (the scalar one when no SIMD is available).
const kernel_table& best_kernels();
const kernel_table& scalar_kernels();

}  // namespace owl::simd
