// core/row_interleave.h — rewriting groups of 8 matrix rows so that the CPU kernels read one
// sequential stream per group (src/quant for the block formats, src/backend/cpu for F16, BF16
// and F32).
//
// A row is a sequence of blocks of equal size; each block is a head (a scale, or nothing) and
// pieces of equal size, the head first or (Q6_K) last. In a group of 8 rows, block after block:
// the 8 rows' heads, then piece 0 of rows 0..7, piece 1 of rows 0..7, ... — so one vector load
// of a piece column holds the same elements of 8 rows. The layout has the plain one's size and loses
// nothing (deinterleave_groups restores every byte); rows past the last full group stay plain.
#pragma once

#include <cstddef>
#include <cstdint>

namespace owl {

inline constexpr int64_t interleave_rows_per_group = 8;

struct interleave_shape {
  size_t block_bytes = 0;  // head_bytes + a whole number of pieces
  size_t head_bytes = 0;   // 0: no head
  size_t piece_bytes = 0;
  bool head_at_end = false;  // the plain block's head follows its pieces (in a group it leads)
  // The plain block's last lead_pieces pieces come first among the group's piece columns (Q6_K:
  // its scales, which a kernel reads before the quants it scales: in address order, the
  // hardware prefetcher's stream meets them first).
  size_t lead_pieces = 0;
};

// `rows` rows of `row_bytes` (a whole number of blocks) from src into dst, which are the same
// bytes (in place) or do not overlap at all. Throws owl::error on a shape that does not divide
// evenly.
void interleave_groups(const std::byte* src, std::byte* dst, int64_t rows, size_t row_bytes,
                       const interleave_shape& shape);
// The inverse, in place.
void deinterleave_groups(std::byte* data, int64_t rows, size_t row_bytes, const interleave_shape& shape);
// Row `row` of an interleaved matrix of `rows` rows, copied out in the plain layout (row_bytes).
void read_interleaved_row(const std::byte* data, int64_t rows, size_t row_bytes, const interleave_shape& shape,
                          int64_t row, std::byte* out);

}  // namespace owl
