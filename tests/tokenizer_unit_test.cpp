// tokenizer_unit_test.cpp — the tokenizer components one by one (examples from the
// `tokenizers` documentation and tests), error reporting, and hostile inputs.
#include <gtest/gtest.h>

#include <chrono>

#include "owl/error.h"
#include "owl/tokenizer.h"
#include "test_util.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace {

using nlohmann::json;
namespace tok = owl::tok;

const tok::json_path here{"test.json", "component"};

std::vector<std::string> pre_tokenize(const json& j, const std::string& text) {
  auto pt = tok::make_pre_tokenizer(j, here);
  std::vector<tok::piece> pieces{{text, -1, true}};
  pt->pre_tokenize(pieces);
  std::vector<std::string> out;
  for (const auto& p : pieces) out.push_back(p.text);
  return out;
}

std::string normalize(const json& j, std::string text) {
  tok::make_normalizer(j, here)->normalize(text);
  return text;
}

std::vector<std::string> decode_chain(const json& j, std::vector<std::string> tokens) {
  tok::make_decoder(j, here)->decode_chain(tokens);
  return tokens;
}

json split_json(const std::string& behavior, bool invert = false) {
  return {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}};
}

TEST(TokenizerPreTokenizers, SplitBehaviors) {
  const std::string text = "the-final--countdown";
  EXPECT_EQ(pre_tokenize(split_json("Removed"), text), (std::vector<std::string>{"the", "final", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_json("Isolated"), text),
            (std::vector<std::string>{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_json("MergedWithPrevious"), text),
            (std::vector<std::string>{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pre_tokenize(split_json("MergedWithNext"), text),
            (std::vector<std::string>{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pre_tokenize(split_json("Contiguous"), text),
            (std::vector<std::string>{"the", "-", "final", "--", "countdown"}));
  // invert: the pattern marks what to keep.
  EXPECT_EQ(pre_tokenize(split_json("Removed", true), text), (std::vector<std::string>{"-", "-", "-"}));
}

TEST(TokenizerPreTokenizers, SplitRegexAndGpt2Lookahead) {
  const json j = {{"type", "Split"},
                  {"pattern", {{"Regex", R"( ?\p{L}+|\s+(?!\S)|\s+)"}}},
                  {"behavior", "Isolated"},
                  {"invert", false}};
  // \s+(?!\S) leaves the last space to start the next word.
  EXPECT_EQ(pre_tokenize(j, "a   b"), (std::vector<std::string>{"a", "  ", " b"}));
  EXPECT_EQ(pre_tokenize(j, "a  "), (std::vector<std::string>{"a", "  "}));
}

TEST(TokenizerPreTokenizers, ByteLevel) {
  const json j = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  EXPECT_EQ(pre_tokenize(j, "Hello my friend, how is your day going?"),
            (std::vector<std::string>{"\xC4\xA0Hello", "\xC4\xA0my", "\xC4\xA0" "friend", ",", "\xC4\xA0how",
                                      "\xC4\xA0is", "\xC4\xA0your", "\xC4\xA0" "day", "\xC4\xA0going", "?"}));
  const json no_regex = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  EXPECT_EQ(pre_tokenize(no_regex, "a b\n"), (std::vector<std::string>{"a\xC4\xA0" "b\xC4\x8A"}));
}

TEST(TokenizerPreTokenizers, Metaspace) {
  const json j = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
  EXPECT_EQ(pre_tokenize(j, "Hey friend!"), (std::vector<std::string>{"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!"}));
  EXPECT_EQ(pre_tokenize(j, "Hey   friend!"),
            (std::vector<std::string>{"\xE2\x96\x81Hey", "\xE2\x96\x81", "\xE2\x96\x81", "\xE2\x96\x81" "friend!"}));
  json never = j;
  never["prepend_scheme"] = "never";
  never["split"] = false;
  EXPECT_EQ(pre_tokenize(never, "Hey friend"), (std::vector<std::string>{"Hey\xE2\x96\x81" "friend"}));
  // "first": only the piece that starts the input gets the prefix.
  json first = j;
  first["prepend_scheme"] = "first";
  auto pt = tok::make_pre_tokenizer(first, here);
  std::vector<tok::piece> pieces{{"a", -1, true}, {"<x>", 7, false}, {"b", -1, false}};
  pt->pre_tokenize(pieces);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].text, "\xE2\x96\x81" "a");
  EXPECT_EQ(pieces[1].id, 7);
  EXPECT_EQ(pieces[2].text, "b");
}

// The example from tokenizers' own Metaspace tests: " Hey <s>how <s>are <s> you" cut at "<s>",
// then Metaspace(first, split=false).
TEST(TokenizerPreTokenizers, MetaspaceFirstAfterSplits) {
  const json j = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}, {"split", false}};
  std::vector<tok::piece> pieces;
  tok::split_piece({" Hey <s>how <s>are <s> you", -1, true},
                   tok::regex("<s>", "t").find_matches(" Hey <s>how <s>are <s> you"), tok::split_behavior::isolated,
                   pieces);
  tok::make_pre_tokenizer(j, here)->pre_tokenize(pieces);
  std::vector<std::string> texts;
  for (const auto& p : pieces) texts.push_back(p.text);
  const std::string m = "\xE2\x96\x81";
  EXPECT_EQ(texts, (std::vector<std::string>{m + "Hey" + m, "<s>", "how" + m, "<s>", "are" + m, "<s>", m + "you"}));
}

TEST(TokenizerPreTokenizers, DigitsPunctuationWhitespace) {
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", true}}, "Hey 123 friend!"),
            (std::vector<std::string>{"Hey ", "1", "2", "3", " friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Digits"}, {"individual_digits", false}}, "Hey 123 friend!"),
            (std::vector<std::string>{"Hey ", "123", " friend!"}));
  EXPECT_EQ(pre_tokenize({{"type", "Punctuation"}, {"behavior", "Isolated"}}, "Hey friend!     How are you?!?"),
            (std::vector<std::string>{"Hey friend", "!", "     How are you", "?", "!", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "Hey man! How are you doing?"),
            (std::vector<std::string>{"Hey", "man", "!", "How", "are", "you", "doing", "?"}));
  EXPECT_EQ(pre_tokenize({{"type", "Whitespace"}}, "\n"), std::vector<std::string>{});
  EXPECT_EQ(pre_tokenize({{"type", "WhitespaceSplit"}}, "Hey man!\u00a0ok"),
            (std::vector<std::string>{"Hey", "man!", "ok"}));
  const json seq = {{"type", "Sequence"},
                    {"pretokenizers", {{{"type", "WhitespaceSplit"}}, {{"type", "Digits"}, {"individual_digits", true}}}}};
  EXPECT_EQ(pre_tokenize(seq, "ab12 c"), (std::vector<std::string>{"ab", "1", "2", "c"}));
}

TEST(TokenizerNormalizers, Components) {
  EXPECT_EQ(normalize({{"type", "NFC"}}, "e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(normalize({{"type", "NFD"}}, "\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(normalize({{"type", "NFKC"}}, "\xEF\xAC\x81"), "fi");  // the "fi" ligature
  EXPECT_EQ(normalize({{"type", "NFKD"}}, "\xC2\xB2"), "2");
  EXPECT_EQ(normalize({{"type", "Lowercase"}}, "HeLLo \xC3\x89\xC4\xB0"), "hello \xC3\xA9i\xCC\x87");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", false}}, "  a  "), "a  ");
  EXPECT_EQ(normalize({{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}}, "\u3000 a \n"), "a");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, "a"), "_a");
  EXPECT_EQ(normalize({{"type", "Prepend"}, {"prepend", "_"}}, ""), "");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "_"}}, "a b  c"), "a_b__c");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", " "}}, "a  b   c"), "a b c");
  EXPECT_EQ(normalize({{"type", "Replace"}, {"pattern", {{"String", "."}}}, {"content", "!"}}, "a.b*c"), "a!b*c");
  EXPECT_EQ(normalize({{"type", "Sequence"}, {"normalizers", {{{"type", "NFD"}}, {{"type", "StripAccents"}}}}}, "caf\xC3\xA9"),
            "cafe");
}

