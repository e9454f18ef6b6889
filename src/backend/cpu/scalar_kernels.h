// scalar_kernels.h — plain C++ reference kernels, one row at a time. They define the
// results every faster kernel is tested against, so they favour clarity over speed; the
// multiple accumulators only let the compiler vectorize without changing the math much.
#pragma once

#include <cstddef>
#include <cstdint>

#include "backend/backend.h"
#include "owl/dtype.h"

namespace owl::scalar {

float dot(const float* a, const float* b, int64_t n);
// Converts n elements of type `type` starting at `src` to float32.
void to_f32(dtype type, const std::byte* src, int64_t n, float* dst);
void rms_norm_row(const float* x, const float* weight, int64_t dim, float eps, float* y);
void layer_norm_row(const float* x, const float* weight, const float* bias, int64_t dim, float eps, float* y);
float silu(float x);
float gelu(float x);       // exact, with erf
float gelu_tanh(float x);  // tanh approximation
// In place over x[count]: x[i] = act(x[i]).
void activate(const activation_config& act, float* x, int64_t count);
// In place over gate[count]: gate[i] = act(gate[i]) * up[i] (gpt-oss: its clamped variant).
void gated(const activation_config& act, float* gate, const float* up, int64_t count);
// One query against its keys: out[v_dim] = softmax(scores) @ values. `scores` is scratch of n_keys.
void attend_one(const attention_args& a, const float* q, int64_t kv_head, int64_t first_key, int64_t n_keys,
                float sink, bool has_sink, float* scores, float* out);

}  // namespace owl::scalar
