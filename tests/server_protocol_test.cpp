// The OpenAI protocol module of owl serve: request validation (every field, every refusal with
// its status and param), response and chunk bodies parsed back field by field, stop strings.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "server/openai_protocol.h"

namespace owl::server {
namespace {

using json = nlohmann::ordered_json;

// Expects `fn` to throw api_error with this status and param; returns the message.
template <typename Fn>
std::string expect_error(Fn&& fn, int status, const std::string& param) {
  try {
    fn();
  } catch (const api_error& e) {
    EXPECT_EQ(e.status, status) << e.what();
    EXPECT_EQ(e.param, param) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no api_error (expected param '" << param << "')";
  return {};
}

std::string chat_error(const std::string& body, const std::string& param, const request_limits& limits = {}) {
  return expect_error([&] { parse_chat_request(body, limits); }, 400, param);
}

std::string completion_error(const std::string& body, const std::string& param, const request_limits& limits = {}) {
  return expect_error([&] { parse_completion_request(body, limits); }, 400, param);
}

// A valid chat body with `field` set to `value` (JSON text).
std::string chat_with(const std::string& field, const std::string& value) {
  return R"({"messages":[{"role":"user","content":"hi"}],")" + field + "\":" + value + "}";
}

std::string completion_with(const std::string& field, const std::string& value) {
  return R"({"prompt":"hi",")" + field + "\":" + value + "}";
}

// ---- chat requests ----

TEST(ServerProtocolChat, EveryField) {
  const std::string body = R"({
    "model": "qwen3",
    "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "developer", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
      {"role": "user", "content": "weather?", "name": "ann"},
      {"role": "assistant", "content": null, "reasoning_content": "think",
       "tool_calls": [{"id": "call_1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"days\":2}"}},
                      {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "not json"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
      {"role": "assistant", "content": "It is sunny."}
    ],
    "temperature": 0.5, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "repetition_penalty": 1.1,
    "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "max_tokens": 10, "max_completion_tokens": 20, "n": 1,
    "stop": ["\n\n", "END"], "seed": -1, "logprobs": true, "top_logprobs": 3,
    "stream": true, "stream_options": {"include_usage": true},
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "weather",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}, "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": true}},
    "chat_template_kwargs": {"enable_thinking": false},
    "user": "u-1",
    "logit_bias": {},
    "some_unknown_field": [1, 2, 3]
  })";
  const chat_request r = parse_chat_request(body);
  const generation_params& p = r.params;
  EXPECT_EQ(p.model, "qwen3");
  EXPECT_EQ(p.user, "u-1");
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.9f);
  EXPECT_EQ(p.sampling.top_k, 40);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.05f);
  EXPECT_FLOAT_EQ(p.sampling.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(p.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, -0.5f);
  EXPECT_TRUE(p.seed_given);
  EXPECT_EQ(p.sampling.seed, UINT64_MAX);  // -1 as a bit pattern
  ASSERT_TRUE(p.max_tokens.has_value());
  EXPECT_EQ(*p.max_tokens, 20);  // max_completion_tokens wins
  EXPECT_EQ(p.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream);
  EXPECT_TRUE(p.include_usage);

  ASSERT_EQ(r.messages.size(), 6u);
  EXPECT_EQ(r.messages[0], json({{"role", "system"}, {"content", "be brief"}}));
  EXPECT_EQ(r.messages[1], json({{"role", "developer"}, {"content", "a\nb"}}));
  EXPECT_EQ(r.messages[2], json({{"role", "user"}, {"content", "weather?"}, {"name", "ann"}}));
  const json& a = r.messages[3];
  EXPECT_EQ(a["role"], "assistant");
  EXPECT_TRUE(a["content"].is_null());
  EXPECT_EQ(a["reasoning_content"], "think");
  ASSERT_EQ(a["tool_calls"].size(), 2u);
  EXPECT_EQ(a["tool_calls"][0]["id"], "call_1");
  EXPECT_EQ(a["tool_calls"][0]["type"], "function");
  EXPECT_EQ(a["tool_calls"][0]["function"]["name"], "get_weather");
  // Parsed to an object for the template, keys in the order sent.
  const json& args = a["tool_calls"][0]["function"]["arguments"];
  ASSERT_TRUE(args.is_object());
  EXPECT_EQ(args.dump(), R"({"city":"Paris","days":2})");
  EXPECT_EQ(a["tool_calls"][1]["function"]["arguments"], "not json");  // not JSON: kept as the string
  EXPECT_EQ(r.messages[4], json({{"role", "tool"}, {"content", "sunny"}, {"tool_call_id", "call_1"}}));
  EXPECT_EQ(r.messages[5], json({{"role", "assistant"}, {"content", "It is sunny."}}));

  ASSERT_TRUE(r.tools.is_array());
  ASSERT_EQ(r.tools.size(), 1u);
  EXPECT_EQ(r.tools[0]["type"], "function");
  EXPECT_EQ(r.tools[0]["function"]["name"], "get_weather");
  EXPECT_EQ(r.tools[0]["function"]["description"], "weather");
  EXPECT_EQ(r.tools[0]["function"]["parameters"]["properties"]["city"]["type"], "string");
  EXPECT_EQ(r.tools[0]["function"]["strict"], true);
  EXPECT_EQ(r.tool_choice, "function");
  EXPECT_EQ(r.tool_choice_function, "get_weather");
  EXPECT_EQ(r.format, output_format::json_schema);
  EXPECT_EQ(r.schema, nlohmann::json({{"type", "object"}}));
  EXPECT_EQ(r.template_kwargs, json({{"enable_thinking", false}}));
}

TEST(ServerProtocolChat, Defaults) {
  const chat_request r = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}]})");
  const generation_params& p = r.params;
  EXPECT_EQ(p.model, "");
  EXPECT_FLOAT_EQ(p.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 1.0f);
  EXPECT_EQ(p.sampling.top_k, 0);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.0f);
  EXPECT_FLOAT_EQ(p.sampling.repetition_penalty, 1.0f);
  EXPECT_FALSE(p.seed_given);
  EXPECT_FALSE(p.max_tokens.has_value());
  EXPECT_TRUE(p.stop.empty());
  EXPECT_FALSE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 0);
  EXPECT_FALSE(p.stream);
  EXPECT_FALSE(p.include_usage);
  EXPECT_TRUE(r.tools.is_null());
  EXPECT_EQ(r.tool_choice, "auto");
  EXPECT_EQ(r.format, output_format::text);
  EXPECT_EQ(r.template_kwargs, json::object());
}

