#include "core/cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace owl::cpu {
namespace {

struct features {
  bool avx2_fma_f16c = false, avx512_vl = false, avx512_vnni = false;
};

#if defined(__x86_64__) || defined(__i386__)
features detect() {
  features f;
  unsigned a, b, c, d;
  // (clang 14's __builtin_cpu_supports does not know "f16c", so CPUID is read directly.)
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), f16c = c & (1u << 29), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && f16c && osxsave && avx)) return f;
  unsigned xcr0_low, xcr0_high;
  __asm__("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
  if ((xcr0_low & 6u) != 6u) return f;  // xmm and ymm state enabled by the OS
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2_fma_f16c = b & (1u << 5);
  // AVX-512: F (bit 16), VL (31); the OS saves the opmask and upper zmm state (XCR0 bits 5-7).
  f.avx512_vl = f.avx2_fma_f16c && (b & (1u << 16)) && (b & (1u << 31)) && (xcr0_low & 0xe6u) == 0xe6u;
  f.avx512_vnni = f.avx512_vl && (b & (1u << 30)) && (c & (1u << 11));  // BW, VNNI
  return f;
}
#else
features detect() { return {}; }
#endif

const features& detected() {
  static const features f = detect();
  return f;
}

}  // namespace

bool has_avx2_fma_f16c() { return detected().avx2_fma_f16c; }
bool has_avx512_vl() { return detected().avx512_vl; }
bool has_avx512_vnni() { return detected().avx512_vnni; }

}  // namespace owl::cpu
