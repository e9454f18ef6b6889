// cpu_backend.cpp — the reference CPU backend: scalar kernels spread over a thread pool.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/scalar_kernels.h"
#include "core/thread_pool.h"
#include "owl/error.h"

namespace owl {
namespace {

class cpu_backend final : public backend {
 public:
  explicit cpu_backend(int threads) : pool_(threads) {}
  const char* name() const override { return "cpu-scalar"; }
  int threads() const override { return pool_.size(); }

  void matmul(const weight_matrix& w, const float* bias, const float* x, int64_t n, float* y) override {
    const size_t row_bytes = size_t(w.cols) * dtype_size(w.type);
    // Split the output features across threads: each weight row is read (and converted)
    // once and applied to every token, so a prompt costs one pass over the weights.
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
    const size_t row_bytes = size_t(table.cols) * dtype_size(table.type);
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

  void attention(const attention_args& a) override {
    const int64_t group = a.n_heads / a.n_kv_heads;
    const int64_t kv_stride = a.n_kv_heads * a.head_dim;
    pool_.parallel_for(a.n_tokens * a.n_heads, 1, [&](int64_t begin, int64_t end) {
      thread_local std::vector<float> scores;
      for (int64_t job = begin; job < end; ++job) {
        const int64_t t = job / a.n_heads, h = job % a.n_heads, kv_h = h / group;
        const int64_t position = a.first_position + t;
        const int64_t first_key =
            a.sliding_window > 0 ? std::max<int64_t>(0, position - a.sliding_window + 1) : 0;
        const int64_t n_keys = position + 1 - first_key;
        const float* q = a.q + (t * a.n_heads + h) * a.head_dim;
        scores.resize(size_t(n_keys));
        float max_score = -std::numeric_limits<float>::infinity();
        for (int64_t j = 0; j < n_keys; ++j) {
          const float* k = a.k_cache + (first_key + j) * kv_stride + kv_h * a.head_dim;
          scores[j] = scalar::dot(q, k, a.head_dim) * a.scale;
          max_score = std::max(max_score, scores[j]);
        }
        float sum = 0;
        for (int64_t j = 0; j < n_keys; ++j) {
          scores[j] = std::exp(scores[j] - max_score);
          sum += scores[j];
        }
        float* out = a.out + (t * a.n_heads + h) * a.head_dim;
        std::fill(out, out + a.head_dim, 0.0f);
        for (int64_t j = 0; j < n_keys; ++j) {
          const float p = scores[j] / sum;
          const float* v = a.v_cache + (first_key + j) * kv_stride + kv_h * a.head_dim;
          for (int64_t d = 0; d < a.head_dim; ++d) out[d] += p * v[d];
        }
      }
    });
  }

  void silu_mul(float* gate, const float* up, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) gate[i] = scalar::silu(gate[i]) * up[i];
  }

  void add(float* y, const float* x, int64_t count) override {
    for (int64_t i = 0; i < count; ++i) y[i] += x[i];
  }

 private:
  thread_pool pool_;
};

}  // namespace

std::unique_ptr<backend> make_cpu_backend(int threads) { return std::make_unique<cpu_backend>(threads); }

}  // namespace owl
