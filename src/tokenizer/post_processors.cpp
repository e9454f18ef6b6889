#include "tokenizer/post_processors.h"

#include <map>

#include "owl/error.h"

namespace owl::tok {

namespace {

constexpr const char* supported_post_processors =
    "supported: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence";

// One element of a template: a run of special-token ids, or the input sequence (A).
struct template_item {
  bool is_sequence = false;
  std::vector<int32_t> ids;
};

class template_processing final : public post_processor {
 public:
  explicit template_processing(std::vector<template_item> items) : items_(std::move(items)) {}
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const auto& item : items_) {
      if (item.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids = std::move(out);
  }

 private:
  std::vector<template_item> items_;
};

class no_op final : public post_processor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class sequence_processor final : public post_processor {
 public:
  explicit sequence_processor(std::vector<std::unique_ptr<post_processor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : parts_) p->process(ids);
  }

 private:
  std::vector<std::unique_ptr<post_processor>> parts_;
};

int32_t checked_id(const json& v, const json_path& at, size_t vocab_size) {
  if (!v.is_number_integer()) fail(at.where(), std::string("expected a token id, found ") + json_type_name(v));
  const int64_t id = v.get<int64_t>();
  if (id < 0 || static_cast<uint64_t>(id) >= vocab_size)
    fail(at.where(), "token id " + std::to_string(id) + " out of range (vocabulary size " + std::to_string(vocab_size) + ")");
  return static_cast<int32_t>(id);
}

// "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, ...}
std::map<std::string, std::vector<int32_t>> read_special_tokens(const json& j, const json_path& at, size_t vocab_size) {
  std::map<std::string, std::vector<int32_t>> result;
  const json* specials = find_field(j, "special_tokens");
  if (!specials) return result;
  const json_path sat = at.field("special_tokens");
  expect_object(*specials, sat);
  for (const auto& [name, value] : specials->items()) {
    const json_path vat = sat.field(name);
    expect_object(value, vat);
    const json& ids = get_array(value, "ids", vat);
    std::vector<int32_t> list;
    for (size_t i = 0; i < ids.size(); ++i) list.push_back(checked_id(ids[i], vat.field("ids").index(i), vocab_size));
    result.emplace(name, std::move(list));
  }
  return result;
}

std::unique_ptr<post_processor> make_template(const json& j, const json_path& at, size_t vocab_size) {
  const auto specials = read_special_tokens(j, at, vocab_size);
  const json_path sat = at.field("single");
  const json* single = find_field(j, "single");
  if (!single) fail(sat.where(), "missing single-sequence template");

  auto special_item = [&](const std::string& name, const json_path& where) {
    const auto it = specials.find(name);
    if (it == specials.end()) fail(where.where(), "template uses special token '" + name + "' missing from special_tokens");
    return template_item{false, it->second};
  };
  auto sequence_item = [&](const std::string& name, const json_path& where) {
    if (name != "A" && name != "B") fail(where.where(), "unknown sequence '" + name + "'", "expected A or B");
    if (name == "B") fail(where.where(), "single-sequence template refers to sequence B");
    return template_item{true, {}};
  };

  std::vector<template_item> items;
  if (single->is_string()) {
    // Legacy string form: "<s> $A </s>" with optional ":type_id" suffixes.
    const std::string s = single->get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && s[i] == ' ') ++i;
      size_t e = s.find(' ', i);
      if (e == std::string::npos) e = s.size();
      if (e == i) break;
      std::string word = s.substr(i, e - i);
      i = e;
      if (const size_t colon = word.rfind(':'); colon != std::string::npos && colon > 0) word.resize(colon);
      if (word[0] == '$') {
        const std::string name = word.size() == 1 ? "A" : word.substr(1);
        items.push_back(sequence_item(name == "0" ? "A" : name, sat));
      } else {
        items.push_back(special_item(word, sat));
      }
    }
  } else {
    expect_array(*single, sat);
    for (size_t i = 0; i < single->size(); ++i) {
      const json& item = (*single)[i];
      const json_path iat = sat.index(i);
      expect_object(item, iat);
      if (const json* st = find_field(item, "SpecialToken")) {
        expect_object(*st, iat.field("SpecialToken"));
        items.push_back(special_item(get_string(*st, "id", iat.field("SpecialToken")), iat));
      } else if (const json* sq = find_field(item, "Sequence")) {
        expect_object(*sq, iat.field("Sequence"));
        items.push_back(sequence_item(get_string(*sq, "id", iat.field("Sequence")), iat));
      } else {
        fail(iat.where(), "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
    }
  }
  return std::make_unique<template_processing>(std::move(items));
}

// BertProcessing / RobertaProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2]; single is cls A sep.
std::unique_ptr<post_processor> make_cls_sep(const json& j, const json_path& at, size_t vocab_size) {
  auto token = [&](const char* key) {
    const json_path kat = at.field(key);
    const json* v = find_field(j, key);
    if (!v || !v->is_array() || v->size() != 2 || !(*v)[0].is_string())
      fail(kat.where(), "expected [\"token\", id]");
    return checked_id((*v)[1], kat.index(1), vocab_size);
  };
  std::vector<template_item> items;
  items.push_back({false, {token("cls")}});
  items.push_back({true, {}});
  items.push_back({false, {token("sep")}});
  return std::make_unique<template_processing>(std::move(items));
}

}  // namespace

std::unique_ptr<post_processor> make_post_processor(const json& j, const json_path& at, size_t vocab_size, int depth) {
  if (j.is_null()) return nullptr;
  if (depth > max_component_depth) fail(at.where(), "post-processors nested too deeply");
  const std::string type = get_type(j, at);
  if (type == "TemplateProcessing") return make_template(j, at, vocab_size);
  if (type == "ByteLevel") return std::make_unique<no_op>();
  if (type == "BertProcessing" || type == "RobertaProcessing") return make_cls_sep(j, at, vocab_size);
  if (type == "Sequence") {
    const json& list = get_array(j, "processors", at);
    std::vector<std::unique_ptr<post_processor>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_post_processor(list[i], at.field("processors").index(i), vocab_size, depth + 1);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<sequence_processor>(std::move(parts));
  }
  fail(at.field("type").where(), "unsupported post-processor '" + type + "'", supported_post_processors);
}

}  // namespace owl::tok
