// Quantized weight formats (src/quant): layouts checked against blocks encoded by hand in this
// file, quantizer error bounds, dot products against dequantize + float dot, AVX2 and AVX-512
// VNNI against scalar, the tiled matrix products against vec_dot (bitwise), and size errors.
#include <gtest/gtest.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <bit>
#include <cctype>
#include <ctime>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "owl/dtype.h"
#include "owl/error.h"
#include "quant/quant.h"

namespace owl::quant {
namespace {

using bytes = std::vector<std::byte>;

// ---- an independent encoder: every field placed bit by bit from the layouts ----------------

struct block_writer {
  std::vector<uint8_t> b;
  explicit block_writer(size_t size) : b(size, 0) {}
  // Writes the low `bits` bits of v at bit `shift` of byte `at`.
  void put(size_t at, int shift, int bits, unsigned v) {
    ASSERT_LE(shift + bits, 8);
    ASSERT_LT(at, b.size());
    b[at] = uint8_t(b[at] | ((v & ((1u << bits) - 1u)) << shift));
  }
  void put_u16(size_t at, uint16_t v) {
    b[at] = uint8_t(v & 0xff);
    b[at + 1] = uint8_t(v >> 8);
  }
  void put_f32(size_t at, float f) {
    const uint32_t u = std::bit_cast<uint32_t>(f);
    for (int i = 0; i < 4; ++i) b[at + i] = uint8_t(u >> (8 * i));
  }
};

// A random fp16 scale: bits and value.
struct half_value {
  uint16_t bits;
  float value;
};
half_value random_half(std::mt19937& rng, float lo, float hi) {
  const uint16_t h = f32_to_f16(std::uniform_real_distribution<float>(lo, hi)(rng));
  return {h, f16_to_f32(h)};
}
int random_int(std::mt19937& rng, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

// Separate statements so no compiler fuses a multiply-add (ggml computes them rounded twice).
float mul_sub(float a, float b, float c) {
  const float p = a * b;
  return p - c;
}
float mul_add(float a, float b, float c) {
  const float p = a * b;
  return p + c;
}

constexpr int8_t grid[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

// One hand-encoded block with its expected values. The encoders follow the layout text in
// docs/quantization.md element by element (byte and bit of each element), not the library.
struct encoded {
  std::vector<uint8_t> block;
  std::vector<float> values;
};

encoded encode_block(qtype t, std::mt19937& rng) {
  encoded out;
  auto& v = out.values;
  switch (t) {
    case qtype::q4_0:
    case qtype::q4_1:
    case qtype::iq4_nl: {  // nibble of element e: byte off + e % 16, shift 4 * (e / 16)
      const int off = t == qtype::q4_1 ? 4 : 2;
      block_writer w(off + 16);
      const half_value d = random_half(rng, -2.0f, 2.0f), m = random_half(rng, -3.0f, 3.0f);
      w.put_u16(0, d.bits);
      if (t == qtype::q4_1) w.put_u16(2, m.bits);
      for (int e = 0; e < 32; ++e) {
        const int q = random_int(rng, 0, 15);
        w.put(off + e % 16, 4 * (e / 16), 4, unsigned(q));
        if (t == qtype::q4_0) v.push_back(float(q - 8) * d.value);
        if (t == qtype::q4_1) v.push_back(mul_add(float(q), d.value, m.value));
        if (t == qtype::iq4_nl) v.push_back(d.value * float(grid[q]));
      }
      out.block = w.b;
      break;
    }
    case qtype::q5_0:
    case qtype::q5_1: {  // 5th bit of element e: bit e % 8 of byte qh + e / 8
      const bool one = t == qtype::q5_1;
      const int qh = one ? 4 : 2, qs = qh + 4;
      block_writer w(qs + 16);
      const half_value d = random_half(rng, -2.0f, 2.0f), m = random_half(rng, -3.0f, 3.0f);
      w.put_u16(0, d.bits);
      if (one) w.put_u16(2, m.bits);
      for (int e = 0; e < 32; ++e) {
        const int q = random_int(rng, 0, 31);
        w.put(qs + e % 16, 4 * (e / 16), 4, unsigned(q & 15));
        w.put(qh + e / 8, e % 8, 1, unsigned(q >> 4));
        v.push_back(one ? mul_add(float(q), d.value, m.value) : float(q - 16) * d.value);
      }
      out.block = w.b;
      break;
    }
    case qtype::q8_0:
    case qtype::q8_1: {
      const int qs = t == qtype::q8_0 ? 2 : 4;
      block_writer w(qs + 32);
      const half_value d = random_half(rng, -0.1f, 0.1f);
      w.put_u16(0, d.bits);
      int sum = 0;
      for (int e = 0; e < 32; ++e) {
        const int q = random_int(rng, -128, 127);
        w.b[qs + e] = uint8_t(int8_t(q));
        sum += q;
        v.push_back(float(q) * d.value);
      }
      if (t == qtype::q8_1) w.put_u16(2, f32_to_f16(d.value * float(sum)));
      out.block = w.b;
      break;
    }
    case qtype::q2_k: {  // element e = 128n + 32j + l: bits 2j..2j+1 of qs[32n + l]; sub-block e / 16
      block_writer w(84);
      const half_value d = random_half(rng, 0.0f, 0.5f), dmin = random_half(rng, 0.0f, 0.5f);
      w.put_u16(80, d.bits);
      w.put_u16(82, dmin.bits);
      int sc[16], mn[16];
      for (int s = 0; s < 16; ++s) {
        sc[s] = random_int(rng, 0, 15);
        mn[s] = random_int(rng, 0, 15);
        w.put(s, 0, 4, unsigned(sc[s]));
        w.put(s, 4, 4, unsigned(mn[s]));
      }
      for (int e = 0; e < 256; ++e) {
        const int q = random_int(rng, 0, 3), n = e / 128, j = (e % 128) / 32, l = e % 32;
        w.put(16 + 32 * n + l, 2 * j, 2, unsigned(q));
        v.push_back(mul_sub(d.value * float(sc[e / 16]), float(q), dmin.value * float(mn[e / 16])));
      }
      out.block = w.b;
      break;
    }
    case qtype::q3_k: {  // low 2 bits as Q2_K at qs = 32; 3rd bit: bit e / 32 of hmask[e % 32]
      block_writer w(110);
      const half_value d = random_half(rng, -0.5f, 0.5f);
      w.put_u16(108, d.bits);
      int sc[16];
      for (int s = 0; s < 16; ++s) {  // 6-bit scale s: low 4 bits at byte 96 + s % 8, shift 4 (s / 8);
        sc[s] = random_int(rng, 0, 63);  // high 2 bits at byte 104 + s % 4, shift 2 (s / 4)
        w.put(96 + s % 8, 4 * (s / 8), 4, unsigned(sc[s] & 15));
        w.put(104 + s % 4, 2 * (s / 4), 2, unsigned(sc[s] >> 4));
      }
      for (int e = 0; e < 256; ++e) {
        const int q = random_int(rng, -4, 3), n = e / 128, j = (e % 128) / 32, l = e % 32;
        const unsigned biased = unsigned(q + 4);  // low 2 bits, and the "no -4" bit
        w.put(32 + 32 * n + l, 2 * j, 2, biased & 3);
        w.put(e % 32, e / 32, 1, biased >> 2);
        v.push_back(d.value * float(sc[e / 16] - 32) * float(q));
      }
      out.block = w.b;
      break;
    }
    case qtype::q4_k:
    case qtype::q5_k: {
      // scales at byte 4: j < 4: scale j = bits 0-5 of byte 4+j, min j = bits 0-5 of byte 8+j;
      // j >= 4: scale low 4 bits = byte 8+j bits 0-3, high 2 = byte j bits 6-7 (i.e. 4+(j-4));
      //         min low 4 bits = byte 8+j bits 4-7, high 2 = byte 4+j bits 6-7.
      const bool five = t == qtype::q5_k;
      const int qs = five ? 48 : 16;
      block_writer w(five ? 176 : 144);
      const half_value d = random_half(rng, 0.0f, 0.5f), dmin = random_half(rng, 0.0f, 0.5f);
      w.put_u16(0, d.bits);
      w.put_u16(2, dmin.bits);
      int sc[8], mn[8];
      for (int j = 0; j < 8; ++j) {
        sc[j] = random_int(rng, 0, 63);
        mn[j] = random_int(rng, 0, 63);
        if (j < 4) {
          w.put(4 + j, 0, 6, unsigned(sc[j]));
          w.put(8 + j, 0, 6, unsigned(mn[j]));
        } else {
          w.put(8 + j, 0, 4, unsigned(sc[j] & 15));
          w.put(j, 6, 2, unsigned(sc[j] >> 4));
          w.put(8 + j, 4, 4, unsigned(mn[j] & 15));
          w.put(4 + j, 6, 2, unsigned(mn[j] >> 4));
        }
      }
      for (int e = 0; e < 256; ++e) {  // e = 64c + 32h + l: nibble h of qs[32c + l]; 5th bit: qh[l] bit e/32
        const int q = random_int(rng, 0, five ? 31 : 15), c = e / 64, h = (e / 32) % 2, l = e % 32;
        w.put(qs + 32 * c + l, 4 * h, 4, unsigned(q & 15));
        if (five) w.put(16 + l, e / 32, 1, unsigned(q >> 4));
        v.push_back(mul_sub(d.value * float(sc[e / 32]), float(q), dmin.value * float(mn[e / 32])));
      }
      out.block = w.b;
      break;
    }
    case qtype::q6_k: {
      // e = 128n + 32k + l: low 4 bits in ql[64n + 32(k%2) + l] at shift 4(k/2);
      // high 2 bits in qh[32n + l] at shift 2k; scale int8 at 192 + e/16; d at 208.
      block_writer w(210);
      const half_value d = random_half(rng, -0.05f, 0.05f);
      w.put_u16(208, d.bits);
      int sc[16];
      for (int s = 0; s < 16; ++s) {
        sc[s] = random_int(rng, -128, 127);
        w.b[192 + s] = uint8_t(int8_t(sc[s]));
      }
      for (int e = 0; e < 256; ++e) {
        const int q = random_int(rng, 0, 63), n = e / 128, k = (e % 128) / 32, l = e % 32;
        w.put(64 * n + 32 * (k % 2) + l, 4 * (k / 2), 4, unsigned(q & 15));
        w.put(128 + 32 * n + l, 2 * k, 2, unsigned(q >> 4));
        v.push_back(d.value * float(sc[e / 16]) * float(q - 32));
      }
      out.block = w.b;
      break;
    }
    case qtype::q8_k: {
      block_writer w(292);
      const float d = std::uniform_real_distribution<float>(-0.01f, 0.01f)(rng);
      w.put_f32(0, d);
      for (int e = 0; e < 256; ++e) {
        const int q = random_int(rng, -128, 127);
        w.b[4 + e] = uint8_t(int8_t(q));
        v.push_back(d * float(q));
      }
      out.block = w.b;
      break;
    }
    case qtype::iq4_xs: {
      // d at 0; 6-bit scale of sub-block ib: low 4 bits at byte 4 + ib/2 shift 4(ib%2), high 2
      // bits at bits 2ib of the uint16 at 2; indices: sub-block ib's 16 bytes at 8 + 16 ib.
      block_writer w(136);
      const half_value d = random_half(rng, -0.05f, 0.05f);
      w.put_u16(0, d.bits);
      int ls[8];
      uint16_t high = 0;
      for (int ib = 0; ib < 8; ++ib) {
        ls[ib] = random_int(rng, 0, 63);
        w.put(4 + ib / 2, 4 * (ib % 2), 4, unsigned(ls[ib] & 15));
        high = uint16_t(high | (ls[ib] >> 4) << (2 * ib));
      }
      w.put_u16(2, high);
      for (int e = 0; e < 256; ++e) {
        const int q = random_int(rng, 0, 15), ib = e / 32, r = e % 32;
        w.put(8 + 16 * ib + r % 16, 4 * (r / 16), 4, unsigned(q));
        v.push_back(d.value * float(ls[ib] - 32) * float(grid[q]));
      }
      out.block = w.b;
      break;
    }
  }
  return out;
}

const char* name_of(qtype t) { return info(t).name.data(); }

TEST(QuantTypes, TableMatchesGguf) {
  struct row {
    qtype t;
    const char* name;
    int block, bytes, ggml;
  };
  const row rows[] = {{qtype::q4_0, "Q4_0", 32, 18, 2},      {qtype::q4_1, "Q4_1", 32, 20, 3},
                      {qtype::q5_0, "Q5_0", 32, 22, 6},      {qtype::q5_1, "Q5_1", 32, 24, 7},
                      {qtype::q8_0, "Q8_0", 32, 34, 8},      {qtype::q8_1, "Q8_1", 32, 36, 9},
                      {qtype::q2_k, "Q2_K", 256, 84, 10},    {qtype::q3_k, "Q3_K", 256, 110, 11},
                      {qtype::q4_k, "Q4_K", 256, 144, 12},   {qtype::q5_k, "Q5_K", 256, 176, 13},
                      {qtype::q6_k, "Q6_K", 256, 210, 14},   {qtype::q8_k, "Q8_K", 256, 292, 15},
                      {qtype::iq4_nl, "IQ4_NL", 32, 18, 20}, {qtype::iq4_xs, "IQ4_XS", 256, 136, 23}};
  for (const auto& r : rows) {
    const auto& i = info(r.t);
    EXPECT_EQ(i.name, r.name);
    EXPECT_EQ(i.block_size, r.block) << r.name;
    EXPECT_EQ(i.block_bytes, r.bytes) << r.name;
    EXPECT_EQ(i.ggml_type, r.ggml) << r.name;
    EXPECT_EQ(from_ggml_type(r.ggml), r.t);
    EXPECT_EQ(from_name(r.name), r.t);
    std::string lower = r.name;
    for (char& c : lower) c = char(std::tolower(c));
    EXPECT_EQ(from_name(lower), r.t);
    EXPECT_EQ(row_bytes(r.t, 4096), size_t(4096 / r.block * r.bytes));
  }
  EXPECT_FALSE(from_ggml_type(0));  // F32
  EXPECT_FALSE(from_ggml_type(16));  // IQ2_XXS: not supported
  EXPECT_FALSE(from_name("Q4_2"));
  EXPECT_FALSE(from_name("Q4_K_M"));
  EXPECT_FALSE(from_name(""));
  EXPECT_EQ(dot_activation_type(qtype::q4_0), qtype::q8_0);
  EXPECT_EQ(dot_activation_type(qtype::q4_1), qtype::q8_1);
  EXPECT_EQ(dot_activation_type(qtype::q5_0), qtype::q8_0);
  EXPECT_EQ(dot_activation_type(qtype::q5_1), qtype::q8_1);
  EXPECT_EQ(dot_activation_type(qtype::q8_0), qtype::q8_0);
  EXPECT_EQ(dot_activation_type(qtype::iq4_nl), qtype::q8_0);
  for (qtype t : {qtype::q2_k, qtype::q3_k, qtype::q4_k, qtype::q5_k, qtype::q6_k, qtype::q8_k, qtype::iq4_xs})
    EXPECT_EQ(dot_activation_type(t), qtype::q8_k);
}

// Dequantization of hand-built blocks is bit-exact (three blocks per row, so the block stride is
// covered too), read from an odd address so no alignment is assumed.
TEST(QuantDequantize, HandEncodedBlocksAreBitExact) {
  for (qtype t : all_qtypes) {
    std::mt19937 rng(1234 + int(t));
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<uint8_t> row_bytes_buf(1, 0);  // one pad byte: misaligned start
      std::vector<float> expected;
      for (int b = 0; b < 3; ++b) {
        const encoded e = encode_block(t, rng);
        ASSERT_EQ(int(e.block.size()), info(t).block_bytes) << name_of(t);
        row_bytes_buf.insert(row_bytes_buf.end(), e.block.begin(), e.block.end());
        expected.insert(expected.end(), e.values.begin(), e.values.end());
      }
      std::vector<float> got(expected.size(), -1.0f);
      dequantize_row(t, reinterpret_cast<const std::byte*>(row_bytes_buf.data() + 1), got.data(),
                     int64_t(expected.size()));
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_EQ(std::bit_cast<uint32_t>(got[i]), std::bit_cast<uint32_t>(expected[i]))
            << name_of(t) << " element " << i << ": " << got[i] << " vs " << expected[i];
    }
  }
}

// ---- quantizer error ----------------------------------------------------------------------

std::vector<float> make_data(const std::string& kind, size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> x(n);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  for (auto& v : x) {
    if (kind == "gaussian") v = gauss(rng);
    if (kind == "uniform") v = uni(rng);
    if (kind == "outliers") v = uni(rng) < -0.98f ? 20.0f * gauss(rng) : gauss(rng);  // 1% at 20 sigma scale
    if (kind == "offset") v = 3.0f + 0.5f * gauss(rng);                               // all positive
  }
  return x;
}

std::vector<float> round_trip(qtype t, const std::vector<float>& x) {
  bytes q(row_bytes(t, int64_t(x.size())));
  quantize_row(t, x.data(), q.data(), int64_t(x.size()));
  std::vector<float> y(x.size());
  dequantize_row(t, q.data(), y.data(), int64_t(x.size()));
  return y;
}

double rms(const float* a, const float* b, size_t n) {
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    const double diff = double(a[i]) - (b ? double(b[i]) : 0.0);
    s += diff * diff;
  }
  return std::sqrt(s / double(n));
}

// The largest |x| of a block, and the largest range max(x) - min(min(x), 0) of its sub-blocks.
double amax_of(const float* x, int n) {
  double a = 0;
  for (int i = 0; i < n; ++i) a = std::max(a, std::fabs(double(x[i])));
  return a;
}
double max_sub_range(const float* x, int n, int sub) {
  double r = 0;
  for (int s = 0; s < n; s += sub) {
    double lo = 0, hi = x[s];
    for (int i = s; i < s + sub; ++i) {
      lo = std::min(lo, double(x[i]));
      hi = std::max(hi, double(x[i]));
    }
    r = std::max(r, hi - lo);
  }
  return r;
}
double range_of(const float* x, int n) {
  double lo = x[0], hi = x[0];
  for (int i = 0; i < n; ++i) {
    lo = std::min(lo, double(x[i]));
    hi = std::max(hi, double(x[i]));
  }
  return hi - lo;
}

// Per-block RMS bound each format implies, with step = the grid spacing the format gives that
// block. Round-to-nearest on a uniform grid errs by at most step / 2 per element.
//   Q8_0, Q8_1, Q8_K: step = amax / 127                                -> bound amax / 254
//   Q5_1, Q4_1: step = (max - min) / 31 or / 15, m = min               -> bound range / 62, / 30
//   Q5_0, Q4_0: step = amax / 16 or / 8 with levels -16..15 / -8..7: elements on the far side
//     within half a step of amax round onto the last level and err by up to one step, so
//     RMS-wise allow 0.6 step (four such elements in a block of 32 give 0.57 step)
//                                                                       -> amax / 26.6, / 13.3
//   IQ4_NL, IQ4_XS: non-uniform grid {-127..113} * d, d ~ amax / 127, widest gap 24 d: an
//     element errs by at most 12 d = amax / 10.6; RMS-wise (most gaps are 12..16) amax / 14
//     (IQ4_XS: amax of the super-block, sub-block scales share a 6-bit range; / 12)
//   K-quants, sub-block range R = max over sub-blocks of max - min(min, 0), nmax levels:
//     grid error R / (2 nmax), plus the sub-block scale and min being quantized to 6 bits
//     (Q2_K: 4 bits) against the super-block maximum, which moves the grid ends by up to
//     nmax * d / 2 + dmin / 2, d = max scale / 63 ~ R / (63 nmax):
//     Q5_K: R / 62 + R / 126 + R / 126  = R / 31
//     Q4_K: R / 30 + R / 126 + R / 126  = R / 20
//     Q2_K: R / 6  + R / 30  + R / 30   = R / 4.3
//     Q6_K (levels -32..31, int8 scales, A = amax): A / 64 + 32 A / (64 * 256) -> A / 50
//     Q3_K (levels -4..3, 6-bit signed scales): A / 8 + far-side clamping as Q4_0 -> A / 6
struct error_spec {
  qtype t;
  double (*bound)(const float* x, int n);  // per block of info(t).block_size
};
const error_spec error_specs[] = {
    {qtype::q8_0, [](const float* x, int n) { return amax_of(x, n) / 254.0 * 1.002; }},
    {qtype::q8_1, [](const float* x, int n) { return amax_of(x, n) / 254.0 * 1.002; }},
    {qtype::q8_k, [](const float* x, int n) { return amax_of(x, n) / 254.0 * 1.0001; }},
    {qtype::q5_1, [](const float* x, int n) { return range_of(x, n) / 62.0 * 1.01 + amax_of(x, n) / 2048; }},
    {qtype::q4_1, [](const float* x, int n) { return range_of(x, n) / 30.0 * 1.01 + amax_of(x, n) / 2048; }},
    {qtype::q5_0, [](const float* x, int n) { return amax_of(x, n) / 26.6; }},
    {qtype::q4_0, [](const float* x, int n) { return amax_of(x, n) / 13.3; }},
    {qtype::iq4_nl, [](const float* x, int n) { return amax_of(x, n) / 14.0; }},
    {qtype::iq4_xs, [](const float* x, int n) { return amax_of(x, n) / 12.0; }},
    {qtype::q6_k, [](const float* x, int n) { return amax_of(x, n) / 50.0; }},
    {qtype::q5_k, [](const float* x, int n) { return max_sub_range(x, n, 32) / 31.0; }},
    {qtype::q4_k, [](const float* x, int n) { return max_sub_range(x, n, 32) / 20.0; }},
    {qtype::q3_k, [](const float* x, int n) { return amax_of(x, n) / 6.0; }},
    {qtype::q2_k, [](const float* x, int n) { return max_sub_range(x, n, 16) / 4.3; }},
};

TEST(QuantError, EveryBlockWithinItsFormatBound) {
  const size_t n = 256 * 64;
  std::printf("  relative RMS error (rms(x - x') / rms(x)), %zu values:\n  %-7s", n, "type");
  const char* kinds[] = {"gaussian", "uniform", "outliers", "offset"};
  for (const char* k : kinds) std::printf(" %9s", k);
  std::printf(" %12s\n", "worst/bound");
  for (const auto& spec : error_specs) {
    std::printf("  %-7s", name_of(spec.t));
    const int bs = info(spec.t).block_size;
    double worst = 0;  // largest block error as a fraction of its bound
    for (const char* kind : kinds) {
      const auto x = make_data(kind, n, 99);
      const auto y = round_trip(spec.t, x);
      for (size_t b = 0; b < n; b += size_t(bs)) {
        const double err = rms(x.data() + b, y.data() + b, size_t(bs));
        const double bound = spec.bound(x.data() + b, bs);
        ASSERT_LE(err, bound) << name_of(spec.t) << " " << kind << " block " << b / bs;
        worst = std::max(worst, err / bound);
      }
      std::printf(" %9.5f", rms(x.data(), y.data(), n) / rms(x.data(), nullptr, n));
    }
    std::printf(" %12.2f\n", worst);
  }
}

// The elementwise guarantee of the round-to-nearest legacy quantizers: every element is within
// half a step of its value (the far-side clamp of Q4_0 / Q5_0 aside, which is checked to be
// at most the distance to the last level), with the fp16 rounding of the scale allowed for.
TEST(QuantError, LegacyElementsRoundToNearest) {
  const auto x = make_data("outliers", 32 * 512, 5);
  for (qtype t : {qtype::q4_0, qtype::q5_0, qtype::q8_0, qtype::q4_1, qtype::q5_1}) {
    const auto y = round_trip(t, x);
    for (size_t b = 0; b < x.size(); b += 32) {
      const float* xb = x.data() + b;
      double lo = xb[0], hi = xb[0], extreme = 0;
      for (int i = 0; i < 32; ++i) {
        lo = std::min(lo, double(xb[i]));
        hi = std::max(hi, double(xb[i]));
        if (std::fabs(xb[i]) > std::fabs(extreme)) extreme = xb[i];
      }
      for (int i = 0; i < 32; ++i) {
        double bound;
        if (t == qtype::q4_1 || t == qtype::q5_1) {
          const double step = (hi - lo) / (t == qtype::q4_1 ? 15 : 31);
          bound = step / 2 * (1 + 1e-3) + std::max(std::fabs(lo), std::fabs(hi)) * 2e-3;
        } else {
          const int half_levels = t == qtype::q4_0 ? 8 : t == qtype::q5_0 ? 16 : 127;
          const double step = extreme / (t == qtype::q8_0 ? half_levels : -half_levels);  // signed
          const double level = step != 0 ? double(xb[i]) / step : 0;  // position on the grid
          const double top = half_levels - (t == qtype::q8_0 ? 0 : 1);
          const double outside = std::max(0.0, std::max(level - top, -half_levels - level));
          bound = std::fabs(step) * (std::max(0.5, outside) + half_levels * 1e-3);
        }
        ASSERT_LE(std::fabs(double(y[b + i]) - xb[i]), bound) << name_of(t) << " element " << b + i;
      }
    }
  }
}

// llama.cpp's own acceptance test (tests/test-quantize-fns.cpp): x[i] = 0.1 + 2 cos(i), 4096
// values, "total error" sqrt(sum diff^2) / n must stay under 0.002 (Q3_K: 0.004, Q2_K: 0.0075),
// and the dot product of two such rows (offsets 0 and 1) within 0.02 * n (Q2_K, Q3_K: 0.04).
TEST(QuantError, LlamaCppSyntheticThresholds) {
  const int n = 4096;
  std::vector<float> x(n), x2(n);
  for (int i = 0; i < n; ++i) {
    x[i] = float(0.1 + 2 * std::cos(double(i)));
    x2[i] = float(0.1 + 2 * std::cos(double(i) + 1.0));
  }
  double dot_ref = 0;
  for (int i = 0; i < n; ++i) dot_ref += double(x[i]) * x2[i];
  std::printf("  %-7s %12s %12s\n", "type", "total_error", "dot_error");
  for (qtype t : all_qtypes) {
    const auto y = round_trip(t, x);
    double s = 0;
    for (int i = 0; i < n; ++i) s += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
    const double total = std::sqrt(s) / n;
    const double limit = t == qtype::q2_k ? 0.0075 : t == qtype::q3_k ? 0.004 : 0.002;
    EXPECT_LT(total, limit) << name_of(t);

    const qtype at = dot_activation_type(t);
    bytes w(row_bytes(t, n)), a(row_bytes(at, n));
    quantize_row(t, x.data(), w.data(), n);
    quantize_row(at, x2.data(), a.data(), n);
    const double dot_error = std::fabs(double(vec_dot(t, w.data(), a.data(), n)) - dot_ref) / n;
    EXPECT_LT(dot_error, (t == qtype::q2_k || t == qtype::q3_k) ? 0.04 : 0.02) << name_of(t);
    std::printf("  %-7s %12.6f %12.6f\n", name_of(t), total, dot_error);
  }
}

// quantize -> dequantize -> quantize. Formats with one fp16 scale per block of 32 (legacy,
// Q8_0/Q8_1, IQ4_NL) reproduce values already on their grid exactly; Q8_K up to the float32
// rounding of its recomputed scale. The k-quants and IQ4_XS re-quantize their sub-block scales
// against a super-block maximum, and a sub-block left with two distinct values (an outlier and
// the rest) fits several grids exactly: whichever is picked resets the super-block scale. So
// there we require no drift: each further pass moves the values by less than 3/4 of the first
// pass's error (measured: 0 on Gaussian data except Q3_K 0.22; on outlier data 0.04 to 0.2,
// Q2_K 0.45 to 0.55).
TEST(QuantError, RequantizingIsStable) {
  std::printf("  %-7s %-9s %12s %12s %12s\n", "type", "data", "pass 1", "pass 2", "pass 3");
  for (qtype t : all_qtypes) {
    for (const char* kind : {"gaussian", "outliers"}) {
      for (uint32_t seed : {7u, 8u, 9u}) {
        const auto x = make_data(kind, 256 * 32, seed);
        const auto y = round_trip(t, x);
        const auto z = round_trip(t, y);
        const auto z2 = round_trip(t, z);
        const double first = rms(x.data(), y.data(), x.size());
        const double second = rms(y.data(), z.data(), y.size());
        const double third = rms(z.data(), z2.data(), z.size());
        if (seed == 7) std::printf("  %-7s %-9s %12.3g %12.3g %12.3g\n", name_of(t), kind, first, second, third);
        if (info(t).block_size == 32) {
          EXPECT_EQ(second, 0.0) << name_of(t) << " " << kind;
        } else if (t == qtype::q8_k) {
          EXPECT_LE(second, 1e-6 * rms(x.data(), nullptr, x.size())) << kind;
        } else {
          EXPECT_LE(second, 0.75 * first) << name_of(t) << " " << kind << " seed " << seed;
          EXPECT_LE(third, 0.75 * first) << name_of(t) << " " << kind << " seed " << seed;
        }
      }
    }
  }
}

TEST(QuantError, ZerosAndConstantsAreExact) {
  for (qtype t : all_qtypes) {
    const std::vector<float> zeros(256, 0.0f);
    for (float v : round_trip(t, zeros)) ASSERT_EQ(v, 0.0f) << name_of(t);
  }
  // Q8_K keeps d in float32: any constant block is exact; the rest keep fp16 scales.
  const std::vector<float> ones(256, 1.0f);
  for (qtype t : {qtype::q4_0, qtype::q4_1, qtype::q5_0, qtype::q5_1, qtype::q8_0, qtype::q8_k, qtype::q6_k})
    for (float v : round_trip(t, ones)) ASSERT_NEAR(v, 1.0f, 1e-3) << name_of(t);
}

// NaN and infinities give unspecified values but never undefined behaviour (run under UBSan)
// or a crash; the finite blocks of the same row are unaffected.
TEST(QuantError, NonFiniteInputIsContained) {
  for (qtype t : all_qtypes) {
    std::vector<float> x = make_data("gaussian", 512, 4);
    x[3] = std::nanf("");
    x[40] = INFINITY;
    x[100] = -INFINITY;
    std::vector<float> finite(x.begin() + 256, x.end());
    const auto y = round_trip(t, x);
    const auto y_finite = round_trip(t, finite);
    for (size_t i = 0; i < 256; ++i) ASSERT_EQ(y[256 + i], y_finite[i]) << name_of(t);
  }
}

TEST(QuantError, ActivationBlocksCarryTheirSums) {
  const auto x = make_data("gaussian", 1024, 3);
  bytes q8k(row_bytes(qtype::q8_k, 1024)), q81(row_bytes(qtype::q8_1, 1024));
  quantize_row(qtype::q8_k, x.data(), q8k.data(), 1024);
  quantize_row(qtype::q8_1, x.data(), q81.data(), 1024);
  for (int b = 0; b < 4; ++b) {  // Q8_K: bsums[g] = sum of qs[16g .. 16g + 15]
    const auto* blk = reinterpret_cast<const uint8_t*>(q8k.data()) + 292 * b;
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += int8_t(blk[4 + 16 * g + i]);
      int16_t stored;
      std::memcpy(&stored, blk + 260 + 2 * g, 2);
      EXPECT_EQ(stored, sum);
    }
  }
  for (int b = 0; b < 32; ++b) {  // Q8_1: s = fp16(d * sum(qs))
    const auto* blk = reinterpret_cast<const uint8_t*>(q81.data()) + 36 * b;
    uint16_t d, s;
    std::memcpy(&d, blk, 2);
    std::memcpy(&s, blk + 2, 2);
    int sum = 0;
    for (int i = 0; i < 32; ++i) sum += int8_t(blk[4 + i]);
    EXPECT_EQ(s, f32_to_f16(f16_to_f32(d) * float(sum)));
  }
}

// ---- dot products -------------------------------------------------------------------------

// sum w_i a_i over the dequantized rows, in double, and sum |w_i a_i| (the scale for errors).
struct reference_dot {
  double value = 0, magnitude = 0;
};
reference_dot dequantized_dot(qtype t, const bytes& w, const bytes& a, int64_t n) {
  std::vector<float> wd(static_cast<size_t>(n)), ad(static_cast<size_t>(n));
  dequantize_row(t, w.data(), wd.data(), n);
  dequantize_row(dot_activation_type(t), a.data(), ad.data(), n);
  reference_dot r;
  for (int64_t i = 0; i < n; ++i) {
    r.value += double(wd[size_t(i)]) * ad[size_t(i)];
    r.magnitude += std::fabs(double(wd[size_t(i)]) * ad[size_t(i)]);
  }
  return r;
}

// Q4_1 / Q5_1 x Q8_1 use the stored s = fp16(d8 * sum q8) for the min term, so they may differ
// from the dequantized dot by up to half an fp16 ulp of s times |m| per block.
double min_term_allowance(qtype t, const bytes& w, const bytes& a, int64_t n) {
  if (t != qtype::q4_1 && t != qtype::q5_1) return 0;
  const auto* wb = reinterpret_cast<const uint8_t*>(w.data());
  const auto* ab = reinterpret_cast<const uint8_t*>(a.data());
  const int wbytes = info(t).block_bytes;
  double allowance = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    uint16_t m, s;
    std::memcpy(&m, wb + b * wbytes + 2, 2);
    std::memcpy(&s, ab + b * 36 + 2, 2);
    allowance += std::fabs(double(f16_to_f32(m))) * std::fabs(double(f16_to_f32(s))) * std::ldexp(1.0, -11);
  }
  return allowance;
}

