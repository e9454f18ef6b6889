// json_constraint_test.cpp — constrained decoding for response_format json_object/json_schema.
//
// 1. The byte automaton on hand-written documents: a vocabulary of the 256 single bytes (plus
//    one end token) lets each document be fed byte by byte through mask()/accept(), so a
//    document is accepted exactly when every byte was allowed and the value is complete.
// 2. Random walks with real tokenizers: random logits, mask(), a seeded pick among the allowed
//    tokens, until the end token is picked; the text must parse and satisfy the schema (checked
//    by a small validator below, independent of the automaton).
// 3. Unsupported keywords throw; mask() timing on the 128k Llama 3.1 vocabulary.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <mutex>
#include <random>

#include "owl/error.h"
#include "owl/tokenizer.h"
#include "server/json_constraint.h"
#include "constraint_test_util.h"
#include "test_util.h"

namespace {

using owl::test::load;
using owl::test::pick;
using owl::test::validate;

using nlohmann::json;
using owl::server::make_json_constraint;
using owl::server::token_vocabulary;

constexpr int32_t byte_end = 256;

std::shared_ptr<const token_vocabulary> byte_vocab() {
  static auto vocab = [] {
    std::vector<std::string> bytes;
    for (int b = 0; b < 256; ++b) bytes.emplace_back(1, static_cast<char>(b));
    bytes.emplace_back("<end>");
    std::vector<bool> special(257, false);
    special[byte_end] = true;
    return std::make_shared<const token_vocabulary>(std::move(bytes), std::move(special));
  }();
  return vocab;
}

// Whether `doc` is accepted, fed one byte per step; also checks that complete() agrees.
bool accepts(const json* schema, const std::string& doc) {
  auto c = make_json_constraint(byte_vocab(), schema, {byte_end});
  std::vector<float> logits(257);
  for (char ch : doc) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c->mask(logits);
    if (std::isinf(logits[static_cast<uint8_t>(ch)])) return false;
    c->accept(static_cast<uint8_t>(ch));
  }
  std::fill(logits.begin(), logits.end(), 0.0f);
  c->mask(logits);
  const bool end_allowed = !std::isinf(logits[byte_end]);
  EXPECT_EQ(end_allowed, c->complete()) << doc;
  return c->complete();
}

bool accepts(const json& schema, const std::string& doc) { return accepts(&schema, doc); }


// ------------------------------------------------------------------- byte automaton tests

TEST(JsonConstraintBytes, AnyObject) {
  for (const char* ok : {"{}", "{\"a\":1}", "{ \"a\" : [1, 2.5e-3, -0, true, false, null, \"x\"], \"b\": {}}",
                         "{\"\\u00e9\\n\\\"\":{\"\":[]}}", "{\"k\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}",
                         "{\"s\":\"\\ud83d\\ude00\"}", "{\n  \"a\": 1\n}"})
    EXPECT_TRUE(accepts(nullptr, ok)) << ok;
  for (const char* bad : {"[]", "1", "\"x\"", " {}", "{}x", "{} ", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}",
                          "{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}", "{\"a\":+1}", "{\"a\":tru}",
                          "{\"a\":\"\x01\"}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12g4\"}", "{\"a\":\"\\udc00\"}",
                          "{\"a\":\"\\ud83d\"}", "{\"a\":\"\\ud83dx\"}", "{\"a\":\"\xC0\xAF\"}",
                          "{\"a\":\"\xED\xA0\x80\"}", "{\"a\":\"\xE3\x81\"}", "{\"a\":\"\xFF\"}", "{'a':1}",
                          "{\"a\":1}}", "{\"a\":           1}"})
    EXPECT_FALSE(accepts(nullptr, bad)) << bad;
}

