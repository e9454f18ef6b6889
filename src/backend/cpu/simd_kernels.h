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

// y[t] = dot(row, x + t * cols) for t in [0, n), with the weight row stored as `type`.
// `scratch` holds at least `cols` floats (used to widen f16/bf16 rows once per row).
using row_times_tokens_fn = void (*)(dtype type, const std::byte* row, const float* x, int64_t n, int64_t cols,
                                      int64_t y_stride, float* y, float* scratch);

// y[t * y_stride + r] = dot(row r of w, x + t * cols) for rows [row_begin, row_end) and all n
// tokens: the prompt path. Rows are widened to float32 a few at a time (any stored type,
// quantized included) and multiplied against cache-sized blocks of tokens.
using gemm_rows_fn = void (*)(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                              int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride);

struct kernel_table {
  const char* name = "scalar";
  row_times_tokens_fn row_times_tokens = nullptr;  // null: use the scalar path
  gemm_rows_fn gemm_rows = nullptr;                // null: use row_times_tokens / scalar
  float (*dot_f32)(const float*, const float*, int64_t) = nullptr;
};

// True when the processor (and OS) support AVX2, FMA and F16C.
bool cpu_has_avx2_fma_f16c();
// The best table this processor supports (the scalar one when no SIMD is available).
const kernel_table& best_kernels();
const kernel_table& scalar_kernels();

}  // namespace owl::simd