constexpr kernel_isa all_isas[] = {kernel_isa::scalar, kernel_isa::avx2, kernel_isa::avx512_vnni};
const char* isa_name(kernel_isa isa) {
  return isa == kernel_isa::scalar ? "scalar" : isa == kernel_isa::avx2 ? "avx2" : "avx512_vnni";
}

// vec_dot equals the dot of the dequantized rows up to float rounding: per block one int32
// sum (exact) times a product of two scales, accumulated in float: |error| <= 1e-5 sum|w a|
// for n <= 4096 (about 128 float additions of 2^-24 relative error each, with margin).
TEST(QuantDot, MatchesDequantizedDot) {
  for (qtype t : all_qtypes) {
    const qtype at = dot_activation_type(t);
    for (int64_t n : {256, 512, 1024, 2048, 4096}) {
      for (const char* kind : {"gaussian", "offset", "outliers"}) {
        const auto x = make_data(kind, size_t(n), 11 + uint32_t(n));
        const auto y = make_data("gaussian", size_t(n), 12 + uint32_t(n));
        bytes w(row_bytes(t, n)), a(row_bytes(at, n));
        quantize_row(t, x.data(), w.data(), n);
        quantize_row(at, y.data(), a.data(), n);
        const auto ref = dequantized_dot(t, w, a, n);
        const double tol = 1e-5 * ref.magnitude + min_term_allowance(t, w, a, n);
        for (kernel_isa isa : all_isas) {
          if (!has_kernel(isa, t)) continue;
          const float got = vec_dot_with(isa, t, w.data(), a.data(), n);
          EXPECT_NEAR(got, ref.value, tol) << name_of(t) << " n=" << n << " " << kind << " " << isa_name(isa);
        }
        EXPECT_NEAR(vec_dot(t, w.data(), a.data(), n), ref.value, tol) << name_of(t);
      }
    }
  }
}

