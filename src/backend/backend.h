// backend.h — the narrow interface between model code and kernels.
//
// Model code (src/arch) calls these ops and never names a device, an intrinsic or a thread.
// The scalar CPU backend is the reference; SIMD and CUDA backends must match it (tests/).
// All activations are float32, row-major; shapes are noted per op as [rows, cols].
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "owl/dtype.h"

namespace owl {

// How a matrix's rows lie in memory. rows: row-major, as files store them. interleaved8:
// groups of 8 rows rewritten block by block (quant.h's interleave_rows), a layout the CPU
// backend chooses at load for the formats it multiplies faster that way.
enum class weight_layout : uint8_t { rows, interleaved8 };

// A weight matrix as stored: [rows = out_features, cols = in_features], in its stored element
// type (used in place from the mmap).
struct weight_matrix {
  dtype type = dtype::f32;
  const std::byte* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  weight_layout layout = weight_layout::rows;
};

struct attention_args {
  const float* q = nullptr;        // [n_tokens, n_heads, head_dim]
  // Caches hold elements of kv_type (f32 or f16); strides and offsets count elements.
  const void* k_cache = nullptr;   // key of token j, kv head g at k_cache + j * k_stride + g * head_dim
  const void* v_cache = nullptr;   // value at v_cache + j * v_stride + g * v_dim
  dtype kv_type = dtype::f32;
  float* out = nullptr;            // [n_tokens, n_heads, v_dim]
  int64_t n_tokens = 0;
  int64_t first_position = 0;      // position of q's first token; keys cover [0, first_position + n_tokens)
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;          // n_heads % n_kv_heads == 0 (GQA/MQA/MHA)
  int64_t head_dim = 0;            // query/key size per head
  int64_t v_dim = 0;               // value size per head
  int64_t k_stride = 0;            // floats between consecutive tokens' keys
  int64_t v_stride = 0;            // floats between consecutive tokens' values
  int64_t sliding_window = 0;      // 0: full causal; else query at p sees keys in (p - window, p]
  float scale = 1.0f;              // usually 1/sqrt(head_dim)
  float softcap = 0.0f;            // 0: off; else scores = softcap * tanh(scores / softcap)
  const float* sinks = nullptr;    // [n_heads] extra logit per head that takes probability mass, or null
};

enum class activation_kind { silu, gelu, gelu_tanh, relu2, swiglu_oai };

struct activation_config {
  activation_kind kind = activation_kind::silu;
  float alpha = 1.702f;  // swiglu_oai: gate * sigmoid(alpha * gate)
  float limit = 7.0f;    // swiglu_oai: clamp of gate (above) and up (both sides)
};

class backend {
 public:
  virtual ~backend() = default;
  virtual const char* name() const = 0;
  virtual int threads() const = 0;

  // Offered every weight matrix once at load, before any op uses it: the backend may put it
  // into a layout it multiplies faster and say so in w.layout. `writable` is w.data when the
  // bytes are a buffer of the model's own (rewrite them in place), null when they are a
  // read-only file mapping (copy them into memory of the backend's own, w.data pointing
  // there, and release the mapped pages). The default keeps the rows as they are.
  virtual void adopt_weight(weight_matrix& w, std::byte* writable) { (void)w, (void)writable; }

  // y[t, r] = sum_c x[t, c] * w[r, c] + (bias ? bias[r] : 0)     x: [n, w.cols], y: [n, w.rows]
  virtual void matmul(const weight_matrix& w, const float* bias, const float* x, int64_t n, float* y) = 0;
  // out[t, :] = table[ids[t], :] as float32                      out: [ids.size(), table.cols]
  virtual void embed(const weight_matrix& table, std::span<const int32_t> ids, float* out) = 0;
  // y[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * (weight ? weight : 1)   x, y: [n, dim]
  virtual void rms_norm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* y) = 0;
  // y[t, :] = (x[t, :] - mean) / sqrt(var + eps) * (weight ? weight : 1) + (bias ? bias : 0)
  virtual void layer_norm(const float* x, const float* weight, const float* bias, int64_t n, int64_t dim, float eps,
                          float* y) = 0;
  // Rotates each head's first rot_dim dims in place, pairing i with i + rot_dim/2 (the
  // canonical "rotate_half" layout every loader normalizes to).
  // x: [n, heads, head_dim]; cos, sin: [n, rot_dim/2]
  virtual void rope(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim,
                    const float* cos, const float* sin) = 0;
  virtual void attention(const attention_args& args) = 0;
  // Gated: gate[i] = act(gate[i]) * up[i] (swiglu_oai: clamped, (up + 1) * gate * sigmoid(alpha gate)).
  virtual void gated_activation(const activation_config& act, float* gate, const float* up, int64_t count) = 0;
  // x[i] = act(x[i]) for an ungated MLP
  virtual void activation(const activation_config& act, float* x, int64_t count) = 0;
  // y[i] += scale * x[i]
  virtual void add(float* y, const float* x, int64_t count, float scale = 1.0f) = 0;
  // x[i] *= scale
  virtual void scale(float* x, float scale, int64_t count) = 0;
  // x[i] = clamp(x[i], -limit, limit)
  virtual void clamp(float* x, float limit, int64_t count) = 0;
  // x[i] = cap * tanh(x[i] / cap)
  virtual void softcap(float* x, float cap, int64_t count) = 0;
};

// The CPU backend, using `threads` threads (0 = all cores): SIMD kernels where the processor
// has them (simd = true), else the scalar reference kernels every fast kernel is tested against.
std::unique_ptr<backend> make_cpu_backend(int threads, bool simd = true);

}  // namespace owl
