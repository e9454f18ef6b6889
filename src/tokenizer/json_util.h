// tokenizer/json_util.h — checked access to tokenizer.json values.
//
// tokenizer.json is untrusted input. Every accessor names the JSON path it was looking at, so a
// bad file produces one owl::error like
//   "tokenizer.json: normalizer.normalizers[2].type: unsupported normalizer 'Foo' (hint: ...)".
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace owl::tok {

using json = nlohmann::json;

// Deeply nested JSON (and deeply nested Sequence components) is refused; real files nest a
// handful of levels.
inline constexpr int max_json_depth = 256;
inline constexpr int max_component_depth = 32;

// Parses `text`; malformed or too deeply nested JSON throws owl::error naming `source`.
json parse_json(std::string_view text, const std::string& source);

// A JSON path plus the file it belongs to, e.g. {"tokenizer.json", "pre_tokenizer.pretokenizers[1]"}.
struct json_path {
  std::string file;
  std::string path;

  json_path field(std::string_view key) const;
  json_path index(size_t i) const;
  std::string where() const;  // "file: path"
};

const char* json_type_name(const json& v);

// Throws unless `v` is an object.
const json& expect_object(const json& v, const json_path& at);
const json& expect_array(const json& v, const json_path& at);
std::string expect_string(const json& v, const json_path& at);

// Fields of an object. A missing field or null takes the default; a wrong type throws.
const json* find_field(const json& obj, std::string_view key);  // nullptr when missing or null
std::string get_string(const json& obj, std::string_view key, const json_path& at,
                       std::optional<std::string> fallback = std::nullopt);
std::optional<std::string> get_optional_string(const json& obj, std::string_view key, const json_path& at);
bool get_bool(const json& obj, std::string_view key, const json_path& at, bool fallback);
int64_t get_int(const json& obj, std::string_view key, const json_path& at, int64_t lo, int64_t hi,
                std::optional<int64_t> fallback = std::nullopt);
const json& get_array(const json& obj, std::string_view key, const json_path& at);

// The "type" tag of a component object.
std::string get_type(const json& obj, const json_path& at);

// Exactly one Unicode scalar value as UTF-8 (Rust `char` fields such as Metaspace.replacement).
std::string get_char(const json& obj, std::string_view key, const json_path& at, std::string fallback);

}  // namespace owl::tok
