// membw — the machine's read bandwidth: threads sum a buffer far larger than the caches.
// The tg roofline of a model is this bandwidth / bytes read per generated token.
// usage: owl_membw [THREADS] [MiB]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : int(std::thread::hardware_concurrency());
  const size_t mib = argc > 2 ? size_t(std::atoll(argv[2])) : 1024;
  const size_t count = mib * 1024 * 1024 / sizeof(double);
  std::vector<double> buffer(count, 1.0);
  double best = 0;
  volatile double sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> pool;
    std::vector<double> sums(static_cast<size_t>(threads), 0.0);
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        const size_t begin = count * size_t(t) / size_t(threads), end = count * size_t(t + 1) / size_t(threads);
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (size_t i = begin; i + 4 <= end; i += 4) {
          s0 += buffer[i];
          s1 += buffer[i + 1];
          s2 += buffer[i + 2];
          s3 += buffer[i + 3];
        }
        sums[size_t(t)] = s0 + s1 + s2 + s3;
      });
    for (auto& th : pool) th.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (double s : sums) sink = sink + s;
    best = std::max(best, double(count * sizeof(double)) / seconds / 1e9);
  }
  std::printf("{\"threads\": %d, \"read_gb_per_s\": %.2f}\n", threads, best);
  return 0;
}