TEST(ServerProtocolChat, NullMeansAbsent) {
  const chat_request r = parse_chat_request(
      R"({"messages":[{"role":"user","content":"hi"}],"temperature":null,"stop":null,"seed":null,"tools":null,
          "tool_choice":null,"response_format":null,"max_tokens":null,"n":null,"stream_options":null})");
  EXPECT_FLOAT_EQ(r.params.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.params.seed_given);
  EXPECT_TRUE(r.tools.is_null());
}

TEST(ServerProtocolChat, SmallVariants) {
  {
    const chat_request r = parse_chat_request(chat_with("stop", R"("###")"));
    EXPECT_EQ(r.params.stop, std::vector<std::string>{"###"});
  }
  {
    const chat_request r = parse_chat_request(chat_with("max_tokens", "7"));
    EXPECT_EQ(r.params.max_tokens.value(), 7);
  }
  {
    const chat_request r = parse_chat_request(chat_with("max_tokens", "7.0"));  // integral float
    EXPECT_EQ(r.params.max_tokens.value(), 7);
  }
  {
    const chat_request r = parse_chat_request(chat_with("seed", "18446744073709551615"));
    EXPECT_EQ(r.params.sampling.seed, UINT64_MAX);
    EXPECT_TRUE(r.params.seed_given);
  }
  {
    const chat_request r = parse_chat_request(chat_with("seed", "42"));
    EXPECT_EQ(r.params.sampling.seed, 42u);
  }
  {
    const chat_request r = parse_chat_request(chat_with("top_k", "-1"));  // vLLM's "off"
    EXPECT_EQ(r.params.sampling.top_k, 0);
  }
  {
    const chat_request r = parse_chat_request(chat_with("temperature", "0"));
    EXPECT_FLOAT_EQ(r.params.sampling.temperature, 0.0f);
  }
  for (const char* choice : {"none", "auto"}) {
    const chat_request r = parse_chat_request(chat_with("tool_choice", std::string("\"") + choice + "\""));
    EXPECT_EQ(r.tool_choice, choice);
  }
  {
    const chat_request r = parse_chat_request(
        R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"})");
    EXPECT_EQ(r.tool_choice, "required");
    EXPECT_EQ(r.tools[0]["function"], json({{"name", "f"}}));
  }
  {
    // A tool may be called "auto": choosing it by name must not read as the keyword.
    const chat_request r = parse_chat_request(
        R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"auto"}}],)"
        R"("tool_choice":{"type":"function","function":{"name":"auto"}}})");
    EXPECT_EQ(r.tool_choice, "function");
    EXPECT_EQ(r.tool_choice_function, "auto");
  }
  {
    const chat_request r = parse_chat_request(chat_with("response_format", R"({"type":"json_object"})"));
    EXPECT_EQ(r.format, output_format::json_object);
  }
  {
    const chat_request r = parse_chat_request(chat_with("response_format", R"({"type":"text"})"));
    EXPECT_EQ(r.format, output_format::text);
  }
  {
    const chat_request r = parse_chat_request(chat_with("stream", "true"));
    EXPECT_TRUE(r.params.stream);
    EXPECT_FALSE(r.params.include_usage);
  }
  {
    const chat_request r = parse_chat_request(chat_with("tools", "[]"));  // an empty list is no tools
    EXPECT_TRUE(r.tools.is_null());
  }
  {
    // Arguments sent as an object (some clients do) are kept; a JSON non-object string stays a string.
    const chat_request r = parse_chat_request(
        R"({"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":{"x":1}}},
                                                         {"id":"b","function":{"name":"f","arguments":"[1,2]"}}]}]})");
    EXPECT_EQ(r.messages[0]["tool_calls"][0]["function"]["arguments"], json({{"x", 1}}));
    EXPECT_EQ(r.messages[0]["tool_calls"][0]["type"], "function");
    EXPECT_EQ(r.messages[0]["tool_calls"][1]["function"]["arguments"], "[1,2]");
    EXPECT_TRUE(r.messages[0]["content"].is_null());
  }
  {
    // Deep arguments strings are not parsed (the nesting guard), but the request is fine.
    const std::string deep = std::string(100, '[') + std::string(100, ']');
    const chat_request r = parse_chat_request(
        R"({"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":")" + deep + R"("}}]}]})");
    EXPECT_EQ(r.messages[0]["tool_calls"][0]["function"]["arguments"], deep);
  }
  {
    // Empty content strings and an assistant with both content and tool calls.
    const chat_request r = parse_chat_request(
        R"({"messages":[{"role":"user","content":""},{"role":"assistant","content":"x","tool_calls":[]}]})");
    EXPECT_EQ(r.messages[0]["content"], "");
    EXPECT_FALSE(r.messages[1].contains("tool_calls"));
  }
}

TEST(ServerProtocolChat, MalformedBodies) {
  EXPECT_NE(chat_error("", "").find("invalid JSON"), std::string::npos);
  EXPECT_NE(chat_error("{", "").find("invalid JSON"), std::string::npos);
  EXPECT_NE(chat_error(R"({"messages": [}])", "").find("invalid JSON"), std::string::npos);
  EXPECT_NE(chat_error("{\"a\": \"\xff\"}", "").find("invalid JSON"), std::string::npos);  // invalid UTF-8
  EXPECT_NE(chat_error(R"({"temperature": 1e999})", "").find("invalid JSON"), std::string::npos);
  chat_error("[]", "");
  chat_error("\"text\"", "");
  chat_error("42", "");
  chat_error("null", "");
}

TEST(ServerProtocolChat, NestingBomb) {
  // Deep enough to overflow the stack of a recursive parser.
  const std::string bomb = std::string(1000000, '[') + std::string(1000000, ']');
  EXPECT_NE(chat_error(bomb, "").find("nesting"), std::string::npos);
  completion_error(std::string(500000, '{'), "");
  // Inside a string, brackets are text: the scan must skip strings, escaped quotes included.
  const std::string in_string = R"({"messages":[{"role":"user","content":"\")" + std::string(200, '[') + R"("}]})";
  EXPECT_EQ(parse_chat_request(in_string).messages[0]["content"], "\"" + std::string(200, '['));
  // 64 levels are fine; 65 are not.
  auto nested = [](int depth) {
    return R"({"messages":[{"role":"user","content":"hi"}],"chat_template_kwargs":{"x":)" + std::string(depth - 2, '[') +
           std::string(depth - 2, ']') + "}}";
  };
  EXPECT_NO_THROW(parse_chat_request(nested(64)));
  chat_error(nested(65), "");
}

