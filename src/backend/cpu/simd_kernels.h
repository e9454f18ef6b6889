// simd_kernels.h — vectorized versions of the hot scalar kernels, chosen at run time.
//
// Each entry computes exactly what its scalar counterpart in scalar_kernels.h computes, up
// to float summation order; tests/kernels_test.cpp holds them to that. A build for any
// x86-64 (or arm64) runs everywhere: the AVX2 code is compiled for that target only and
// called only when the processor reports AVX2, FMA and F16C.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "owl/dtype.h"

namespace owl::simd {

// y[t * y_stride + r] = dot(row r of w, x + t * cols) for rows [row_begin, row_end) and all n
// tokens; the stored rows stream through once, converted in registers. Every output is
// computed in one canonical order, so results depend neither on n nor on the kernel or table
// that ran (batch invariance, see simd_float_impl.inc).
using matmul_rows_fn = void (*)(dtype type, const std::byte* w, size_t row_bytes, int64_t row_begin, int64_t row_end,
                                int64_t cols, const float* x, int64_t n, float* y, int64_t y_stride);

// Attention of one token for n_q consecutive query heads sharing kv head `kv_head`, over keys
// [first_key, first_key + n_keys): what scalar::attend_one computes for each of those heads.
// q: [n_q, head_dim], sinks: [n_q] or null, scores: scratch [n_q, n_keys], out: [n_q, v_dim].
// Each head's result depends only on its query, its keys and the cache, never on n_q or on
// the caller's split of tokens and heads (batch invariance, see simd_attention_avx2.cpp).
using attend_heads_fn = void (*)(const attention_args& a, const float* q, int64_t n_q, int64_t kv_head,
                                 int64_t first_key, int64_t n_keys, const float* sinks, float* scores, float* out);

struct kernel_table {
  const char* name = "scalar";
  matmul_rows_fn matmul_rows = nullptr;  // null: use the scalar path (F32/F16/BF16 weights only)
  float (*dot_f32)(const float*, const float*, int64_t) = nullptr;
  attend_heads_fn attend_heads = nullptr;  // null: scalar::attend_one per head
  // matmul_rows over rows interleaved in groups of 8 (core/row_interleave.h, pieces of 8
  // elements, no head): [row_begin, row_end) whole groups, cols % 8 == 0; bitwise the same.
  matmul_rows_fn matmul_interleaved = nullptr;
};

// True when the processor (and OS) support AVX2, FMA and F16C.
bool cpu_has_avx2_fma_f16c();
// The tables by instruction set (null when the processor lacks it). avx512 has the AVX2
// arithmetic with larger register tiles: bitwise the same results.
const kernel_table* avx2_kernels();
const kernel_table* avx512_kernels();
// The best table this processor supports (the scalar one when no SIMD is available).
const kernel_table& best_kernels();
const kernel_table& scalar_kernels();

}  // namespace owl::simd
