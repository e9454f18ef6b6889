// scalar_kernels.h — plain C++ reference kernels, one row at a time. They define the
// results every faster kernel is tested against, so they favour clarity over speed; the
// multiple accumulators only let the compiler vectorize without changing the math much.
#pragma once

#include <cstddef>
#include <cstdint>

#include "owl/dtype.h"

namespace owl::scalar {

float dot(const float* a, const float* b, int64_t n);
// Converts n elements of type `type` starting at `src` to float32.
void to_f32(dtype type, const std::byte* src, int64_t n, float* dst);
void rms_norm_row(const float* x, const float* weight, int64_t dim, float eps, float* y);
float silu(float x);

}  // namespace owl::scalar
