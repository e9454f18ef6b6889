// tool_constraint_test.cpp — constrained decoding for tool_choice "required" / a named function.
//
// 1. Random walks with real tokenizers (random logits, mask(), a seeded pick among the allowed
//    tokens until the end token): the text must parse with parse_reply() in the model's format
//    into exactly one call of an allowed tool whose arguments satisfy its schema (checked by a
//    small validator below, independent of the automaton).
// 2. The text a model would naturally write (its own tokenization, markers as added tokens) is
//    allowed token by token; special tokens only match literal markup, never JSON.
// 3. Unsupported schemas, unknown names and formats without tool-call syntax throw.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <mutex>
#include <random>

#include "owl/chat.h"
#include "owl/error.h"
#include "owl/tokenizer.h"
#include "server/tool_constraint.h"
#include "constraint_test_util.h"
#include "test_util.h"

namespace {

using owl::test::load;
using owl::test::pick;
using owl::test::validate;

using nlohmann::json;
using ojson = nlohmann::ordered_json;
using owl::tool_call_format;
using owl::server::make_tool_call_constraint;
using owl::server::token_vocabulary;

// ---------------------------------------------------------------- a small schema validator


// ------------------------------------------------------------------------- tools

ojson tool(const std::string& name, const ojson& parameters) {
  ojson f = {{"name", name}, {"description", "test tool " + name}};
  if (!parameters.is_null()) f["parameters"] = parameters;
  return {{"type", "function"}, {"function", f}};
}

const ojson& test_tools() {
  static const ojson tools = ojson::array({
      tool("get_weather", ojson::parse(R"({"type":"object","properties":{
          "city":{"type":"string","maxLength":12},"unit":{"enum":["celsius","fahrenheit"]}},
          "required":["city","unit"]})")),
      tool("search", ojson::parse(R"({"type":"object","properties":{
          "query":{"type":"string","maxLength":10},"limit":{"type":"integer"},
          "tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":2}},"required":["query"]})")),
      tool("get_time", nullptr),  // no parameters: any object
      tool("tree_sum", ojson::parse(R"({"$defs":{"node":{"type":"object","properties":{"value":{"type":"number"},
          "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["value"]}},
          "type":"object","properties":{"root":{"$ref":"#/$defs/node"}},"required":["root"]})")),
  });
  return tools;
}

// The schema a tool's arguments must satisfy (the validator's view of it).
json parameters_of(const std::string& name) {
  for (const auto& t : test_tools())
    if (t["function"]["name"] == name)
      return t["function"].contains("parameters") ? json::parse(t["function"]["parameters"].dump())
                                                  : json{{"type", "object"}};
  return nullptr;
}

// ------------------------------------------------------------------- real tokenizers



