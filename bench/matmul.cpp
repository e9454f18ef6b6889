// matmul.cpp — owl_bench_matmul: one thread's speed of the matrix products per weight type
// and kernel (quant::matmul_rows for quantized types, the SIMD table's matmul_rows for F16/BF16/
// F32; "/x8": the rows interleaved in groups of 8 as the CPU backend stores them), timed in
// thread CPU time (best of at least 5 rounds and 0.2 s) so other processes on the machine disturb it little.
// usage: owl_bench_matmul [--rows R] [--cols C] [--tokens N] [TYPE...]
//        (default F16 Q4_0 Q8_0 Q4_K Q6_K)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "owl/error.h"
#include "backend/cpu/simd_kernels.h"
#include "core/row_interleave.h"
#include "quant/quant.h"

using namespace owl::quant;

namespace {

double thread_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

const char* isa_name(kernel_isa isa) {
  return isa == kernel_isa::scalar ? "scalar" : isa == kernel_isa::avx2 ? "avx2" : "avx512_vnni";
}

// The best thread CPU time of fn over at least 5 rounds and 0.2 s: one call of a small product
// (a decode step's matrix in L2) takes tens of microseconds, too short to time once.
template <class F>
double best_seconds(const F& fn) {
  double best = 1e30, total = 0;
  for (int round = 0; round < 5 || (total < 0.2 && round < 10000); ++round) {
    const double start = thread_seconds();
    fn();
    const double took = thread_seconds() - start;
    best = std::min(best, took);
    total += took;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) try {
  int64_t rows = 256, cols = 2048, tokens = 512;
  std::vector<qtype> types;
  std::vector<owl::dtype> float_types;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if ((arg == "--rows" || arg == "--cols" || arg == "--tokens") && i + 1 < argc) {
      const int64_t v = std::stoll(argv[++i]);
      (arg == "--rows" ? rows : arg == "--cols" ? cols : tokens) = v;
    } else if (arg == "F16" || arg == "BF16" || arg == "F32") {
      float_types.push_back(arg == "F16" ? owl::dtype::f16 : arg == "BF16" ? owl::dtype::bf16 : owl::dtype::f32);
    } else if (const auto t = from_name(arg)) {
      types.push_back(*t);
    } else {
      std::fprintf(stderr, "owl_bench_matmul: unknown argument '%s'\n", arg.c_str());
      return 2;
    }
  }
  if (types.empty() && float_types.empty()) {
    types = {qtype::q4_0, qtype::q8_0, qtype::q4_k, qtype::q6_k};
    float_types = {owl::dtype::f16};
  }
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  std::vector<float> w_f32(size_t(rows * cols)), x_f32(size_t(tokens * cols));
  for (auto& v : w_f32) v = normal(rng);
  for (auto& v : x_f32) v = normal(rng);
  std::printf("rows %lld, cols %lld, tokens %lld; one thread, best of >= 5 rounds and 0.2 s; GOP/s = 2 rows cols tokens / s\n",
              (long long)rows, (long long)cols, (long long)tokens);
  std::printf("%-7s %-12s %10s %10s %8s\n", "type", "isa", "ms", "GOP/s", "GB/s");
  for (owl::dtype t : float_types) {
    const auto& kernels = owl::simd::best_kernels();
    if (!kernels.matmul_rows) continue;
    const size_t element = owl::dtype_size(t), wrb = element * size_t(cols);
    std::vector<std::byte> w(wrb * size_t(rows));
    for (int64_t i = 0; i < rows * cols; ++i) {
      const float v = w_f32[size_t(i)];
      if (t == owl::dtype::f32) std::memcpy(w.data() + 4 * i, &v, 4);
      else if (t == owl::dtype::f16) { const uint16_t h = owl::f32_to_f16(v); std::memcpy(w.data() + 2 * i, &h, 2); }
      else { uint32_t u; std::memcpy(&u, &v, 4); const uint16_t h = uint16_t(u >> 16); std::memcpy(w.data() + 2 * i, &h, 2); }
    }
    std::vector<float> y(size_t(rows * tokens));
    // The rows as stored, then interleaved in groups of 8 ("/x8") as the CPU backend keeps them.
    std::vector<std::byte> interleaved = w;
    const size_t piece = 8 * element;
    owl::interleave_groups(interleaved.data(), interleaved.data(), rows, wrb, {piece, 0, piece});
    for (const bool grouped : {false, true}) {
      const auto kernel = grouped ? kernels.matmul_interleaved : kernels.matmul_rows;
      const int64_t kernel_rows = grouped ? rows / 8 * 8 : rows;
      const double best = best_seconds([&] {
        kernel(t, (grouped ? interleaved : w).data(), wrb, 0, kernel_rows, cols, x_f32.data(), tokens, y.data(), rows);
      });
      std::printf("%-7s %-12s %10.2f %10.1f %8.1f\n", t == owl::dtype::f16 ? "F16" : t == owl::dtype::bf16 ? "BF16" : "F32",
                  (std::string(kernels.name) + (grouped ? "/x8" : "")).c_str(), 1e3 * best,
                  2.0 * double(kernel_rows * cols * tokens) / best * 1e-9, double(w.size()) / best * 1e-9);
    }
  }
  for (qtype t : types) {
    const qtype at = dot_activation_type(t);
    const size_t wrb = row_bytes(t, cols), arb = row_bytes(at, cols);
    std::vector<std::byte> w(wrb * size_t(rows)), a(arb * size_t(tokens));
    for (int64_t r = 0; r < rows; ++r) quantize_row(t, w_f32.data() + r * cols, w.data() + r * wrb, cols);
    for (int64_t j = 0; j < tokens; ++j) quantize_row(at, x_f32.data() + j * cols, a.data() + j * arb, cols);
    std::vector<float> y(size_t(rows * tokens));
    for (kernel_isa isa : {kernel_isa::scalar, kernel_isa::avx2, kernel_isa::avx512_vnni}) {
      if (!has_kernel(isa, t)) continue;
      const double best = best_seconds([&] { matmul_rows(isa, t, w.data(), wrb, rows, a.data(), arb, tokens, cols, y.data(), rows); });
      std::printf("%-7s %-12s %10.2f %10.1f %8.1f\n", std::string(info(t).name).c_str(), isa_name(isa), 1e3 * best,
                  2.0 * double(rows * cols * tokens) / best * 1e-9, double(w.size()) / best * 1e-9);
    }
    if (!can_interleave(t)) continue;
    // The same rows interleaved in groups of 8 (the CPU backend's layout for these formats).
    std::vector<std::byte> interleaved = w;
    interleave_rows(t, interleaved.data(), interleaved.data(), rows, cols);
    for (kernel_isa isa : {kernel_isa::avx2, kernel_isa::avx512_vnni}) {
      if (!has_interleaved_kernel(isa, t)) continue;
      const double best = best_seconds(
          [&] { matmul_interleaved(isa, t, interleaved.data(), rows, 0, rows, a.data(), arb, tokens, cols, y.data(), rows); });
      std::printf("%-7s %-12s %10.2f %10.1f %8.1f\n", std::string(info(t).name).c_str(),
                  (std::string(isa_name(isa)) + "/x8").c_str(), 1e3 * best, 2.0 * double(rows * cols * tokens) / best * 1e-9,
                  double(w.size()) / best * 1e-9);
    }
  }
  return 0;
} catch (const owl::error& e) {
  std::fprintf(stderr, "owl_bench_matmul: %s\n", e.what());
  return 1;
}
