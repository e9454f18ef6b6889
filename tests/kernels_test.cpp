// Every fast kernel against the scalar reference: the SIMD CPU backend must compute what the
// scalar backend computes, up to float summation order.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "backend/backend.h"
#include "backend/cpu/simd_kernels.h"
#include "core/row_interleave.h"

namespace owl {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The weights [rows, cols] stored as `type`.
std::vector<std::byte> store_as(dtype type, const std::vector<float>& values) {
  std::vector<std::byte> bytes(values.size() * dtype_size(type));
  for (size_t i = 0; i < values.size(); ++i) {
    if (type == dtype::f32) {
      std::memcpy(bytes.data() + 4 * i, &values[i], 4);
    } else {
      uint16_t h = type == dtype::f16 ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
      std::memcpy(bytes.data() + 2 * i, &h, 2);
    }
  }
  return bytes;
}

class KernelsMatmul : public ::testing::TestWithParam<dtype> {};

TEST_P(KernelsMatmul, SimdMatchesScalar) {
  auto scalar = make_cpu_backend(1, false);
  auto fast = make_cpu_backend(2, true);
  // Odd sizes exercise every tail: rows not a multiple of the thread split, cols not of 8/16/32.
  for (auto [rows, cols, n] : {std::tuple<int64_t, int64_t, int64_t>{37, 61, 1}, {64, 256, 5}, {130, 1000, 9}, {8, 7, 4}, {21, 64, 40}}) {
    const auto w_values = random_floats(size_t(rows * cols), 1);
    const auto bytes = store_as(GetParam(), w_values);
    const auto x = random_floats(size_t(n * cols), 2);
    const auto bias = random_floats(size_t(rows), 3);
    weight_matrix w{GetParam(), bytes.data(), rows, cols};
    std::vector<float> expected(size_t(n * rows)), got(expected.size());
    scalar->matmul(w, bias.data(), x.data(), n, expected.data());
    fast->matmul(w, bias.data(), x.data(), n, got.data());
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], expected[i], 1e-5 * std::sqrt(double(cols)) * 4) << rows << "x" << cols << " n=" << n << " at " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, KernelsMatmul, ::testing::Values(dtype::f32, dtype::f16, dtype::bf16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// The AVX-512 table runs the AVX2 arithmetic with larger register tiles: its matmul gives
// bitwise what AVX2's does, whatever the rows, tokens and tails.
TEST_P(KernelsMatmul, Avx512TilesAreBitwiseTheAvx2Ones) {
  const simd::kernel_table* avx2 = simd::avx2_kernels();
  const simd::kernel_table* avx512 = simd::avx512_kernels();
  if (!avx2 || !avx512) GTEST_SKIP() << "no AVX-512 VL on this processor";
  for (auto [rows, cols, n] : {std::tuple<int64_t, int64_t, int64_t>{37, 61, 1}, {9, 256, 5}, {130, 1000, 13}, {8, 7, 4}, {21, 64, 40}}) {
    const auto bytes = store_as(GetParam(), random_floats(size_t(rows * cols), 6));
    const auto x = random_floats(size_t(n * cols), 7);
    const size_t row_bytes = bytes.size() / size_t(rows);
    std::vector<float> reference(size_t(n * rows));
    avx2->matmul_rows(GetParam(), bytes.data(), row_bytes, 0, rows, cols, x.data(), n, reference.data(), rows);
    std::vector<float> got(reference.size());
    avx512->matmul_rows(GetParam(), bytes.data(), row_bytes, 0, rows, cols, x.data(), n, got.data(), rows);
    ASSERT_EQ(std::memcmp(got.data(), reference.data(), got.size() * sizeof(float)), 0)
        << rows << "x" << cols << " n=" << n;
  }
}

// Rows interleaved in groups of 8 (core/row_interleave.h, pieces of 8 elements) give bitwise
// the plain rows' outputs through both interleaved kernels of every table.
TEST_P(KernelsMatmul, InterleavedRowsAreBitwiseThePlainOnes) {
  const simd::kernel_table& best = simd::best_kernels();
  if (!best.matmul_interleaved) GTEST_SKIP() << "no SIMD kernels on this processor";
  const size_t piece = 8 * dtype_size(GetParam());
  for (auto [rows, cols, n] : {std::tuple<int64_t, int64_t, int64_t>{8, 8, 1}, {24, 256, 5}, {40, 1000, 13}, {16, 64, 2}, {32, 64, 40}}) {
    const auto plain = store_as(GetParam(), random_floats(size_t(rows * cols), 8));
    const auto x = random_floats(size_t(n * cols), 9);
    const size_t row_bytes = plain.size() / size_t(rows);
    auto grouped = plain;
    interleave_groups(grouped.data(), grouped.data(), rows, row_bytes, {piece, 0, piece});
    if (cols > 8) {  // one piece per row: the layouts coincide
      ASSERT_NE(grouped, plain);
    }
    std::vector<float> reference(size_t(n * rows));
    best.matmul_rows(GetParam(), plain.data(), row_bytes, 0, rows, cols, x.data(), n, reference.data(), rows);
    for (const simd::kernel_table* table : {simd::avx2_kernels(), simd::avx512_kernels()}) {
      if (!table) continue;
      for (auto kernel : {table->matmul_interleaved}) {
        // Whole matrix, then the second half alone (a thread's share starts at a group).
        std::vector<float> got(reference.size(), -1.0f);
        kernel(GetParam(), grouped.data(), row_bytes, 0, rows, cols, x.data(), n, got.data(), rows);
        ASSERT_EQ(std::memcmp(got.data(), reference.data(), got.size() * sizeof(float)), 0)
            << table->name << " " << rows << "x" << cols << " n=" << n;
        std::vector<float> half(reference.size(), -1.0f);
        kernel(GetParam(), grouped.data(), row_bytes, rows / 2 / 8 * 8, rows, cols, x.data(), n, half.data(), rows);
        for (int64_t t = 0; t < n; ++t)
          for (int64_t r = 0; r < rows; ++r)
            ASSERT_EQ(half[size_t(t * rows + r)], r >= rows / 2 / 8 * 8 ? reference[size_t(t * rows + r)] : -1.0f)
                << table->name << " r=" << r;
      }
    }
    // And the rows read back as stored.
    std::vector<std::byte> row(row_bytes);
    for (int64_t r = 0; r < rows; ++r) {
      read_interleaved_row(grouped.data(), rows, row_bytes, {piece, 0, piece}, r, row.data());
      ASSERT_EQ(std::memcmp(row.data(), plain.data() + size_t(r) * row_bytes, row_bytes), 0) << r;
    }
    deinterleave_groups(grouped.data(), rows, row_bytes, {piece, 0, piece});
    EXPECT_EQ(grouped, plain);
  }
}

TEST(Kernels, SimdTableIsChosenWhenAvailable) {
  const auto& best = simd::best_kernels();
#if defined(__x86_64__)
  if (simd::cpu_has_avx2_fma_f16c() && !std::getenv("OWL_KERNELS")) {
    EXPECT_STREQ(best.name, simd::avx512_kernels() ? "avx512" : "avx2");
  }
#endif
  EXPECT_NE(best.name, nullptr);
}

TEST(Kernels, DotF32MatchesScalar) {
  const auto& best = simd::best_kernels();
  if (!best.dot_f32) GTEST_SKIP() << "no SIMD dot on this processor";
  for (int64_t n : {1, 7, 8, 33, 1000, 4096}) {
    const auto a = random_floats(size_t(n), 4), b = random_floats(size_t(n), 5);
    double expected = 0;
    for (int64_t i = 0; i < n; ++i) expected += double(a[size_t(i)]) * b[size_t(i)];
    EXPECT_NEAR(best.dot_f32(a.data(), b.data(), n), expected, 1e-5 * std::sqrt(double(n)) * 4) << n;
  }
}

TEST(Kernels, AttentionWithSinksAndSoftcapMatchesDefinition) {
  // One query, three keys, one head: check the backend's softmax with a sink and softcap.
  auto cpu = make_cpu_backend(1, true);
  const float q[2] = {1.0f, 0.5f};
  const float k[6] = {1, 0, 0, 1, 1, 1};
  const float v[6] = {1, 2, 3, 4, 5, 6};
  const float sink = 0.3f;
  float out[2];
  attention_args a;
  a.q = q;
  a.k_cache = k;
  a.v_cache = v;
  a.out = out;
  a.n_tokens = 1;
  a.first_position = 2;
  a.n_heads = a.n_kv_heads = 1;
  a.head_dim = a.v_dim = a.k_stride = a.v_stride = 2;
  a.scale = 0.7f;
  a.softcap = 2.0f;
  a.sinks = &sink;
  cpu->attention(a);
  double s[3], mass = std::exp(double(sink)), o0 = 0, o1 = 0;
  for (int j = 0; j < 3; ++j) {
    double raw = (q[0] * k[2 * j] + q[1] * k[2 * j + 1]) * 0.7;
    s[j] = std::exp(2.0 * std::tanh(raw / 2.0));
    mass += s[j];
  }
  for (int j = 0; j < 3; ++j) {
    o0 += s[j] / mass * v[2 * j];
    o1 += s[j] / mass * v[2 * j + 1];
  }
  EXPECT_NEAR(out[0], o0, 1e-5);
  EXPECT_NEAR(out[1], o1, 1e-5);
}

}  // namespace
}  // namespace owl

