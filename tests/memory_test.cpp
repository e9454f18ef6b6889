// Peak memory of a run: the weights are used in place from the file's mapping, so a run's
// peak resident set stays near the file's size plus the KV cache — whether the CPU backend
// repacks the weights at load (private copy-on-write pages replace the file's pages one for
// one) or not. Measured on a child process (`owl bench`) with wait4's rusage.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/gguf.h"
#include "synthetic_llama.h"
#include "test_util.h"

namespace owl {
namespace {

namespace fs = std::filesystem;

using test::llama_shape;

// Q8_0 blocks with random levels and small finite scales (the bytes of a real file's size).
std::vector<std::byte> random_q8_0(int64_t rows, int64_t cols, std::mt19937& rng) {
  std::vector<std::byte> out(size_t(rows * cols / 32 * 34));
  for (std::byte& b : out) b = std::byte(rng() & 0xff);
  for (size_t at = 0; at < out.size(); at += 34) {
    const uint16_t scale = uint16_t(0x1800 + (rng() & 0x3ff));  // about 2^-9
    std::memcpy(out.data() + at, &scale, 2);
  }
  return out;
}

// A Llama GGUF (tied embeddings) of Q8_0 matrices.
void write_llama_q8_0(const fs::path& path, const llama_shape& s) {
  std::mt19937 rng(7);
  test::write_synthetic_llama(path, s, [&](const std::string&, int64_t rows, int64_t cols) {
    return test::tensor_bytes{ggml_types::q8_0, random_q8_0(rows, cols, rng)};
  });
}

// Runs owl with args; returns the child's peak resident set in bytes (-1 if it failed).
int64_t peak_rss_of_owl(const std::vector<std::string>& args) {
  std::fflush(stdout);  // else the child would write our buffered output a second time
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv;
    std::string binary = OWL_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (!freopen("/dev/null", "w", stdout)) _exit(126);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  if (pid < 0 || wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return int64_t(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

TEST(PeakMemory, RunStaysNearFileSizePlusKvCache) {
  if (test::address_sanitizer) GTEST_SKIP() << "the sanitizers' own memory would be counted";
  test::temp_dir dir("rss");
  const fs::path small = dir / "small.gguf", large = dir / "large.gguf";
  write_llama_q8_0(small, {256, 512, 1, 4, 2, 1024});
  // About 160 MB: 8 layers of hidden 1024, FFN 4096, and a 32000-token vocabulary.
  const llama_shape shape{1024, 4096, 8, 16, 4, 32000};
  write_llama_q8_0(large, shape);
  const int64_t file_bytes = int64_t(fs::file_size(large));
  // pp16 and tg4: 17 positions of f32 keys and values per layer.
  const int64_t kv_bytes = 17 * shape.layers * 2 * (shape.hidden / shape.heads * shape.kv_heads) * 4;
  for (const bool repack : {true, false}) {
    std::vector<std::string> args = {"bench", "", "-p", "16", "-n", "4", "-t", "2", "-r", "1"};
    if (!repack) args.push_back("--no-repack");
    args[1] = small.string();
    const int64_t baseline = peak_rss_of_owl(args);  // the binary, threads, allocator: no weights to speak of
    args[1] = large.string();
    const int64_t peak = peak_rss_of_owl(args);
    ASSERT_GT(baseline, 0);
    ASSERT_GT(peak, 0);
    const double extra = double(peak - baseline) / double(file_bytes);
    std::printf("[ rss ] repack=%d file %.1f MB, peak %.1f MB, baseline %.1f MB: (peak - baseline) / file = %.3f\n",
                int(repack), file_bytes / 1e6, peak / 1e6, baseline / 1e6, extra);
    // Every weight page is resident once (read, or rewritten copy-on-write), never twice; the
    // slack covers the KV cache, activations and logits of a 32000-token vocabulary.
    EXPECT_LE(peak - baseline, file_bytes + kv_bytes + (24 << 20)) << "repack " << repack;
    EXPECT_GE(peak - baseline, file_bytes / 2) << "the run did not read the weights?";
  }
}

}  // namespace
}  // namespace owl