TEST(ServerProtocolChat, HugeObjects) {
  // Objects are capped at 1024 members (ordered_json inserts in quadratic time); arrays are not.
  auto kwargs = [](int members) {
    std::string body = R"({"messages":[{"role":"user","content":"hi"}],"chat_template_kwargs":{)";
    for (int i = 0; i < members; ++i) body += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":\"a,b\"";
    return body + "}}";
  };
  EXPECT_EQ(parse_chat_request(kwargs(1024)).template_kwargs.size(), 1024u);
  EXPECT_NE(chat_error(kwargs(1025), "").find("1024 members"), std::string::npos);
  std::string tokens = R"({"prompt":[0)";
  for (int i = 1; i < 5000; ++i) tokens += "," + std::to_string(i);
  EXPECT_EQ(parse_completion_request(tokens + "]}").prompt_tokens.size(), 5000u);
}

TEST(ServerProtocolChat, MessageErrors) {
  chat_error("{}", "messages");
  chat_error(R"({"messages": []})", "messages");
  chat_error(R"({"messages": {}})", "messages");
  chat_error(R"({"messages": ["hi"]})", "messages[0]");
  chat_error(R"({"messages": [{"content": "hi"}]})", "messages[0].role");
  chat_error(R"({"messages": [{"role": 1, "content": "hi"}]})", "messages[0].role");
  chat_error(R"({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "hi"}]})", "messages[1].role");
  chat_error(R"({"messages": [{"role": "user"}]})", "messages[0].content");
  chat_error(R"({"messages": [{"role": "user", "content": null}]})", "messages[0].content");
  chat_error(R"({"messages": [{"role": "assistant", "content": null}]})", "messages[0].content");
  chat_error(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 5}]})", "messages[1].content");
  chat_error(R"({"messages": [{"role": "user", "content": ["a"]}]})", "messages[0].content[0]");
  chat_error(R"({"messages": [{"role": "user", "content": [{"text": "a"}]}]})", "messages[0].content[0].type");
  chat_error(R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})", "messages[0].content[0].text");
  chat_error(R"({"messages": [{"role": "user", "content": [{"type": "text", "text": 1}]}]})", "messages[0].content[0].text");
  chat_error(R"({"messages": [{"role": "user", "content": [{"type": "video"}]}]})", "messages[0].content[0].type");
  const std::string image = chat_error(
      R"({"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image_url", "image_url": {"url": "x"}}]}]})",
      "messages[0].content[1].type");
  EXPECT_NE(image.find("not supported"), std::string::npos);
  chat_error(R"({"messages": [{"role": "user", "content": "a", "name": 3}]})", "messages[0].name");
  chat_error(R"({"messages": [{"role": "tool", "content": "a"}]})", "messages[0].tool_call_id");
  chat_error(R"({"messages": [{"role": "tool", "content": "a", "tool_call_id": 3}]})", "messages[0].tool_call_id");
  chat_error(R"({"messages": [{"role": "assistant", "content": "a", "reasoning_content": 1}]})", "messages[0].reasoning_content");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": {}}]})", "messages[0].tool_calls");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [1]}]})", "messages[0].tool_calls[0]");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}]})",
             "messages[0].tool_calls[0].id");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": 1, "function": {"name": "f", "arguments": "{}"}}]}]})",
             "messages[0].tool_calls[0].id");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "type": "code", "function": {"name": "f", "arguments": "{}"}}]}]})",
             "messages[0].tool_calls[0].type");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a"}]}]})", "messages[0].tool_calls[0].function");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": "f"}]}]})",
             "messages[0].tool_calls[0].function");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"arguments": "{}"}}]}]})",
             "messages[0].tool_calls[0].function.name");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": 1, "arguments": "{}"}}]}]})",
             "messages[0].tool_calls[0].function.name");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f"}}]}]})",
             "messages[0].tool_calls[0].function.arguments");
  chat_error(R"({"messages": [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": 5}}]}]})",
             "messages[0].tool_calls[0].function.arguments");
  request_limits limits;
  limits.max_messages = 2;
  chat_error(R"({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "a"}, {"role": "user", "content": "a"}]})",
             "messages", limits);
}

TEST(ServerProtocolChat, SamplingErrors) {
  for (const char* v : {"-0.1", "2.01", "\"1\"", "true"}) chat_error(chat_with("temperature", v), "temperature");
  for (const char* v : {"0", "-1", "1.5", "\"a\""}) chat_error(chat_with("top_p", v), "top_p");
  for (const char* v : {"-2", "1.5", "\"5\"", "3000000000"}) chat_error(chat_with("top_k", v), "top_k");
  for (const char* v : {"-0.01", "1.01", "[]"}) chat_error(chat_with("min_p", v), "min_p");
  for (const char* v : {"0", "-1", "false", "1e300"}) chat_error(chat_with("repetition_penalty", v), "repetition_penalty");
  for (const char* v : {"-2.5", "2.5", "\"0\""}) chat_error(chat_with("presence_penalty", v), "presence_penalty");
  for (const char* v : {"-2.5", "2.5", "{}"}) chat_error(chat_with("frequency_penalty", v), "frequency_penalty");
  for (const char* v : {"1.5", "\"1\"", "true", "1e30"}) chat_error(chat_with("seed", v), "seed");
  chat_error(chat_with("logit_bias", R"({"50256": -100})"), "logit_bias");
  chat_error(chat_with("logit_bias", "[]"), "logit_bias");
  EXPECT_NO_THROW(parse_chat_request(chat_with("temperature", "2")));
  EXPECT_NO_THROW(parse_chat_request(chat_with("top_p", "1")));
  EXPECT_NO_THROW(parse_chat_request(chat_with("min_p", "1")));
  EXPECT_NO_THROW(parse_chat_request(chat_with("presence_penalty", "-2")));
}

