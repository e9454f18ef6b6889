// cpu_backend.cpp — the reference CPU backend: scalar kernels spread over a thread pool.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/scalar_kernels.h"
#include "backend/cpu/simd_kernels.h"
#include "core/mapped_file.h"
#include "core/row_interleave.h"
#include "quant/quant.h"
#include "core/thread_pool.h"
#include "owl/error.h"

namespace owl {
namespace {

// Element-wise ops run on the calling thread below these counts: a decode step passes one
// token's row (a few thousand elements), where waking the pool costs more than the loop.
// Ops with a transcendental per element (silu, gelu, tanh) pay off sooner than add or scale:
// a decode step's 8192 SiLUs take ~40 us alone, the pool a few.
constexpr int64_t parallel_min_costly = 1 << 12;
constexpr int64_t parallel_min_cheap = 1 << 17;

// Chunks per thread of a matrix product: a prompt's chunk unpacks its weight groups once for
// many tokens (4 amortize that and still even out a slow or pre-empted thread); a decode step's
// costs nothing to start, and with 4 the threads waited on each other's last chunk for ~6% of
// a Q4_K_M step (perf, 2 threads).
constexpr int prompt_chunks_per_thread = 4;
constexpr int decode_chunks_per_thread = 16;
inline int matmul_chunks_per_thread(int64_t tokens) {
  return tokens <= quant::decode_max_tokens ? decode_chunks_per_thread : prompt_chunks_per_thread;
}

// Query heads per attention job: one KV group's heads share each loaded key and value row.
constexpr int64_t attention_head_tile = 4;

// Causal attention costs grow with the token's position, and the pool hands each thread one
// contiguous range: enumerating tokens 0, n-1, 1, n-2, ... gives every range a fair share.
inline int64_t balanced_token(int64_t k, int64_t n) { return k % 2 == 0 ? k / 2 : n - 1 - k / 2; }

// y[t * y_stride + r] += bias[r] for rows [row_begin, row_end) of every token (bias may be null).
inline void add_bias(const float* bias, int64_t n, int64_t y_stride, int64_t row_begin, int64_t row_end, float* y) {
  if (!bias) return;
  for (int64_t t = 0; t < n; ++t)
    for (int64_t r = row_begin; r < row_end; ++r) y[t * y_stride + r] += bias[r];
}

// Float rows interleave in pieces of 8 elements (one vector after widening), no head.
inline interleave_shape float_shape(dtype type) {
  const size_t piece = 8 * dtype_size(type);
  return {piece, 0, piece};
}
inline bool float_interleavable(const weight_matrix& w) {
  return (w.type == dtype::f16 || w.type == dtype::bf16 || w.type == dtype::f32) && w.cols % 8 == 0;
}

class cpu_backend final : public backend {
 public:
  cpu_backend(int threads, const simd::kernel_table& kernels) : pool_(threads), kernels_(kernels) {
    name_ = std::string("cpu-") + kernels_.name;
    // The quantized kernels follow the table: scalar with scalar, AVX2 when the AVX2 table was
    // forced (OWL_KERNELS=avx2), else the best this CPU runs.
    quant_isa_ = !kernels_.matmul_rows                       ? quant::kernel_isa::scalar
                 : std::string_view(kernels_.name) == "avx2" ? quant::kernel_isa::avx2
                                                             : quant::best_isa();
  }
  const char* name() const override { return name_.c_str(); }
  int threads() const override { return pool_.size(); }

  // Matrices are interleaved in groups of 8 rows when SIMD kernels run them: Q4_0, Q8_0, IQ4_NL,
  // Q4_K, Q5_K and Q6_K (quant.h) and F16, BF16 and F32 with whole 8-column pieces (core/row_interleave.h).
  // A decode step then reads one sequential stream per group instead of one per row; the
  // quantized ones also need no unpacking. Bitwise the same results.
  void adopt_weight(weight_matrix& w, std::byte* writable) override {
    if (w.layout != weight_layout::rows || w.rows < interleave_rows_per_group) return;
    const size_t row_bytes = dtype_row_bytes(w.type, w.cols);
    std::function<void(const std::byte*, std::byte*, int64_t)> interleave;  // (from, to, rows)
    if (is_quantized(w.type)) {
      const quant::qtype type = quant::qtype(size_t(w.type) - size_t(dtype::q4_0));
      if (!quant::has_interleaved_kernel(quant_isa_, type)) return;
      interleave = [&, type](const std::byte* from, std::byte* to, int64_t rows) {
        quant::interleave_rows(type, from, to, rows, w.cols);
      };
    } else {
      if (!kernels_.matmul_interleaved || !float_interleavable(w)) return;
      interleave = [&](const std::byte* from, std::byte* to, int64_t rows) {
        interleave_groups(from, to, rows, row_bytes, float_shape(w.type));
      };
    }
    // Mapped weights go to anonymous memory of our own, a slice at a time, each slice's file
    // pages released once copied, so the peak stays near the file's size. (Rewriting a
    // copy-on-write mapping in place instead cost several seconds per GB in page copies and
    // TLB shootdowns.)
    std::byte* to = writable;
    if (!to) {
      owned_weights_.push_back(anonymous_memory::allocate(size_t(w.rows) * row_bytes, "weights in the CPU layout"));
      to = owned_weights_.back().data();
    }
    constexpr int64_t g = interleave_rows_per_group;
    const int64_t slice_rows = std::max<int64_t>(g, int64_t((8 << 20) / row_bytes) / g * g);
    for (int64_t r0 = 0; r0 < w.rows; r0 += slice_rows) {
      const int64_t slice = std::min(slice_rows, w.rows - r0);
      pool_.parallel_for((slice + g - 1) / g, 4, [&](int64_t begin, int64_t end) {
        const int64_t row_begin = r0 + begin * g, rows = std::min(end * g, slice) - begin * g;
        const std::byte* from = w.data + size_t(row_begin) * row_bytes;
        interleave(from, to + size_t(row_begin) * row_bytes, rows);
        if (!writable) release_mapped_pages(from, size_t(rows) * row_bytes);
      });
    }
    w.data = to;
    w.layout = weight_layout::interleaved8;
  }