#include "quant/quant.h"

namespace owl {
namespace {

// Quantized weights: the decode path (integer dot products against quantized activations)
// and the prompt path (dequantized rows in the GEMM) against float math on the dequantized
// weights; the only difference allowed is the activations' 8-bit rounding.
TEST(Kernels, QuantizedMatmulPathsAgreeWithDequantizedMath) {
  auto scalar = make_cpu_backend(1, false);
  auto fast = make_cpu_backend(2, true);
  const int64_t rows = 19, cols = 512;
  for (dtype type : {dtype::q8_0, dtype::q4_0, dtype::q4_k, dtype::q6_k, dtype::iq4_xs}) {
    const auto q = quant::qtype(size_t(type) - size_t(dtype::q4_0));
    const auto values = random_floats(size_t(rows * cols), 7);
    std::vector<std::byte> bytes(size_t(rows) * quant::row_bytes(q, cols));
    std::vector<float> dequantized(values.size());
    for (int64_t r = 0; r < rows; ++r) {
      std::byte* row = bytes.data() + size_t(r) * quant::row_bytes(q, cols);
      quant::quantize_row(q, values.data() + r * cols, row, cols);
      quant::dequantize_row(q, row, dequantized.data() + r * cols, cols);
    }
    weight_matrix w{type, bytes.data(), rows, cols};
    weight_matrix w_f32{dtype::f32, reinterpret_cast<const std::byte*>(dequantized.data()), rows, cols};
    for (int64_t n : {1, 20}) {
      const auto x = random_floats(size_t(n * cols), 8);
      std::vector<float> exact(size_t(n * rows)), got_scalar(exact.size()), got_fast(exact.size());
      scalar->matmul(w_f32, nullptr, x.data(), n, exact.data());
      scalar->matmul(w, nullptr, x.data(), n, got_scalar.data());
      fast->matmul(w, nullptr, x.data(), n, got_fast.data());
      double scale = 0;
      for (float v : exact) scale = std::max(scale, double(std::fabs(v)));
      for (size_t i = 0; i < exact.size(); ++i) {
        ASSERT_NEAR(got_scalar[i], exact[i], 2e-2 * scale) << dtype_name(type) << " n=" << n;
        ASSERT_NEAR(got_fast[i], exact[i], 2e-2 * scale) << dtype_name(type) << " n=" << n;
      }
    }
  }
}

}  // namespace
}  // namespace owl