TEST(JsonConstraintBytes, ScalarTypes) {
  const json num = {{"type", "number"}}, integer = {{"type", "integer"}}, str = {{"type", "string"}};
  const json boolean = {{"type", "boolean"}}, null = {{"type", "null"}};
  for (const char* ok : {"0", "-0", "12", "-3.25", "1e5", "1E+5", "2.5e-10"}) EXPECT_TRUE(accepts(num, ok)) << ok;
  for (const char* bad : {"01", "-", "1.", "1e", "--1", "Infinity", "NaN", "0x1", "\"1\""})
    EXPECT_FALSE(accepts(num, bad)) << bad;
  for (const char* ok : {"0", "-7", "123456"}) EXPECT_TRUE(accepts(integer, ok)) << ok;
  for (const char* bad : {"1.0", "1e3", "-", "01"}) EXPECT_FALSE(accepts(integer, bad)) << bad;
  EXPECT_TRUE(accepts(str, "\"\""));
  EXPECT_TRUE(accepts(str, "\"a\\/b\\\\c\\t\""));
  EXPECT_FALSE(accepts(str, "\"a"));
  EXPECT_FALSE(accepts(str, "\"a\"\""));
  EXPECT_TRUE(accepts(boolean, "true"));
  EXPECT_TRUE(accepts(boolean, "false"));
  EXPECT_FALSE(accepts(boolean, "null"));
  EXPECT_TRUE(accepts(null, "null"));
  EXPECT_FALSE(accepts(null, "nul"));
  // A number longer than the bound is refused (the model cannot loop on digits).
  EXPECT_FALSE(accepts(num, std::string(40, '1')));
}

TEST(JsonConstraintBytes, StringLengthCountsCodePoints) {
  const json s = {{"type", "string"}, {"minLength", 2}, {"maxLength", 3}};
  EXPECT_FALSE(accepts(s, "\"a\""));
  EXPECT_TRUE(accepts(s, "\"ab\""));
  EXPECT_TRUE(accepts(s, "\"abc\""));
  EXPECT_FALSE(accepts(s, "\"abcd\""));
  EXPECT_TRUE(accepts(s, "\"\xC3\xA9\xE6\x97\xA5\xF0\x9F\x98\x80\""));  // 3 characters, 9 bytes
  EXPECT_TRUE(accepts(s, "\"\\n\\u00e9\""));
  EXPECT_TRUE(accepts(s, "\"\\ud83d\\ude00x\""));  // a surrogate pair is one character
  EXPECT_FALSE(accepts(s, "\"ab\\n\\t\""));
}

TEST(JsonConstraintBytes, ObjectProperties) {
  const json s = json::parse(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},
      "nick":{"type":"string"}},"required":["name","age"]})");
  EXPECT_TRUE(accepts(s, R"({"name":"a","age":3})"));
  EXPECT_TRUE(accepts(s, R"({"age":3,"name":"a"})"));  // any order
  EXPECT_TRUE(accepts(s, R"({"name":"a","nick":"b","age":3})"));
  EXPECT_FALSE(accepts(s, R"({"name":"a"})"));                  // missing required
  EXPECT_FALSE(accepts(s, R"({"name":"a","age":3,"x":1})"));    // additionalProperties defaults to false
  EXPECT_FALSE(accepts(s, R"({"name":"a","age":3,"name":"b"})"));  // each property once
  EXPECT_FALSE(accepts(s, R"({"name":1,"age":3})"));
  EXPECT_FALSE(accepts(s, R"({"nam":"a","age":3})"));
  EXPECT_FALSE(accepts(s, R"({"na\u006de":"a","age":3})"));  // keys are matched as written by dump()
}

TEST(JsonConstraintBytes, AdditionalProperties) {
  const json typed = json::parse(R"({"type":"object","properties":{"kind":{"const":"p"}},"required":["kind"],
      "additionalProperties":{"type":"number"}})");
  EXPECT_TRUE(accepts(typed, R"({"kind":"p","x":1,"y":2.5})"));
  EXPECT_TRUE(accepts(typed, R"({"x":1,"kind":"p"})"));
  EXPECT_FALSE(accepts(typed, R"({"kind":"p","x":"1"})"));
  EXPECT_FALSE(accepts(typed, R"({"kind":"p","kind":"p"})"));   // a declared name is not an extra key
  EXPECT_FALSE(accepts(typed, R"({"kind":"q"})"));
  EXPECT_TRUE(accepts(typed, R"({"kinda":1,"kind":"p"})"));
  const json open = json::parse(R"({"type":"object","properties":{"a":{"type":"null"}},"additionalProperties":true})");
  EXPECT_TRUE(accepts(open, R"({"b":[{}],"a":null})"));
  EXPECT_TRUE(accepts(open, R"({})"));
  const json bare = json::parse(R"({"type":"object"})");
  EXPECT_TRUE(accepts(bare, R"({"anything":[1,{"x":null}]})"));
  const json closed = json::parse(R"({"type":"object","additionalProperties":false})");
  EXPECT_TRUE(accepts(closed, "{}"));
  EXPECT_FALSE(accepts(closed, R"({"a":1})"));
}