TEST(TokenizerDecoders, Components) {
  EXPECT_EQ(decode_chain({{"type", "ByteFallback"}}, {"<0x61>"}), std::vector<std::string>{"a"});
  EXPECT_EQ(decode_chain({{"type", "ByteFallback"}}, {"<0xE5>"}), std::vector<std::string>{"\xEF\xBF\xBD"});
  EXPECT_EQ(decode_chain({{"type", "ByteFallback"}}, {"<0xE5>", "<0x8f>", "a"}),
            (std::vector<std::string>{"\xEF\xBF\xBD", "\xEF\xBF\xBD", "a"}));
  EXPECT_EQ(decode_chain({{"type", "ByteFallback"}}, {"<0xE5>", "<0x8f>", "<0xab>", "a"}),
            (std::vector<std::string>{"\xE5\x8F\xAB", "a"}));
  EXPECT_EQ(decode_chain({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 1}}, {"  a  ", " "}),
            (std::vector<std::string>{" a ", ""}));
  EXPECT_EQ(decode_chain({{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}},
                         {"\xE2\x96\x81Hey", "\xE2\x96\x81" "friend!"}),
            (std::vector<std::string>{"Hey", " friend!"}));
  EXPECT_EQ(decode_chain({{"type", "ByteLevel"}}, {"\xC4\xA0Hello", "\xC4\xA0w", "orld", "\xC4\x8A"}),
            std::vector<std::string>{" Hello world\n"});
  // "Ģ" stands for byte 0x80: a lone continuation byte becomes U+FFFD (String::from_utf8_lossy).
  EXPECT_EQ(decode_chain({{"type", "ByteLevel"}}, {"a\xC4\xA2"}), std::vector<std::string>{"a\xEF\xBF\xBD"});
  EXPECT_EQ(decode_chain({{"type", "WordPiece"}, {"prefix", "##"}, {"cleanup", true}}, {"un", "##able", "to", "."}),
            (std::vector<std::string>{"un", "able", " to", "."}));
  EXPECT_EQ(decode_chain({{"type", "Fuse"}}, {"a", "b"}), std::vector<std::string>{"ab"});
}

