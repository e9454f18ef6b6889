// fuzz_openai_request.cpp — libFuzzer target: arbitrary bytes as an OpenAI request body.
//
// Both parsers must either succeed or throw api_error (a 400 for the client); anything else
// escaping — another exception, a crash, a stack overflow on deep nesting, undefined
// behaviour — is a bug. A parsed request is rendered into response bodies, which must not
// throw either (the model's text may carry any bytes; here the request's own text stands in).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/openai_protocol.h"

namespace {

using owl::server::api_error;

void render(const owl::server::chat_request& r, std::string_view raw) {
  owl::parsed_reply reply;
  // Content and reasoning from the input's raw bytes (possibly invalid UTF-8), tool calls from
  // the request's tools and the last message's tool calls.
  reply.content = std::string(raw.substr(0, 64));
  reply.reasoning = r.params.user;
  if (r.tools.is_array()) {
    for (const auto& tool : r.tools) reply.tool_calls.push_back({"call_0", tool["function"]["name"].get<std::string>(), nlohmann::json::object()});
  }
  const auto& last = r.messages.back();
  if (last.contains("tool_calls")) {
    for (const auto& call : last["tool_calls"]) {
      nlohmann::json args = call["function"]["arguments"];  // an object, or the string as sent
      reply.tool_calls.push_back({call["id"].get<std::string>(), call["function"]["name"].get<std::string>(), args});
    }
  }
  std::vector<owl::server::token_logprob> logprobs;
  for (const std::string& stop : r.params.stop) logprobs.push_back({stop, -1.0f, {{stop, -1.0f}, {std::string(raw.substr(0, 3)), -2.0f}}});
  const owl::server::usage_counts usage{static_cast<int64_t>(r.messages.size()), r.params.max_tokens.value_or(0)};
  (void)owl::server::chat_completion_body("chatcmpl-fuzz", 0, r.params.model, reply, "stop",
                                          r.params.logprobs ? &logprobs : nullptr, usage);
  (void)owl::server::chat_chunk_tool_calls("chatcmpl-fuzz", 0, r.params.model, reply.tool_calls);
  (void)owl::server::chat_chunk_content("chatcmpl-fuzz", 0, r.params.model, reply.content, &logprobs);
  (void)owl::server::completion_body("cmpl-fuzz", 0, r.params.model, reply.content, "length", &logprobs, usage);

  // Stop strings over the raw input, pushed in pieces.
  owl::server::stop_matcher matcher(r.params.stop);
  for (size_t i = 0; i < raw.size() && !matcher.stopped(); i += 7) (void)matcher.push(raw.substr(i, 7));
  (void)matcher.finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  try {
    const auto r = owl::server::parse_chat_request(body);
    render(r, body);
  } catch (const api_error& e) {
    (void)owl::server::error_body(e);  // the message may quote the input's bytes
  }
  try {
    const auto r = owl::server::parse_completion_request(body);
    (void)owl::server::completion_chunk("cmpl-fuzz", 0, r.params.model, r.prompt, std::nullopt, nullptr);
  } catch (const api_error& e) {
    (void)owl::server::error_body(e);
  }
  return 0;
}
