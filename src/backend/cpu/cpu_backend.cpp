// cpu_backend.cpp — the reference CPU backend: scalar kernels spread over a thread pool.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/scalar_kernels.h"
#include "backend/cpu/simd_kernels.h"
#include "quant/quant.h"
#include "core/thread_pool.h"
#include "owl/error.h"

namespace owl {
namespace {

// From this many tokens on, a matmul widens F16/BF16 weights once and reuses them (GEMM);
// below it, the stored weights stream through (the decode path, bound by memory bandwidth).
constexpr int64_t gemm_min_tokens = 6;

class cpu_backend final : public backend {
 public:
  cpu_backend(int threads, const simd::kernel_table& kernels) : pool_(threads), kernels_(kernels) {
    name_ = std::string("cpu-") + kernels_.name;
    quant_isa_ = kernels_.gemv_rows ? quant::kernel_isa::avx2 : quant::kernel_isa::scalar;
  }
  const char* name() const override { return name_.c_str(); }
  int threads() const override { return pool_.size(); }

  void matmul(const weight_matrix& w, const float* bias, const float* x, int64_t n, float* y) override {
    // Quantized weights always take the integer path, whatever n: the result of a token's row
    // must not depend on how many tokens share the call (batch invariance).
    if (is_quantized(w.type)) return quantized_matmul(w, bias, x, n, y);
    const size_t row_bytes = dtype_row_bytes(w.type, w.cols);
    if (kernels_.gemv_rows) {
      // Prompts widen F16/BF16 weights once per block of tokens (GEMM); decode steps stream
      // the stored weights. Both give bitwise the same rows.
      const auto kernel = n >= gemm_min_tokens ? kernels_.gemm_rows : kernels_.gemv_rows;
      pool_.parallel_for(w.rows, 16, [&](int64_t row_begin, int64_t row_end) {
        kernel(w.type, w.data, row_bytes, row_begin, row_end, w.cols, x, n, y, w.rows);
        if (bias)
          for (int64_t t = 0; t < n; ++t)
            for (int64_t r = row_begin; r < row_end; ++r) y[t * w.rows + r] += bias[r];
      });
      return;
    }
    // Scalar reference: each weight row is read (and converted) once and applied to every token.
    pool_.parallel_for(w.rows, 16, [&](int64_t row_begin, int64_t row_end) {
      thread_local std::vector<float> row;
      const float* row_f32 = nullptr;
      if (w.type != dtype::f32) row.resize(size_t(w.cols));
      for (int64_t r = row_begin; r < row_end; ++r) {
        const std::byte* src = w.data + size_t(r) * row_bytes;
        if (w.type == dtype::f32) {
          row_f32 = reinterpret_cast<const float*>(src);
        } else {
          scalar::to_f32(w.type, src, w.cols, row.data());
          row_f32 = row.data();
        }
        const float b = bias ? bias[r] : 0.0f;
        for (int64_t t = 0; t < n; ++t) y[t * w.rows + r] = scalar::dot(row_f32, x + t * w.cols, w.cols) + b;
      }
    });
  }

  void embed(const weight_matrix& table, std::span<const int32_t> ids, float* out) override {
    const size_t row_bytes = dtype_row_bytes(table.type, table.cols);
    for (size_t t = 0; t < ids.size(); ++t) {
      if (ids[t] < 0 || ids[t] >= table.rows)
        fail("embedding", "token id " + std::to_string(ids[t]) + " is outside the vocabulary [0, " +
                              std::to_string(table.rows) + ")");
      scalar::to_f32(table.type, table.data + size_t(ids[t]) * row_bytes, table.cols, out + t * table.cols);
    }
  }

  void rms_norm(const float* x, const float* weight, int64_t n, int64_t dim, float eps, float* y) override {
    pool_.parallel_for(n, 4, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) scalar::rms_norm_row(x + t * dim, weight, dim, eps, y + t * dim);
    });
  }

  void rope(float* x, int64_t n, int64_t heads, int64_t head_dim, int64_t rot_dim, const float* cos,
            const float* sin) override {
    const int64_t half = rot_dim / 2;
    for (int64_t t = 0; t < n; ++t) {
      const float* c = cos + t * half;
      const float* s = sin + t * half;
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (t * heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      }
    }
  }

