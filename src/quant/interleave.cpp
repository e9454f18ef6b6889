// interleave.cpp — the interleaved weight layout of quant.h (rewrite in place, restore, row
// lookup) and its matmul dispatch; the kernels are in tiles_interleaved.inc.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/row_interleave.h"
#include "owl/error.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/tiles.h"

namespace owl::quant {

namespace {

using namespace detail;

constexpr int64_t group_rows = interleave_group_rows;
static_assert(interleave_group_rows == interleave_rows_per_group);

// The 32-element blocks: a half scale, then their quants in 4-byte pieces. Q4_K, Q5_K: d, dmin
// and the 12 bytes of packed scales and mins (16 bytes), then the rest in 4-byte pieces (Q5_K:
// qh, then qs). Q6_K: ql, qh and the 16 signed scales in 4-byte pieces, then d (its head, at
// the block's end); in a group the d's, then the scales' 4 columns, then ql's and qh's.
interleave_shape shape_of(qtype t) {
  if (t == qtype::q6_k) return {size_t(q6_k::size), 2, 4, true, 4};
  return {size_t(info(t).block_bytes), t == qtype::q4_k || t == qtype::q5_k ? size_t(16) : size_t(2), 4};
}

int64_t checked_blocks(qtype t, int64_t cols, const char* what) {
  if (!can_interleave(t))
    fail(std::string("quant: ") + what, std::string(info(t).name) + " has no interleaved layout",
         "only Q4_0, Q8_0, IQ4_NL, Q4_K, Q5_K and Q6_K weights are interleaved");
  if (cols < 0 || cols % info(t).block_size != 0)
    fail(std::string("quant: ") + what,
         "row of " + std::to_string(cols) + " elements: expected a multiple of " + std::to_string(info(t).block_size));
  return cols / info(t).block_size;
}

}  // namespace

bool can_interleave(qtype t) {
  return t == qtype::q4_0 || t == qtype::q8_0 || t == qtype::iq4_nl || t == qtype::q4_k || t == qtype::q5_k ||
         t == qtype::q6_k;
}

void interleave_rows(qtype t, const std::byte* src, std::byte* dst, int64_t rows, int64_t cols) {
  checked_blocks(t, cols, "interleave_rows");
  interleave_groups(src, dst, rows, row_bytes(t, cols), shape_of(t));
}

void deinterleave_rows(qtype t, std::byte* weights, int64_t rows, int64_t cols) {
  checked_blocks(t, cols, "deinterleave_rows");
  deinterleave_groups(weights, rows, row_bytes(t, cols), shape_of(t));
}

void dequantize_interleaved_row(qtype t, const std::byte* weights, int64_t rows, int64_t row, int64_t cols,
                                float* out) {
  checked_blocks(t, cols, "dequantize_interleaved_row");
  std::vector<std::byte> plain(row_bytes(t, cols));
  read_interleaved_row(weights, rows, plain.size(), shape_of(t), row, plain.data());
  dequantize_row(t, plain.data(), out, cols);
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