  void matmul(const weight_matrix& w, const float* bias, const float* x, int64_t n, float* y) override {
    // Quantized weights always take the integer path, whatever n: the result of a token's row
    // must not depend on how many tokens share the call (batch invariance).
    if (is_quantized(w.type)) return quantized_matmul(w, bias, x, n, y);
    const size_t row_bytes = dtype_row_bytes(w.type, w.cols);
    if (w.layout == weight_layout::interleaved8) {
      // Threads take whole groups; the last rows % 8 rows are stored plainly.
      constexpr int64_t g = interleave_rows_per_group;
      const int64_t grouped_rows = w.rows / g * g;
      const auto grouped = kernels_.matmul_interleaved, plain = kernels_.matmul_rows;
      pool_.parallel_for((w.rows + g - 1) / g, 2, [&](int64_t begin, int64_t end) {
        const int64_t row_begin = begin * g, row_end = std::min(w.rows, end * g);
        const int64_t split = std::min(row_end, grouped_rows);
        if (split > row_begin) grouped(w.type, w.data, row_bytes, row_begin, split, w.cols, x, n, y, w.rows);
        if (row_end > split) plain(w.type, w.data, row_bytes, split, row_end, w.cols, x, n, y, w.rows);
        add_bias(bias, n, w.rows, row_begin, row_end, y);
      }, matmul_chunks_per_thread(n));
      return;
    }
    if (kernels_.matmul_rows) {
      pool_.parallel_for(w.rows, 16, [&](int64_t row_begin, int64_t row_end) {
        kernels_.matmul_rows(w.type, w.data, row_bytes, row_begin, row_end, w.cols, x, n, y, w.rows);
        add_bias(bias, n, w.rows, row_begin, row_end, y);
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
      float* row = out + t * table.cols;
      if (table.layout == weight_layout::rows) {
        scalar::to_f32(table.type, table.data + size_t(ids[t]) * row_bytes, table.cols, row);
      } else if (is_quantized(table.type)) {  // a tied embedding, shared with the output layer
        quant::dequantize_interleaved_row(quant::qtype(size_t(table.type) - size_t(dtype::q4_0)), table.data,
                                          table.rows, ids[t], table.cols, row);
      } else {
        thread_local std::vector<std::byte> plain;
        plain.resize(row_bytes);
        read_interleaved_row(table.data, table.rows, row_bytes, float_shape(table.type), ids[t], plain.data());
        scalar::to_f32(table.type, plain.data(), table.cols, row);
      }
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
    // Rows of [n * heads]: each is rotated by the same code wherever it runs (bitwise the same).
    auto rotate_rows = [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t t = row / heads;
        const float* c = cos + t * half;
        const float* s = sin + t * half;
        float* v = x + row * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      }
    };
    const int64_t rows = n * heads;
    if (rows * half < parallel_min_cheap / 4) return rotate_rows(0, rows);
    pool_.parallel_for(rows, std::max<int64_t>(1, (parallel_min_cheap / 8) / std::max<int64_t>(half, 1)), rotate_rows);
  }

  void layer_norm(const float* x, const float* weight, const float* bias, int64_t n, int64_t dim, float eps,
                  float* y) override {
    pool_.parallel_for(n, 4, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) scalar::layer_norm_row(x + t * dim, weight, bias, dim, eps, y + t * dim);
    });
  }

