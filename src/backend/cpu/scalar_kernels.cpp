#include "backend/cpu/scalar_kernels.h"

#include <cmath>
#include <cstring>

#include "owl/error.h"

namespace owl::scalar {

float dot(const float* a, const float* b, int64_t n) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) partial[j] += a[i + j] * b[i + j];
  float sum = ((partial[0] + partial[4]) + (partial[1] + partial[5])) +
              ((partial[2] + partial[6]) + (partial[3] + partial[7]));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void to_f32(dtype type, const std::byte* src, int64_t n, float* dst) {
  switch (type) {
    case dtype::f32:
      std::memcpy(dst, src, size_t(n) * sizeof(float));
      return;
    case dtype::f16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case dtype::bf16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    default:
      fail("cpu backend", "weights of type " + std::string(dtype_name(type)) + " cannot be used as floats",
           "weights must be F32, F16 or BF16");
  }
}

void rms_norm_row(const float* x, const float* weight, int64_t dim, float eps, float* y) {
  // Accumulate in double: the mean of squares over thousands of elements is the one place
  // where float32 summation order visibly moves the result.
  double sum_squares = 0;
  for (int64_t i = 0; i < dim; ++i) sum_squares += double(x[i]) * x[i];
  float inv_rms = float(1.0 / std::sqrt(sum_squares / double(dim) + double(eps)));
  for (int64_t i = 0; i < dim; ++i) y[i] = x[i] * inv_rms * (weight ? weight[i] : 1.0f);
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

}  // namespace owl::scalar
