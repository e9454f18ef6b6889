#include "backend/cpu/scalar_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numbers>
#include <vector>

#include "owl/error.h"
#include "quant/quant.h"

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
      if (is_quantized(type)) {  // whole blocks only: callers pass rows
        quant::dequantize_row(quant::qtype(size_t(type) - size_t(dtype::q4_0)), src, dst, n);
        return;
      }
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

void layer_norm_row(const float* x, const float* weight, const float* bias, int64_t dim, float eps, float* y) {
  double sum = 0;
  for (int64_t i = 0; i < dim; ++i) sum += x[i];
  const double mean = sum / double(dim);
  double sum_squares = 0;
  for (int64_t i = 0; i < dim; ++i) sum_squares += (x[i] - mean) * (x[i] - mean);
  const float inv_std = float(1.0 / std::sqrt(sum_squares / double(dim) + double(eps)));
  const float mean_f = float(mean);
  for (int64_t i = 0; i < dim; ++i)
    y[i] = (x[i] - mean_f) * inv_std * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }
float gelu(float x) { return float(0.5 * x * (1.0 + std::erf(double(x) / std::numbers::sqrt2))); }
float gelu_tanh(float x) {
  const double inner = std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * double(x) * x * x);
  return float(0.5 * x * (1.0 + std::tanh(inner)));
}

namespace {

// Calls op(f) with f the activation's function of one element, chosen once so that op's loop
// runs without a switch and a call per element (a decode step's FFN row: they cost as much as
// the math).
template <class Op>
void for_activation(const activation_config& act, Op&& op) {
  switch (act.kind) {
    // Lambdas, not function pointers: each loop is compiled with its function inlined.
    case activation_kind::silu: return op([](float x) { return silu(x); });
    case activation_kind::gelu: return op([](float x) { return gelu(x); });
    case activation_kind::gelu_tanh: return op([](float x) { return gelu_tanh(x); });
    case activation_kind::relu2: return op([](float x) {
      const float r = std::max(x, 0.0f);
      return r * r;
    });
    case activation_kind::swiglu_oai: break;
  }
  fail("cpu backend", "activation swiglu_oai needs a gate and an up projection");
}

}  // namespace

void activate(const activation_config& act, float* x, int64_t count) {
  for_activation(act, [&](auto f) {
    for (int64_t i = 0; i < count; ++i) x[i] = f(x[i]);
  });
}

void gated(const activation_config& act, float* gate, const float* up, int64_t count) {
  if (act.kind == activation_kind::swiglu_oai) {
    // gpt-oss: clamp both halves, then (up + 1) * gate * sigmoid(alpha * gate).
    for (int64_t i = 0; i < count; ++i) {
      const float g = std::min(gate[i], act.limit), u = std::clamp(up[i], -act.limit, act.limit);
      const float glu = g / (1.0f + std::exp(-act.alpha * g));
      gate[i] = (u + 1.0f) * glu;
    }
    return;
  }
  for_activation(act, [&](auto f) {
    for (int64_t i = 0; i < count; ++i) gate[i] = f(gate[i]) * up[i];
  });
}

void attend_one(const attention_args& a, const float* q, int64_t kv_head, int64_t first_key, int64_t n_keys,
                float sink, bool has_sink, float* scores, float* out) {
  // An f16 cache row is widened into `row` first (exact), so both cache types share one dot.
  thread_local std::vector<float> row;
  const bool half = a.kv_type == dtype::f16;
  auto cache_row = [&](const void* base, int64_t offset, int64_t count) -> const float* {
    if (!half) return static_cast<const float*>(base) + offset;
    row.resize(size_t(count));
    const uint16_t* h = static_cast<const uint16_t*>(base) + offset;
    for (int64_t i = 0; i < count; ++i) row[size_t(i)] = f16_to_f32(h[i]);
    return row.data();
  };
  float max_score = has_sink ? sink : -std::numeric_limits<float>::infinity();
  for (int64_t j = 0; j < n_keys; ++j) {
    const float* k = cache_row(a.k_cache, (first_key + j) * a.k_stride + kv_head * a.head_dim, a.head_dim);
    float s = dot(q, k, a.head_dim) * a.scale;
    if (a.softcap > 0) s = a.softcap * std::tanh(s / a.softcap);
    scores[j] = s;
    max_score = std::max(max_score, s);
  }
  float sum = has_sink ? std::exp(sink - max_score) : 0.0f;  // the sink takes mass, adds no value
  for (int64_t j = 0; j < n_keys; ++j) {
    scores[j] = std::exp(scores[j] - max_score);
    sum += scores[j];
  }
  std::fill(out, out + a.v_dim, 0.0f);
  for (int64_t j = 0; j < n_keys; ++j) {
    const float p = scores[j] / sum;
    const float* v = cache_row(a.v_cache, (first_key + j) * a.v_stride + kv_head * a.v_dim, a.v_dim);
    for (int64_t d = 0; d < a.v_dim; ++d) out[d] += p * v[d];
  }
}

}  // namespace owl::scalar
