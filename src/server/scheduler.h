// scheduler.h — continuous batching: many requests share one model's forward passes.
//
// Requests wait in a bounded queue and are admitted into one of `parallel` slots, each with
// its own KV-cache session. Every step runs one forward pass over all active slots together
// (prompt chunks of newly admitted requests and one decode token of each running one), then
// samples each slot's next token with that request's own sampler. The per-row arithmetic of
// the kernels does not depend on what else is in the batch, so a request's greedy output is
// the same alone or beside others.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "owl/model.h"
#include "owl/sampler.h"
#include "server/token_constraint.h"

namespace owl::server {

struct generation_request {
  std::vector<int32_t> prompt;          // at least one token
  sampling_params sampling;
  int64_t max_tokens = 16;              // >= 1; prompt + max_tokens must fit the slot context
  std::vector<int32_t> stop_ids;        // end tokens (finish_reason "stop"; not reported)
  int top_logprobs = -1;                // -1: no logprobs; 0..20: logprob of the token + this many alternatives
  std::unique_ptr<token_constraint> constraint;  // null: unconstrained
};

struct token_event {
  int32_t token = 0;
  float logprob = 0;                                // log-softmax of the raw logits (when asked)
  std::vector<std::pair<int32_t, float>> top;       // most likely alternatives, best first
};

struct generation_summary {
  std::string finish_reason;            // "stop", "length", "cancelled", "error"
  std::string error;                    // message when finish_reason == "error"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double queue_seconds = 0;             // waiting for a slot
  double first_token_seconds = 0;       // from submit to the first token event
};

// Receives a request's events, on the scheduler thread: implementations must only hand the
// data over (e.g. queue it for a network thread), never block.
class generation_sink {
 public:
  virtual ~generation_sink() = default;
  // Return false to stop the request (client gone, stop string seen): it ends "cancelled".
  virtual bool on_token(const token_event& event) = 0;
  // Exactly once per accepted request, last.
  virtual void on_done(const generation_summary& summary) = 0;
};

struct scheduler_options {
  int parallel = 4;                     // slots = sequences decoded together
  int64_t context = 0;                  // tokens per slot; 0 = min(model context, 4096)
  int64_t queue_limit = 64;             // requests waiting for a slot; beyond this submit refuses
  int64_t prefill_chunk = 256;          // prompt tokens a slot adds per step (keeps decode latency low)
};

struct scheduler_stats {
  int64_t queued = 0;                   // waiting for a slot
  int64_t active = 0;                   // in a slot
  int64_t slots = 0;
  int64_t kv_tokens_used = 0;           // tokens held in the KV caches of active slots
  int64_t kv_tokens_capacity = 0;       // slots * context
  int64_t steps = 0;                    // forward passes run
  int64_t batched_rows = 0;             // token rows run in those passes
};

class scheduler {
 public:
  scheduler(std::shared_ptr<model> m, const scheduler_options& options);
  ~scheduler();  // cancels everything still running, then joins the thread
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;

  int64_t context() const { return context_; }
  // Queues the request. Returns its id, or nullopt when the queue is full (HTTP 429).
  // Throws owl::error when the request can never run (empty prompt, prompt + max_tokens over
  // the context: HTTP 400).
  std::optional<uint64_t> submit(generation_request request, std::shared_ptr<generation_sink> sink);
  // Thread-safe; the request ends "cancelled" and frees its slot at the next step.
  void cancel(uint64_t id);
  // Stop admitting; wait until the queue and slots are empty (drain) or cancel all (no drain).
  void shutdown(bool drain);
  scheduler_stats stats() const;

 private:
  struct job;
  struct slot;
  void loop();
  void step(std::vector<slot*>& running);
  void finish(slot& s, const std::string& reason, const std::string& error = {});

  std::shared_ptr<model> model_;
  scheduler_options options_;
  int64_t context_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::unique_ptr<job>> queue_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::vector<uint64_t> cancelled_;
  uint64_t next_id_ = 1;
  std::condition_variable idle_;       // signalled when the queue and slots are empty
  bool stopping_ = false;              // no new requests
  bool cancel_all_ = false;            // shutdown without draining
  bool exiting_ = false;               // the destructor: the thread ends once idle
  std::atomic<int64_t> active_{0}, kv_used_{0}, steps_{0}, rows_{0};
  std::thread thread_;
};

}  // namespace owl::server