  void layer_norm(const float* x, const float* weight, const float* bias, int64_t n, int64_t dim, float eps,
                  float* y) override {
    pool_.parallel_for(n, 4, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) scalar::layer_norm_row(x + t * dim, weight, bias, dim, eps, y + t * dim);
    });
  }

  void attention(const attention_args& a) override {
    const int64_t group = a.n_heads / a.n_kv_heads;
    pool_.parallel_for(a.n_tokens * a.n_heads, 1, [&](int64_t begin, int64_t end) {
      thread_local std::vector<float> scores;
      for (int64_t job = begin; job < end; ++job) {
        const int64_t t = job / a.n_heads, h = job % a.n_heads;
        const int64_t position = a.first_position + t;
        const int64_t first_key =
            a.sliding_window > 0 ? std::max<int64_t>(0, position - a.sliding_window + 1) : 0;
        const int64_t n_keys = position + 1 - first_key;
        scores.resize(size_t(n_keys));
        scalar::attend_one(a, a.q + (t * a.n_heads + h) * a.head_dim, h / group, first_key, n_keys,
                           a.sinks ? a.sinks[h] : 0.0f, a.sinks != nullptr, scores.data(),
                           a.out + (t * a.n_heads + h) * a.v_dim);
      }
    });
  }

  void gated_activation(const activation_config& act, float* gate, const float* up, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) gate[i] = scalar::gated(act, gate[i], up[i]);
  }

  void activation(const activation_config& act, float* x, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) x[i] = scalar::activate(act, x[i]);
  }

  void add(float* y, const float* x, int64_t count, float scale) override {
    if (scale == 1.0f) {
      for (int64_t i = 0; i < count; ++i) y[i] += x[i];
    } else {
      for (int64_t i = 0; i < count; ++i) y[i] += scale * x[i];
    }
  }

  void scale(float* x, float s, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) x[i] *= s;
  }

  void clamp(float* x, float limit, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) x[i] = std::clamp(x[i], -limit, limit);
  }

  void softcap(float* x, float cap, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) x[i] = cap * std::tanh(x[i] / cap);
  }

 private:
  // Quantized weights: the activations are quantized once to the format the weight type's dot
  // product pairs with (Q8_0 or Q8_K), then every weight row is an integer dot product.
  void quantized_matmul(const weight_matrix& w, const float* bias, const float* x, int64_t n, float* y) {
    const quant::qtype weight_type = quant::qtype(size_t(w.type) - size_t(dtype::q4_0));
    const quant::qtype act_type = quant::dot_activation_type(weight_type);
    const size_t act_row = quant::row_bytes(act_type, w.cols);
    const size_t weight_row = quant::row_bytes(weight_type, w.cols);
    activations_.resize(size_t(n) * act_row);
    std::byte* xq = activations_.data();
    pool_.parallel_for(n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) quant::quantize_row(act_type, x + t * w.cols, xq + size_t(t) * act_row, w.cols);
    });
    const quant::kernel_isa isa = quant_isa_;
    // Tiles of tokens: a block of quantized activation rows (about 64 KiB) stays in L2 while
    // every weight row of this thread's range meets it, and each weight row stays in L1 across
    // the block. Each output is still one vec_dot, so results do not depend on n.
    const int64_t token_block = std::max<int64_t>(1, int64_t((64 << 10) / std::max<size_t>(act_row, 1)));
    pool_.parallel_for(w.rows, 16, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t t0 = 0; t0 < n; t0 += token_block) {
        const int64_t t1 = std::min(n, t0 + token_block);
        for (int64_t r = row_begin; r < row_end; ++r) {
          const std::byte* row = w.data + size_t(r) * weight_row;
          const float b = bias ? bias[r] : 0.0f;
          for (int64_t t = t0; t < t1; ++t)
            y[t * w.rows + r] = quant::vec_dot_with(isa, weight_type, row, xq + size_t(t) * act_row, w.cols) + b;
        }
      }
    });
  }

  thread_pool pool_;
  std::vector<std::byte> activations_;  // quantized activations, reused between calls
  const simd::kernel_table& kernels_;
  quant::kernel_isa quant_isa_ = quant::kernel_isa::scalar;
  std::string name_;
};

}  // namespace

std::unique_ptr<backend> make_cpu_backend(int threads, bool simd) {
  return std::make_unique<cpu_backend>(threads, simd ? simd::best_kernels() : simd::scalar_kernels());
}

}  // namespace owl