TEST(TokenizerUnicode, LossyUtf8LikeRust) {
  EXPECT_EQ(tok::to_valid_utf8("ab"), "ab");
  EXPECT_EQ(tok::to_valid_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD");         // truncated: one U+FFFD
  EXPECT_EQ(tok::to_valid_utf8("\xF0\x9F\x98" "a"), "\xEF\xBF\xBD" "a");
  EXPECT_EQ(tok::to_valid_utf8("\xC0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong: per byte
  EXPECT_EQ(tok::to_valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_FALSE(tok::is_valid_utf8("\xE2\x82"));
  EXPECT_TRUE(tok::is_valid_utf8("\xE2\x82\xAC"));
}

// --- whole tokenizers built from small JSON ---------------------------------------------------

// A byte-level BPE over the characters of "abc <>/mask" with merges "a b" and "ab c".
json tiny_tokenizer() {
  json vocab = json::object();
  int id = 0;
  for (const char* t : {"a", "b", "c", "\xC4\xA0", "<", ">", "m", "s", "k", "/", "ab", "abc"}) vocab[t] = id++;
  return {{"version", "1.0"},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a b", "ab c"}}}}};
}

std::unique_ptr<owl::tokenizer> load(const json& j, const std::string& config = "") {
  return owl::tokenizer::from_json(j.dump(), config, "test");
}

TEST(TokenizerModel, MergesAsStringsOrPairs) {
  auto j = tiny_tokenizer();
  EXPECT_EQ(load(j)->encode("abc ab", false), (std::vector<int32_t>{11, 3, 10}));
  j["model"]["merges"] = json::array({json::array({"a", "b"}), json::array({"ab", "c"})});
  EXPECT_EQ(load(j)->encode("abc ab", false), (std::vector<int32_t>{11, 3, 10}));
  EXPECT_EQ(load(j)->decode(std::vector<int32_t>{11, 3, 10}), "abc ab");
}

TEST(TokenizerModel, ByteFallbackAndUnk) {
  json vocab = {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0xA9>", 3}};
  json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}, {"unk_token", "<unk>"},
                       {"byte_fallback", true}, {"fuse_unk", true}}}};
  EXPECT_EQ(load(j)->encode("a\xC3\xA9" "a", false), (std::vector<int32_t>{1, 2, 3, 1}));
  EXPECT_EQ(load(j)->encode("axya", false), (std::vector<int32_t>{1, 0, 1}));  // unknowns fused
  j["model"]["fuse_unk"] = false;
  EXPECT_EQ(load(j)->encode("axya", false), (std::vector<int32_t>{1, 0, 0, 1}));
  j["model"]["unk_token"] = nullptr;
  EXPECT_EQ(load(j)->encode("axya", false), (std::vector<int32_t>{1, 1}));  // dropped
}

TEST(TokenizerModel, SubwordPrefixAndSuffix) {
  json vocab = {{"a", 0}, {"##b", 1}, {"##c", 2}, {"a##b", 3}, {"ab", 4}};
  json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"a ##b"}}, {"continuing_subword_prefix", "##"}}}};
  EXPECT_EQ(load(j)->encode("abc", false), (std::vector<int32_t>{4, 2}));
  json vocab2 = {{"a", 0}, {"b</w>", 1}, {"ab</w>", 2}};
  json j2 = {{"model", {{"type", "BPE"}, {"vocab", vocab2}, {"merges", {"a b</w>"}}, {"end_of_word_suffix", "</w>"}}},
             {"decoder", {{"type", "BPEDecoder"}, {"suffix", "</w>"}}}};
  EXPECT_EQ(load(j2)->encode("ab", false), (std::vector<int32_t>{2}));
  EXPECT_EQ(load(j2)->decode(std::vector<int32_t>{2, 2}), "ab ab");
}