// Random block bytes (every bit pattern of levels and sub-scales), with finite scales: the
// scalar and SIMD kernels agree with the dequantized dot and with each other. Activation rows
// keep quantize_row's range [-127, 127] (the SIMD kernels' documented precondition); weights
// take every byte, -128 included.
void randomize_row(qtype t, bytes& row, std::mt19937& rng, bool activation = false) {
  for (auto& b : row) b = std::byte(rng() & 0xff);
  if (activation && (t == qtype::q8_0 || t == qtype::q8_1 || t == qtype::q8_k))
    for (auto& b : row)
      if (b == std::byte(0x80)) b = std::byte(0x81);
  const int bb = info(t).block_bytes;
  auto* p = reinterpret_cast<uint8_t*>(row.data());
  auto set_half = [&](uint8_t* at, float lo, float hi) {
    const uint16_t h = f32_to_f16(std::uniform_real_distribution<float>(lo, hi)(rng));
    std::memcpy(at, &h, 2);
  };
  for (size_t off = 0; off < row.size(); off += size_t(bb)) {
    uint8_t* blk = p + off;
    switch (t) {
      case qtype::q4_0: case qtype::q5_0: case qtype::q8_0: case qtype::iq4_nl: case qtype::iq4_xs:
        set_half(blk, -1, 1);
        break;
      case qtype::q4_1: case qtype::q5_1: case qtype::q4_k: case qtype::q5_k:
        set_half(blk, -1, 1);
        set_half(blk + 2, -1, 1);
        break;
      case qtype::q8_1: {  // activation format: s must match the quants
        set_half(blk, -1, 1);
        uint16_t d;
        std::memcpy(&d, blk, 2);
        int sum = 0;
        for (int i = 0; i < 32; ++i) sum += int8_t(blk[4 + i]);
        const uint16_t s = f32_to_f16(f16_to_f32(d) * float(sum));
        std::memcpy(blk + 2, &s, 2);
        break;
      }
      case qtype::q2_k:
        set_half(blk + 80, -1, 1);
        set_half(blk + 82, -1, 1);
        break;
      case qtype::q3_k: set_half(blk + 108, -1, 1); break;
      case qtype::q6_k: set_half(blk + 208, -1, 1); break;
      case qtype::q8_k: {  // bsums must match the quants
        const float d = std::uniform_real_distribution<float>(-1, 1)(rng);
        std::memcpy(blk, &d, 4);
        for (int g = 0; g < 16; ++g) {
          int16_t sum = 0;
          for (int i = 0; i < 16; ++i) sum = int16_t(sum + int8_t(blk[4 + 16 * g + i]));
          std::memcpy(blk + 260 + 2 * g, &sum, 2);
        }
        break;
      }
    }
  }
}

