// tokenizer_test.cpp — owl::tokenizer against the Hugging Face `tokenizers` goldens.
//
// For every case of every tokenizer in fixtures/golden/tokenizers: encode without and with
// special tokens, the token pieces, and decode must equal the reference exactly. Also the
// stories260K prompts, and stream_decoder reproducing decode().
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "owl/error.h"
#include "owl/tokenizer.h"
#include "test_util.h"
#include "tokenizer/unicode.h"

namespace {

using nlohmann::json;

const std::vector<std::string> golden_names = {"mistral", "llama3_1", "qwen3", "deepseek_v3", "pythia", "olmo", "gpt2"};

// Loading a 10 MB tokenizer.json takes a moment (much longer under ASan): load each once.
const owl::tokenizer& load(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<owl::tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[name];
  if (!slot) {
    const auto dir = name == "stories260K" ? owl::test::fixtures() / "stories260K"
                                           : owl::test::fixtures() / "tokenizers" / name;
    slot = owl::tokenizer::from_dir(dir);
  }
  return *slot;
}

const json& golden(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, json> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(name);
  if (it == cache.end())
    it = cache.emplace(name, owl::test::read_json(owl::test::fixtures() / "golden" / "tokenizers" / (name + ".json"))).first;
  return it->second;
}

std::vector<int32_t> ids_of(const json& j) { return j.get<std::vector<int32_t>>(); }

std::string show(const std::string& text) {
  std::string out = json(text).dump();
  return out.size() > 80 ? out.substr(0, 77) + "..." : out;
}

class TokenizerGolden : public ::testing::TestWithParam<std::string> {};

// One test per check so a failure report says which property broke; each loops over all
// cases and prints how many passed.
TEST_P(TokenizerGolden, EncodeWithoutSpecials) {
  const auto& tok = load(GetParam());
  const auto& cases = golden(GetParam())["cases"];
  size_t passed = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c["text"].get<std::string>(), false);
    EXPECT_EQ(ids, ids_of(c["ids"])) << "text " << show(c["text"]);
    passed += ids == ids_of(c["ids"]);
  }
  std::printf("[ tokenizer ] %s encode: %zu/%zu\n", GetParam().c_str(), passed, cases.size());
  EXPECT_GT(cases.size(), 0u);
}

TEST_P(TokenizerGolden, EncodeWithSpecials) {
  const auto& tok = load(GetParam());
  const auto& cases = golden(GetParam())["cases"];
  size_t passed = 0;
  for (const auto& c : cases) {
    const auto ids = tok.encode(c["text"].get<std::string>(), true);
    EXPECT_EQ(ids, ids_of(c["ids_with_specials"])) << "text " << show(c["text"]);
    passed += ids == ids_of(c["ids_with_specials"]);
  }
  std::printf("[ tokenizer ] %s encode with specials: %zu/%zu\n", GetParam().c_str(), passed, cases.size());
}

TEST_P(TokenizerGolden, TokenPieces) {
  const auto& tok = load(GetParam());
  const auto& cases = golden(GetParam())["cases"];
  size_t passed = 0;
  for (const auto& c : cases) {
    const auto ids = ids_of(c["ids"]);
    const auto expected = c["tokens"].get<std::vector<std::string>>();
    std::vector<std::string> pieces;
    for (const int32_t id : ids) pieces.push_back(tok.token_piece(id));
    EXPECT_EQ(pieces, expected) << "text " << show(c["text"]);
    passed += pieces == expected;
    // token_id is the inverse of token_piece.
    for (const int32_t id : ids) EXPECT_EQ(tok.token_id(tok.token_piece(id)), id);
  }
  std::printf("[ tokenizer ] %s pieces: %zu/%zu\n", GetParam().c_str(), passed, cases.size());
}

TEST_P(TokenizerGolden, Decode) {
  const auto& tok = load(GetParam());
  const auto& cases = golden(GetParam())["cases"];
  size_t passed = 0;
  for (const auto& c : cases) {
    const auto text = tok.decode(ids_of(c["ids"]));
    EXPECT_EQ(text, c["decoded"].get<std::string>()) << "text " << show(c["text"]);
    passed += text == c["decoded"].get<std::string>();
  }
  std::printf("[ tokenizer ] %s decode: %zu/%zu\n", GetParam().c_str(), passed, cases.size());
}