TEST(ServerProtocolChat, LengthAndCountErrors) {
  for (const char* v : {"0", "-5", "1.5", "\"10\"", "1048577", "1e300"}) chat_error(chat_with("max_tokens", v), "max_tokens");
  for (const char* v : {"0", "2.5", "true"}) chat_error(chat_with("max_completion_tokens", v), "max_completion_tokens");
  request_limits limits;
  limits.max_tokens_cap = 100;
  EXPECT_NO_THROW(parse_chat_request(chat_with("max_tokens", "100"), limits));
  chat_error(chat_with("max_tokens", "101"), "max_tokens", limits);
  chat_error(chat_with("max_completion_tokens", "101"), "max_completion_tokens", limits);
  for (const char* v : {"2", "0", "-1", "1.5", "\"1\""}) chat_error(chat_with("n", v), "n");
  EXPECT_NO_THROW(parse_chat_request(chat_with("n", "1")));
}

TEST(ServerProtocolChat, StopErrors) {
  chat_error(chat_with("stop", "5"), "stop");
  chat_error(chat_with("stop", R"("")"), "stop");
  chat_error(chat_with("stop", R"({"a":1})"), "stop");
  chat_error(chat_with("stop", R"(["a","b","c","d","e"])"), "stop");
  chat_error(chat_with("stop", R"(["a",""])"), "stop[1]");
  chat_error(chat_with("stop", R"(["a",1])"), "stop[1]");
  chat_error(chat_with("stop", "\"" + std::string(257, 'x') + "\""), "stop");
  chat_error(chat_with("stop", "[\"" + std::string(257, 'x') + "\"]"), "stop[0]");
  EXPECT_NO_THROW(parse_chat_request(chat_with("stop", "\"" + std::string(256, 'x') + "\"")));
  EXPECT_NO_THROW(parse_chat_request(chat_with("stop", "[]")));
  request_limits limits;
  limits.max_stop_strings = 1;
  limits.max_stop_length = 2;
  chat_error(chat_with("stop", R"(["a","b"])"), "stop", limits);
  chat_error(chat_with("stop", R"("abc")"), "stop", limits);
}

TEST(ServerProtocolChat, LogprobsAndStreamErrors) {
  chat_error(chat_with("logprobs", "1"), "logprobs");
  chat_error(chat_with("top_logprobs", "2"), "top_logprobs");  // needs logprobs
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":false,"top_logprobs":2})", "top_logprobs");
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21})", "top_logprobs");
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":-1})", "top_logprobs");
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":"2"})", "top_logprobs");
  EXPECT_NO_THROW(parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":false,"top_logprobs":0})"));
  EXPECT_EQ(parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":20})")
                .params.top_logprobs,
            20);
  chat_error(chat_with("stream", "\"yes\""), "stream");
  chat_error(chat_with("stream_options", R"({"include_usage":true})"), "stream_options");  // stream not on
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"stream":false,"stream_options":{}})", "stream_options");
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":true})", "stream_options");
  chat_error(R"({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":1}})",
             "stream_options.include_usage");
  chat_error(chat_with("model", "5"), "model");
  chat_error(chat_with("user", "{}"), "user");
  chat_error(chat_with("chat_template_kwargs", "[]"), "chat_template_kwargs");
  chat_error(chat_with("parallel_tool_calls", "\"no\""), "parallel_tool_calls");
}

TEST(ServerProtocolChat, ToolErrors) {
  chat_error(chat_with("tools", "{}"), "tools");
  chat_error(chat_with("tools", "[1]"), "tools[0]");
  chat_error(chat_with("tools", R"([{"function":{"name":"f"}}])"), "tools[0].type");
  chat_error(chat_with("tools", R"([{"type":"retrieval","function":{"name":"f"}}])"), "tools[0].type");
  chat_error(chat_with("tools", R"([{"type":"function"}])"), "tools[0].function");
  chat_error(chat_with("tools", R"([{"type":"function","function":[]}])"), "tools[0].function");
  chat_error(chat_with("tools", R"([{"type":"function","function":{}}])"), "tools[0].function.name");
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":""}}])"), "tools[0].function.name");
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"a b"}}])"), "tools[0].function.name");
  chat_error(chat_with("tools", "[{\"type\":\"function\",\"function\":{\"name\":\"" + std::string(65, 'a') + "\"}}]"),
             "tools[0].function.name");
  EXPECT_NO_THROW(
      parse_chat_request(chat_with("tools", "[{\"type\":\"function\",\"function\":{\"name\":\"" + std::string(64, 'a') + "\"}}]")));
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}])"),
             "tools[1].function.name");
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"f","description":1}}])"),
             "tools[0].function.description");
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"f","parameters":"{}"}}])"),
             "tools[0].function.parameters");
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"f","strict":"yes"}}])"), "tools[0].function.strict");
  request_limits limits;
  limits.max_tools = 1;
  chat_error(chat_with("tools", R"([{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}])"),
             "tools", limits);

  const std::string tools = R"("tools":[{"type":"function","function":{"name":"f"}}])";
  auto with_choice = [&](const std::string& choice) {
    return R"({"messages":[{"role":"user","content":"hi"}],)" + tools + R"(,"tool_choice":)" + choice + "}";
  };
  chat_error(with_choice(R"("sometimes")"), "tool_choice");
  chat_error(with_choice("1"), "tool_choice");
  chat_error(with_choice(R"({"function":{"name":"f"}})"), "tool_choice.type");
  chat_error(with_choice(R"({"type":"function"})"), "tool_choice.function");
  chat_error(with_choice(R"({"type":"function","function":{}})"), "tool_choice.function.name");
  chat_error(with_choice(R"({"type":"function","function":{"name":"g"}})"), "tool_choice.function.name");
  chat_error(chat_with("tool_choice", R"("required")"), "tool_choice");  // no tools
  chat_error(chat_with("tool_choice", R"({"type":"function","function":{"name":"f"}})"), "tool_choice.function.name");
}

