// quant.h — GGUF/ggml block-quantized weight formats: layouts, reference quantizers,
// dequantization and dot products.
//
// Every format stores a row as consecutive blocks of `block_size` elements; the byte layouts
// are bit-exact with the GGUF files llama.cpp writes (docs/quantization.md describes each).
// A weight row is multiplied with an activation row that was quantized to
// dot_activation_type(weight type); vec_dot works on the integer quants directly.
//
// Row lengths must be multiples of the block size (and, for vec_dot, of the activation
// type's block size too): anything else throws owl::error.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace owl::quant {

enum class qtype : uint8_t { q4_0, q4_1, q5_0, q5_1, q8_0, q8_1, q2_k, q3_k, q4_k, q5_k, q6_k, q8_k, iq4_nl, iq4_xs };

inline constexpr std::array<qtype, 14> all_qtypes{
    qtype::q4_0, qtype::q4_1, qtype::q5_0, qtype::q5_1, qtype::q8_0,  qtype::q8_1,   qtype::q2_k,
    qtype::q3_k, qtype::q4_k, qtype::q5_k, qtype::q6_k, qtype::q8_k, qtype::iq4_nl, qtype::iq4_xs};

struct qtype_info {
  std::string_view name;  // GGUF spelling: "Q4_0", "Q4_K", "IQ4_XS"
  int block_size;         // elements per block: 32 or 256
  int block_bytes;        // bytes per block
  int ggml_type;          // GGUF tensor type id
};

const qtype_info& info(qtype t);
std::optional<qtype> from_ggml_type(int ggml_type);
std::optional<qtype> from_name(std::string_view name);  // case-insensitive

// Bytes of a row of n elements; n must be a non-negative multiple of info(t).block_size.
size_t row_bytes(qtype t, int64_t n);

void dequantize_row(qtype t, const std::byte* src, float* dst, int64_t n);
// Reference (round-to-nearest with a per-block scale search) quantizer.
void quantize_row(qtype t, const float* src, std::byte* dst, int64_t n);

// quantize_row for an activation type (Q8_0, Q8_K), with SIMD where the CPU has it: bitwise
// what quantize_row stores. Other types go to quantize_row.
void quantize_activations(qtype t, const float* src, std::byte* dst, int64_t n);

// The format each weight type's dot product wants its activations in:
// q4_0, q5_0, q8_0, iq4_nl -> Q8_0; q4_1, q5_1, q8_1 -> Q8_1; k-quants, iq4_xs -> Q8_K.
qtype dot_activation_type(qtype t);

// sum_i w[i] * a[i] for one weight row and one activation row already quantized to
// dot_activation_type(t). Uses the fastest kernel the CPU has (best_isa()).
float vec_dot(qtype t, const std::byte* weights, const std::byte* activations, int64_t n);

// --- matrix products and implementation selection ----------------------------------------
// scalar: the reference kernels; avx2: AVX2 + FMA + F16C; avx512_vnni: the AVX2 kernels with
// AVX-512 VL/BW/VNNI integer dot products and more registers. avx2 and avx512_vnni give
// bitwise the same results (the integer sums are exact either way).
enum class kernel_isa { scalar, avx2, avx512_vnni };
// The fastest implementation this CPU runs.
kernel_isa best_isa();
// Whether vec_dot_with / matmul_rows with isa can run on this build and CPU for type t.
bool has_kernel(kernel_isa isa, qtype t);
// vec_dot with a forced implementation; throws owl::error when has_kernel(isa, t) is false.
float vec_dot_with(kernel_isa isa, qtype t, const std::byte* weights, const std::byte* activations, int64_t n);

// y[j * y_stride + r] = vec_dot_with(isa, t, row r, activation row j, cols) for r < rows and
// j < n, bitwise: weight rows lie w_row_bytes apart, activation rows (quantized with
// quantize_row to dot_activation_type(t)) a_row_bytes apart. For prompts: register tiles of
// several rows and tokens share the unpacked weights and the activation loads, and every
// output keeps vec_dot's arithmetic, so results never depend on rows or n.
void matmul_rows(kernel_isa isa, qtype t, const std::byte* weights, size_t w_row_bytes, int64_t rows,
                 const std::byte* activations, size_t a_row_bytes, int64_t n, int64_t cols, float* y,
                 int64_t y_stride);
// Up to this many tokens (decode steps) matmul_rows and matmul_interleaved read each weight
// row once, straight from memory, with nothing unpacked; with more, a range of rows is
// unpacked once per block of tokens (what a caller splitting rows over threads amortizes).
inline constexpr int64_t decode_max_tokens = 2;

// --- interleaved weights ------------------------------------------------------------------
// The CPU's layout for Q4_0, Q8_0, IQ4_NL, Q4_K, Q5_K and Q6_K: core/row_interleave.h with
// each block's scales as its head (a half; Q4_K, Q5_K: d, dmin and the 12 bytes of packed
// scales and mins; Q6_K: d, its 8-bit scales then being 4 pieces like the quants) and the rest
// in 4-byte pieces. A full group of 8 rows keeps its size and holds, block after
// block, the 8 rows' heads, then [piece j][row r][quant bytes 4j..4j+3]: one sequential stream
// feeds 8 outputs per vector with no transposes (a second stream for the scales halved the
// speed from DRAM). Rows past the last full group stay plain; deinterleave_rows restores the
// file's bytes exactly.
inline constexpr int64_t interleave_group_rows = 8;
bool can_interleave(qtype t);
// From src into dst (the same bytes, or disjoint ones). Throws owl::error unless
// can_interleave(t) and cols is a multiple of the block size.
void interleave_rows(qtype t, const std::byte* src, std::byte* dst, int64_t rows, int64_t cols);
void deinterleave_rows(qtype t, std::byte* weights, int64_t rows, int64_t cols);  // in place
// Row `row` of an interleaved matrix of `rows` rows, dequantized (an embedding lookup).
void dequantize_interleaved_row(qtype t, const std::byte* weights, int64_t rows, int64_t row, int64_t cols,
                                float* out);
// Whether matmul_interleaved with isa runs on this build and CPU for type t.
bool has_interleaved_kernel(kernel_isa isa, qtype t);
// matmul_rows over rows [row_begin, row_end) of an interleaved matrix of `rows` rows (row_begin
// a multiple of 8): y[j * y_stride + (r - row_begin)], bitwise what matmul_rows gives for the
// same rows stored plainly.
void matmul_interleaved(kernel_isa isa, qtype t, const std::byte* weights, int64_t rows, int64_t row_begin,
                        int64_t row_end, const std::byte* activations, size_t a_row_bytes, int64_t n, int64_t cols,
                        float* y, int64_t y_stride);

}  // namespace owl::quant