namespace owl {
namespace {

// One attention problem: caches [positions, kv_heads, dim] stored as kv_type, queries for
// tokens [first, first + n) as [n, heads, head_dim].
struct attention_case {
  dtype kv_type = dtype::f32;
  int64_t head_dim = 64, v_dim = 64, heads = 8, kv_heads = 2, window = 0;
  float softcap = 0.0f;
  bool sinks = false;
};

struct attention_problem {
  attention_case c;
  int64_t positions = 0;
  std::vector<std::byte> k, v;
  std::vector<float> q, sinks;

  attention_problem(const attention_case& c_, int64_t positions_, uint32_t seed) : c(c_), positions(positions_) {
    k = store_as(c.kv_type, random_floats(size_t(positions * c.kv_heads * c.head_dim), seed));
    v = store_as(c.kv_type, random_floats(size_t(positions * c.kv_heads * c.v_dim), seed + 1));
    q = random_floats(size_t(positions * c.heads * c.head_dim), seed + 2, 2.0f);  // peaked softmaxes too
    sinks = random_floats(size_t(c.heads), seed + 3);
  }
  // Attention of tokens [first, first + n) into out: [n, heads, v_dim].
  void run(backend& b, int64_t first, int64_t n, float* out) const {
    attention_args a;
    a.q = q.data() + first * c.heads * c.head_dim;
    a.k_cache = k.data();
    a.v_cache = v.data();
    a.kv_type = c.kv_type;
    a.out = out;
    a.n_tokens = n;
    a.first_position = first;
    a.n_heads = c.heads;
    a.n_kv_heads = c.kv_heads;
    a.head_dim = c.head_dim;
    a.v_dim = c.v_dim;
    a.k_stride = c.kv_heads * c.head_dim;
    a.v_stride = c.kv_heads * c.v_dim;
    a.sliding_window = c.window;
    a.scale = 1.0f / std::sqrt(float(c.head_dim));
    a.softcap = c.softcap;
    a.sinks = c.sinks ? sinks.data() : nullptr;
    b.attention(a);
  }
};

std::string describe(const attention_case& c) {
  return std::string(dtype_name(c.kv_type)) + " head_dim=" + std::to_string(c.head_dim) + " v_dim=" +
         std::to_string(c.v_dim) + " heads=" + std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) +
         " window=" + std::to_string(c.window) + " softcap=" + std::to_string(c.softcap) +
         " sinks=" + std::to_string(c.sinks);
}

// The grid of everything attention_args supports: cache types, head sizes with and without
// tails, MHA and GQA groups of 4, sliding window, softcap, sinks.
std::vector<attention_case> attention_grid() {
  std::vector<attention_case> grid;
  for (dtype kv_type : {dtype::f32, dtype::f16})
    for (auto [head_dim, v_dim] : {std::pair<int64_t, int64_t>{64, 64}, {20, 20}, {36, 13}})
      for (int64_t group : {1, 4})
        for (int64_t window : {0, 5})
          for (float softcap : {0.0f, 3.0f})
            for (bool sinks : {false, true}) {
              attention_case c{kv_type, head_dim, v_dim, 2 * group, 2, window, softcap, sinks};
              grid.push_back(c);
            }
  // Odd groups take the 4-, 2- and 1-head tiles; MQA with many heads (latent attention's shape).
  grid.push_back({dtype::f32, 24, 24, 7, 1, 0, 0.0f, true});
  grid.push_back({dtype::f16, 72, 64, 16, 1, 0, 0.0f, false});
  return grid;
}

TEST(KernelsAttention, SimdMatchesScalarOverTheGrid) {
  if (!simd::best_kernels().attend_heads) GTEST_SKIP() << "no SIMD attention on this processor";
  auto scalar = make_cpu_backend(1, false);
  auto fast = make_cpu_backend(2, true);
  uint32_t seed = 10;
  for (const attention_case& c : attention_grid()) {
    const int64_t positions = 45;
    attention_problem p(c, positions, seed += 4);
    // Single tokens with 1, 2, 8, 9 and 45 keys, and a prompt of 20 tokens after 3 cached.
    for (auto [first, n] : {std::pair<int64_t, int64_t>{0, 1}, {1, 1}, {7, 1}, {8, 1}, {44, 1}, {3, 20}}) {
      std::vector<float> expected(size_t(n * c.heads * c.v_dim)), got(expected.size());
      p.run(*scalar, first, n, expected.data());
      p.run(*fast, first, n, got.data());
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], expected[i], 1e-5 * std::max(1.0, double(std::fabs(expected[i]))))
            << describe(c) << " first=" << first << " n=" << n << " at " << i;
    }
  }
}