TEST(QuantDot, RandomBitPatternsScalarAndSimd) {
  std::mt19937 rng(77);
  for (qtype t : all_qtypes) {
    const qtype at = dot_activation_type(t);
    for (int64_t n : {256, 1024, 4096}) {
      for (int trial = 0; trial < 5; ++trial) {
        bytes w(row_bytes(t, n)), a(row_bytes(at, n));
        randomize_row(t, w, rng);
        randomize_row(at, a, rng, true);
        const auto ref = dequantized_dot(t, w, a, n);
        const double tol = 1e-5 * ref.magnitude + min_term_allowance(t, w, a, n);
        // Odd addresses: rows from an mmap need no alignment (UBSan checks the scalar reads).
        bytes wu(w.size() + 1), au(a.size() + 3);
        std::memcpy(wu.data() + 1, w.data(), w.size());
        std::memcpy(au.data() + 3, a.data(), a.size());
        const float scalar = vec_dot_with(kernel_isa::scalar, t, wu.data() + 1, au.data() + 3, n);
        EXPECT_NEAR(scalar, ref.value, tol) << name_of(t) << " n=" << n;
        for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512_vnni}) {
          if (!has_kernel(isa, t)) continue;
          const float simd = vec_dot_with(isa, t, wu.data() + 1, au.data() + 3, n);
          EXPECT_NEAR(simd, ref.value, tol) << name_of(t) << " " << isa_name(isa) << " n=" << n;
          EXPECT_NEAR(simd, scalar, 1e-5 * ref.magnitude) << name_of(t) << " " << isa_name(isa) << " vs scalar n=" << n;
        }
        // The VNNI build only fuses exact integer steps: bitwise the AVX2 result.
        if (has_kernel(kernel_isa::avx512_vnni, t)) {
          EXPECT_EQ(std::bit_cast<uint32_t>(vec_dot_with(kernel_isa::avx2, t, w.data(), a.data(), n)),
                    std::bit_cast<uint32_t>(vec_dot_with(kernel_isa::avx512_vnni, t, w.data(), a.data(), n)))
              << name_of(t) << " n=" << n;
        }
      }
    }
  }
}