TEST(JsonConstraintBytes, Arrays) {
  const json s = json::parse(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})");
  EXPECT_FALSE(accepts(s, "[]"));
  EXPECT_TRUE(accepts(s, "[1]"));
  EXPECT_TRUE(accepts(s, "[1, 2 ,3]"));
  EXPECT_FALSE(accepts(s, "[1,2,3,4]"));
  EXPECT_FALSE(accepts(s, "[1,]"));
  EXPECT_FALSE(accepts(s, "[1.5]"));
  const json any = json::parse(R"({"type":"array"})");
  EXPECT_TRUE(accepts(any, R"([[], {}, "x", 1, null])"));
  EXPECT_TRUE(accepts(any, "[]"));
}

TEST(JsonConstraintBytes, EnumConstAndTypeLists) {
  const json e = json::parse(R"({"enum":["red","green",3,null,{"a":[1]}]})");
  for (const char* ok : {"\"red\"", "\"green\"", "3", "null", "{\"a\":[1]}"}) EXPECT_TRUE(accepts(e, ok)) << ok;
  for (const char* bad : {"\"blue\"", "\"re\"", "30", "{\"a\":[2]}", "{\"a\": [1]}"}) EXPECT_FALSE(accepts(e, bad)) << bad;
  const json typed_enum = json::parse(R"({"type":"string","enum":["a",1]})");
  EXPECT_TRUE(accepts(typed_enum, "\"a\""));
  EXPECT_FALSE(accepts(typed_enum, "1"));
  const json c = json::parse(R"({"const":"caf\u00e9"})");
  EXPECT_TRUE(accepts(c, "\"caf\xC3\xA9\""));
  const json list = json::parse(R"({"type":["string","null"],"maxLength":2})");
  EXPECT_TRUE(accepts(list, "null"));
  EXPECT_TRUE(accepts(list, "\"ab\""));
  EXPECT_FALSE(accepts(list, "\"abc\""));
  EXPECT_FALSE(accepts(list, "1"));
}

