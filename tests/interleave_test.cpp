// Interleaved weights (quant.h: interleave_rows): the rewrite is lossless, rows read back as
// they were, and the interleaved kernels give bitwise the outputs of matmul_rows on the plain
// rows for every token count, row range and instruction set — so a model is exactly the same
// whether the CPU backend repacked its weights or not (see also GgufRepack in
// gguf_model_test.cpp).
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <random>
#include <vector>

#include "owl/error.h"
#include "quant/quant.h"

namespace owl::quant {
namespace {

using bytes = std::vector<std::byte>;

constexpr qtype interleavable[] = {qtype::q4_0, qtype::q8_0, qtype::iq4_nl, qtype::q4_k, qtype::q5_k, qtype::q6_k};

// A block's head: Q4_K and Q5_K d, dmin and 12 bytes of packed scales first; Q6_K d last (its
// 8-bit scales are pieces like its quants); the others a half scale first.
bool has_min(qtype t) { return t == qtype::q4_k || t == qtype::q5_k; }
int head_bytes(qtype t) { return has_min(t) ? 16 : 2; }
int head_offset(qtype t) { return t == qtype::q6_k ? info(t).block_bytes - 2 : 0; }
// Q6_K's 4 scale pieces (the plain block's last before d) lead its piece columns.
int lead_pieces(qtype t) { return t == qtype::q6_k ? 4 : 0; }

// rows of cols quantized from Gaussian values; every third row scaled up so blocks differ.
bytes make_weights(qtype t, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> row(static_cast<size_t>(cols));
  const size_t rb = row_bytes(t, cols);
  bytes w(rb * size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = normal(rng) * (r % 3 == 0 ? 4.0f : 1.0f);
    quantize_row(t, row.data(), w.data() + size_t(r) * rb, cols);
  }
  return w;
}

// Random bits everywhere but in the half scales, which are finite, of either sign, so the
// kernels meet every level pattern (Q8_0: -128 too) a file may hold.
bytes make_random_blocks(qtype t, int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  bytes w(row_bytes(t, cols) * size_t(rows));
  for (std::byte& b : w) b = std::byte(rng() & 0xff);
  const size_t block = size_t(info(t).block_bytes);
  for (size_t at = 0; at < w.size(); at += block) {
    for (int k = 0; k < (has_min(t) ? 2 : 1); ++k) {  // Q4_K, Q5_K: d and dmin
      const uint16_t scale = uint16_t((rng() & 0x8000) | (0x1c00 + (rng() & 0x3ff)));  // +-[2^-8, 2^-7)
      std::memcpy(w.data() + at + size_t(head_offset(t)) + 2 * size_t(k), &scale, 2);
    }
  }
  return w;
}

TEST(Interleave, RewritesInPlaceAndRestoresEveryByte) {
  for (qtype t : interleavable) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{8, 256}, {13, 512}, {24, 256}, {3, 256}, {40, 2048}}) {
      const bytes plain = make_random_blocks(t, rows, cols, uint32_t(rows * cols));
      bytes w = plain;
      interleave_rows(t, w.data(), w.data(), rows, cols);
      const size_t grouped = size_t(rows / 8 * 8) * row_bytes(t, cols);
      if (rows >= 8) {
        EXPECT_NE(std::memcmp(w.data(), plain.data(), grouped), 0) << info(t).name << " rows " << rows;
      }
      // Rows past the last full group keep the plain layout.
      EXPECT_EQ(std::memcmp(w.data() + grouped, plain.data() + grouped, w.size() - grouped), 0) << info(t).name;
      // Into other memory (how the backend copies mapped weights): the same bytes, tail included.
      bytes copy(plain.size());
      interleave_rows(t, plain.data(), copy.data(), rows, cols);
      EXPECT_EQ(copy, w) << info(t).name << " rows " << rows;
      deinterleave_rows(t, w.data(), rows, cols);
      EXPECT_EQ(w, plain) << info(t).name << " rows " << rows << " cols " << cols;
    }
  }
}

// Block b of a group: the 8 rows' heads (scales), then piece j holding row r's other bytes
// 4j..4j+3 at 32j + 4r (Q6_K: its 4 scale pieces lead, the rest follow) — spelled out here
// independently of interleave.cpp.
TEST(Interleave, LayoutIsScalesThenFourBytePiecesPerRow) {
  for (qtype t : interleavable) {
    const int64_t cols = 512, nb = cols / info(t).block_size;
    const bytes plain = make_random_blocks(t, 8, cols, 11);
    bytes w = plain;
    interleave_rows(t, w.data(), w.data(), 8, cols);
    const int block = info(t).block_bytes, head = head_bytes(t), quants = block - head;
    const int head_at = head_offset(t), pieces_at = head_at == 0 ? head : 0;
    for (int64_t b = 0; b < nb; ++b) {
      const std::byte* group_block = w.data() + size_t(b) * 8 * size_t(block);
      for (int r = 0; r < 8; ++r) {
        const std::byte* src = plain.data() + size_t(r) * row_bytes(t, cols) + size_t(b) * size_t(block);
        EXPECT_EQ(std::memcmp(group_block + head * r, src + head_at, size_t(head)), 0) << info(t).name << " head of row " << r;
        for (int j = 0; j < quants / 4; ++j) {
          const int column = (j + lead_pieces(t)) % (quants / 4);
          EXPECT_EQ(std::memcmp(group_block + 8 * head + 32 * column + 4 * r, src + pieces_at + 4 * j, 4), 0)
              << info(t).name << " block " << b << " row " << r << " piece " << j;
        }
      }
    }
  }
}