// Streaming one id at a time must add up to decode(ids), and every chunk must be valid UTF-8
// (never half a character), also for emoji and byte-fallback sequences.
TEST_P(TokenizerGolden, StreamDecoderMatchesDecode) {
  const auto& tok = load(GetParam());
  for (const auto& c : golden(GetParam())["cases"]) {
    const auto ids = ids_of(c["ids"]);
    // Where the whole text has no U+FFFD, no chunk may have one either: partial characters
    // (emoji split over byte tokens) must be held back, not emitted as replacement chars.
    const bool clean = tok.decode(ids).find("\xEF\xBF\xBD") == std::string::npos;
    owl::stream_decoder stream(tok);
    std::string all;
    for (const int32_t id : ids) {
      const std::string chunk = stream.push(id);
      EXPECT_TRUE(owl::tok::is_valid_utf8(chunk)) << "text " << show(c["text"]);
      if (clean) {
        EXPECT_EQ(chunk.find("\xEF\xBF\xBD"), std::string::npos) << "text " << show(c["text"]);
      }
      all += chunk;
    }
    const std::string rest = stream.finish();
    EXPECT_TRUE(owl::tok::is_valid_utf8(rest));
    all += rest;
    EXPECT_EQ(all, tok.decode(ids)) << "text " << show(c["text"]);
  }
}

// With the first half of the ids as context, the stream returns only the rest of the text,
// with the spacing that decoding everything together gives.
TEST_P(TokenizerGolden, StreamDecoderWithContext) {
  const auto& tok = load(GetParam());
  size_t checked = 0;
  for (const auto& c : golden(GetParam())["cases"]) {
    const auto ids = ids_of(c["ids"]);
    if (ids.size() < 4) continue;
    const std::span<const int32_t> all_ids(ids);
    const auto context = all_ids.first(ids.size() / 2);
    const std::string full = tok.decode(all_ids), head = tok.decode(context);
    // Only meaningful where the context decodes to a clean prefix of the whole text.
    if (full.compare(0, head.size(), head) != 0 || head.find("\xEF\xBF\xBD") != std::string::npos) continue;
    owl::stream_decoder stream(tok, context);
    std::string out;
    for (const int32_t id : all_ids.subspan(context.size())) out += stream.push(id);
    out += stream.finish();
    EXPECT_EQ(out, full.substr(head.size())) << "text " << show(c["text"]);
    ++checked;
  }
  EXPECT_GT(checked, 10u);
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, TokenizerGolden, ::testing::ValuesIn(golden_names),
                         [](const auto& info) { return info.param; });

TEST(TokenizerStories, PromptsAndGreedyText) {
  const auto& tok = load("stories260K");
  const json g = owl::test::read_json(owl::test::fixtures() / "golden" / "stories260K.json");
  for (const auto& c : g["cases"]) {
    EXPECT_EQ(tok.encode(c["prompt"].get<std::string>(), true), ids_of(c["prompt_ids"])) << show(c["prompt"]);
    EXPECT_EQ(tok.decode(ids_of(c["greedy_ids"])), c["greedy_text"].get<std::string>()) << show(c["prompt"]);
  }
  const auto& p = g["perplexity_case"];
  EXPECT_EQ(tok.encode(p["text"].get<std::string>(), true), ids_of(p["ids"]));
  EXPECT_EQ(tok.bos_id(), 1);
  EXPECT_EQ(tok.eos_id(), 2);
  EXPECT_EQ(tok.bos_token(), "<s>");
  EXPECT_EQ(tok.vocab_size(), 512u);
}

