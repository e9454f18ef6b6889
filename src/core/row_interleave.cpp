// core/row_interleave.cpp — see row_interleave.h.
#include "core/row_interleave.h"

#include <cstring>
#include <string>
#include <vector>

#include "owl/error.h"

namespace owl {
namespace {

constexpr int64_t group_rows = interleave_rows_per_group;

// Byte offsets inside a group: block b is the 8 rows' heads, then piece columns.
struct group_layout {
  interleave_shape s;
  size_t pieces() const { return (s.block_bytes - s.head_bytes) / s.piece_bytes; }
  size_t block(size_t b) const { return b * s.block_bytes * group_rows; }
  size_t head(size_t b, size_t row) const { return block(b) + row * s.head_bytes; }
  size_t piece(size_t b, size_t j, size_t row) const {
    return block(b) + s.head_bytes * group_rows + (j * group_rows + row) * s.piece_bytes;
  }
};

group_layout checked_layout(size_t row_bytes, const interleave_shape& s) {
  if (s.piece_bytes == 0 || s.block_bytes <= s.head_bytes || (s.block_bytes - s.head_bytes) % s.piece_bytes != 0 ||
      row_bytes % s.block_bytes != 0 || s.lead_pieces >= (s.block_bytes - s.head_bytes) / s.piece_bytes)
    fail("row interleave", "rows of " + std::to_string(row_bytes) + " bytes do not split into blocks of " +
                               std::to_string(s.block_bytes) + " (head " + std::to_string(s.head_bytes) + ", pieces of " +
                               std::to_string(s.piece_bytes) + ")");
  return group_layout{s};
}

// memcpy with the sizes of the formats' heads and pieces known to the compiler (inlined moves
// rather than a call per piece: a model's load rewrites hundreds of millions of them).
inline void copy_part(std::byte* dst, const std::byte* src, size_t n) {
  switch (n) {
    case 2: std::memcpy(dst, src, 2); break;
    case 4: std::memcpy(dst, src, 4); break;
    case 16: std::memcpy(dst, src, 16); break;
    case 32: std::memcpy(dst, src, 32); break;
    default: std::memcpy(dst, src, n);
  }
}

// fn(offset in the group, offset in the plain row) for each head and piece of row r's block b.
template <class F>
void for_each_part(const group_layout& g, size_t b, size_t r, const F& fn) {
  const size_t plain = b * g.s.block_bytes;
  const size_t head = g.s.head_at_end ? g.s.block_bytes - g.s.head_bytes : 0;  // offsets in the plain block
  const size_t pieces = g.s.head_at_end ? 0 : g.s.head_bytes;
  if (g.s.head_bytes) fn(g.head(b, r), plain + head, g.s.head_bytes);
  const size_t n = g.pieces();
  for (size_t j = 0; j < n; ++j)  // plain piece j is column (j + lead_pieces) % n
    fn(g.piece(b, (j + g.s.lead_pieces) % n, r), plain + pieces + j * g.s.piece_bytes, g.s.piece_bytes);
}

// src and dst may be the same bytes (in place) or disjoint ones.
void rewrite(const std::byte* src, std::byte* dst, int64_t rows, size_t row_bytes, const interleave_shape& shape,
             bool to_groups) {
  const group_layout g = checked_layout(row_bytes, shape);
  const size_t blocks = row_bytes / shape.block_bytes, group_bytes = row_bytes * group_rows;
  std::vector<std::byte> copy(src == dst ? group_bytes : 0);
  int64_t r0 = 0;
  for (; r0 + group_rows <= rows; r0 += group_rows) {
    const std::byte* from = src + size_t(r0) * row_bytes;
    std::byte* to = dst + size_t(r0) * row_bytes;
    if (src == dst) from = static_cast<const std::byte*>(std::memcpy(copy.data(), from, group_bytes));
    for (size_t r = 0; r < size_t(group_rows); ++r)
      for (size_t b = 0; b < blocks; ++b)
        for_each_part(g, b, r, [&](size_t in_group, size_t in_row, size_t n) {
          if (to_groups) copy_part(to + in_group, from + r * row_bytes + in_row, n);
          else copy_part(to + r * row_bytes + in_row, from + in_group, n);
        });
  }
  if (src != dst && rows > r0)  // the rows past the last full group, as they are
    std::memcpy(dst + size_t(r0) * row_bytes, src + size_t(r0) * row_bytes, size_t(rows - r0) * row_bytes);
}

}  // namespace

void interleave_groups(const std::byte* src, std::byte* dst, int64_t rows, size_t row_bytes,
                       const interleave_shape& shape) {
  rewrite(src, dst, rows, row_bytes, shape, true);
}

void deinterleave_groups(std::byte* data, int64_t rows, size_t row_bytes, const interleave_shape& shape) {
  rewrite(data, data, rows, row_bytes, shape, false);
}

void read_interleaved_row(const std::byte* data, int64_t rows, size_t row_bytes, const interleave_shape& shape,
                          int64_t row, std::byte* out) {
  const group_layout g = checked_layout(row_bytes, shape);
  if (row < 0 || row >= rows)
    fail("row interleave", "row " + std::to_string(row) + " of a matrix of " + std::to_string(rows) + " rows");
  const int64_t r0 = row / group_rows * group_rows;
  if (r0 + group_rows > rows) {  // past the last full group: stored plainly
    std::memcpy(out, data + size_t(row) * row_bytes, row_bytes);
    return;
  }
  const std::byte* group = data + size_t(r0) * row_bytes;
  for (size_t b = 0; b < row_bytes / shape.block_bytes; ++b)
    for_each_part(g, b, size_t(row - r0),
                  [&](size_t in_group, size_t in_row, size_t n) { copy_part(out + in_row, group + in_group, n); });
}

}  // namespace owl
