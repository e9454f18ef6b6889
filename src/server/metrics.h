// metrics.h — the server's counters in Prometheus text format 0.0.4 (GET /metrics).
//
// Written from the network threads and the scheduler thread at once: counters are atomics,
// the labelled request counter and the histograms sit behind one mutex (a few updates per
// request, never per token).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/scheduler.h"

namespace owl::server {

class histogram {
 public:
  explicit histogram(std::vector<double> bounds);  // upper bounds, increasing (+Inf implied)
  void observe(double value);
  // Appends the _bucket/_sum/_count lines of metric `name`.
  void render(const std::string& name, std::string& out) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); the last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class metrics {
 public:
  metrics();
  // route: one of the fixed route labels (route_label()), so unknown paths cannot grow the
  // number of series without bound.
  void count_request(const std::string& route, int status);
  void add_tokens(int64_t prompt, int64_t generated);
  void observe_first_token(double seconds);
  void observe_per_output_token(double seconds);
  std::string render(const scheduler_stats& stats) const;

  static std::string route_label(std::string_view path);

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  histogram first_token_, per_token_;
  std::atomic<int64_t> prompt_tokens_{0}, generated_tokens_{0};
};

}  // namespace owl::server
