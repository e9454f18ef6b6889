// dtype_quant.cpp — the dtype functions that need the block formats' sizes.
#include "owl/dtype.h"
#include "owl/error.h"
#include "quant/quant.h"

namespace owl {
namespace {
constexpr size_t first_block_type = size_t(dtype::q4_0);
quant::qtype to_qtype(dtype type) { return quant::qtype(size_t(type) - first_block_type); }
}  // namespace

std::string_view dtype_name(dtype type) {
  static constexpr std::string_view plain[] = {"F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL"};
  return is_quantized(type) ? quant::info(to_qtype(type)).name : plain[size_t(type)];
}

int64_t dtype_block_size(dtype type) { return is_quantized(type) ? quant::info(to_qtype(type)).block_size : 1; }

size_t dtype_row_bytes(dtype type, int64_t n) {
  if (n < 0) fail("tensor row", "negative length " + std::to_string(n));
  if (is_quantized(type)) return quant::row_bytes(to_qtype(type), n);
  return size_t(n) * dtype_size(type);
}

}  // namespace owl
