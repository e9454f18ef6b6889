// fuzz_jinja.cpp — libFuzzer target: arbitrary bytes as a chat template.
//
// A template is code from the internet. Parsing and rendering it against a fixed conversation
// (system, user, an assistant tool call, its result, tools) under tight limits must either
// succeed or throw owl::error: no crash, leak, hang or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "owl/chat.h"
#include "owl/error.h"

namespace {

const owl::chat_render_options& conversation() {
  static const owl::chat_render_options options = [] {
    owl::chat_render_options o;
    o.messages = nlohmann::ordered_json::parse(R"([
      {"role": "system", "content": "You are terse."},
      {"role": "user", "content": "Weather in Paris? \u00e9\u6f22\ud83d\ude00"},
      {"role": "assistant", "content": "", "reasoning_content": "Use the tool.",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 18.5}"},
      {"role": "assistant", "content": "It is 18.5 \u00b0C."},
      {"role": "user", "content": ["part", {"type": "text", "text": "list content"}]}
    ])");
    o.tools = nlohmann::ordered_json::parse(R"([{"type": "function", "function": {
      "name": "get_weather", "description": "Weather for a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                     "required": ["city"]}}}])");
    o.add_generation_prompt = true;
    o.extra = nlohmann::ordered_json::parse(R"({"enable_thinking": false, "date_string": "15 Jan 2026"})");
    return o;
  }();
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("SOURCE_DATE_EPOCH", "1768478400", 1);  // deterministic strftime_now
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  owl::template_limits limits;
  limits.max_recursion_depth = 32;
  limits.max_loop_iterations = 20000;
  limits.max_output_bytes = 1 << 16;
  try {
    const auto tmpl = owl::chat_template::from_string(std::string(reinterpret_cast<const char*>(data), size), "<s>",
                                                      "</s>", "fuzz");
    (void)tmpl.render(conversation(), limits);
  } catch (const owl::error&) {
    // Rejected template or failed render, with a message: the expected outcome for most inputs.
  }
  return 0;
}