// matmul_rows (register tiles of rows x tokens, edge tiles, token blocks) gives every output
// bitwise as vec_dot_with does alone: a token's logits never depend on its batch.
TEST(QuantMatmul, EveryOutputIsBitwiseTheSingleDot) {
  for (qtype t : all_qtypes) {
    const qtype at = dot_activation_type(t);
    // 2304 columns: decode steps add 8 blocks' lanes together, then a remainder (9 super-blocks).
    for (auto [rows, n, cols] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 512}, {4, 1, 512}, {7, 3, 512}, {9, 13, 512},
                                 {5, 300, 512}, {9, 1, 2304}, {3, 2, 2304}}) {
      const size_t wrb = row_bytes(t, cols) + 5, arb = row_bytes(at, cols) + 3;  // padded strides
      bytes w(wrb * size_t(rows)), a(arb * size_t(n));
      for (int64_t r = 0; r < rows; ++r) {
        const auto x = make_data(r % 2 ? "outliers" : "gaussian", size_t(cols), uint32_t(100 + r));
        quantize_row(t, x.data(), w.data() + size_t(r) * wrb, cols);
      }
      for (int64_t j = 0; j < n; ++j) {
        const auto x = make_data("gaussian", size_t(cols), uint32_t(7000 + j));
        quantize_row(at, x.data(), a.data() + size_t(j) * arb, cols);
      }
      for (kernel_isa isa : all_isas) {
        if (!has_kernel(isa, t)) continue;
        const int64_t stride = rows + 2;
        std::vector<float> y(size_t(n * stride), -1.0f);
        matmul_rows(isa, t, w.data(), wrb, rows, a.data(), arb, n, cols, y.data(), stride);
        for (int64_t j = 0; j < n; ++j)
          for (int64_t r = 0; r < rows; ++r) {
            const float alone = vec_dot_with(isa, t, w.data() + size_t(r) * wrb, a.data() + size_t(j) * arb, cols);
            ASSERT_EQ(std::bit_cast<uint32_t>(y[size_t(j * stride + r)]), std::bit_cast<uint32_t>(alone))
                << name_of(t) << " " << isa_name(isa) << " rows=" << rows << " n=" << n << " r=" << r << " j=" << j;
          }
        for (int64_t j = 0; j < n; ++j)  // the stride's gap is left alone
          EXPECT_EQ(y[size_t(j * stride + rows)], -1.0f) << name_of(t);
      }
    }
  }
}