TEST(ServerProtocolChat, ResponseFormatErrors) {
  chat_error(chat_with("response_format", R"("json")"), "response_format");
  chat_error(chat_with("response_format", R"({})"), "response_format.type");
  chat_error(chat_with("response_format", R"({"type":"yaml"})"), "response_format.type");
  chat_error(chat_with("response_format", R"({"type":"json_schema"})"), "response_format.json_schema");
  chat_error(chat_with("response_format", R"({"type":"json_schema","json_schema":{"schema":{}}})"), "response_format.json_schema.name");
  chat_error(chat_with("response_format", R"({"type":"json_schema","json_schema":{"name":"a b","schema":{}}})"),
             "response_format.json_schema.name");
  chat_error(chat_with("response_format", R"({"type":"json_schema","json_schema":{"name":"n"}})"), "response_format.json_schema.schema");
  chat_error(chat_with("response_format", R"({"type":"json_schema","json_schema":{"name":"n","schema":"{}"}})"),
             "response_format.json_schema.schema");
  chat_error(chat_with("response_format", R"({"type":"json_schema","json_schema":{"name":"n","schema":{},"strict":"x"}})"),
             "response_format.json_schema.strict");
}

TEST(ServerProtocolChat, ErrorObjects) {
  const api_error e(400, "bad \"thing\"", "messages[1].content");
  EXPECT_EQ(e.type, "invalid_request_error");
  const json j = json::parse(error_body(e));
  ASSERT_EQ(j.size(), 1u);
  const json& err = j.at("error");
  ASSERT_EQ(err.size(), 4u);
  EXPECT_EQ(err["message"], "bad \"thing\"");
  EXPECT_EQ(err["type"], "invalid_request_error");
  EXPECT_EQ(err["param"], "messages[1].content");
  EXPECT_TRUE(err["code"].is_null());

  const json k = json::parse(error_body(api_error(401, "no key", "", "invalid_api_key")));
  EXPECT_EQ(k["error"]["type"], "authentication_error");
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_EQ(k["error"]["code"], "invalid_api_key");
  EXPECT_EQ(api_error(429, "slow down").type, "rate_limit_error");
  EXPECT_EQ(api_error(500, "oops").type, "server_error");
  EXPECT_EQ(api_error(503, "busy").type, "server_error");
  EXPECT_EQ(api_error(404, "none").type, "invalid_request_error");
  // A message with invalid UTF-8 (e.g. echoing a client's bytes) still makes valid JSON.
  EXPECT_EQ(json::parse(error_body(api_error(400, "x\xff"))).at("error").at("message"), "x\xEF\xBF\xBD");
}

// ---- completion requests ----

TEST(ServerProtocolCompletion, EveryField) {
  const completion_request r = parse_completion_request(R"({
    "model": "stories", "prompt": "Once upon", "max_tokens": 32, "temperature": 0.7, "top_p": 0.95, "top_k": 5,
    "min_p": 0.1, "repetition_penalty": 1.2, "presence_penalty": 1, "frequency_penalty": 2, "n": 1, "best_of": 1,
    "stop": "\n", "seed": 7, "logprobs": 3, "echo": true, "stream": true, "stream_options": {"include_usage": false},
    "suffix": null, "user": "me", "logit_bias": null
  })");
  const generation_params& p = r.params;
  EXPECT_EQ(r.prompt, "Once upon");
  EXPECT_TRUE(r.prompt_tokens.empty());
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(p.model, "stories");
  EXPECT_EQ(p.max_tokens.value(), 32);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.7f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.95f);
  EXPECT_EQ(p.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(p.sampling.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(p.sampling.presence_penalty, 1.0f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, 2.0f);
  EXPECT_EQ(p.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(p.seed_given);
  EXPECT_EQ(p.sampling.seed, 7u);
  EXPECT_TRUE(p.logprobs);
  EXPECT_EQ(p.top_logprobs, 3);
  EXPECT_TRUE(p.stream);
  EXPECT_FALSE(p.include_usage);
  EXPECT_EQ(p.user, "me");
}

TEST(ServerProtocolCompletion, PromptForms) {
  EXPECT_EQ(parse_completion_request(R"({"prompt":["only one"]})").prompt, "only one");
  EXPECT_EQ(parse_completion_request(R"({"prompt":""})").prompt, "");
  {
    const completion_request r = parse_completion_request(R"({"prompt":[1, 0, 2147483647]})");
    EXPECT_EQ(r.prompt, "");
    EXPECT_EQ(r.prompt_tokens, (std::vector<int32_t>{1, 0, 2147483647}));
  }
  EXPECT_EQ(parse_completion_request(R"({"prompt":[[5, 6]]})").prompt_tokens, (std::vector<int32_t>{5, 6}));
  {
    const completion_request r = parse_completion_request(R"({"prompt":"x","logprobs":0})");
    EXPECT_TRUE(r.params.logprobs);
    EXPECT_EQ(r.params.top_logprobs, 0);
  }
  {
    const completion_request r = parse_completion_request(R"({"prompt":"x"})");
    EXPECT_FALSE(r.params.logprobs);
    EXPECT_FALSE(r.echo);
    EXPECT_FALSE(r.params.max_tokens.has_value());
  }
  // max_completion_tokens is a chat field: ignored here like any unknown field.
  EXPECT_FALSE(parse_completion_request(R"({"prompt":"x","max_completion_tokens":0})").params.max_tokens.has_value());
}

TEST(ServerProtocolCompletion, Errors) {
  completion_error("{}", "prompt");
  completion_error(R"({"prompt":null})", "prompt");
  completion_error(R"({"prompt":5})", "prompt");
  completion_error(R"({"prompt":{}})", "prompt");
  completion_error(R"({"prompt":[]})", "prompt");
  completion_error(R"({"prompt":[[]]})", "prompt[0]");
  completion_error(R"({"prompt":["a","b"]})", "prompt");
  completion_error(R"({"prompt":[[1],[2]]})", "prompt");
  completion_error(R"({"prompt":[1,-2]})", "prompt[1]");
  completion_error(R"({"prompt":[1,"a"]})", "prompt[1]");
  completion_error(R"({"prompt":[1,2.5]})", "prompt[1]");
  completion_error(R"({"prompt":[1,2147483648]})", "prompt[1]");
  completion_error(R"({"prompt":[[1,-1]]})", "prompt[0][1]");
  completion_error(R"({"prompt":[true]})", "prompt[0]");
  completion_error(R"({"prompt":"x","echo":"yes"})", "echo");
  EXPECT_NE(completion_error(R"({"prompt":"x","suffix":"end"})", "suffix").find("not supported"), std::string::npos);
  completion_error(R"({"prompt":"x","suffix":""})", "suffix");
  completion_error(R"({"prompt":"x","best_of":2})", "best_of");
  completion_error(R"({"prompt":"x","best_of":0})", "best_of");
  completion_error(R"({"prompt":"x","best_of":"1"})", "best_of");
  completion_error(R"({"prompt":"x","n":3})", "n");
  for (const char* v : {"6", "-1", "true", "1.5"}) completion_error(completion_with("logprobs", v), "logprobs");
  completion_error(completion_with("max_tokens", "0"), "max_tokens");
  completion_error(completion_with("temperature", "3"), "temperature");
  completion_error(completion_with("stop", R"(["a","b","c","d","e"])"), "stop");
  completion_error(completion_with("stream_options", R"({"include_usage":true})"), "stream_options");
  completion_error("[1]", "");
  completion_error("{\"prompt\": \"x\"", "");
}

// ---- bodies ----

TEST(ServerProtocolBody, ChatCompletion) {
  parsed_reply reply;
  reply.content = "Hello";
  const json j = json::parse(chat_completion_body("chatcmpl-1", 1700000000, "m", reply, "stop", nullptr, {5, 2}));
  ASSERT_EQ(j.size(), 7u);
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["system_fingerprint"], "owl");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["message"], json({{"role", "assistant"}, {"content", "Hello"}}));
  EXPECT_TRUE(c["logprobs"].is_null());
  EXPECT_EQ(c["finish_reason"], "stop");
  EXPECT_EQ(j["usage"], json({{"prompt_tokens", 5}, {"completion_tokens", 2}, {"total_tokens", 7}}));
}

