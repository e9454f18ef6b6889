// Parsing model output: reasoning and the tool-call syntaxes of Llama 3, Hermes/Qwen,
// DeepSeek V3 and Mistral; format detection on real templates; robustness on broken output.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <random>

#include "owl/chat.h"
#include "test_util.h"

namespace owl {
namespace {

using json = nlohmann::json;
using fmt = tool_call_format;

const json weather = {{"city", "Paris"}};
const json search = {{"query", "Lyon news"}, {"limit", 3}};

// `prefix` followed by exactly n ASCII letters or digits.
bool is_id(const std::string& id, const std::string& prefix, size_t n) {
  return id.size() == prefix.size() + n && id.starts_with(prefix) &&
         std::all_of(id.begin() + prefix.size(), id.end(), [](unsigned char c) { return std::isalnum(c); });
}

void expect_call(const tool_call& call, const std::string& name, const json& arguments) {
  EXPECT_EQ(call.name, name);
  EXPECT_EQ(json::parse(call.arguments.dump()), arguments);
  EXPECT_FALSE(call.id.empty());
}

TEST(ToolCalls, ArgumentsKeepTheModelsKeyOrder) {
  auto r = parse_reply("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"zeta\": 1, \"alpha\": {\"y\": 2, \"b\": 3}}}\n</tool_call>",
                       tool_call_format::hermes);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].arguments.dump(), R"({"zeta":1,"alpha":{"y":2,"b":3}})");
}

// ---- Hermes / Qwen ----

TEST(ToolCalls, HermesSingle) {
  auto r = parse_reply("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>", fmt::hermes);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  EXPECT_EQ(r.content, "");
}

TEST(ToolCalls, HermesSeveralWithText) {
  auto r = parse_reply("Let me look.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
                       "</tool_call>\n<tool_call>\n{\"arguments\": \"{\\\"query\\\": \\\"Lyon news\\\", \\\"limit\\\": 3}\", "
                       "\"name\": \"search\"}\n</tool_call>\nDone.",
                       fmt::hermes);
  ASSERT_EQ(r.tool_calls.size(), 2u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  expect_call(r.tool_calls[1], "search", search);  // arguments given as a JSON string
  EXPECT_EQ(r.content, "Let me look.\n\n\nDone.");
  EXPECT_NE(r.tool_calls[0].id, r.tool_calls[1].id);
}

TEST(ToolCalls, HermesMalformedStaysText) {
  const std::string bad_json = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>";
  auto r = parse_reply(bad_json, fmt::hermes);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, bad_json);

  const std::string unterminated = "Sure. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}";
  r = parse_reply(unterminated, fmt::hermes);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, unterminated);

  // One good call and one bad: the good one is taken, the bad one stays where it was.
  r = parse_reply("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call> and <tool_call>{oops}</tool_call>", fmt::hermes);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "a");
  EXPECT_EQ(r.content, "and <tool_call>{oops}</tool_call>");
}

// ---- Llama 3.x ----

TEST(ToolCalls, Llama3Single) {
  auto r = parse_reply("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", fmt::llama3_json);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  EXPECT_EQ(r.content, "");
  EXPECT_TRUE(is_id(r.tool_calls[0].id, "call_", 24)) << r.tool_calls[0].id;
}

TEST(ToolCalls, Llama3PythonTagAndSeveral) {
  auto r = parse_reply("<|python_tag|>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}; "
                       "{\"name\": \"search\", \"parameters\": {\"query\": \"Lyon news\", \"limit\": 3}}\n"
                       "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
                       fmt::llama3_json);
  ASSERT_EQ(r.tool_calls.size(), 3u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  expect_call(r.tool_calls[1], "search", search);
  expect_call(r.tool_calls[2], "get_weather", weather);
  EXPECT_EQ(r.content, "");

  r = parse_reply("I will check.<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", fmt::llama3_json);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "I will check.");

  r = parse_reply("[{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}, "
                  "{\"name\": \"search\", \"parameters\": {\"query\": \"Lyon news\", \"limit\": 3}}]",
                  fmt::llama3_json);
  ASSERT_EQ(r.tool_calls.size(), 2u);
  expect_call(r.tool_calls[1], "search", search);
}

