// interleave.cpp — the interleaved weight layout of quant.h (rewrite in place, restore, row
// lookup) and its matmul dispatch; the kernels are in tiles_interleaved.inc.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "owl/error.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/tiles.h"

namespace owl::quant {

namespace {

using namespace detail;

constexpr int64_t group_rows = interleave_group_rows;
constexpr int scale_bytes = 2;  // every interleavable block is a half scale, then its quants
constexpr int piece_bytes = 4;

// Bytes of quants per block (16 or 32).
int quant_bytes(qtype t) { return info(t).block_bytes - scale_bytes; }

int64_t checked_blocks(qtype t, int64_t cols, const char* what) {
  if (!can_interleave(t))
    fail(std::string("quant: ") + what, std::string(info(t).name) + " has no interleaved layout",
         "only Q4_0, Q8_0 and IQ4_NL weights are interleaved");
  if (cols < 0 || cols % info(t).block_size != 0)
    fail(std::string("quant: ") + what,
         "row of " + std::to_string(cols) + " elements: expected a multiple of " + std::to_string(info(t).block_size));
  return cols / info(t).block_size;
}

// Byte offsets inside an interleaved group: block b is the 8 rows' scales, then their quants.
struct group_layout {
  int64_t nb;
  int qb;  // quant bytes per block and row
  size_t block(int64_t b) const { return size_t(b) * (size_t(qb) + scale_bytes) * group_rows; }
  size_t quants(int64_t b, int piece, int64_t row) const {
    return block(b) + scale_bytes * group_rows + size_t(piece) * piece_bytes * group_rows + size_t(row) * piece_bytes;
  }
  size_t scale(int64_t b, int64_t row) const { return block(b) + size_t(row) * scale_bytes; }
};

// fn(offset in the group, offset in the plain block, bytes) for each piece of row r's block b.
template <class F>
void for_each_piece(const group_layout& g, int64_t b, int64_t r, const F& fn) {
  fn(g.scale(b, r), size_t(0), size_t(scale_bytes));
  for (int j = 0; j < g.qb / piece_bytes; ++j) fn(g.quants(b, j, r), size_t(scale_bytes + j * piece_bytes), size_t(piece_bytes));
}

void block_to_group(const group_layout& g, const std::byte* block, std::byte* group, int64_t b, int64_t r) {
  for_each_piece(g, b, r, [&](size_t in_group, size_t in_block, size_t n) { std::memcpy(group + in_group, block + in_block, n); });
}

void group_to_block(const group_layout& g, const std::byte* group, std::byte* block, int64_t b, int64_t r) {
  for_each_piece(g, b, r, [&](size_t in_group, size_t in_block, size_t n) { std::memcpy(block + in_block, group + in_group, n); });
}

void rewrite_groups(qtype t, std::byte* weights, int64_t rows, int64_t cols, bool to_group, const char* what) {
  const int64_t nb = checked_blocks(t, cols, what);
  const group_layout layout{nb, quant_bytes(t)};
  const size_t row_bytes = quant::row_bytes(t, cols), block_bytes = size_t(info(t).block_bytes);
  std::vector<std::byte> copy(row_bytes * group_rows);
  for (int64_t r0 = 0; r0 + group_rows <= rows; r0 += group_rows) {
    std::byte* group = weights + size_t(r0) * row_bytes;
    std::memcpy(copy.data(), group, copy.size());
    // copy holds the 8 rows as they were (either layout); the group is rewritten from it.
    for (int64_t r = 0; r < group_rows; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        const size_t plain = size_t(r) * row_bytes + size_t(b) * block_bytes;
        if (to_group) block_to_group(layout, copy.data() + plain, group, b, r);
        else group_to_block(layout, copy.data(), group + plain, b, r);
      }
  }
}

}  // namespace

bool can_interleave(qtype t) { return t == qtype::q4_0 || t == qtype::q8_0 || t == qtype::iq4_nl; }

void interleave_rows(qtype t, std::byte* weights, int64_t rows, int64_t cols) {
  rewrite_groups(t, weights, rows, cols, true, "interleave_rows");
}

void deinterleave_rows(qtype t, std::byte* weights, int64_t rows, int64_t cols) {
  rewrite_groups(t, weights, rows, cols, false, "deinterleave_rows");
}

void dequantize_interleaved_row(qtype t, const std::byte* weights, int64_t rows, int64_t row, int64_t cols,
                                float* out) {
  const int64_t nb = checked_blocks(t, cols, "dequantize_interleaved_row");
  if (row < 0 || row >= rows)
    fail("quant: dequantize_interleaved_row", "row " + std::to_string(row) + " of a matrix of " + std::to_string(rows));
  const size_t row_bytes = quant::row_bytes(t, cols);
  const int64_t r0 = row / group_rows * group_rows;
  if (r0 + group_rows > rows) return dequantize_row(t, weights + size_t(row) * row_bytes, out, cols);
  const group_layout layout{nb, quant_bytes(t)};
  const std::byte* group = weights + size_t(r0) * row_bytes;
  std::vector<std::byte> block(size_t(info(t).block_bytes));
  for (int64_t b = 0; b < nb; ++b) {
    group_to_block(layout, group, block.data(), b, row - r0);
    dequantize_row(t, block.data(), out + b * info(t).block_size, info(t).block_size);
  }
}

bool has_interleaved_kernel(kernel_isa isa, qtype t) {
  if (!can_interleave(t) || !isa_available(isa)) return false;
#ifdef OWL_QUANT_X86
  if (isa == kernel_isa::avx2) return avx2_tiles::interleaved_for_type(t) != nullptr;
  if (isa == kernel_isa::avx512_vnni) return avx512_tiles::interleaved_for_type(t) != nullptr;
#endif
  return false;
}

void matmul_interleaved(kernel_isa isa, qtype t, const std::byte* weights, int64_t rows, int64_t row_begin,
                        int64_t row_end, const std::byte* activations, size_t a_row_bytes, int64_t n, int64_t cols,
                        float* y, int64_t y_stride) {
  const int64_t nb = checked_blocks(t, cols, "matmul_interleaved");
  if (!has_interleaved_kernel(isa, t))
    fail("quant: matmul_interleaved",
         std::string("no ") + isa_name(isa) + " kernel for interleaved " + std::string(info(t).name) + " on this CPU");
  if (row_begin < 0 || row_begin % group_rows != 0 || row_end < row_begin || row_end > rows)
    fail("quant: matmul_interleaved", "rows [" + std::to_string(row_begin) + ", " + std::to_string(row_end) +
                                          ") of " + std::to_string(rows) + ": expected a range starting at a group");
  const size_t row_bytes = quant::row_bytes(t, cols);
  const int64_t grouped_end = std::min(row_end, rows / group_rows * group_rows);
  tiles_fn kernel = nullptr;
#ifdef OWL_QUANT_X86
  kernel = isa == kernel_isa::avx2 ? avx2_tiles::interleaved_for_type(t) : avx512_tiles::interleaved_for_type(t);
#endif
  if (grouped_end > row_begin && n > 0 && nb > 0)
    kernel(weights + size_t(row_begin) * row_bytes, row_bytes, grouped_end - row_begin, activations, a_row_bytes, n, nb,
           y, y_stride);
  else if (grouped_end > row_begin)
    matmul_rows(isa, t, weights + size_t(row_begin) * row_bytes, row_bytes, grouped_end - row_begin, activations,
                a_row_bytes, n, cols, y, y_stride);
  // The last rows % 8 rows stay plain.
  const int64_t plain_begin = std::max(row_begin, grouped_end);
  if (row_end > plain_begin)
    matmul_rows(isa, t, weights + size_t(plain_begin) * row_bytes, row_bytes, row_end - plain_begin, activations,
                a_row_bytes, n, cols, y + (plain_begin - row_begin), y_stride);
}

}  // namespace owl::quant