TEST(TokenizerAddedTokens, StripSingleWordNormalized) {
  auto j = tiny_tokenizer();
  j["added_tokens"] = {{{"id", 20}, {"content", "<mask>"}, {"lstrip", true}, {"rstrip", false}, {"single_word", false},
                        {"normalized", false}, {"special", true}},
                       {{"id", 21}, {"content", "cab"}, {"lstrip", false}, {"rstrip", true}, {"single_word", true},
                        {"normalized", true}, {"special", false}}};
  const auto t = load(j);
  // lstrip swallows the spaces before <mask>.
  EXPECT_EQ(t->encode("a  <mask>b", false), (std::vector<int32_t>{0, 20, 1}));
  // single_word: "cab" inside a word is not the added token; standing alone it is, and
  // rstrip swallows the following space.
  EXPECT_EQ(t->encode("acab", false), (std::vector<int32_t>{0, 2, 10}));
  EXPECT_EQ(t->encode("a cab b", false), (std::vector<int32_t>{0, 3, 21, 1}));
  EXPECT_TRUE(t->is_special(20));
  EXPECT_FALSE(t->is_special(21));
  EXPECT_EQ(t->decode(std::vector<int32_t>{0, 20, 1}, true), "ab");
  EXPECT_EQ(t->token_id("<mask>"), 20);
  EXPECT_EQ(t->vocab_size(), 22u);
  // Longest match wins among overlapping added tokens.
  j["added_tokens"].push_back({{"id", 22}, {"content", "<mask>ab"}, {"special", true}, {"normalized", false}});
  EXPECT_EQ(load(j)->encode("<mask>abc", false), (std::vector<int32_t>{22, 2}));
}