TEST(TokenizerStories, StreamWithPromptContext) {
  const auto& tok = load("stories260K");
  const json g = owl::test::read_json(owl::test::fixtures() / "golden" / "stories260K.json");
  for (const auto& c : g["cases"]) {
    const auto prompt = ids_of(c["prompt_ids"]);
    const auto greedy = ids_of(c["greedy_ids"]);
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), greedy.begin(), greedy.end());
    owl::stream_decoder stream(tok, prompt);
    std::string out;
    for (const int32_t id : greedy) out += stream.push(id);
    out += stream.finish();
    const std::string head = tok.decode(prompt), full = tok.decode(all);
    ASSERT_EQ(full.compare(0, head.size(), head), 0);
    EXPECT_EQ(out, full.substr(head.size())) << show(c["prompt"]);
  }
}

TEST(TokenizerSpecials, BosEosAndSpecialFlags) {
  const auto& llama = load("llama3_1");
  EXPECT_EQ(llama.bos_id(), 128000);
  EXPECT_EQ(llama.eos_token(), "<|eot_id|>");
  EXPECT_EQ(llama.eos_id(), 128009);
  EXPECT_TRUE(llama.is_special(128000));
  EXPECT_FALSE(llama.is_special(1000));
  EXPECT_EQ(llama.vocab_size(), 128256u);
  // decode(skip_special_tokens) drops the specials only.
  const auto ids = llama.encode("<|begin_of_text|>Hello<|eot_id|>", false);
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(llama.decode(ids, false), "<|begin_of_text|>Hello<|eot_id|>");
  EXPECT_EQ(llama.decode(ids, true), "Hello");

  // deepseek: bos_token is an {"content": ...} object; add_bos_token adds exactly one BOS.
  const auto& ds = load("deepseek_v3");
  ASSERT_TRUE(ds.bos_id().has_value());
  EXPECT_EQ(*ds.bos_id(), 0);
  const auto with = ds.encode("Hi", true);
  ASSERT_FALSE(with.empty());
  EXPECT_EQ(with[0], 0);
  EXPECT_NE(with.size() > 1 ? with[1] : -1, 0);

  // qwen3 has no BOS; gpt2 has no tokenizer_config.json.
  EXPECT_FALSE(load("qwen3").bos_id().has_value());
  EXPECT_EQ(load("gpt2").bos_token(), "");
}

// Invalid UTF-8 input is encoded as if each bad sequence were U+FFFD, never a crash.
TEST(TokenizerSpecials, InvalidUtf8Input) {
  for (const auto& name : {"mistral", "llama3_1"}) {
    const auto& tok = load(name);
    EXPECT_EQ(tok.encode("a\xFF" "b", false), tok.encode("a\xEF\xBF\xBD" "b", false)) << name;
    EXPECT_NO_THROW(tok.decode(std::vector<int32_t>{-5, 1, 99999999}));
  }
}

// A prompt of many thousand tokens, and a single huge "word" (SentencePiece-style models have
// no pre-tokenizer), must encode quickly: the merge loop is O(n log n).
TEST(TokenizerSpecials, LongInputs) {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "The quick brown fox jumps over the lazy dog " + std::to_string(i) + ". ";
  for (const auto& name : golden_names) {
    const auto& tok = load(name);
    const auto ids = tok.encode(text, false);
    EXPECT_GT(ids.size(), 10000u) << name;
    EXPECT_EQ(tok.decode(ids), text) << name;
  }
  const std::string word(200000, 'a');
  const auto ids = load("mistral").encode(word, false);
  EXPECT_LT(ids.size(), 50000u);
  EXPECT_EQ(load("mistral").decode(ids), word);
}

// encode() is const and may run on several threads at once (word cache, per-thread JIT stack).
TEST(TokenizerSpecials, ConcurrentEncode) {
  for (const auto& name : {"llama3_1", "mistral"}) {
    const auto& tok = load(name);
    const auto& cases = golden(name)["cases"];
    std::vector<std::thread> threads;
    std::vector<int> mismatches(4, 0);
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int round = 0; round < 5; ++round)
          for (const auto& c : cases)
            mismatches[t] += tok.encode(c["text"].get<std::string>(), false) != ids_of(c["ids"]);
      });
    }
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) EXPECT_EQ(mismatches[t], 0) << name << " thread " << t;
  }
}

}  // namespace