// The activation quantizers (SIMD where present) store bitwise what quantize_row stores, for
// ordinary rows and for blocks of zeros, subnormals, huge values, infinities and NaNs.
TEST(QuantActivations, SameBytesAsTheReferenceQuantizer) {
  const int64_t n = 256 * 6;
  std::vector<std::vector<float>> rows = {make_data("gaussian", size_t(n), 1), make_data("outliers", size_t(n), 2)};
  std::vector<float> special = make_data("gaussian", size_t(n), 3);
  for (int64_t i = 0; i < 256; ++i) special[size_t(i)] = 0.0f;                    // block 0: zeros
  for (int64_t i = 256; i < 512; ++i) special[size_t(i)] *= 1e-42f;              // block 1: subnormals
  for (int64_t i = 512; i < 768; ++i) special[size_t(i)] *= 3e37f;               // block 2: huge
  special[300] = 0.0f;  // with an infinite inverse scale: 0 * inf
  special[800] = std::numeric_limits<float>::infinity();                         // block 3
  special[1100] = -std::numeric_limits<float>::infinity();                       // block 4
  special[1300] = std::numeric_limits<float>::quiet_NaN();                       // block 5
  special[1301] = -0.0f;
  rows.push_back(special);
  std::vector<float> halfway = make_data("gaussian", size_t(n), 4);  // exact .5 multiples: rounding ties
  for (int64_t i = 0; i < n; ++i) halfway[size_t(i)] = float(int(halfway[size_t(i)] * 8)) / 8.0f + 0.5f / 127.0f;
  rows.push_back(halfway);
  for (qtype t : {qtype::q8_0, qtype::q8_k}) {
    for (size_t k = 0; k < rows.size(); ++k) {
      bytes want(row_bytes(t, n)), got(row_bytes(t, n));
      quantize_row(t, rows[k].data(), want.data(), n);
      quantize_activations(t, rows[k].data(), got.data(), n);
      EXPECT_EQ(got, want) << name_of(t) << " row " << k;
    }
  }
}