TEST(TokenizerPostProcessor, TemplateAndConfigBos) {
  auto j = tiny_tokenizer();
  j["added_tokens"] = {{{"id", 12}, {"content", "<s>"}, {"special", true}, {"normalized", false}},
                       {{"id", 13}, {"content", "</s>"}, {"special", true}, {"normalized", false}}};
  j["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"pair", json::array()},
      {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {12}}, {"tokens", {"<s>"}}}}}}};
  const std::string config = R"({"add_bos_token": true, "add_eos_token": true, "bos_token": "<s>",
                                 "eos_token": {"content": "</s>"}})";
  const auto t = load(j, config);
  // The template adds BOS, add_bos_token must not add another; add_eos_token adds EOS.
  EXPECT_EQ(t->encode("ab", true), (std::vector<int32_t>{12, 10, 13}));
  EXPECT_EQ(t->encode("ab", false), (std::vector<int32_t>{10}));
  // Without a post-processor, add_bos_token adds the BOS.
  j["post_processor"] = nullptr;
  EXPECT_EQ(load(j, config)->encode("ab", true), (std::vector<int32_t>{12, 10, 13}));
  // Roberta-style.
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"</s>", 13}}, {"cls", {"<s>", 12}}};
  EXPECT_EQ(load(j)->encode("ab", true), (std::vector<int32_t>{12, 10, 13}));
}

// --- errors: one clear owl::error naming the problem, never a crash ---------------------------

std::string load_error_text(const std::string& text, const std::string& config = "") {
  try {
    owl::tokenizer::from_json(text, config, "test.json");
  } catch (const owl::error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string load_error(const json& j, const std::string& config = "") { return load_error_text(j.dump(), config); }

TEST(TokenizerErrors, MalformedJson) {
  EXPECT_NE(load_error_text("{\"model\": ").find("malformed JSON"), std::string::npos);
  EXPECT_NE(load_error_text("").find("test.json"), std::string::npos);
  EXPECT_NE(load_error_text("[1, 2]").find("expected an object"), std::string::npos);
  EXPECT_NE(load_error(tiny_tokenizer(), "{oops").find("tokenizer_config.json"), std::string::npos);
  EXPECT_NE(load_error_text(std::string(1000, '[') + std::string(1000, ']')).find("nested deeper"), std::string::npos);
}

TEST(TokenizerErrors, UnknownComponentsAreNamed) {
  auto j = tiny_tokenizer();
  j["model"]["type"] = "Unigram";
  const std::string model = load_error(j);
  EXPECT_NE(model.find("model.type"), std::string::npos) << model;
  EXPECT_NE(model.find("unsupported model type 'Unigram'"), std::string::npos) << model;

  j = tiny_tokenizer();
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Foo"}}}}};
  const std::string norm = load_error(j);
  EXPECT_NE(norm.find("normalizer.normalizers[1].type"), std::string::npos) << norm;
  EXPECT_NE(norm.find("unsupported normalizer 'Foo'"), std::string::npos) << norm;
  EXPECT_NE(norm.find("NFKC"), std::string::npos) << norm;  // the hint lists what works

  j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "UnicodeScripts"}};
  EXPECT_NE(load_error(j).find("unsupported pre-tokenizer 'UnicodeScripts'"), std::string::npos);
  j = tiny_tokenizer();
  j["decoder"] = {{"type", "CTC"}};
  EXPECT_NE(load_error(j).find("unsupported decoder 'CTC'"), std::string::npos);
  j = tiny_tokenizer();
  j["post_processor"] = {{"type", "Magic"}};
  EXPECT_NE(load_error(j).find("unsupported post-processor 'Magic'"), std::string::npos);
}

TEST(TokenizerErrors, BadRegex) {
  auto j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  const std::string msg = load_error(j);
  EXPECT_NE(msg.find("pre_tokenizer.pattern"), std::string::npos) << msg;
  EXPECT_NE(msg.find("invalid regex"), std::string::npos) << msg;
}

