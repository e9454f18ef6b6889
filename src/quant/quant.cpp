// quant.cpp — the type table and the entry points of quant.h: size checks, then dispatch to
// the per-family kernels (scalar reference; AVX2 dot products; the tile kernels of tiles.h).
#include "quant/quant.h"

#include <algorithm>
#include <string>

#include "core/cpu_features.h"
#include "owl/error.h"
#include "quant/blocks.h"
#include "quant/tiles.h"


namespace owl::quant {

namespace {

using namespace detail;

struct type_row {
  qtype_info info;
  qtype activation;
  dequant_fn dequant;
  quant_fn quant;
  dot_fn dot;
};

// One row per qtype, in enum order.
const type_row type_table[] = {
    {{"Q4_0", qk, q4_0::size, 2}, qtype::q8_0, dequant_q4_0, quant_q4_0, dot_q4_0_q8_0},
    {{"Q4_1", qk, q4_1::size, 3}, qtype::q8_1, dequant_q4_1, quant_q4_1, dot_q4_1_q8_1},
    {{"Q5_0", qk, q5_0::size, 6}, qtype::q8_0, dequant_q5_0, quant_q5_0, dot_q5_0_q8_0},
    {{"Q5_1", qk, q5_1::size, 7}, qtype::q8_1, dequant_q5_1, quant_q5_1, dot_q5_1_q8_1},
    {{"Q8_0", qk, q8_0::size, 8}, qtype::q8_0, dequant_q8_0, quant_q8_0, dot_q8_0_q8_0},
    {{"Q8_1", qk, q8_1::size, 9}, qtype::q8_1, dequant_q8_1, quant_q8_1, dot_q8_1_q8_1},
    {{"Q2_K", qk_k, q2_k::size, 10}, qtype::q8_k, dequant_q2_k, quant_q2_k, dot_q2_k_q8_k},
    {{"Q3_K", qk_k, q3_k::size, 11}, qtype::q8_k, dequant_q3_k, quant_q3_k, dot_q3_k_q8_k},
    {{"Q4_K", qk_k, q4_k::size, 12}, qtype::q8_k, dequant_q4_k, quant_q4_k, dot_q4_k_q8_k},
    {{"Q5_K", qk_k, q5_k::size, 13}, qtype::q8_k, dequant_q5_k, quant_q5_k, dot_q5_k_q8_k},
    {{"Q6_K", qk_k, q6_k::size, 14}, qtype::q8_k, dequant_q6_k, quant_q6_k, dot_q6_k_q8_k},
    {{"Q8_K", qk_k, q8_k::size, 15}, qtype::q8_k, dequant_q8_k, quant_q8_k, dot_q8_k_q8_k},
    {{"IQ4_NL", qk, iq4_nl::size, 20}, qtype::q8_0, dequant_iq4_nl, quant_iq4_nl, dot_iq4_nl_q8_0},
    {{"IQ4_XS", qk_k, iq4_xs::size, 23}, qtype::q8_k, dequant_iq4_xs, quant_iq4_xs, dot_iq4_xs_q8_k},
};
static_assert(sizeof(type_table) / sizeof(type_table[0]) == all_qtypes.size());

const type_row& row(qtype t) {
  const auto i = size_t(t);
  if (i >= all_qtypes.size()) fail("quant", "unknown quantized type id " + std::to_string(i));
  return type_table[i];
}

#ifdef OWL_QUANT_X86
// AVX2 dot products of the formats without a tile kernel (null: the tile kernel serves it).
const dot_fn avx2_table[] = {
    nullptr,          avx2::dot_q4_1_q8_1, nullptr, avx2::dot_q5_1_q8_1, nullptr, avx2::dot_q8_1_q8_1,
    avx2::dot_q2_k_q8_k, avx2::dot_q3_k_q8_k, nullptr, nullptr, nullptr, avx2::dot_q8_k_q8_k,
    nullptr,          avx2::dot_iq4_xs_q8_k,
};
static_assert(sizeof(avx2_table) / sizeof(avx2_table[0]) == all_qtypes.size());
#endif

tiles_fn tiles(kernel_isa isa, qtype t) {
  if (!isa_available(isa)) return nullptr;
#ifdef OWL_QUANT_X86
  if (isa == kernel_isa::avx2) return avx2_tiles::for_type(t);
  if (isa == kernel_isa::avx512_vnni) return avx512_tiles::for_type(t);
#endif
  return nullptr;
}

dot_fn kernel(kernel_isa isa, qtype t) {
  if (isa == kernel_isa::scalar) return row(t).dot;
#ifdef OWL_QUANT_X86
  if (isa_available(isa)) return avx2_table[size_t(t)];
#endif
  return nullptr;
}

// Number of blocks in a row of n elements of type t; throws unless n is a multiple.
int64_t blocks_of(qtype t, int64_t n, const char* what) {
  const auto& i = row(t).info;
  if (n < 0 || n % i.block_size != 0)
    fail(std::string("quant: ") + what,
         std::string(i.name) + " row of " + std::to_string(n) + " elements: expected a multiple of " +
             std::to_string(i.block_size),
         "quantized rows hold whole blocks of " + std::to_string(i.block_size) + " elements");
  return n / i.block_size;
}

int64_t dot_blocks(qtype t, int64_t n) {
  const int64_t nb = blocks_of(t, n, "vec_dot");
  blocks_of(row(t).activation, n, "vec_dot activations");
  return nb;
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

}  // namespace

bool detail::isa_available(kernel_isa isa) {
  switch (isa) {
    case kernel_isa::scalar: return true;
#ifdef OWL_QUANT_X86
    case kernel_isa::avx2: return cpu::has_avx2_fma_f16c();
    case kernel_isa::avx512_vnni: return cpu::has_avx512_vnni();
#endif
    default: return false;
  }
}

const char* detail::isa_name(kernel_isa isa) {
  switch (isa) {
    case kernel_isa::scalar: return "scalar";
    case kernel_isa::avx2: return "AVX2";
    default: return "AVX-512 VNNI";
  }
}

const qtype_info& info(qtype t) { return row(t).info; }

std::optional<qtype> from_ggml_type(int ggml_type) {
  for (qtype t : all_qtypes)
    if (row(t).info.ggml_type == ggml_type) return t;
  return std::nullopt;
}

std::optional<qtype> from_name(std::string_view name) {
  for (qtype t : all_qtypes) {
    const std::string_view candidate = row(t).info.name;
    if (candidate.size() != name.size()) continue;
    bool same = true;
    for (size_t i = 0; i < name.size() && same; ++i) same = lower(candidate[i]) == lower(name[i]);
    if (same) return t;
  }
  return std::nullopt;
}

size_t row_bytes(qtype t, int64_t n) { return size_t(blocks_of(t, n, "row_bytes")) * size_t(row(t).info.block_bytes); }

void dequantize_row(qtype t, const std::byte* src, float* dst, int64_t n) {
  const int64_t nb = blocks_of(t, n, "dequantize_row");
  if (nb > 0) row(t).dequant(src, dst, nb);
}

void quantize_row(qtype t, const float* src, std::byte* dst, int64_t n) {
  const int64_t nb = blocks_of(t, n, "quantize_row");
  if (nb > 0) row(t).quant(src, dst, nb);
}

void quantize_activations(qtype t, const float* src, std::byte* dst, int64_t n) {
  const int64_t nb = blocks_of(t, n, "quantize_activations");
#ifdef OWL_QUANT_X86
  if (nb > 0 && isa_available(kernel_isa::avx2)) {
    if (t == qtype::q8_0) return avx2::quant_q8_0(src, dst, nb);
    if (t == qtype::q8_k) return avx2::quant_q8_k(src, dst, nb);
  }
#endif
  if (nb > 0) row(t).quant(src, dst, nb);
}

qtype dot_activation_type(qtype t) { return row(t).activation; }

kernel_isa best_isa() {
  static const kernel_isa best = isa_available(kernel_isa::avx512_vnni) ? kernel_isa::avx512_vnni
                                 : isa_available(kernel_isa::avx2)      ? kernel_isa::avx2
                                                                        : kernel_isa::scalar;
  return best;
}

bool has_kernel(kernel_isa isa, qtype t) { return tiles(isa, t) || kernel(isa, t); }

void matmul_rows(kernel_isa isa, qtype t, const std::byte* weights, size_t w_row_bytes, int64_t rows,
                 const std::byte* activations, size_t a_row_bytes, int64_t n, int64_t cols, float* y,
                 int64_t y_stride) {
  const int64_t nb = dot_blocks(t, cols);
  if (rows <= 0 || n <= 0) return;
  if (nb == 0) {
    for (int64_t j = 0; j < n; ++j) std::fill(y + j * y_stride, y + j * y_stride + rows, 0.0f);
    return;
  }
  if (const tiles_fn tiled = tiles(isa, t))
    return tiled(weights, w_row_bytes, rows, activations, a_row_bytes, n, nb, y, y_stride);
  const dot_fn dot = kernel(isa, t);
  if (!dot)
    fail("quant: matmul_rows", std::string("no ") + isa_name(isa) + " kernel for " + std::string(row(t).info.name) +
                                   " on this CPU");
  // Blocks of tokens (about 64 KiB of activations) stay in L2 while every row meets them.
  const int64_t token_block = std::max<int64_t>(1, int64_t((64 << 10) / std::max<size_t>(a_row_bytes, 1)));
  for (int64_t j0 = 0; j0 < n; j0 += token_block) {
    const int64_t j1 = std::min(n, j0 + token_block);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = j0; j < j1; ++j)
        y[j * y_stride + r] = dot(weights + size_t(r) * w_row_bytes, activations + size_t(j) * a_row_bytes, nb);
  }
}

float vec_dot_with(kernel_isa isa, qtype t, const std::byte* weights, const std::byte* activations, int64_t n) {
  if (!has_kernel(isa, t))
    fail("quant: vec_dot_with", std::string("no ") + isa_name(isa) + " kernel for " + std::string(row(t).info.name) +
                                    " on this CPU");
  float y = 0.0f;
  matmul_rows(isa, t, weights, 0, 1, activations, 0, 1, n, &y, 1);
  return y;
}

float vec_dot(qtype t, const std::byte* weights, const std::byte* activations, int64_t n) {
  return vec_dot_with(best_isa(), t, weights, activations, n);
}

}  // namespace owl::quant