TEST(ServerProtocolBody, ChatCompletionToolCallsAndReasoning) {
  parsed_reply reply;
  reply.reasoning = "thinking";
  reply.tool_calls.push_back({"call_a", "get_weather", nlohmann::json({{"city", "Paris"}})});
  reply.tool_calls.push_back({"call_b", "noop", nlohmann::json::object()});
  const json j = json::parse(chat_completion_body("c", 1, "m", reply, "tool_calls", nullptr, {}));
  const json& msg = j["choices"][0]["message"];
  ASSERT_EQ(msg.size(), 4u);
  EXPECT_EQ(msg["role"], "assistant");
  EXPECT_TRUE(msg["content"].is_null());
  EXPECT_EQ(msg["reasoning_content"], "thinking");
  ASSERT_EQ(msg["tool_calls"].size(), 2u);
  const json& call = msg["tool_calls"][0];
  ASSERT_EQ(call.size(), 3u);
  EXPECT_EQ(call["id"], "call_a");
  EXPECT_EQ(call["type"], "function");
  ASSERT_EQ(call["function"].size(), 2u);
  EXPECT_EQ(call["function"]["name"], "get_weather");
  ASSERT_TRUE(call["function"]["arguments"].is_string());  // a JSON string, as OpenAI sends it
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()), json({{"city", "Paris"}}));
  EXPECT_EQ(msg["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(j["usage"]["total_tokens"], 0);

  // Content beside tool calls stays; no reasoning key when there is none.
  reply.content = "Let me check.";
  reply.reasoning.clear();
  const json k = json::parse(chat_completion_body("c", 1, "m", reply, "tool_calls", nullptr, {}));
  EXPECT_EQ(k["choices"][0]["message"]["content"], "Let me check.");
  EXPECT_FALSE(k["choices"][0]["message"].contains("reasoning_content"));
  // An empty reply without tool calls has "" content, not null.
  const json e = json::parse(chat_completion_body("c", 1, "m", parsed_reply{}, "length", nullptr, {}));
  EXPECT_EQ(e["choices"][0]["message"]["content"], "");
}

TEST(ServerProtocolBody, ChatLogprobs) {
  std::vector<token_logprob> lps;
  lps.push_back({"Hi", -0.25f, {{"Hi", -0.25f}, {"Hello", -1.5f}}});
  lps.push_back({"\xC3", -0.5f, {}});  // the first byte of "é": invalid UTF-8 on its own
  lps.push_back({"!", -std::numeric_limits<float>::infinity(), {}});
  parsed_reply reply;
  reply.content = "Hi\xC3!";
  const std::string body = chat_completion_body("c", 1, "m", reply, "stop", &lps, {1, 3});
  const json j = json::parse(body);  // valid JSON despite the partial character
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hi\xEF\xBF\xBD!");
  const json& lp = j["choices"][0]["logprobs"];
  ASSERT_EQ(lp.size(), 1u);
  const json& content = lp["content"];
  ASSERT_EQ(content.size(), 3u);
  ASSERT_EQ(content[0].size(), 4u);
  EXPECT_EQ(content[0]["token"], "Hi");
  EXPECT_EQ(content[0]["logprob"].get<double>(), -0.25);
  EXPECT_EQ(content[0]["bytes"], json({72, 105}));
  ASSERT_EQ(content[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(content[0]["top_logprobs"][1], json({{"token", "Hello"}, {"logprob", -1.5}, {"bytes", {72, 101, 108, 108, 111}}}));
  EXPECT_EQ(content[1]["token"], "\xEF\xBF\xBD");
  EXPECT_EQ(content[1]["bytes"], json({0xC3}));  // the raw byte survives
  EXPECT_EQ(content[1]["top_logprobs"], json::array());
  EXPECT_EQ(content[2]["logprob"].get<double>(), -9999.0);  // -inf has no JSON spelling
  // Floats print at their own precision.
  lps[0].logprob = -0.1f;
  const std::string text = chat_completion_body("c", 1, "m", reply, "stop", &lps, {});
  EXPECT_NE(text.find("\"logprob\":-0.1,"), std::string::npos) << text;
}

TEST(ServerProtocolBody, Completion) {
  std::vector<token_logprob> lps;
  lps.push_back({" caf", -0.5f, {{" caf", -0.5f}, {" cof", -2.0f}, {" caf", -3.0f}}});
  lps.push_back({"\xC3", -1.0f, {{"\xC3", -1.0f}}});
  lps.push_back({"\xA9!", -0.125f, {}});
  const json j = json::parse(completion_body("cmpl-9", 42, "stories", " caf\xC3\xA9!", "length", &lps, {3, 3}));
  ASSERT_EQ(j.size(), 7u);
  EXPECT_EQ(j["id"], "cmpl-9");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["created"], 42);
  EXPECT_EQ(j["model"], "stories");
  EXPECT_EQ(j["system_fingerprint"], "owl");
  EXPECT_EQ(j["usage"], json({{"prompt_tokens", 3}, {"completion_tokens", 3}, {"total_tokens", 6}}));
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& c = j["choices"][0];
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c["text"], " caf\xC3\xA9!");
  EXPECT_EQ(c["index"], 0);
  EXPECT_EQ(c["finish_reason"], "length");
  const json& lp = c["logprobs"];
  ASSERT_EQ(lp.size(), 4u);
  EXPECT_EQ(lp["tokens"], json({" caf", "\xEF\xBF\xBD", "\xEF\xBF\xBD!"}));
  EXPECT_EQ(lp["token_logprobs"], json({-0.5, -1.0, -0.125}));
  ASSERT_EQ(lp["top_logprobs"].size(), 3u);
  EXPECT_EQ(lp["top_logprobs"][0], json({{" caf", -0.5}, {" cof", -2.0}}));  // the duplicate keeps the first
  EXPECT_EQ(lp["top_logprobs"][1], json({{"\xEF\xBF\xBD", -1.0}}));
  EXPECT_EQ(lp["top_logprobs"][2], json::object());
  EXPECT_EQ(lp["text_offset"], json({0, 4, 5}));  // characters; "é" split over two tokens counts once

  const json n = json::parse(completion_body("cmpl-9", 42, "stories", "x", "stop", nullptr, {}));
  EXPECT_TRUE(n["choices"][0]["logprobs"].is_null());
}

TEST(ServerProtocolBody, Models) {
  const json j = json::parse(models_body("qwen3-0.6b", 123));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0], json({{"id", "qwen3-0.6b"}, {"object", "model"}, {"created", 123}, {"owned_by", "owl"}}));
}

