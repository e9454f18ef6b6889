// fuzz_parse_reply.cpp — libFuzzer target: arbitrary bytes as a model's reply.
//
// Model output is untrusted text: splitting reasoning and tool calls out of it, in every
// format owl knows, must never crash, hang or throw (malformed calls stay text).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "owl/chat.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (owl::tool_call_format format :
       {owl::tool_call_format::none, owl::tool_call_format::llama3_json, owl::tool_call_format::hermes,
        owl::tool_call_format::deepseek_v3, owl::tool_call_format::mistral}) {
    try {
      const owl::parsed_reply reply = owl::parse_reply(text, format);
      // What the server does with it: arguments become a JSON string.
      for (const auto& call : reply.tool_calls)
        (void)call.arguments.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } catch (...) {
      std::abort();  // parse_reply promises not to throw on model output
    }
  }
  return 0;
}
