// scheduler.cpp — continuous batching (see scheduler.h).
#include "server/scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "owl/error.h"

namespace owl::server {
namespace {
using clock = std::chrono::steady_clock;
double seconds_between(clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
}  // namespace

struct scheduler::job {
  uint64_t id = 0;
  generation_request request;
  std::shared_ptr<generation_sink> sink;
  clock::time_point submitted;
};

struct scheduler::slot {
  std::unique_ptr<session> sequence;   // KV cache, reset for each job
  std::unique_ptr<job> current;        // null: free
  std::unique_ptr<sampler> pick;
  std::vector<int32_t> history;        // prompt, then generated tokens (for the penalties)
  size_t prompt_fed = 0;               // prompt tokens already in the cache
  int32_t pending = -1;                // sampled token still to run through the model
  int64_t generated = 0;
  clock::time_point admitted;
  double first_token_seconds = 0;
  std::vector<float> scratch;          // logits being masked and sampled
};

scheduler::scheduler(std::shared_ptr<model> m, const scheduler_options& options)
    : model_(std::move(m)), options_(options) {
  const int64_t model_context = model_->info().context_length;
  context_ = options_.context > 0 ? options_.context : std::min<int64_t>(model_context, 4096);
  if (context_ > model_context)
    fail("serve", "a context of " + std::to_string(context_) + " tokens exceeds the model's " +
                      std::to_string(model_context), "pass --context " + std::to_string(model_context) + " or less");
  if (options_.parallel < 1 || options_.parallel > 256)
    fail("serve", "--parallel must be between 1 and 256, not " + std::to_string(options_.parallel));
  if (options_.prefill_chunk < 1) options_.prefill_chunk = 256;
  for (int i = 0; i < options_.parallel; ++i) {
    auto s = std::make_unique<slot>();
    s->sequence = model_->new_session(context_);
    slots_.push_back(std::move(s));
  }
  thread_ = std::thread([this] { loop(); });
}

scheduler::~scheduler() {
  shutdown(false);
  {
    std::lock_guard lock(mutex_);
    exiting_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<uint64_t> scheduler::submit(generation_request request, std::shared_ptr<generation_sink> sink) {
  if (request.prompt.empty()) fail("request", "the prompt has no tokens", "send a non-empty prompt");
  if (request.max_tokens < 1) fail("request", "max_tokens must be at least 1");
  const int64_t prompt = int64_t(request.prompt.size());
  if (prompt + request.max_tokens > context_)
    fail("request", "the prompt (" + std::to_string(prompt) + " tokens) plus max_tokens (" +
                        std::to_string(request.max_tokens) + ") exceed the context of " + std::to_string(context_) +
                        " tokens", "shorten the prompt or ask for fewer tokens");
  const int64_t vocab = model_->info().vocab_size;
  for (int32_t id : request.prompt)
    if (id < 0 || id >= vocab) fail("request", "token id " + std::to_string(id) + " is outside the vocabulary");
  auto j = std::make_unique<job>();
  j->request = std::move(request);
  j->sink = std::move(sink);
  j->submitted = clock::now();
  uint64_t id;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || int64_t(queue_.size()) >= options_.queue_limit) return std::nullopt;
    id = j->id = next_id_++;
    queue_.push_back(std::move(j));
  }
  wake_.notify_all();
  return id;
}

void scheduler::cancel(uint64_t id) {
  {
    std::lock_guard lock(mutex_);
    cancelled_.push_back(id);
  }
  wake_.notify_all();
}

void scheduler::shutdown(bool drain) {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  if (!drain) cancel_all_ = true;
  wake_.notify_all();
  idle_.wait(lock, [&] { return queue_.empty() && active_.load() == 0; });
}

scheduler_stats scheduler::stats() const {
  scheduler_stats s;
  {
    std::lock_guard lock(mutex_);
    s.queued = int64_t(queue_.size());
  }
  s.active = active_.load();
  s.slots = int64_t(slots_.size());
  s.kv_tokens_used = kv_used_.load();
  s.kv_tokens_capacity = s.slots * context_;
  s.steps = steps_.load();
  s.batched_rows = rows_.load();
  return s;
}

void scheduler::finish(slot& s, const std::string& reason, const std::string& error) {
  generation_summary summary;
  summary.finish_reason = reason;
  summary.error = error;
  summary.prompt_tokens = int64_t(s.current->request.prompt.size());
  summary.completion_tokens = s.generated;
  summary.queue_seconds = seconds_between(s.current->submitted, s.admitted);
  summary.first_token_seconds = s.first_token_seconds;
  auto sink = std::move(s.current->sink);
  s.current.reset();
  s.pick.reset();
  s.sequence->reset();  // the slot's KV cache is free at once
  active_.fetch_sub(1);
  if (sink) sink->on_done(summary);
}

void scheduler::loop() {
  std::vector<slot*> running;
  std::vector<std::unique_ptr<job>> dropped;  // cancelled while queued: told outside the lock
  for (;;) {
    std::vector<uint64_t> cancelled;
    bool cancel_all = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] {
        return exiting_ || !cancelled_.empty() || cancel_all_ || active_.load() > 0 || !queue_.empty();
      });
      if (exiting_ && queue_.empty() && active_.load() == 0) return;
      cancelled.swap(cancelled_);
      cancel_all = cancel_all_;
      // Cancelled while still queued: never admitted.
      for (auto it = queue_.begin(); it != queue_.end();) {
        if (cancel_all || std::find(cancelled.begin(), cancelled.end(), (*it)->id) != cancelled.end()) {
          dropped.push_back(std::move(*it));
          it = queue_.erase(it);
        } else {
          ++it;
        }
      }
      // Admit queued requests into free slots, oldest first.
      for (auto& s : slots_) {
        if (queue_.empty()) break;
        if (s->current) continue;
        s->current = std::move(queue_.front());
        queue_.pop_front();
        active_.fetch_add(1);
        s->admitted = clock::now();
        s->pick = std::make_unique<sampler>(s->current->request.sampling, size_t(model_->info().vocab_size));
        s->history = s->current->request.prompt;
        s->prompt_fed = 0;
        s->pending = -1;
        s->generated = 0;
        s->first_token_seconds = 0;
      }
    }
    for (auto& j : dropped) {
      generation_summary summary;
      summary.finish_reason = "cancelled";
      summary.prompt_tokens = int64_t(j->request.prompt.size());
      summary.queue_seconds = seconds_between(j->submitted, clock::now());
      if (j->sink) j->sink->on_done(summary);
    }
    dropped.clear();