// The envelope every chat chunk shares; returns its single choice.
json chunk_choice(const std::string& text) {
  const json j = json::parse(text);
  EXPECT_EQ(j.size(), 6u);
  EXPECT_EQ(j["id"], "chatcmpl-x");
  EXPECT_EQ(j["object"], "chat.completion.chunk");
  EXPECT_EQ(j["created"], 77);
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["system_fingerprint"], "owl");
  EXPECT_EQ(j["choices"].size(), 1u);
  const json c = j["choices"][0];
  EXPECT_EQ(c.size(), 4u);
  EXPECT_EQ(c["index"], 0);
  return c;
}

TEST(ServerProtocolBody, ChatChunks) {
  {
    const json c = chunk_choice(chat_chunk_role("chatcmpl-x", 77, "m"));
    EXPECT_EQ(c["delta"], json({{"role", "assistant"}, {"content", ""}}));
    EXPECT_TRUE(c["logprobs"].is_null());
    EXPECT_TRUE(c["finish_reason"].is_null());
  }
  {
    const json c = chunk_choice(chat_chunk_content("chatcmpl-x", 77, "m", "Hel", nullptr));
    EXPECT_EQ(c["delta"], json({{"content", "Hel"}}));
    EXPECT_TRUE(c["logprobs"].is_null());
    EXPECT_TRUE(c["finish_reason"].is_null());
  }
  {
    const std::vector<token_logprob> lps = {{"\xE2\x82", -0.5f, {{"\xE2\x82", -0.5f}}}};
    const json c = chunk_choice(chat_chunk_content("chatcmpl-x", 77, "m", "\xE2\x82", &lps));
    EXPECT_EQ(c["delta"]["content"], "\xEF\xBF\xBD");
    ASSERT_EQ(c["logprobs"]["content"].size(), 1u);
    EXPECT_EQ(c["logprobs"]["content"][0]["bytes"], json({0xE2, 0x82}));
    EXPECT_EQ(c["logprobs"]["content"][0]["top_logprobs"][0]["bytes"], json({0xE2, 0x82}));
  }
  {
    const json c = chunk_choice(chat_chunk_reasoning("chatcmpl-x", 77, "m", "hmm"));
    EXPECT_EQ(c["delta"], json({{"reasoning_content", "hmm"}}));
  }
  {
    const std::vector<tool_call> calls = {{"call_1", "f", nlohmann::json({{"a", 1}})}, {"call_2", "g", nlohmann::json::object()}};
    const json c = chunk_choice(chat_chunk_tool_calls("chatcmpl-x", 77, "m", calls));
    ASSERT_EQ(c["delta"].size(), 1u);
    const json& list = c["delta"]["tool_calls"];
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0], json({{"index", 0},
                             {"id", "call_1"},
                             {"type", "function"},
                             {"function", {{"name", "f"}, {"arguments", R"({"a":1})"}}}}));
    EXPECT_EQ(list[1]["index"], 1);
    EXPECT_EQ(list[1]["id"], "call_2");
    EXPECT_EQ(list[1]["function"]["arguments"], "{}");
    EXPECT_TRUE(c["finish_reason"].is_null());
  }
  {
    const json c = chunk_choice(chat_chunk_finish("chatcmpl-x", 77, "m", "length"));
    EXPECT_EQ(c["delta"], json::object());
    EXPECT_EQ(c["finish_reason"], "length");
  }
  {
    const json j = json::parse(chat_chunk_usage("chatcmpl-x", 77, "m", {10, 4}));
    ASSERT_EQ(j.size(), 7u);
    EXPECT_EQ(j["object"], "chat.completion.chunk");
    EXPECT_EQ(j["id"], "chatcmpl-x");
    EXPECT_EQ(j["choices"], json::array());
    EXPECT_EQ(j["usage"], json({{"prompt_tokens", 10}, {"completion_tokens", 4}, {"total_tokens", 14}}));
  }
}

