// tiles.h — register-tiled products of quantized weight rows with quantized activation rows
// (internal to src/quant; quant.h's matmul_rows and vec_dot_with reach them).
//
// A prompt multiplies every weight row with hundreds of token rows. The tile kernels unpack
// a few weight rows once (nibbles, 5/6-bit levels and sub-block scales into plain bytes and
// int16s) and then run them against several tokens at a time, so the unpacking and every
// activation load are shared by a whole R x T tile of outputs.
//
// Canonical order: each output is one 8-lane float accumulator fed once per block, in block
// order, by exactly the same integer and float operations whatever R, T, n or the thread —
// so a token's results are bitwise the same alone (a decode step, R x 1 tiles) or batched (a
// prompt or owl serve's continuous batching). The AVX2 and AVX-512 VNNI builds of the same
// kernels also agree bitwise: VNNI only fuses integer steps whose results are exact.
//
// Precondition: activation rows come from quantize_row (Q8_0 / Q8_K levels in [-127, 127]).
#pragma once

#include <cstddef>
#include <cstdint>

#include "quant/quant.h"

namespace owl::quant::detail {

bool isa_available(kernel_isa isa);  // this build and CPU run isa
const char* isa_name(kernel_isa isa);

// y[t * y_stride + r] = dot(weight row r, activation row t) for r < rows, t < n; nb blocks
// per row.
using tiles_fn = void (*)(const std::byte* w, size_t w_row_bytes, int64_t rows, const std::byte* a,
                          size_t a_row_bytes, int64_t n, int64_t nb, float* y, int64_t y_stride);

#if defined(__x86_64__) || defined(__i386__)
// interleaved_for_type: the same product over rows stored interleaved (quant.h's
// interleave_rows): rows is a multiple of 8 and w the start of a group.
namespace avx2_tiles {
tiles_fn for_type(qtype t);  // null for the formats without a tile kernel
tiles_fn interleaved_for_type(qtype t);
}
namespace avx512_tiles {
tiles_fn for_type(qtype t);
tiles_fn interleaved_for_type(qtype t);
}
#endif

}  // namespace owl::quant::detail