TEST(ToolCalls, Llama3NonCallsStayText) {
  for (const std::string& text : {
           std::string("The weather is fine. {\"name\": \"x\", \"parameters\": {}}"),  // a call only at the start
           std::string("{\"name\": \"Bob\", \"age\": 3}"),                            // JSON, but no arguments
           std::string("<|python_tag|>brave_search.call(query=\"Lyon\")"),             // built-in tool code
           std::string("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Par"),  // cut off
       }) {
    auto r = parse_reply(text, fmt::llama3_json);
    EXPECT_TRUE(r.tool_calls.empty()) << text;
    EXPECT_EQ(r.content, text);
  }
  // A good call followed by garbage: the call is taken, the rest stays.
  auto r = parse_reply("{\"name\": \"a\", \"parameters\": {}}; {\"name\": broken", fmt::llama3_json);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "; {\"name\": broken");
}

// ---- DeepSeek ----

TEST(ToolCalls, DeepSeekV3FencedSeveral) {
  const std::string text =
      "Checking.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>search\n```json\n"
      "{\"query\": \"Lyon news\", \"limit\": 3}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  auto r = parse_reply(text, fmt::deepseek_v3);
  ASSERT_EQ(r.tool_calls.size(), 2u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  expect_call(r.tool_calls[1], "search", search);
  EXPECT_EQ(r.content, "Checking.");
}

TEST(ToolCalls, DeepSeekV31Single) {
  auto r = parse_reply("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}"
                       "<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
                       fmt::deepseek_v3);
  ASSERT_EQ(r.tool_calls.size(), 1u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  EXPECT_EQ(r.content, "");
}

TEST(ToolCalls, DeepSeekMalformedStaysText) {
  for (const std::string& text : {
           std::string("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": Paris}<｜tool▁call▁end｜><｜tool▁calls▁end｜>"),
           std::string("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{\"city\": \"Paris\"}"),
           std::string("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{}"),
           std::string("<｜tool▁calls▁begin｜>"),
       }) {
    auto r = parse_reply(text, fmt::deepseek_v3);
    EXPECT_TRUE(r.tool_calls.empty()) << text;
    EXPECT_EQ(r.content, text);
  }
}

// ---- Mistral ----

TEST(ToolCalls, MistralJsonList) {
  auto r = parse_reply("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}, \"id\": \"abcDEF123\"}, "
                       "{\"name\": \"search\", \"arguments\": {\"query\": \"Lyon news\", \"limit\": 3}}]",
                       fmt::mistral);
  ASSERT_EQ(r.tool_calls.size(), 2u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  EXPECT_EQ(r.tool_calls[0].id, "abcDEF123");
  expect_call(r.tool_calls[1], "search", search);
  // Mistral templates accept only 9-character alphanumeric ids.
  EXPECT_TRUE(is_id(r.tool_calls[1].id, "", 9)) << r.tool_calls[1].id;
  EXPECT_EQ(r.content, "");
}

TEST(ToolCalls, MistralNamedArgs) {
  auto r = parse_reply("Sure.[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Paris\"}[TOOL_CALLS]search[CALL_ID]x1y2z3w4v"
                       "[ARGS]{\"query\": \"Lyon news\", \"limit\": 3}",
                       fmt::mistral);
  ASSERT_EQ(r.tool_calls.size(), 2u);
  expect_call(r.tool_calls[0], "get_weather", weather);
  expect_call(r.tool_calls[1], "search", search);
  EXPECT_EQ(r.tool_calls[1].id, "x1y2z3w4v");
  EXPECT_EQ(r.content, "Sure.");
}

TEST(ToolCalls, MistralMalformedStaysText) {
  for (const std::string& text : {
           std::string("[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}"),
           std::string("[TOOL_CALLS]get_weather[ARGS]{\"city\":"),
           std::string("[TOOL_CALLS]get weather now[ARGS]{}"),
           std::string("[TOOL_CALLS]"),
       }) {
    auto r = parse_reply(text, fmt::mistral);
    EXPECT_TRUE(r.tool_calls.empty()) << text;
    EXPECT_EQ(r.content, text);
  }
}

// ---- reasoning ----

TEST(ToolCalls, ReasoningBothTags) {
  auto r = parse_reply("<think>\nTwo plus two.\n</think>\n\nIt is 4.", fmt::none);
  EXPECT_EQ(r.reasoning, "Two plus two.");
  EXPECT_EQ(r.content, "It is 4.");
}

TEST(ToolCalls, ReasoningOpenedByThePrompt) {
  // Qwen3 / DeepSeek-R1 templates end the prompt with "<think>\n": only the closing tag comes out.
  auto r = parse_reply("Two plus two.\n</think>\n\nIt is 4.", fmt::hermes);
  EXPECT_EQ(r.reasoning, "Two plus two.");
  EXPECT_EQ(r.content, "It is 4.");
}

TEST(ToolCalls, ReasoningCutOffAndNone) {
  auto r = parse_reply("<think>Still thinking when max_tokens hit", fmt::none);
  EXPECT_EQ(r.reasoning, "Still thinking when max_tokens hit");
  EXPECT_EQ(r.content, "");
  r = parse_reply("No reasoning here.", fmt::none);
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "No reasoning here.");
  r = parse_reply("<think>\n\n</think>\n\nHi", fmt::none);  // enable_thinking=false shape
  EXPECT_EQ(r.reasoning, "");
  EXPECT_EQ(r.content, "Hi");
}

TEST(ToolCalls, ReasoningThenToolCall) {
  auto r = parse_reply("<think>Need the weather.</think>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
                       "{\"city\": \"Paris\"}}\n</tool_call>",
                       fmt::hermes);
  EXPECT_EQ(r.reasoning, "Need the weather.");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "");
}

TEST(ToolCalls, FormatNoneLeavesMarkupAlone) {
  const std::string text = "<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>";
  auto r = parse_reply(text, fmt::none);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, text);
}