TEST(Interleave, RowsDequantizeAsTheyWere) {
  for (qtype t : interleavable) {
    const int64_t rows = 21, cols = 512;
    const bytes plain = make_weights(t, rows, cols, 3);
    bytes w = plain;
    interleave_rows(t, w.data(), w.data(), rows, cols);
    std::vector<float> want(static_cast<size_t>(cols)), got(static_cast<size_t>(cols));
    for (int64_t r = 0; r < rows; ++r) {
      dequantize_row(t, plain.data() + size_t(r) * row_bytes(t, cols), want.data(), cols);
      dequantize_interleaved_row(t, w.data(), rows, r, cols, got.data());
      EXPECT_EQ(got, want) << info(t).name << " row " << r;
    }
  }
}

TEST(Interleave, KernelsGiveBitwiseThePlainRowsOutputs) {
  for (qtype t : interleavable) {
    for (const bool random_bits : {false, true}) {
      const int64_t rows = 35, cols = 512;  // four groups and 3 plain rows
      const bytes plain = random_bits ? make_random_blocks(t, rows, cols, 5) : make_weights(t, rows, cols, 5);
      bytes w = plain;
      interleave_rows(t, w.data(), w.data(), rows, cols);
      const qtype at = dot_activation_type(t);
      const size_t arb = row_bytes(at, cols);
      for (int64_t n : {1, 2, 3, 5, 8, 9, 17}) {
        std::mt19937 rng{uint32_t(n)};
        std::normal_distribution<float> normal;
        std::vector<float> x(static_cast<size_t>(cols));
        bytes a(arb * size_t(n));
        for (int64_t j = 0; j < n; ++j) {
          for (float& v : x) v = normal(rng);
          quantize_row(at, x.data(), a.data() + size_t(j) * arb, cols);
        }
        for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512_vnni}) {
          if (!has_interleaved_kernel(isa, t)) continue;
          std::vector<float> want(size_t(n * rows));
          matmul_rows(isa, t, plain.data(), row_bytes(t, cols), rows, a.data(), arb, n, cols, want.data(), rows);
          // Whole matrix, and ranges that start at a group as a thread's share does.
          for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, rows}, {8, 16}, {16, 35}, {32, 35}, {0, 8}}) {
            std::vector<float> got(size_t(n * rows), -1.0f);
            matmul_interleaved(isa, t, w.data(), rows, begin, end, a.data(), arb, n, cols, got.data() + begin, rows);
            for (int64_t j = 0; j < n; ++j)
              for (int64_t r = 0; r < rows; ++r) {
                const float expect = r >= begin && r < end ? want[size_t(j * rows + r)] : -1.0f;
                ASSERT_EQ(std::bit_cast<uint32_t>(got[size_t(j * rows + r)]), std::bit_cast<uint32_t>(expect))
                    << info(t).name << (random_bits ? " random bits" : "") << " isa " << int(isa) << " n=" << n
                    << " rows [" << begin << ", " << end << ") r=" << r << " j=" << j;
              }
          }
        }
      }
    }
  }
}

TEST(Interleave, RefusesOtherTypesAndRanges) {
  bytes w(row_bytes(qtype::q3_k, 256) * 8);
  EXPECT_FALSE(can_interleave(qtype::q3_k));
  EXPECT_FALSE(has_interleaved_kernel(kernel_isa::scalar, qtype::q4_0));
  EXPECT_THROW(interleave_rows(qtype::q3_k, w.data(), w.data(), 8, 256), error);
  EXPECT_THROW(interleave_rows(qtype::q4_0, w.data(), w.data(), 8, 33), error);
  if (!has_interleaved_kernel(best_isa(), qtype::q4_0)) GTEST_SKIP() << "no interleaved kernel on this CPU";
  const bytes q = make_weights(qtype::q4_0, 16, 64, 1);
  bytes a(row_bytes(qtype::q8_0, 64));
  std::vector<float> y(16);
  EXPECT_THROW(matmul_interleaved(best_isa(), qtype::q4_0, q.data(), 16, 4, 16, a.data(), a.size(), 1, 64, y.data(), 16),
               error);  // not at a group
  EXPECT_THROW(matmul_interleaved(best_isa(), qtype::q4_0, q.data(), 16, 0, 17, a.data(), a.size(), 1, 64, y.data(), 16),
               error);  // past the end
}

}  // namespace
}  // namespace owl::quant