// Walks under the constraint; returns the names called (one per walk).
std::vector<std::string> random_walks(const std::string& tokenizer_name, tool_call_format format,
                                      const ojson& tools, const std::string& only_name, uint32_t seeds) {
  const auto& m = load(tokenizer_name);
  std::vector<std::string> names;
  for (uint32_t seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE(tokenizer_name + " only '" + only_name + "' seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    auto c = make_tool_call_constraint(m.vocab, format, tools, only_name, {m.end});
    const auto [ids, text, ended] = owl::test::random_walk(*c, m, rng);
    EXPECT_TRUE(ended) << "did not finish: " << text.substr(0, 600);
    if (!ended) continue;
    EXPECT_EQ(m.tok->decode(ids), text);
    if (std::getenv("OWL_TEST_VERBOSE")) std::cout << text << "\n";
    const owl::parsed_reply reply = owl::parse_reply(text, format);
    EXPECT_EQ(reply.content, "") << text;
    EXPECT_EQ(reply.tool_calls.size(), 1u) << text;
    if (reply.tool_calls.size() != 1) continue;
    const auto& call = reply.tool_calls[0];
    const json schema = parameters_of(call.name);
    EXPECT_FALSE(schema.is_null()) << "unknown tool " << call.name << " in " << text;
    if (schema.is_null()) continue;
    EXPECT_TRUE(validate(json::parse(call.arguments.dump()), schema, schema)) << text;
    if (!only_name.empty()) {
      EXPECT_EQ(call.name, only_name) << text;
    }
    names.push_back(call.name);
  }
  return names;
}

void walks_for(const std::string& tokenizer_name, tool_call_format format) {
  const auto names = random_walks(tokenizer_name, format, test_tools(), "", 6);
  EXPECT_EQ(names.size(), 6u);
  for (const std::string only : {"get_weather", "tree_sum"}) random_walks(tokenizer_name, format, test_tools(), only, 2);
}

TEST(ToolConstraintRandomWalk, HermesQwen3) { walks_for("qwen3", tool_call_format::hermes); }
TEST(ToolConstraintRandomWalk, Llama3JsonLlama31) { walks_for("llama3_1", tool_call_format::llama3_json); }
TEST(ToolConstraintRandomWalk, MistralSentencePiece) { walks_for("mistral", tool_call_format::mistral); }
TEST(ToolConstraintRandomWalk, DeepSeekV3) { walks_for("deepseek_v3", tool_call_format::deepseek_v3); }

// The call as the model's template writes it, in the tokenizer's own tokenization (markers as
// one added token each), is allowed token by token, and then the end.
void natural_text_is_allowed(const std::string& tokenizer_name, tool_call_format format, const std::string& text) {
  SCOPED_TRACE(tokenizer_name);
  const auto& m = load(tokenizer_name);
  auto c = make_tool_call_constraint(m.vocab, format, test_tools(), "", {m.end});
  std::vector<float> logits(m.vocab->size());
  for (int32_t id : m.tok->encode(text, false)) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c->mask(logits);
    ASSERT_FALSE(std::isinf(logits[static_cast<size_t>(id)])) << "token '" << m.vocab->bytes(id) << "' refused";
    EXPECT_FALSE(c->complete());
    c->accept(id);
  }
  EXPECT_TRUE(c->complete());
  std::fill(logits.begin(), logits.end(), 0.0f);
  c->mask(logits);
  EXPECT_FALSE(std::isinf(logits[static_cast<size_t>(m.end)]));
  const auto reply = owl::parse_reply(text, format);
  ASSERT_EQ(reply.tool_calls.size(), 1u);
  EXPECT_EQ(reply.tool_calls[0].name, "get_weather");
}

TEST(ToolConstraintNatural, ModelsOwnMarkup) {
  const std::string args = R"({"city": "Paris", "unit": "celsius"})";
  natural_text_is_allowed("qwen3", tool_call_format::hermes,
                          "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": " + args + "}\n</tool_call>");
  const auto& qwen = load("qwen3");
  EXPECT_EQ(qwen.tok->encode("<tool_call>", false).size(), 1u);  // the marker is one added token
  natural_text_is_allowed("llama3_1", tool_call_format::llama3_json,
                          "{\"name\": \"get_weather\", \"parameters\": " + args + "}");
  natural_text_is_allowed("deepseek_v3", tool_call_format::deepseek_v3,
                          "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n" +
                              args + "\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>");
}

