// constraint_test_util.h — shared by the constrained-decoding tests: a small JSON-schema
// validator (the subset the constraints enforce, with their strict-mode default) and real
// tokenizers from the fixtures with their token vocabularies, loaded once.
#pragma once

#include <cmath>
#include <map>
#include <random>
#include <vector>
#include <memory>
#include <mutex>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "owl/tokenizer.h"
#include "server/json_constraint.h"
#include "test_util.h"

namespace owl::test {

using nlohmann::json;
using owl::server::token_vocabulary;

// A small schema validator.

inline bool validate(const json& v, const json& s, const json& root, int depth = 0);

inline const json& resolve(const json& root, const std::string& ref) { return root.at(json::json_pointer(ref.substr(1))); }

inline size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool type_ok(const json& v, const std::string& t) {
  if (t == "null") return v.is_null();
  if (t == "boolean") return v.is_boolean();
  if (t == "integer") return v.is_number_integer();
  if (t == "number") return v.is_number();
  if (t == "string") return v.is_string();
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  return false;
}

inline bool validate(const json& v, const json& s, const json& root, int depth) {
  if (depth > 100) return false;
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) return validate(v, resolve(root, s["$ref"]), root, depth + 1);
  if (s.contains("const") && v != s["const"]) return false;
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) return false;
  for (const char* key : {"anyOf", "oneOf"}) {
    if (!s.contains(key)) continue;
    bool any = false;
    for (const auto& alt : s[key]) any = any || validate(v, alt, root, depth + 1);
    if (!any) return false;
  }
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_string()) ok = type_ok(v, s["type"]);
    else
      for (const auto& t : s["type"]) ok = ok || type_ok(v, t);
    if (!ok) return false;
  }
  if (v.is_string()) {
    const size_t n = code_points(v.get<std::string>());
    if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return false;
    if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return false;
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return false;
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return false;
    if (s.contains("items"))
      for (const auto& e : v)
        if (!validate(e, s["items"], root, depth + 1)) return false;
  }
  if (v.is_object()) {
    const json props = s.value("properties", json::object());
    for (const auto& r : s.value("required", json::array()))
      if (!v.contains(r.get<std::string>())) return false;
    // Strict-mode default, as the constraint implements it: declared properties mean no others.
    json extra = props.empty() ? json(true) : json(false);
    if (s.contains("additionalProperties")) extra = s["additionalProperties"];
    for (const auto& [k, e] : v.items()) {
      if (props.contains(k)) {
        if (!validate(e, props[k], root, depth + 1)) return false;
      } else if (!validate(e, extra, root, depth + 1)) {
        return false;
      }
    }
  }
  return true;
}

// A fixture tokenizer and its vocabulary; `end` is its eos id (or the last id when it has none).
struct model_vocab {
  std::unique_ptr<owl::tokenizer> tok;
  std::shared_ptr<const token_vocabulary> vocab;
  int32_t end = -1;
};

inline const model_vocab& load(const std::string& name) {
  static std::mutex mutex;
  static std::map<std::string, model_vocab> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = cache[name];
  if (!slot.tok) {
    slot.tok = owl::tokenizer::from_dir(owl::test::fixtures() / "tokenizers" / name);
    slot.vocab = std::make_shared<const token_vocabulary>(*slot.tok);
    if (auto eos = slot.tok->eos_id()) slot.end = *eos;
    else slot.end = static_cast<int32_t>(slot.tok->vocab_size() - 1);
  }
  return slot;
}

// Picks among the allowed tokens: a third of the time among those that close a container
// (or the end token), a third among those with a quote, else any; so that random walks
// finish in a bounded number of steps.
inline int32_t pick(const std::vector<float>& logits, const token_vocabulary& vocab, int32_t end, std::mt19937& rng) {
  std::vector<int32_t> allowed, closing, quoting;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (std::isinf(logits[i])) continue;
    const auto id = static_cast<int32_t>(i);
    allowed.push_back(id);
    if (id == end) {
      closing.push_back(id);
      continue;
    }
    const std::string& b = vocab.bytes(id);
    if (b.find_first_of("]}") != std::string::npos) closing.push_back(id);
    if (b.find('"') != std::string::npos) quoting.push_back(id);
  }
  EXPECT_FALSE(allowed.empty());
  if (allowed.empty()) return end;
  const uint32_t r = rng() % 3;
  const auto& from = r == 0 && !closing.empty() ? closing : r == 1 && !quoting.empty() ? quoting : allowed;
  return from[rng() % from.size()];
}

struct walk_result {
  std::vector<int32_t> ids;  // the tokens sampled, end token excluded
  std::string text;          // their bytes
  bool ended = false;        // the end token was sampled (within 2000 steps)
};

// Samples under the constraint from random logits (pick() above) until the end token.
inline walk_result random_walk(owl::server::token_constraint& c, const model_vocab& m, std::mt19937& rng) {
  std::uniform_real_distribution<float> uniform(-4.0f, 4.0f);
  std::vector<float> logits(m.vocab->size());
  walk_result r;
  for (int step = 0; step < 2000 && !r.ended; ++step) {
    for (auto& l : logits) l = uniform(rng);
    c.mask(logits);
    const int32_t t = pick(logits, *m.vocab, m.end, rng);
    if (t == m.end) {
      EXPECT_TRUE(c.complete());
      r.ended = true;
    } else {
      r.ids.push_back(t);
    }
    c.accept(t);
  }
  for (int32_t id : r.ids) r.text += m.vocab->bytes(id);
  return r;
}

}  // namespace owl::test
