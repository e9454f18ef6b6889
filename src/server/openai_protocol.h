// openai_protocol.h — the OpenAI API as owl serves it: request parsing and validation (all
// input is untrusted), response and SSE chunk bodies, error bodies, stop strings.
// Pure functions of JSON and text: no sockets, no model. The HTTP layer (http_server) and the
// scheduler meet here.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "owl/chat.h"
#include "owl/sampler.h"

namespace owl::server {

// An error the client sees: HTTP status + OpenAI's error object
// {"error": {"message", "type", "param", "code"}}.
struct api_error : std::runtime_error {
  api_error(int status, std::string message, std::string param = {}, std::string code = {});
  int status;          // 400, 401, 404, 405, 413, 422, 429, 500, 503
  std::string type;    // "invalid_request_error" (4xx), "authentication_error" (401),
                       // "rate_limit_error" (429), "server_error" (5xx)
  std::string param;   // the offending field, e.g. "messages[2].role" (empty: none)
  std::string code;    // e.g. "context_length_exceeded", "invalid_api_key" (empty: null)
};
std::string error_body(const api_error& e);  // the JSON text

// Field limits: a request is refused (400) rather than truncated.
struct request_limits {
  size_t max_messages = 4096;
  size_t max_stop_strings = 4;
  size_t max_stop_length = 256;          // bytes per stop string
  size_t max_tools = 128;
  int max_top_logprobs = 20;
  int64_t max_tokens_cap = 1 << 20;      // larger values are a 400 (the context check comes later)
};

enum class output_format { text, json_object, json_schema };

// What both endpoints share once parsed.
struct generation_params {
  sampling_params sampling;              // temperature default 1, top_p 1; seed absent -> random
  bool seed_given = false;
  std::optional<int64_t> max_tokens;     // max_tokens or max_completion_tokens (>= 1)
  std::vector<std::string> stop;         // stop strings (not part of the output)
  bool logprobs = false;
  int top_logprobs = 0;
  bool stream = false;
  bool include_usage = false;            // stream_options.include_usage
  std::string model;                     // as sent (echoed back in the response)
  std::string user;
};

struct chat_request {
  generation_params params;
  nlohmann::ordered_json messages;       // normalized for the chat template: content as a string
                                         // (text parts joined), tool_calls arguments parsed to
                                         // objects when they are JSON strings
  nlohmann::ordered_json tools;          // null or the list of {type: function, function: {...}}
  std::string tool_choice = "auto";      // "none", "auto", "required", or "function" (named below)
  std::string tool_choice_function;      // the function tool_choice names (a tool may be called "auto")
  output_format format = output_format::text;
  nlohmann::json schema;                 // response_format.json_schema.schema (json_schema only)
  nlohmann::ordered_json template_kwargs = nlohmann::ordered_json::object();  // chat_template_kwargs (owl/vLLM extension)
};

struct completion_request {
  generation_params params;
  std::string prompt;                    // a string, or an array holding exactly one string
  std::vector<int32_t> prompt_tokens;    // or a token array (then prompt is empty)
  bool echo = false;
};

// Parse and validate a request body. Throws api_error (400, with param set) on malformed JSON,
// wrong types, out-of-range values (temperature in [0, 2], top_p in (0, 1], n != 1, ...),
// and unsupported features (e.g. suffix, best_of > 1). Unknown fields are ignored, as most
// OpenAI-compatible servers do.
chat_request parse_chat_request(std::string_view body, const request_limits& limits = {});
completion_request parse_completion_request(std::string_view body, const request_limits& limits = {});

// One generated token as the response reports it.
struct token_logprob {
  std::string text;                      // the token's text (decoded bytes; may be partial UTF-8)
  float logprob = 0;
  std::vector<std::pair<std::string, float>> top;  // alternatives, best first
};

struct usage_counts {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// Non-streamed bodies. id: "chatcmpl-..." / "cmpl-..."; created: unix seconds.
// finish_reason: "stop", "length", "tool_calls".
std::string chat_completion_body(const std::string& id, int64_t created, const std::string& model,
                                 const parsed_reply& reply, const std::string& finish_reason,
                                 const std::vector<token_logprob>* logprobs, const usage_counts& usage);
std::string completion_body(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                            const std::string& finish_reason, const std::vector<token_logprob>* logprobs,
                            const usage_counts& usage);
std::string models_body(const std::string& model_id, int64_t created);

// Streamed chunks, each the JSON text of one "data: ..." SSE event (without "data: " or the
// blank line; sse_event() adds them). The first chat chunk carries delta {role: assistant,
// content: ""}; content deltas follow; then a chunk with an empty delta and finish_reason;
// then (include_usage) a chunk with "choices": [] and usage; then "[DONE]".
std::string chat_chunk_role(const std::string& id, int64_t created, const std::string& model);
std::string chat_chunk_content(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                               const std::vector<token_logprob>* logprobs);
std::string chat_chunk_reasoning(const std::string& id, int64_t created, const std::string& model, const std::string& text);
std::string chat_chunk_tool_calls(const std::string& id, int64_t created, const std::string& model,
                                  const std::vector<tool_call>& calls);
std::string chat_chunk_finish(const std::string& id, int64_t created, const std::string& model,
                              const std::string& finish_reason);
std::string chat_chunk_usage(const std::string& id, int64_t created, const std::string& model, const usage_counts& usage);
std::string completion_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                             const std::optional<std::string>& finish_reason, const std::vector<token_logprob>* logprobs);
std::string completion_chunk_usage(const std::string& id, int64_t created, const std::string& model,
                                   const usage_counts& usage);
std::string sse_event(std::string_view data);  // "data: " + data + "\n\n"

// Stop strings over streamed text: text that could still be the start of a stop string is
// held back, so the client never sees any part of a stop string.
class stop_matcher {
 public:
  explicit stop_matcher(std::vector<std::string> stops);
  // Appends generated text; returns the text that is now safe to emit.
  std::string push(std::string_view text);
  bool stopped() const { return stopped_; }  // a stop string was found (generation must end)
  std::string finish();                      // at the end (not stopped): whatever was held back

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

// A fresh id such as "chatcmpl-3f9a..." (random hex, 24 chars after the prefix).
std::string new_id(std::string_view prefix);

}  // namespace owl::server
