// cpu_features.h — what the processor and the OS support, read once from CPUID and XCR0, for
// the run-time choice of SIMD kernels (src/backend/cpu, src/quant). False on non-x86 builds.
#pragma once

namespace owl::cpu {

// AVX2, FMA and F16C, with the OS saving the ymm state.
bool has_avx2_fma_f16c();
// The above plus AVX-512 F and VL, with the OS saving the opmask and zmm state.
bool has_avx512_vl();
// The above plus AVX-512 BW and VNNI.
bool has_avx512_vnni();

}  // namespace owl::cpu