TEST(JsonConstraintBytes, AnyOfAndRecursiveRefs) {
  const json s = json::parse(R"({
    "$defs": {"tree": {"type":"object","properties":{"v":{"type":"integer"},
                "kids":{"type":"array","items":{"$ref":"#/$defs/tree"}}},"required":["v"]}},
    "anyOf": [{"$ref":"#/$defs/tree"}, {"type":"object","properties":{"leaf":{"type":"string"}},"required":["leaf"]},
              {"type":"number"}]})");
  EXPECT_TRUE(accepts(s, R"({"v":1})"));
  EXPECT_TRUE(accepts(s, R"({"v":1,"kids":[{"v":2,"kids":[]},{"v":3}]})"));
  EXPECT_TRUE(accepts(s, R"({"leaf":"x"})"));
  EXPECT_TRUE(accepts(s, "2.5"));
  EXPECT_FALSE(accepts(s, R"({"v":1,"leaf":"x"})"));
  EXPECT_FALSE(accepts(s, R"({"v":1,"kids":[{"leaf":"x"}]})"));
  const json defs = json::parse(R"({"definitions":{"n":{"type":"integer"}},"type":"array","items":{"$ref":"#/definitions/n"}})");
  EXPECT_TRUE(accepts(defs, "[1,2]"));
  EXPECT_FALSE(accepts(defs, "[\"1\"]"));
  // Deep nesting ends at the depth limit instead of growing without bound.
  const json deep = json::parse(R"({"$defs":{"a":{"type":"array","items":{"$ref":"#/$defs/a"}}},"$ref":"#/$defs/a"})");
  EXPECT_TRUE(accepts(deep, "[[[[]]]]"));
  EXPECT_FALSE(accepts(deep, std::string(200, '[') + std::string(200, ']')));
}

TEST(JsonConstraintBytes, WhitespaceIsBounded) {
  EXPECT_TRUE(accepts(nullptr, "{\"a\":\n    1}"));
  EXPECT_FALSE(accepts(nullptr, "{\"a\":\n" + std::string(10, ' ') + "1}"));
}

TEST(JsonConstraintBytes, EndOnlyWhenComplete) {
  auto c = make_json_constraint(byte_vocab(), nullptr, {byte_end});
  std::vector<float> logits(300, 0.0f);  // wider than the vocabulary: the padding rows are masked too
  c->mask(logits);
  EXPECT_TRUE(std::isinf(logits[byte_end]));
  EXPECT_FALSE(std::isinf(logits['{']));
  EXPECT_TRUE(std::isinf(logits[299]));
  for (char ch : std::string("{}")) c->accept(static_cast<uint8_t>(ch));
  std::fill(logits.begin(), logits.end(), 0.0f);
  c->mask(logits);
  EXPECT_TRUE(c->complete());
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_EQ(std::isinf(logits[i]), i != byte_end) << i;
}

TEST(JsonConstraintBytes, NoWayForwardAllowsEnd) {
  // A vocabulary that cannot spell '}' after '{': the end token is the way out.
  std::vector<std::string> bytes = {"{", "a", "<end>"};
  auto vocab = std::make_shared<const token_vocabulary>(bytes, std::vector<bool>{false, false, true});
  auto c = make_json_constraint(vocab, nullptr, {2});
  c->accept(0);
  std::vector<float> logits(3, 0.0f);
  c->mask(logits);
  EXPECT_TRUE(std::isinf(logits[0]));
  EXPECT_TRUE(std::isinf(logits[1]));
  EXPECT_FALSE(std::isinf(logits[2]));
  EXPECT_FALSE(c->complete());
}

TEST(JsonConstraintSchema, UnsupportedKeywordsThrow) {
  for (const char* schema :
       {R"({"type":"string","pattern":"^a"})", R"({"type":"number","minimum":0})", R"({"allOf":[{}]})",
        R"({"not":{}})", R"({"type":"object","patternProperties":{}})", R"({"$ref":"http://x/y.json"})",
        R"({"type":"array","items":[{}]})", R"({"type":"array","uniqueItems":true})", R"({"type":"strange"})",
        R"({"type":"object","properties":{"a":{}},"required":["b"]})", R"({"$ref":"#/$defs/missing"})", "false"}) {
    const json s = json::parse(schema);
    try {
      make_json_constraint(byte_vocab(), &s, {byte_end});
      ADD_FAILURE() << "accepted " << schema;
    } catch (const owl::error& e) {
      const std::string what = e.what();
      if (s.is_object() && s.contains("pattern")) {
        EXPECT_NE(what.find("'pattern'"), std::string::npos) << what;
      }
    }
  }
  EXPECT_THROW(make_json_constraint(byte_vocab(), nullptr, {}), owl::error);
  // Annotations and format are fine.
  const json ok = json::parse(R"({"type":"string","format":"date","description":"d","title":"t","default":"x"})");
  EXPECT_NO_THROW(make_json_constraint(byte_vocab(), &ok, {byte_end}));
}

// ------------------------------------------------------------------- real tokenizers


TEST(JsonConstraintVocabulary, TokenBytesReassembleText) {
  const std::string text = "{\"name\": \"caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\xA6\x89\", \"n\": [1, 2.5]}\n\tend";
  for (const std::string name : {"mistral", "llama3_1", "qwen3"}) {
    const auto& m = load(name);
    const auto ids = m.tok->encode(text, false);
    std::string joined;
    for (int32_t id : ids) joined += m.vocab->bytes(id);
    // SentencePiece prepends a space to the text it encodes; mid-text tokens keep theirs.
    const std::string expected = name == "mistral" ? " " + text : text;
    EXPECT_EQ(joined, expected) << name;
    EXPECT_FALSE(m.vocab->is_special(ids[0]));
    if (auto eos = m.tok->eos_id()) {
      EXPECT_TRUE(m.vocab->is_special(*eos)) << name;
    }
  }
  const auto& mistral = load("mistral");
  EXPECT_EQ(mistral.vocab->bytes(*mistral.tok->token_id("<0xE4>")), "\xE4");
  EXPECT_EQ(mistral.vocab->bytes(*mistral.tok->token_id("\xE2\x96\x81the")), " the");
  const auto& llama = load("llama3_1");
  EXPECT_EQ(llama.vocab->bytes(*llama.tok->token_id("\xC4\xA0the")), " the");
}


const std::vector<std::pair<std::string, json>>& walk_schemas() {
  static const std::vector<std::pair<std::string, json>> schemas = {
      {"json_object", nullptr},
      {"person", json::parse(R"({"type":"object","properties":{
          "name":{"type":"string","maxLength":12},"age":{"type":"integer"},
          "email":{"type":["string","null"],"maxLength":20},
          "tags":{"type":"array","items":{"enum":["a","b","caf\u00e9","\u65e5\u672c"]},"maxItems":3},
          "active":{"type":"boolean"}},"required":["name","age","active"]})")},
      {"tree", json::parse(R"({"$defs":{"node":{"type":"object","properties":{"value":{"type":"number"},
          "children":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["value"]}},
          "$ref":"#/$defs/node"})")},
      {"list", json::parse(R"({"type":"array","items":{"type":["string","null","integer"],"minLength":2,"maxLength":8},
          "minItems":1,"maxItems":4})")},
      // "kind" is optional here: a random walk would rarely spell a required name among the
      // free keys (JsonConstraintBytes.AdditionalProperties covers required + additional).
      {"extra", json::parse(R"({"type":"object","properties":{"kind":{"const":"point"}},
          "additionalProperties":{"type":"number"}})")},
      {"choice", json::parse(R"({"anyOf":[{"type":"object","properties":{"ok":{"const":true},
          "result":{"type":"string","minLength":1,"maxLength":5}},"required":["ok","result"]},
          {"type":"object","properties":{"ok":{"const":false},"error":{"enum":["bad","worse"]}},"required":["ok","error"]}]})")},
  };
  return schemas;
}