    running.clear();
    for (auto& s : slots_) {
      if (!s->current) continue;
      if (cancel_all || std::find(cancelled.begin(), cancelled.end(), s->current->id) != cancelled.end())
        finish(*s, "cancelled");
      else
        running.push_back(s.get());
    }
    if (!running.empty()) step(running);

    int64_t used = 0;
    for (auto& s : slots_)
      if (s->current) used += s->sequence->n_past();
    kv_used_.store(used);
    {
      std::lock_guard lock(mutex_);
      if (cancel_all && queue_.empty()) cancel_all_ = false;
      if (queue_.empty() && active_.load() == 0) idle_.notify_all();
    }
  }
}

// One forward pass over every running slot, then one sampled token for each slot whose
// prompt is complete.
void scheduler::step(std::vector<slot*>& running) {
  std::vector<batch_item> items;
  items.reserve(running.size());
  for (slot* s : running) {
    const auto& prompt = s->current->request.prompt;
    batch_item item;
    item.sequence = s->sequence.get();
    if (s->prompt_fed < prompt.size()) {
      // A fixed chunk per step, whatever else runs: the chunking of a prompt (and so its
      // arithmetic) is the same alone or beside others.
      const size_t take = std::min(prompt.size() - s->prompt_fed, size_t(options_.prefill_chunk));
      item.tokens = std::span<const int32_t>(prompt.data() + s->prompt_fed, take);
      s->prompt_fed += take;
    } else {
      item.tokens = std::span<const int32_t>(&s->pending, 1);
    }
    items.push_back(item);
  }

  std::vector<std::span<const float>> logits;
  try {
    logits = model_->forward_batch(items);
  } catch (const std::exception& e) {
    for (slot* s : running) finish(*s, "error", e.what());
    return;
  }
  steps_.fetch_add(1);
  int64_t rows = 0;
  for (const auto& item : items) rows += int64_t(item.tokens.size());
  rows_.fetch_add(rows);

  for (size_t i = 0; i < running.size(); ++i) {
    slot& s = *running[i];
    generation_request& request = s.current->request;
    if (s.prompt_fed < request.prompt.size()) continue;  // more prompt to run first

    const std::span<const float> raw = logits[i];
    s.scratch.assign(raw.begin(), raw.end());
    if (request.constraint) request.constraint->mask(s.scratch);
    const int32_t token = s.pick->sample(s.scratch, s.history);
    if (std::find(request.stop_ids.begin(), request.stop_ids.end(), token) != request.stop_ids.end()) {
      finish(s, "stop");
      continue;
    }
    if (request.constraint) request.constraint->accept(token);

    token_event event;
    event.token = token;
    if (request.top_logprobs >= 0) {
      // Log-probabilities of the model's own distribution (raw logits, before sampling rules).
      const float peak = *std::max_element(raw.begin(), raw.end());
      double sum = 0;
      for (float v : raw) sum += std::exp(double(v - peak));
      const double log_norm = double(peak) + std::log(sum);
      event.logprob = float(double(raw[size_t(token)]) - log_norm);
      if (request.top_logprobs > 0) {
        const size_t k = std::min(size_t(request.top_logprobs), raw.size());
        std::vector<int32_t> ids(raw.size());
        for (size_t t = 0; t < ids.size(); ++t) ids[t] = int32_t(t);
        std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(k), ids.end(), [&](int32_t a, int32_t b) {
          return raw[size_t(a)] != raw[size_t(b)] ? raw[size_t(a)] > raw[size_t(b)] : a < b;
        });
        for (size_t t = 0; t < k; ++t) event.top.emplace_back(ids[t], float(double(raw[size_t(ids[t])]) - log_norm));
      }
    }
    s.history.push_back(token);
    ++s.generated;
    if (s.generated == 1) s.first_token_seconds = seconds_between(s.current->submitted, clock::now());
    if (!s.current->sink->on_token(event)) {
      finish(s, "cancelled");
      continue;
    }
    if (s.generated >= request.max_tokens) {
      finish(s, "length");
      continue;
    }
    s.pending = token;
  }
}

}  // namespace owl::server
