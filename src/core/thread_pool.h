// thread_pool.h — a fixed set of worker threads for data-parallel kernels.
//
// Kernels call parallel_for with a range; the calling thread takes part in the work, so a
// pool of N threads keeps N cores busy with N-1 workers. Dispatch is a generation counter
// under one mutex: cheap enough for per-matmul calls on small models; the SIMD issue may
// replace it with spinning workers.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace owl {

class thread_pool {
 public:
  explicit thread_pool(int threads);  // threads <= 0: hardware concurrency
  ~thread_pool();
  thread_pool(const thread_pool&) = delete;
  thread_pool& operator=(const thread_pool&) = delete;

  int size() const { return int(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint chunks covering [0, count), at most one chunk per
  // thread, each at least min_chunk long. Returns when all chunks are done.
  void parallel_for(int64_t count, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn);

 private:
  void worker_loop(int index);
  void run_chunk(int index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int job_chunks_ = 0;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  std::mutex call_mutex_;  // one parallel_for at a time
};

}  // namespace owl