void random_walks(const std::string& tokenizer_name) {
  const auto& m = load(tokenizer_name);
  for (const auto& [schema_name, schema] : walk_schemas()) {
    const json* sp = schema.is_null() ? nullptr : &schema;
    for (uint32_t seed = 1; seed <= 5; ++seed) {
      SCOPED_TRACE(tokenizer_name + " " + schema_name + " seed " + std::to_string(seed));
      std::mt19937 rng(seed);
      auto c = make_json_constraint(m.vocab, sp, {m.end});
      const auto [ids, text, ended] = owl::test::random_walk(*c, m, rng);
      ASSERT_TRUE(ended) << "did not finish: " << text.substr(0, 600);
      EXPECT_EQ(m.tok->decode(ids), text);
      if (std::getenv("OWL_TEST_VERBOSE")) std::cout << text << "\n";
      json value;
      try {
        value = json::parse(text);
      } catch (const json::exception& e) {
        ADD_FAILURE() << "not JSON: " << e.what() << "\n" << text;
        continue;
      }
      if (sp) {
        EXPECT_TRUE(validate(value, schema, schema)) << text;
      } else {
        EXPECT_TRUE(value.is_object()) << text;
      }
    }
  }
}

TEST(JsonConstraintRandomWalk, SentencePieceMistral) { random_walks("mistral"); }
TEST(JsonConstraintRandomWalk, ByteLevelLlama31) { random_walks("llama3_1"); }
TEST(JsonConstraintRandomWalk, ByteLevelQwen3) { random_walks("qwen3"); }

// mask() on the 128k Llama 3.1 vocabulary in typical states. The bound is loose (shared CI
// machines); the measured times are printed.
TEST(JsonConstraintTiming, MaskOnLlama31) {
  const auto& m = load("llama3_1");
  const json schema = walk_schemas()[1].second;
  const json extra = walk_schemas()[4].second;
  const json tree = walk_schemas()[2].second;
  struct point {
    const char* what;
    const json* schema;
    std::string prefix;
  };
  const std::vector<point> points = {
      {"object start (schema)", &schema, ""},
      {"after '{' (schema)", &schema, "{"},
      {"inside a declared key", &schema, "{\"na"},
      {"value after ':'", &schema, "{\"name\": "},
      {"inside a maxLength string", &schema, "{\"name\": \"Jo"},
      {"inside a free string (json_object)", nullptr, "{\"text\": \"Once upon"},
      {"inside a free key (json_object)", nullptr, "{\"te"},
      {"after a number (json_object)", nullptr, "{\"n\": 12"},
      {"after a value (json_object)", nullptr, "{\"n\": true"},
      {"inside a free key beside declared ones", &extra, "{\"kin"},
      {"nested value (recursive $ref)", &tree, "{\"children\": [{\"children\": [{\"value\": "},
  };
  for (const auto& p : points) {
    auto c = make_json_constraint(m.vocab, p.schema, {m.end});
    for (int32_t id : m.tok->encode(p.prefix, false)) c->accept(id);
    std::vector<float> logits(m.vocab->size());
    const int reps = 20;
    double best = 1e9, total = 0;
    size_t allowed = 0;
    for (int r = 0; r < reps; ++r) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      const auto t0 = std::chrono::steady_clock::now();
      c->mask(logits);
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, ms);
      total += ms;
      allowed = static_cast<size_t>(std::count_if(logits.begin(), logits.end(), [](float l) { return !std::isinf(l); }));
    }
    std::cout << "[ timing ] mask() " << p.what << ": best " << best << " ms, mean " << total / reps << " ms, "
              << allowed << " tokens allowed\n";
    EXPECT_GT(allowed, 0u);
    EXPECT_LT(best, 50.0) << p.what;
  }
}

}  // namespace
