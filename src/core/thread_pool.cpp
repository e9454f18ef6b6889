#include "core/thread_pool.h"

#include <algorithm>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace owl {
namespace {

// Waiting for the next job: poll for a few microseconds (the gap between the kernels of one
// forward pass), then offer the core to other threads for a while (a machine with more
// runnable threads than cores must not lose time slices to spinning), then sleep.
constexpr int spin_rounds = 256;
constexpr int yield_rounds = 256;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

}  // namespace

thread_pool::thread_pool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

thread_pool::~thread_pool() {
  stopping_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void thread_pool::run_chunks(uint32_t generation) {
  uint64_t ticket = ticket_.load(std::memory_order_acquire);
  for (;;) {
    const int64_t chunk = int64_t(ticket & 0xffff), count = int64_t((ticket >> 16) & 0xffff);
    if (uint32_t(ticket >> 32) != generation || chunk >= count) return;  // another job, or none left
    if (!ticket_.compare_exchange_weak(ticket, ticket + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    // Holding a real chunk of this job: its fields stay put until every chunk is done.
    const int64_t begin = chunk * chunk_size_, end = std::min(job_count_, begin + chunk_size_);
    (*job_)(begin, end);
    chunks_done_.fetch_add(1, std::memory_order_acq_rel);
    ticket = ticket_.load(std::memory_order_acquire);
  }
}

void thread_pool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    uint32_t generation = generation_.load(std::memory_order_acquire);
    for (int round = 0; generation == seen; ++round) {
      if (round < spin_rounds) {
        cpu_relax();
      } else if (round < spin_rounds + yield_rounds) {
        std::this_thread::yield();
      } else {
        generation_.wait(seen, std::memory_order_acquire);
        round = 0;
      }
      generation = generation_.load(std::memory_order_acquire);
    }
    seen = generation;
    if (stopping_.load(std::memory_order_acquire)) return;
    run_chunks(generation);
  }
}

void thread_pool::parallel_for(int64_t count, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn,
                               int chunks_per_thread) {
  if (count <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  const int threads = size();
  const int64_t max_chunks =
      threads == 1 ? 1 : std::min<int64_t>(0xffff, std::max(1, chunks_per_thread) * int64_t(threads));
  const int64_t chunks = std::min<int64_t>(max_chunks, count / min_chunk);  // each >= min_chunk
  if (chunks <= 1) {
    fn(0, count);
    return;
  }
  std::lock_guard call_lock(call_mutex_);
  job_ = &fn;
  job_count_ = count;
  chunk_size_ = (count + chunks - 1) / chunks;
  const int64_t chunk_count = (count + chunk_size_ - 1) / chunk_size_;
  chunks_done_.store(0, std::memory_order_relaxed);
  const uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  ticket_.store(uint64_t(generation) << 32 | uint64_t(chunk_count) << 16, std::memory_order_release);
  generation_.store(generation, std::memory_order_release);
  generation_.notify_all();
  run_chunks(generation);
  // Wait for the chunks other threads still run: short, unless one of them was pre-empted.
  for (int round = 0; chunks_done_.load(std::memory_order_acquire) < chunk_count; ++round) {
    if (round < spin_rounds) cpu_relax();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

}  // namespace owl
