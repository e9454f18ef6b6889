#include "core/thread_pool.h"

#include <algorithm>

namespace owl {

thread_pool::thread_pool(int threads) {
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

thread_pool::~thread_pool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void thread_pool::run_chunk(int index) {
  // Chunk `index` of job_chunks_ equal parts of [0, job_count_).
  int64_t begin = job_count_ * index / job_chunks_;
  int64_t end = job_count_ * (index + 1) / job_chunks_;
  if (begin < end) (*job_)(begin, end);
}

void thread_pool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= job_chunks_) continue;
    }
    run_chunk(index);
    {
      std::lock_guard lock(mutex_);
      if (--pending_ == 0) work_done_.notify_one();
    }
  }
}

void thread_pool::parallel_for(int64_t count, int64_t min_chunk,
                               const std::function<void(int64_t, int64_t)>& fn) {
  if (count <= 0) return;
  min_chunk = std::max<int64_t>(1, min_chunk);
  int chunks = int(std::min<int64_t>(size(), (count + min_chunk - 1) / min_chunk));
  if (chunks <= 1) {
    fn(0, count);
    return;
  }
  std::lock_guard call_lock(call_mutex_);
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    job_count_ = count;
    job_chunks_ = chunks;
    pending_ = chunks - 1;
    ++generation_;
  }
  work_ready_.notify_all();
  run_chunk(0);
  std::unique_lock lock(mutex_);
  work_done_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
}

}  // namespace owl