  void attention(const attention_args& a) override {
    const int64_t group = a.n_heads / a.n_kv_heads;
    if (kernels_.attend_heads) return simd_attention(a, group);
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

  // The element-wise ops split [0, count) over the pool when it is large; every element is
  // computed by the same scalar expression wherever it runs, so results are bitwise unchanged.
  void gated_activation(const activation_config& act, float* gate, const float* up, int64_t count) override {
    for_elements(count, parallel_min_costly, [&](int64_t begin, int64_t end) {
      scalar::gated(act, gate + begin, up + begin, end - begin);
    });
  }

  void activation(const activation_config& act, float* x, int64_t count) override {
    for_elements(count, parallel_min_costly, [&](int64_t begin, int64_t end) {
      scalar::activate(act, x + begin, end - begin);
    });
  }

  void add(float* y, const float* x, int64_t count, float scale) override {
    for_elements(count, parallel_min_cheap, [&](int64_t begin, int64_t end) {
      if (scale == 1.0f) {
        for (int64_t i = begin; i < end; ++i) y[i] += x[i];
      } else {
        for (int64_t i = begin; i < end; ++i) y[i] += scale * x[i];
      }
    });
  }

  void scale(float* x, float s, int64_t count) override {
    for_elements(count, parallel_min_cheap, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x[i] *= s;
    });
  }

  void clamp(float* x, float limit, int64_t count) override {
    for_elements(count, parallel_min_cheap, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x[i] = std::clamp(x[i], -limit, limit);
    });
  }

  void softcap(float* x, float cap, int64_t count) override {
    for_elements(count, parallel_min_costly, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) x[i] = cap * std::tanh(x[i] / cap);
    });
  }

 private:
  // fn(begin, end) over [0, count): inline below `min_parallel`, else split over the pool in
  // chunks of at least min_parallel / 2.
  template <class F>
  void for_elements(int64_t count, int64_t min_parallel, const F& fn) {
    if (count < min_parallel) return fn(0, count);
    pool_.parallel_for(count, min_parallel / 2, fn);
  }

  // SIMD attention: one job per (token, tile of up to 4 heads of one KV group); tokens in
  // balanced_token order. Each head's result does not depend on the split (see simd_kernels.h).
  void simd_attention(const attention_args& a, int64_t group) {
    const int64_t tiles_per_group = (group + attention_head_tile - 1) / attention_head_tile;
    const int64_t tiles = a.n_kv_heads * tiles_per_group;
    pool_.parallel_for(a.n_tokens * tiles, 1, [&](int64_t begin, int64_t end) {
      thread_local std::vector<float> scores;  // [heads of the tile, n_keys]
      for (int64_t job = begin; job < end; ++job) {
        const int64_t t = balanced_token(job / tiles, a.n_tokens), tile = job % tiles;
        const int64_t kv_head = tile / tiles_per_group;
        const int64_t h0 = kv_head * group + (tile % tiles_per_group) * attention_head_tile;
        const int64_t n_q = std::min(attention_head_tile, (kv_head + 1) * group - h0);
        const int64_t position = a.first_position + t;
        const int64_t first_key =
            a.sliding_window > 0 ? std::max<int64_t>(0, position - a.sliding_window + 1) : 0;
        const int64_t n_keys = position + 1 - first_key;
        scores.resize(size_t(n_q * n_keys));
        kernels_.attend_heads(a, a.q + (t * a.n_heads + h0) * a.head_dim, n_q, kv_head, first_key, n_keys,
                              a.sinks ? a.sinks + h0 : nullptr, scores.data(), a.out + (t * a.n_heads + h0) * a.v_dim);
      }
    });
  }

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
      for (int64_t t = begin; t < end; ++t)
        quant::quantize_activations(act_type, x + t * w.cols, xq + size_t(t) * act_row, w.cols);
    });
    // Each thread takes a range of weight rows against every token: quant::matmul_rows tiles
    // rows x tokens so unpacked weights and activation loads are shared, while every output
    // keeps one canonical arithmetic (results do not depend on n: batch invariance).
    if (w.layout == weight_layout::interleaved8) {
      // Threads take whole groups of 8 rows.
      constexpr int64_t g = quant::interleave_group_rows;
      pool_.parallel_for((w.rows + g - 1) / g, 2, [&](int64_t begin, int64_t end) {
        const int64_t row_begin = begin * g, row_end = std::min(w.rows, end * g);
        quant::matmul_interleaved(quant_isa_, weight_type, w.data, w.rows, row_begin, row_end, xq, act_row, n, w.cols,
                                  y + row_begin, w.rows);
        add_bias(bias, n, w.rows, row_begin, row_end, y);
      }, matmul_chunks_per_thread(n));
      return;
    }
    pool_.parallel_for(w.rows, 16, [&](int64_t row_begin, int64_t row_end) {
      quant::matmul_rows(quant_isa_, weight_type, w.data + size_t(row_begin) * weight_row, weight_row,
                         row_end - row_begin, xq, act_row, n, w.cols, y + row_begin, w.rows);
      add_bias(bias, n, w.rows, row_begin, row_end, y);
    }, matmul_chunks_per_thread(n));
  }

  thread_pool pool_;
  std::vector<anonymous_memory> owned_weights_;  // weights copied out of a file mapping by adopt_weight
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