// owl serve relies on a token's attention being bitwise the same alone (a decode step) or in
// a prompt of many tokens, whatever the number of threads splitting the work.
TEST(KernelsAttention, TokenResultDoesNotDependOnBatchOrThreads) {
  auto one = make_cpu_backend(1, true);
  auto three = make_cpu_backend(3, true);
  uint32_t seed = 500;
  for (const attention_case& c : attention_grid()) {
    const int64_t positions = 40, first = 2, n = positions - first;
    attention_problem p(c, positions, seed += 4);
    const int64_t row = c.heads * c.v_dim;
    std::vector<float> batched(size_t(n * row)), batched3(batched.size()), alone(static_cast<size_t>(row));
    p.run(*one, first, n, batched.data());
    p.run(*three, first, n, batched3.data());
    ASSERT_EQ(std::memcmp(batched.data(), batched3.data(), batched.size() * sizeof(float)), 0) << describe(c);
    for (int64_t t = 0; t < n; ++t) {
      p.run(*three, first + t, 1, alone.data());
      ASSERT_EQ(std::memcmp(alone.data(), batched.data() + t * row, size_t(row) * sizeof(float)), 0)
          << describe(c) << " token " << first + t;
    }
  }
}

// The element-wise ops split large counts over the pool; every element must stay bitwise the
// single-threaded scalar result.
TEST(KernelsElementwise, ParallelOpsAreBitwiseTheScalarLoop) {
  auto scalar = make_cpu_backend(1, false);
  auto fast = make_cpu_backend(3, true);
  for (int64_t count : {int64_t(1000), int64_t(300001)}) {
    const auto x = random_floats(size_t(count), 21, 3.0f), up = random_floats(size_t(count), 22, 3.0f);
    auto same = [&](const char* what, auto&& op) {
      std::vector<float> a = x, b = x;
      op(*scalar, a.data());
      op(*fast, b.data());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << what << " count=" << count;
    };
    for (auto kind : {activation_kind::silu, activation_kind::gelu, activation_kind::swiglu_oai}) {
      const activation_config act{kind};
      same("gated", [&](backend& b, float* v) { b.gated_activation(act, v, up.data(), count); });
      if (kind != activation_kind::swiglu_oai) same("activation", [&](backend& b, float* v) { b.activation(act, v, count); });
    }
    same("add", [&](backend& b, float* v) { b.add(v, up.data(), count); });
    same("add scaled", [&](backend& b, float* v) { b.add(v, up.data(), count, 0.37f); });
    same("scale", [&](backend& b, float* v) { b.scale(v, 1.3f, count); });
    same("clamp", [&](backend& b, float* v) { b.clamp(v, 2.0f, count); });
    same("softcap", [&](backend& b, float* v) { b.softcap(v, 5.0f, count); });
  }
  // Rope over [n, heads, head_dim], partial rotation: large enough to go parallel.
  const int64_t n = 300, heads = 12, head_dim = 40, rot = 32;
  const auto cos = random_floats(size_t(n * rot / 2), 23), sin = random_floats(size_t(n * rot / 2), 24);
  std::vector<float> a = random_floats(size_t(n * heads * head_dim), 25), b = a;
  scalar->rope(a.data(), n, heads, head_dim, rot, cos.data(), sin.data());
  fast->rope(b.data(), n, heads, head_dim, rot, cos.data(), sin.data());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0) << "rope";
}

}  // namespace
}  // namespace owl
