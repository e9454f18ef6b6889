// The thread pool (src/core/thread_pool.h): every index runs exactly once per call, chunks
// respect min_chunk, thousands of back-to-back calls (a decode step's pattern) neither lose nor
// repeat work, and pools are destroyed cleanly whether their workers spin or sleep.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <tuple>
#include <vector>

#include "core/thread_pool.h"

namespace owl {
namespace {

TEST(ThreadPool, EveryIndexRunsExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    thread_pool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t count : {1, 2, 7, 64, 1000, 100003}) {
      for (int64_t min_chunk : {1, 3, 16, 5000}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(count));
        std::atomic<int64_t> short_chunks{0};
        pool.parallel_for(count, min_chunk, [&](int64_t begin, int64_t end) {
          ASSERT_LE(0, begin);
          ASSERT_LT(begin, end);
          ASSERT_LE(end, count);
          if (end - begin < min_chunk && end != count) short_chunks.fetch_add(1);
          for (int64_t i = begin; i < end; ++i) hits[size_t(i)].fetch_add(1);
        });
        for (int64_t i = 0; i < count; ++i)
          ASSERT_EQ(hits[size_t(i)].load(), 1) << "threads " << threads << " count " << count << " index " << i;
        EXPECT_EQ(short_chunks.load(), 0) << "only the last chunk may be shorter than min_chunk";
      }
    }
  }
}

TEST(ThreadPool, ChunksPerThreadSetsHowFinelyTheRangeIsCut) {
  thread_pool pool(2);
  // 1000 indices, chunks of at least 1: the count of chunks is chunks_per_thread * threads
  // (4 when not given), or fewer where min_chunk says so.
  for (auto [per_thread, min_chunk, expected] : {std::tuple{0, 1, 8}, {1, 1, 2}, {4, 1, 8}, {16, 1, 32},
                                                 {16, 100, 10}}) {
    std::atomic<int> calls{0}, covered{0};
    auto count_chunk = [&](int64_t begin, int64_t end) {
      calls.fetch_add(1);
      covered.fetch_add(int(end - begin));
    };
    if (per_thread == 0) pool.parallel_for(1000, min_chunk, count_chunk);
    else pool.parallel_for(1000, min_chunk, count_chunk, per_thread);
    EXPECT_EQ(calls.load(), expected) << per_thread << " per thread, min_chunk " << min_chunk;
    EXPECT_EQ(covered.load(), 1000);
  }
}

TEST(ThreadPool, ManySmallJobsBackToBack) {
  thread_pool pool(4);
  std::atomic<int64_t> sum{0};
  const int jobs = 20000;
  for (int j = 0; j < jobs; ++j)
    pool.parallel_for(8, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) sum.fetch_add(i + 1);
    });
  EXPECT_EQ(sum.load(), int64_t(jobs) * 36);
}

TEST(ThreadPool, CallsFromSeveralThreadsAreSerialized) {
  thread_pool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&] {
      for (int j = 0; j < 500; ++j)
        pool.parallel_for(100, 10, [&](int64_t begin, int64_t end) { total.fetch_add(end - begin); });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 4 * 500 * 100);
}

TEST(ThreadPool, WorkersThatFellAsleepWakeForTheNextJob) {
  thread_pool pool(2);
  std::atomic<int> runs{0};
  pool.parallel_for(2, 1, [&](int64_t, int64_t) { runs.fetch_add(1); });
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the spinning window
  std::atomic<bool> worker_ran{false};
  const auto caller = std::this_thread::get_id();
  // Each chunk waits a little, so the worker gets to claim one of the 8 chunks.
  pool.parallel_for(8, 1, [&](int64_t, int64_t) {
    if (std::this_thread::get_id() != caller) worker_ran = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    runs.fetch_add(1);
  });
  EXPECT_EQ(runs.load(), 2 + 8);
  EXPECT_TRUE(worker_ran.load());
}

TEST(ThreadPool, DestroyedWhileSpinningOrSleeping) {
  for (int wait_ms : {0, 30}) {
    thread_pool pool(4);
    pool.parallel_for(100, 1, [](int64_t, int64_t) {});
    std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
  }  // the destructor joins every worker; a hang here fails by timeout
  SUCCEED();
}

}  // namespace
}  // namespace owl
