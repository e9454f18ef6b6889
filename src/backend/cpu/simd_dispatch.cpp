#include <cstdlib>
#include <cstring>

#include "backend/cpu/simd_kernels.h"

namespace owl::simd {


const kernel_table& scalar_kernels() {
  static const kernel_table table{};
  return table;
}

const kernel_table& best_kernels() {
  // OWL_KERNELS=scalar forces the reference kernels, OWL_KERNELS=avx2 the AVX2 table (for
  // comparisons and debugging).
  static const kernel_table& chosen = [] () -> const kernel_table& {
    const char* forced = std::getenv("OWL_KERNELS");
    if (forced && std::strcmp(forced, "scalar") == 0) return scalar_kernels();
    if (forced && std::strcmp(forced, "avx2") == 0 && avx2_kernels()) return *avx2_kernels();
    if (const kernel_table* avx512 = avx512_kernels()) return *avx512;
    if (const kernel_table* avx2 = avx2_kernels()) return *avx2;
    return scalar_kernels();
  }();
  return chosen;
}

}  // namespace owl::simd
