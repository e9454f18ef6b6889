// json_fields.h — typed, checked access to fields of untrusted JSON (config.json and friends).
//
// Every accessor names the file and the field in its error, says what type was expected and
// what was found, so a broken or unusual config gives one clear line instead of a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace owl {

class json_fields {
 public:
  // source: the file name used in messages, e.g. "models/x/config.json".
  json_fields(const nlohmann::json& object, std::string source, std::string prefix = {});

  bool has(std::string_view key) const;  // present and not null
  const nlohmann::json* find(std::string_view key) const;  // present and not null, else nullptr

  int64_t integer(std::string_view key) const;  // required
  std::optional<int64_t> optional_integer(std::string_view key) const;
  int64_t integer_or(std::string_view key, int64_t fallback) const;
  // A positive integer no larger than `limit` (guards sizes taken from untrusted files).
  int64_t positive(std::string_view key, int64_t limit) const;

  double number(std::string_view key) const;
  double number_or(std::string_view key, double fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string fallback) const;
  json_fields object(std::string_view key) const;  // required object

  // "file: field 'prefix.key'" for messages.
  std::string where(std::string_view key) const;
  [[noreturn]] void fail_field(std::string_view key, const std::string& problem, const std::string& hint = {}) const;
  const std::string& source() const { return source_; }

 private:
  const nlohmann::json& object_;
  std::string source_;
  std::string prefix_;
};

// Parses text as JSON; a syntax error becomes an owl::error naming the source and position.
nlohmann::json parse_json(std::string_view text, const std::string& source);

// "string", "number", "object", ... for messages.
std::string json_type_name(const nlohmann::json& value);

}  // namespace owl
