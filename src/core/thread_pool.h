// thread_pool.h — a fixed set of worker threads for data-parallel kernels.
//
// Kernels call parallel_for with a range; the calling thread takes part in the work, so a
// pool of N threads keeps N cores busy with N-1 workers. A decode step makes a few hundred
// parallel_for calls (every matmul, norm and attention), so dispatch must cost microseconds:
// workers spin on an atomic ticket for a short while after each job before they sleep
// (futex wait), and the range is cut into several chunks per thread that threads claim one by
// one, so a thread the OS pre-empts does not hold up the others.
#pragma once

#include <atomic>
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

  // Calls fn(begin, end) over disjoint chunks covering [0, count), each at least min_chunk
  // long (the last may be shorter), at most chunks_per_thread per thread. Returns when all
  // chunks are done. Which thread runs which chunk is not fixed: fn's results must not depend
  // on it. More chunks even out the threads' finishing times; fewer amortize a chunk's setup.
  void parallel_for(int64_t count, int64_t min_chunk, const std::function<void(int64_t, int64_t)>& fn,
                    int chunks_per_thread = 4);

 private:
  void worker_loop();
  // Claims and runs chunks of job `generation` until none are left.
  void run_chunks(uint32_t generation);

  std::vector<std::thread> workers_;
  // generation << 32 | chunk count << 16 | next chunk index: checking that a chunk is left in
  // the current job and claiming it is one compare-and-swap.
  std::atomic<uint64_t> ticket_{0};
  std::atomic<uint32_t> generation_{0};  // bumped to start a job; workers wait on it
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<bool> stopping_{false};
  // The current job, written before the ticket is released and read only by a thread that
  // holds one of its chunks (so the job cannot end and be replaced meanwhile).
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_count_ = 0;
  int64_t chunk_size_ = 0;
  std::mutex call_mutex_;  // one parallel_for at a time
};

}  // namespace owl