TEST(QuantDot, Avx2AvailableOnX86) {
#if defined(__x86_64__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") || !f16c)
    GTEST_SKIP() << "CPU without AVX2/FMA/F16C";
  for (qtype t : all_qtypes) EXPECT_TRUE(has_kernel(kernel_isa::avx2, t)) << name_of(t);
  EXPECT_NE(best_isa(), kernel_isa::scalar);
  unsigned a7 = 0, b7 = 0, c7 = 0, d7 = 0;
  const bool vnni = __get_cpuid_count(7, 0, &a7, &b7, &c7, &d7) && (b7 & (1u << 16)) && (b7 & (1u << 30)) &&
                    (b7 & (1u << 31)) && (c7 & (1u << 11));
  for (qtype t : all_qtypes) EXPECT_EQ(has_kernel(kernel_isa::avx512_vnni, t), vnni) << name_of(t);
  if (vnni) {
    EXPECT_EQ(best_isa(), kernel_isa::avx512_vnni);
  }
#else
  GTEST_SKIP() << "not x86-64";
#endif
  for (qtype t : all_qtypes) EXPECT_TRUE(has_kernel(kernel_isa::scalar, t));
}

// ---- errors -------------------------------------------------------------------------------

TEST(QuantErrors, LengthsThatAreNotWholeBlocksThrow) {
  std::vector<float> f(512, 0.0f);
  bytes b(4096);
  for (qtype t : all_qtypes) {
    const int64_t bad = info(t).block_size + 1;
    EXPECT_THROW(row_bytes(t, bad), owl::error) << name_of(t);
    EXPECT_THROW(row_bytes(t, -int64_t(info(t).block_size)), owl::error) << name_of(t);
    EXPECT_THROW(dequantize_row(t, b.data(), f.data(), bad), owl::error) << name_of(t);
    EXPECT_THROW(quantize_row(t, f.data(), b.data(), bad), owl::error) << name_of(t);
    EXPECT_THROW(vec_dot(t, b.data(), b.data(), bad), owl::error) << name_of(t);
    EXPECT_THROW(vec_dot_with(kernel_isa::scalar, t, b.data(), b.data(), bad), owl::error) << name_of(t);
    EXPECT_EQ(row_bytes(t, 0), 0u);
    EXPECT_EQ(vec_dot(t, b.data(), b.data(), 0), 0.0f);
  }
  // Weight and activation block sizes must both divide n.
  EXPECT_NO_THROW(vec_dot(qtype::iq4_nl, b.data(), b.data(), 32));
  EXPECT_THROW(vec_dot(qtype::q4_k, b.data(), b.data(), 32), owl::error);
  try {
    row_bytes(qtype::q4_k, 100);
    FAIL();
  } catch (const owl::error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K row of 100 elements: expected a multiple of 256"), std::string::npos)
        << e.what();
  }
}

