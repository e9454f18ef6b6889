#include "tokenizer/json_util.h"

#include "owl/error.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

// nlohmann parses iteratively, but other code walking the tree would recurse; reject absurd
// nesting up front with a cheap scan that skips string contents.
void check_depth(std::string_view text, const std::string& source) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_json_depth)
        fail(source, "JSON nested deeper than " + std::to_string(max_json_depth) + " levels",
             "is this really a tokenizer file?");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace

json parse_json(std::string_view text, const std::string& source) {
  check_depth(text, source);
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail(source, std::string("malformed JSON: ") + e.what(), "the file may be truncated or not JSON");
  }
}

json_path json_path::field(std::string_view key) const {
  return {file, path.empty() ? std::string(key) : path + "." + std::string(key)};
}

json_path json_path::index(size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }

std::string json_path::where() const { return path.empty() ? file : file + ": " + path; }

const char* json_type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "an unknown value";
  }
}

const json& expect_object(const json& v, const json_path& at) {
  if (!v.is_object()) fail(at.where(), std::string("expected an object, found ") + json_type_name(v));
  return v;
}

const json& expect_array(const json& v, const json_path& at) {
  if (!v.is_array()) fail(at.where(), std::string("expected an array, found ") + json_type_name(v));
  return v;
}

std::string expect_string(const json& v, const json_path& at) {
  if (!v.is_string()) fail(at.where(), std::string("expected a string, found ") + json_type_name(v));
  return v.get<std::string>();
}

const json* find_field(const json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const json& obj, std::string_view key, const json_path& at,
                       std::optional<std::string> fallback) {
  const json* v = find_field(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    fail(at.field(key).where(), "missing required string field");
  }
  return expect_string(*v, at.field(key));
}

std::optional<std::string> get_optional_string(const json& obj, std::string_view key, const json_path& at) {
  const json* v = find_field(obj, key);
  if (!v) return std::nullopt;
  return expect_string(*v, at.field(key));
}

bool get_bool(const json& obj, std::string_view key, const json_path& at, bool fallback) {
  const json* v = find_field(obj, key);
  if (!v) return fallback;
  if (!v->is_boolean()) fail(at.field(key).where(), std::string("expected a boolean, found ") + json_type_name(*v));
  return v->get<bool>();
}

int64_t get_int(const json& obj, std::string_view key, const json_path& at, int64_t lo, int64_t hi,
                std::optional<int64_t> fallback) {
  const json* v = find_field(obj, key);
  if (!v) {
    if (fallback) return *fallback;
    fail(at.field(key).where(), "missing required integer field");
  }
  int64_t value = 0;
  if (v->is_number_unsigned()) {
    const auto u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) fail(at.field(key).where(), "value " + std::to_string(u) + " out of range");
    value = static_cast<int64_t>(u);
  } else if (v->is_number_integer()) {
    value = v->get<int64_t>();
  } else {
    fail(at.field(key).where(), std::string("expected an integer, found ") + json_type_name(*v));
  }
  if (value < lo || value > hi)
    fail(at.field(key).where(), "value " + std::to_string(value) + " out of range [" + std::to_string(lo) + ", " +
                                    std::to_string(hi) + "]");
  return value;
}

const json& get_array(const json& obj, std::string_view key, const json_path& at) {
  const auto it = obj.find(key);
  if (it == obj.end()) fail(at.field(key).where(), "missing required array field");
  return expect_array(*it, at.field(key));
}

std::string get_type(const json& obj, const json_path& at) {
  expect_object(obj, at);
  return get_string(obj, "type", at);
}

std::string get_char(const json& obj, std::string_view key, const json_path& at, std::string fallback) {
  const std::string s = get_string(obj, key, at, fallback);
  size_t i = 0;
  if (!s.empty()) next_code_point(s, i);
  if (s.empty() || i != s.size())
    fail(at.field(key).where(), "expected exactly one character, found '" + s + "'");
  return s;
}

}  // namespace owl::tok