TEST(ServerProtocolBody, CompletionChunks) {
  {
    const json j = json::parse(completion_chunk("cmpl-x", 5, "m", "abc", std::nullopt, nullptr));
    ASSERT_EQ(j.size(), 6u);
    EXPECT_EQ(j["id"], "cmpl-x");
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["created"], 5);
    EXPECT_EQ(j["model"], "m");
    ASSERT_EQ(j["choices"].size(), 1u);
    EXPECT_EQ(j["choices"][0], json({{"text", "abc"}, {"index", 0}, {"logprobs", nullptr}, {"finish_reason", nullptr}}));
  }
  {
    const std::vector<token_logprob> lps = {{"a", -1.0f, {{"a", -1.0f}, {"b", -2.0f}}}};
    const json j = json::parse(completion_chunk("cmpl-x", 5, "m", "", std::string("stop"), &lps));
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(j["choices"][0]["text"], "");
    EXPECT_EQ(j["choices"][0]["logprobs"], json({{"tokens", {"a"}},
                                                 {"token_logprobs", {-1.0}},
                                                 {"top_logprobs", {{{"a", -1.0}, {"b", -2.0}}}},
                                                 {"text_offset", {0}}}));
  }
  {
    const json j = json::parse(completion_chunk_usage("cmpl-x", 5, "m", {1, 2}));
    EXPECT_EQ(j["object"], "text_completion");
    EXPECT_EQ(j["choices"], json::array());
    EXPECT_EQ(j["usage"], json({{"prompt_tokens", 1}, {"completion_tokens", 2}, {"total_tokens", 3}}));
  }
}

TEST(ServerProtocolBody, SseEvents) {
  EXPECT_EQ(sse_event("[DONE]"), "data: [DONE]\n\n");
  EXPECT_EQ(sse_event(R"({"a":1})"), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_event("a\nb"), "data: a\ndata: b\n\n");
  EXPECT_EQ(sse_event(""), "data: \n\n");
  // Bodies are single-line JSON, so each is one data line.
  const std::string chunk = chat_chunk_content("i", 1, "m", "line\nbreak", nullptr);
  EXPECT_EQ(chunk.find('\n'), std::string::npos);
}

// ---- stop strings ----

TEST(ServerProtocolStop, NoStops) {
  stop_matcher m({});
  EXPECT_EQ(m.push("hello "), "hello ");
  EXPECT_EQ(m.push("world"), "world");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.finish(), "");
}

TEST(ServerProtocolStop, HoldsPrefixUntilMatch) {
  stop_matcher m({"END"});
  EXPECT_EQ(m.push("the E"), "the ");
  EXPECT_EQ(m.push("N"), "");
  EXPECT_EQ(m.push("D?"), "");  // not yet: "END" is complete
  EXPECT_TRUE(m.stopped());
}

TEST(ServerProtocolStop, FalseStartIsReleased) {
  stop_matcher m({"END"});
  EXPECT_EQ(m.push("the EN"), "the ");
  EXPECT_EQ(m.push("X more"), "ENX more");
  EXPECT_FALSE(m.stopped());
  EXPECT_EQ(m.push("E"), "");
  EXPECT_EQ(m.finish(), "E");  // the end: held text is released
}

TEST(ServerProtocolStop, SplitAcrossPushes) {
  stop_matcher m({"<|end|>"});
  std::string out;
  for (const char* piece : {"Hi", " <", "|e", "nd", "|", ">tail"}) out += m.push(piece);
  EXPECT_EQ(out, "Hi ");
  EXPECT_TRUE(m.stopped());
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.finish(), "");
}

TEST(ServerProtocolStop, StopInOnePushDropsTheRest) {
  stop_matcher m({"\n\n"});
  EXPECT_EQ(m.push("a\n\nb\n\nc"), "a");
  EXPECT_TRUE(m.stopped());
}

TEST(ServerProtocolStop, OverlappingPrefixes) {
  // "aab" starts inside "aaab": after "aa" fails to continue as "aab", "aa" must still be held.
  stop_matcher m({"aab"});
  EXPECT_EQ(m.push("xa"), "x");
  EXPECT_EQ(m.push("a"), "");
  EXPECT_EQ(m.push("a"), "a");  // "aaa": the first "a" can no longer start "aab"
  EXPECT_EQ(m.push("b"), "");
  EXPECT_TRUE(m.stopped());

  stop_matcher n({"abab"});
  std::string out;
  for (const char c : std::string("xabababx")) out += n.push(std::string(1, c));
  EXPECT_EQ(out, "x");  // "abab" completes at the fifth character
  EXPECT_TRUE(n.stopped());
}

TEST(ServerProtocolStop, MultipleStops) {
  {
    stop_matcher m({"STOP", "ST", "xyz"});
    EXPECT_EQ(m.push("aS"), "a");
    EXPECT_EQ(m.push("T"), "");  // "ST" is complete
    EXPECT_TRUE(m.stopped());
  }
  {
    // The earliest match wins, whichever stop string it is.
    stop_matcher m({"world", "lo"});
    EXPECT_EQ(m.push("hello world"), "hel");
  }
  {
    // Holding back uses the longest prefix among all stops.
    stop_matcher m({"abc", "bcd"});
    EXPECT_EQ(m.push("zab"), "z");
    EXPECT_EQ(m.push("c"), "");
    EXPECT_TRUE(m.stopped());
  }
  {
    stop_matcher m({"abc", "bcd"});
    EXPECT_EQ(m.push("zab"), "z");
    EXPECT_EQ(m.push("x"), "abx");
    EXPECT_EQ(m.push("bc"), "");
    EXPECT_EQ(m.push("d"), "");
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(m.finish(), "");
  }
  {
    stop_matcher m({"", "z"});  // empty stop strings are ignored
    EXPECT_EQ(m.push("abc"), "abc");
    EXPECT_FALSE(m.stopped());
  }
}

TEST(ServerProtocolStop, AllTextAccountedFor) {
  // Whatever the split, emitted text + finish() equals the input up to the first stop.
  const std::string text = "one ENtwo EN three END four";
  for (size_t step = 1; step <= text.size(); ++step) {
    stop_matcher m({"END", "NOPE"});
    std::string out;
    for (size_t i = 0; i < text.size() && !m.stopped(); i += step) out += m.push(text.substr(i, step));
    out += m.finish();
    EXPECT_EQ(out, "one ENtwo EN three ") << step;
    EXPECT_TRUE(m.stopped());
  }
}

// ---- ids ----

TEST(ServerProtocolId, RandomHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_id("chatcmpl-");
    ASSERT_EQ(id.size(), 9u + 24u);
    EXPECT_EQ(id.rfind("chatcmpl-", 0), 0u);
    for (size_t k = 9; k < id.size(); ++k) EXPECT_NE(std::string("0123456789abcdef").find(id[k]), std::string::npos) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(new_id("cmpl-").size(), 5u + 24u);
}

}  // namespace
}  // namespace owl::server