TEST(TokenizerErrors, WrongTypesAndRanges) {
  auto j = tiny_tokenizer();
  j["model"]["vocab"] = json::array();
  EXPECT_NE(load_error(j).find("model.vocab"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"]["a"] = -3;
  EXPECT_NE(load_error(j).find("out-of-range id"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"]["a"] = 4000000000LL;
  EXPECT_NE(load_error(j).find("out-of-range id"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["vocab"]["zz"] = 1 << 30;  // a hole of a billion ids
  EXPECT_NE(load_error(j).find("sparse"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["merges"] = {"a x"};
  EXPECT_NE(load_error(j).find("not in the vocabulary"), std::string::npos);
  j["model"]["merges"] = {"a b c"};
  EXPECT_NE(load_error(j).find("model.merges[0]"), std::string::npos);
  j = tiny_tokenizer();
  j["model"]["byte_fallback"] = "yes";
  EXPECT_NE(load_error(j).find("expected a boolean"), std::string::npos);
  j = tiny_tokenizer();
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<s>"}}}}}},
                         {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {999999}}}}}}};
  EXPECT_NE(load_error(j).find("out of range"), std::string::npos);
  j = tiny_tokenizer();
  j["added_tokens"] = {{{"id", "x"}, {"content", "<s>"}}};
  EXPECT_NE(load_error(j).find("added_tokens[0].id"), std::string::npos);
  j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  EXPECT_NE(load_error(j).find("unknown split behavior"), std::string::npos);
}

TEST(TokenizerErrors, MissingFiles) {
  try {
    owl::tokenizer::from_dir("/nonexistent/owl-model");
    FAIL() << "expected owl::error";
  } catch (const owl::error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos);
  }
}

// --- hostile inputs --------------------------------------------------------------------------

TEST(TokenizerHostile, DeeplyNestedSequences) {
  json inner = {{"type", "NFC"}};
  for (int i = 0; i < 60; ++i) inner = {{"type", "Sequence"}, {"normalizers", {inner}}};
  auto j = tiny_tokenizer();
  j["normalizer"] = inner;
  EXPECT_NE(load_error(j).find("nested too deeply"), std::string::npos);
}

TEST(TokenizerHostile, CatastrophicRegexBecomesAnError) {
  auto j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(a|aa)+$"}}}, {"behavior", "Isolated"}};
  const auto t = load(j);
  const auto start = std::chrono::steady_clock::now();
  try {
    t->encode(std::string(64, 'a') + "b", false);
    FAIL() << "expected owl::error";
  } catch (const owl::error& e) {
    EXPECT_NE(std::string(e.what()).find("backtracking"), std::string::npos) << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(TokenizerHostile, EmptyMatchesTerminate) {
  auto j = tiny_tokenizer();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "x*"}}}, {"behavior", "Isolated"}};
  EXPECT_EQ(load(j)->encode("abc", false), (std::vector<int32_t>{0, 1, 2}));
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", ""}}}, {"behavior", "Removed"}};
  EXPECT_EQ(load(j)->encode("abc", false), (std::vector<int32_t>{0, 1, 2}));
}

TEST(TokenizerHostile, HugeRepetition) {
  auto j = tiny_tokenizer();
  const auto t = load(j);
  const std::string text(300000, 'a');
  const auto start = std::chrono::steady_clock::now();
  const auto ids = t->encode(text + "b", false);
  EXPECT_EQ(ids.size(), 300000u);  // "aa" is no merge: 299999 x "a", then "ab"
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(TokenizerRegex, OnigurumaTranslation) {
  // \s is White_Space (includes U+0085), \h is a hex digit in Ruby syntax.
  tok::regex s(R"(\s+)", "t");
  EXPECT_EQ(s.find_all("a\xC2\x85 b").size(), 1u);
  tok::regex h(R"(\h+)", "t");
  ASSERT_EQ(h.find_all("xx1fz").size(), 1u);
  EXPECT_EQ(h.find_all("xx1fz")[0], (std::pair<size_t, size_t>{2, 4}));
  tok::regex u(R"(\u00e9)", "t");
  EXPECT_EQ(u.find_all("caf\xC3\xA9").size(), 1u);
  tok::regex cls(R"([^\s\p{L}]+)", "t");
  EXPECT_EQ(cls.find_all("ab 12!").size(), 1u);
  // Ruby syntax: ^ / $ are line anchors, (?m) makes . match newlines.
  EXPECT_EQ(tok::regex("^a$", "t").find_all("a\na").size(), 2u);
  EXPECT_EQ(tok::regex("(?m:a.b)", "t").find_all("a\nb").size(), 1u);
  EXPECT_EQ(tok::regex("(?i)A", "t").find_all("aA").size(), 2u);
  EXPECT_EQ(tok::translate_oniguruma("(?mi:x)"), "(?si:x)");
  EXPECT_THROW(tok::regex("a\\Cb", "t"), owl::error);
}

}  // namespace
