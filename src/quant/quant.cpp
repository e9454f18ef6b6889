// quant.cpp — the type table and the entry points of quant.h: size checks, then dispatch to
// the per-family kernels (scalar reference, or AVX2 when the CPU has it).
#include "quant/quant.h"

#include <string>

#include "owl/error.h"
#include "quant/blocks.h"

#ifdef OWL_QUANT_X86
#include <cpuid.h>
#endif

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
const dot_fn avx2_table[] = {
    avx2::dot_q4_0_q8_0, avx2::dot_q4_1_q8_1, avx2::dot_q5_0_q8_0, avx2::dot_q5_1_q8_1, avx2::dot_q8_0_q8_0,
    avx2::dot_q8_1_q8_1, avx2::dot_q2_k_q8_k, avx2::dot_q3_k_q8_k, avx2::dot_q4_k_q8_k, avx2::dot_q5_k_q8_k,
    avx2::dot_q6_k_q8_k, avx2::dot_q8_k_q8_k, avx2::dot_iq4_nl_q8_0, avx2::dot_iq4_xs_q8_k,
};
static_assert(sizeof(avx2_table) / sizeof(avx2_table[0]) == all_qtypes.size());

// AVX2 and FMA through the compiler's check (which includes OS support for the YMM state);
// F16C from CPUID leaf 1 (clang 14 has no "f16c" feature string for __builtin_cpu_supports).
bool cpu_has_avx2() {
  static const bool has = [] {
    __builtin_cpu_init();
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    const bool f16c = __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && f16c;
  }();
  return has;
}
#endif

dot_fn kernel(kernel_isa isa, qtype t) {
  if (isa == kernel_isa::scalar) return row(t).dot;
#ifdef OWL_QUANT_X86
  if (cpu_has_avx2()) return avx2_table[size_t(t)];
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

qtype dot_activation_type(qtype t) { return row(t).activation; }

float vec_dot(qtype t, const std::byte* weights, const std::byte* activations, int64_t n) {
  const int64_t nb = dot_blocks(t, n);
  if (nb == 0) return 0.0f;
  dot_fn fn = kernel(kernel_isa::avx2, t);
  if (!fn) fn = row(t).dot;
  return fn(weights, activations, nb);
}

bool has_kernel(kernel_isa isa, qtype t) { return kernel(isa, t) != nullptr; }

float vec_dot_with(kernel_isa isa, qtype t, const std::byte* weights, const std::byte* activations, int64_t n) {
  const int64_t nb = dot_blocks(t, n);
  dot_fn fn = kernel(isa, t);
  if (!fn)
    fail("quant: vec_dot_with", std::string("no ") + (isa == kernel_isa::avx2 ? "AVX2" : "scalar") + " kernel for " +
                                    std::string(row(t).info.name) + " on this CPU");
  return nb == 0 ? 0.0f : fn(weights, activations, nb);
}

}  // namespace owl::quant