// A vocabulary of single bytes plus a special "[TOOL_CALLS]" token and an end token.
TEST(ToolConstraintSpecial, SpecialTokensOnlyMatchMarkup) {
  std::vector<std::string> bytes;
  for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
  bytes.emplace_back("[TOOL_CALLS]");
  bytes.emplace_back("<end>");
  std::vector<bool> special(258, false);
  special[256] = special[257] = true;
  auto vocab = std::make_shared<const token_vocabulary>(std::move(bytes), std::move(special));
  const ojson tools = ojson::array({tool("echo", ojson::parse(R"({"type":"object","properties":{
      "text":{"type":"string"}},"required":["text"]})"))});
  auto c = make_tool_call_constraint(vocab, tool_call_format::mistral, tools, "", {257});
  std::vector<float> logits(258);
  auto allowed = [&](int32_t id) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c->mask(logits);
    return !std::isinf(logits[static_cast<size_t>(id)]);
  };
  EXPECT_TRUE(allowed(256));
  EXPECT_TRUE(allowed('['));
  EXPECT_FALSE(allowed('{'));
  EXPECT_FALSE(allowed(257));
  c->accept(256);
  const std::string rest = R"([{"name": "echo", "arguments": {"text": ")";
  for (char ch : rest) {
    ASSERT_TRUE(allowed(static_cast<uint8_t>(ch))) << ch;
    c->accept(static_cast<uint8_t>(ch));
  }
  EXPECT_FALSE(allowed(256));  // inside the JSON string: the marker token is not text
  EXPECT_TRUE(allowed('['));   // ...but its characters are
  for (char ch : std::string("hi\"}}]")) {
    ASSERT_TRUE(allowed(static_cast<uint8_t>(ch))) << ch;
    c->accept(static_cast<uint8_t>(ch));
  }
  EXPECT_TRUE(c->complete());
  EXPECT_TRUE(allowed(257));
  EXPECT_FALSE(allowed(']'));
}

// mask() while the tool is still undecided (every branch alive in the shared prefix) and on
// average over a walk, on the 128k Llama 3.1 vocabulary. The bound is loose (sanitizer and
// debug builds); the printed numbers are the point.
TEST(ToolConstraintTiming, MaskOnLlama31) {
  const auto& m = load("llama3_1");
  auto c = make_tool_call_constraint(m.vocab, tool_call_format::llama3_json, test_tools(), "", {m.end});
  std::vector<float> logits(m.vocab->size());
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
  double first_ms = 0, total_ms = 0;
  int steps = 0;
  for (bool ended = false; !ended && steps < 2000; ++steps) {
    for (auto& l : logits) l = uniform(rng);
    const auto start = std::chrono::steady_clock::now();
    c->mask(logits);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (steps == 0) first_ms = ms;
    total_ms += ms;
    const int32_t t = pick(logits, *m.vocab, m.end, rng);
    ended = t == m.end;
    c->accept(t);
  }
  std::cout << "tool mask: first " << first_ms << " ms, mean " << total_ms / steps << " ms over " << steps
            << " steps\n";
  EXPECT_LT(total_ms / steps, 100.0);
}

// ------------------------------------------------------------------------- errors

TEST(ToolConstraintErrors, UnsupportedSchemaNamesToolAndKeyword) {
  const auto& m = load("qwen3");
  const ojson tools = ojson::array({tool("lookup", ojson::parse(R"({"type":"object","properties":{
      "code":{"type":"string","pattern":"^[A-Z]+$"}}})"))});
  try {
    make_tool_call_constraint(m.vocab, tool_call_format::hermes, tools, "", {m.end});
    FAIL() << "expected owl::error";
  } catch (const owl::error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("lookup"), std::string::npos) << what;
    EXPECT_NE(what.find("pattern"), std::string::npos) << what;
  }
}

TEST(ToolConstraintErrors, NoSyntaxUnknownNameNonObjectParameters) {
  const auto& m = load("qwen3");
  EXPECT_THROW(make_tool_call_constraint(m.vocab, tool_call_format::none, test_tools(), "", {m.end}), owl::error);
  EXPECT_THROW(make_tool_call_constraint(m.vocab, tool_call_format::hermes, test_tools(), "nope", {m.end}),
               owl::error);
  const ojson bad = ojson::array({tool("f", ojson::parse(R"({"type":"string"})"))});
  EXPECT_THROW(make_tool_call_constraint(m.vocab, tool_call_format::hermes, bad, "", {m.end}), owl::error);
  EXPECT_THROW(make_tool_call_constraint(m.vocab, tool_call_format::hermes, test_tools(), "", {}), owl::error);
}

}  // namespace