// ---- never throws ----

TEST(ToolCalls, NeverThrowsOnTruncationsAndNoise) {
  const std::vector<std::string> samples = {
      "<think>a</think><tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa\\\"ris\"}}\n</tool_call>",
      "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"x\": [1, {\"y\": \"}\"}]}}; {\"name\": \"b\", \"arguments\": {}}",
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{\"a\": 1}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
      "[TOOL_CALLS]f[CALL_ID]abcdefghi[ARGS]{\"a\": \"\\u00e9\"}[TOOL_CALLS][{\"name\": \"g\", \"arguments\": {}}]",
      std::string(5000, '[') + std::string(5000, '{'),
  };
  std::mt19937 rng(1);
  for (const auto& sample : samples) {
    for (fmt f : {fmt::none, fmt::llama3_json, fmt::hermes, fmt::deepseek_v3, fmt::mistral}) {
      // Every byte-prefix (cutting UTF-8 characters too), and random byte damage.
      for (size_t n = 0; n <= sample.size(); n += (sample.size() > 400 ? 97 : 1))
        EXPECT_NO_THROW(parse_reply(sample.substr(0, n), f));
      for (int i = 0; i < 200; ++i) {
        std::string damaged = sample;
        damaged[rng() % damaged.size()] = char(rng() % 256);
        EXPECT_NO_THROW(parse_reply(damaged, f));
      }
    }
  }
}

// ---- real templates ----

std::filesystem::path chat_golden() { return test::fixtures() / "golden" / "chat"; }

TEST(ToolCalls, DetectFormatOnFixtureTemplates) {
  const std::vector<std::pair<std::string, fmt>> expected = {
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", fmt::hermes},
      {"Qwen-Qwen2.5-7B-Instruct", fmt::hermes},
      {"Qwen-Qwen3-0.6B", fmt::hermes},
      {"Qwen-QwQ-32B", fmt::hermes},
      {"meta-llama-Llama-3.1-8B-Instruct", fmt::llama3_json},
      {"meta-llama-Llama-3.2-3B-Instruct", fmt::llama3_json},
      {"deepseek-ai-DeepSeek-V3.1", fmt::deepseek_v3},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B", fmt::deepseek_v3},
      {"Mistral-Small-3.2-24B-Instruct-2506", fmt::mistral},
      {"mistralai-Mistral-Nemo-Instruct-2407", fmt::mistral},
      {"google-gemma-2-2b-it", fmt::none},
      {"microsoft-Phi-3.5-mini-instruct", fmt::none},
      {"openai-gpt-oss-120b", fmt::none},
      {"meetkai-functionary-medium-v3.1", fmt::none},
      {"CohereForAI-c4ai-command-r-plus-tool_use", fmt::none},
  };
  for (const auto& [name, format] : expected) {
    const json golden = test::read_json(chat_golden() / ("template-" + name + ".json"));
    EXPECT_EQ(int(detect_tool_call_format(golden["chat_template"].get<std::string>())), int(format)) << name;
  }
  const json deepseek = test::read_json(test::fixtures() / "tokenizers" / "deepseek_v3" / "tokenizer_config.json");
  EXPECT_EQ(detect_tool_call_format(deepseek["chat_template"].get<std::string>()), fmt::deepseek_v3);
  EXPECT_EQ(detect_tool_call_format(""), fmt::none);
}

// The assistant turns that real templates render for a tool-calling conversation parse back
// to the calls they were rendered from.
TEST(ToolCalls, RenderedCallsParseBack) {
  struct rendered {
    std::string name, conversation, turn_start, turn_end;
  };
  const std::vector<rendered> cases = {
      {"Qwen-Qwen2.5-7B-Instruct", "two_tool_calls", "<|im_start|>assistant\n", "<|im_end|>"},
      {"NousResearch-Hermes-3-Llama-3.1-8B-tool_use", "two_tool_calls", "<|im_start|>assistant\n", "<|im_end|>"},
      {"deepseek-ai-DeepSeek-V3.1", "two_tool_calls", "<｜Assistant｜><think></think>", "<｜end▁of▁sentence｜>"},
      {"meta-llama-Llama-3.1-8B-Instruct", "tools", "<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"},
  };
  for (const auto& c : cases) {
    const json golden = test::read_json(chat_golden() / ("template-" + c.name + ".json"));
    const fmt format = detect_tool_call_format(golden["chat_template"].get<std::string>());
    bool found = false;
    for (const json& g : golden["cases"]) {
      if (g["conversation"] != c.conversation || g["add_generation_prompt"].get<bool>() || !g.contains("text")) continue;
      found = true;
      const std::string text = g["text"].get<std::string>();
      const size_t start = text.find(c.turn_start) + c.turn_start.size();
      const std::string turn = text.substr(start, text.find(c.turn_end, start) - start);
      const json expected = g["messages"][1]["tool_calls"];
      auto r = parse_reply(turn, format);
      ASSERT_EQ(r.tool_calls.size(), expected.size()) << c.name << ": " << turn;
      for (size_t i = 0; i < expected.size(); ++i)
        expect_call(r.tool_calls[i], expected[i]["function"]["name"].get<std::string>(), expected[i]["function"]["arguments"]);
      EXPECT_EQ(r.content, "") << c.name;
    }
    EXPECT_TRUE(found) << c.name;
  }
}

}  // namespace
}  // namespace owl