// ---- speed (run by hand: --gtest_also_run_disabled_tests --gtest_filter='Quant*Speed*') ---

TEST(QuantSpeed, DISABLED_VecDotNanosecondsPer4096Row) {
  const int64_t n = 4096;
  const auto x = make_data("gaussian", size_t(n), 1), y = make_data("gaussian", size_t(n), 2);
  std::printf("  %-7s %12s %12s %12s\n", "type", "scalar ns", "avx2 ns", "vnni ns");
  for (qtype t : all_qtypes) {
    bytes w(row_bytes(t, n)), a(row_bytes(dot_activation_type(t), n));
    quantize_row(t, x.data(), w.data(), n);
    quantize_row(dot_activation_type(t), y.data(), a.data(), n);
    double ns[3] = {0, 0, 0};
    for (kernel_isa isa : all_isas) {
      if (!has_kernel(isa, t)) continue;
      // Thread CPU time, best of 30 rounds: robust to other processes sharing the cores.
      const int reps = 500;
      volatile float sink = 0;
      double best = 1e30;
      for (int round = 0; round < 30; ++round) {
        timespec start, stop;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &start);
        for (int r = 0; r < reps; ++r) sink = sink + vec_dot_with(isa, t, w.data(), a.data(), n);
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &stop);
        const double elapsed = double(stop.tv_sec - start.tv_sec) * 1e9 + double(stop.tv_nsec - start.tv_nsec);
        best = std::min(best, elapsed / reps);
      }
      ns[int(isa)] = best;
    }
    std::printf("  %-7s %12.0f %12.0f %12.0f\n", name_of(t), ns[0], ns[1], ns[2]);
  }
}

}  // namespace
}  // namespace owl::quant
