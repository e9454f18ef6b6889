// api.h — what the OpenAI routes share: the model, tokenizer, template, scheduler, metrics.
//
// routes.cpp dispatches requests (auth, methods, simple endpoints, errors); generation.cpp
// runs chat and text completions through the scheduler. No Beast here.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "owl/chat.h"
#include "owl/model.h"
#include "owl/tokenizer.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/openai_protocol.h"
#include "server/scheduler.h"

namespace owl::server {

class token_vocabulary;

struct server_context {
  server_context(std::shared_ptr<model> m, std::shared_ptr<const tokenizer> t, chat_template tmpl);
  ~server_context();

  std::shared_ptr<model> llm;
  std::shared_ptr<const tokenizer> tok;
  chat_template tmpl;
  tool_call_format tool_format = tool_call_format::none;
  std::vector<int32_t> chat_stop_ids;        // end_of_turn_ids
  std::vector<int32_t> completion_stop_ids;  // generation_config's eos ids
  std::string model_id;                      // what /v1/models lists
  int64_t created = 0;                       // unix seconds, when the model was loaded
  std::string api_key;                       // empty: no auth
  request_limits limits;
  metrics stats;

  // Requests submitted and not yet done: shutdown waits for this to reach zero.
  std::atomic<bool> draining{false};
  std::mutex flight_mutex;
  std::condition_variable flight_done;
  int64_t in_flight = 0;
  void begin_flight();
  void end_flight();
  bool wait_idle(double seconds);

  // The vocabulary json constraints walk: built on first use (it decodes every token, which
  // takes a while on large vocabularies), then shared.
  std::shared_ptr<const token_vocabulary> vocabulary();

  // Last member: destroyed first, so sinks it still holds can use everything above.
  std::unique_ptr<scheduler> sched;

 private:
  std::mutex vocab_mutex_;
  std::shared_ptr<const token_vocabulary> vocab_;
};

// Entry point for every request the transport reads.
void handle_request(server_context& ctx, http_request&& request, std::shared_ptr<response_channel> channel);
// The OpenAI error response for an error (also used by the transport's own 413/431/503).
http_response error_response(const api_error& e);

// generation.cpp: POST /v1/chat/completions and /v1/completions. Throw api_error for anything
// found before the request is queued; later failures are reported through the channel.
void handle_chat(server_context& ctx, const http_request& request, std::shared_ptr<response_channel> channel);
void handle_completion(server_context& ctx, const http_request& request, std::shared_ptr<response_channel> channel);

}  // namespace owl::server
