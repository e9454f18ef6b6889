#include "io/json_fields.h"

#include <cmath>

#include "owl/error.h"

namespace owl {

std::string json_type_name(const nlohmann::json& value) {
  if (value.is_number_integer()) return "integer";
  if (value.is_number()) return "number";
  return value.type_name();
}

nlohmann::json parse_json(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(source, std::string("is not valid JSON: ") + e.what(), "check the file is complete and not corrupted");
  }
}

json_fields::json_fields(const nlohmann::json& object, std::string source, std::string prefix)
    : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {
  if (!object_.is_object())
    fail(source_ + (prefix_.empty() ? "" : ": field '" + prefix_ + "'"),
         "expected a JSON object, found " + json_type_name(object_));
}

std::string json_fields::where(std::string_view key) const {
  return source_ + ": field '" + prefix_ + (prefix_.empty() ? "" : ".") + std::string(key) + "'";
}

void json_fields::fail_field(std::string_view key, const std::string& problem, const std::string& hint) const {
  fail(where(key), problem, hint);
}

const nlohmann::json* json_fields::find(std::string_view key) const {
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

bool json_fields::has(std::string_view key) const { return find(key) != nullptr; }

std::optional<int64_t> json_fields::optional_integer(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (!value) return std::nullopt;
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() && value->get<uint64_t>() > uint64_t(INT64_MAX))
      fail_field(key, "integer is too large");
    return value->get<int64_t>();
  }
  // Some configs write integers as 4096.0; accept exact integral floats.
  if (value->is_number_float()) {
    double d = value->get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) return int64_t(d);
  }
  fail_field(key, "expected an integer, found " + json_type_name(*value) + " " + value->dump());
}

int64_t json_fields::integer(std::string_view key) const {
  auto value = optional_integer(key);
  if (!value) fail_field(key, "is missing", "a Hugging Face config.json for this architecture has it");
  return *value;
}

int64_t json_fields::integer_or(std::string_view key, int64_t fallback) const {
  return optional_integer(key).value_or(fallback);
}

int64_t json_fields::positive(std::string_view key, int64_t limit) const {
  int64_t value = integer(key);
  if (value <= 0 || value > limit)
    fail_field(key, "expected an integer in [1, " + std::to_string(limit) + "], found " + std::to_string(value));
  return value;
}

double json_fields::number(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (!value) fail_field(key, "is missing");
  if (!value->is_number()) fail_field(key, "expected a number, found " + json_type_name(*value));
  double d = value->get<double>();
  if (!std::isfinite(d)) fail_field(key, "expected a finite number");
  return d;
}

double json_fields::number_or(std::string_view key, double fallback) const {
  return has(key) ? number(key) : fallback;
}

bool json_fields::boolean_or(std::string_view key, bool fallback) const {
  const nlohmann::json* value = find(key);
  if (!value) return fallback;
  if (!value->is_boolean()) fail_field(key, "expected true or false, found " + json_type_name(*value));
  return value->get<bool>();
}

std::string json_fields::string(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (!value) fail_field(key, "is missing");
  if (!value->is_string()) fail_field(key, "expected a string, found " + json_type_name(*value));
  return value->get<std::string>();
}

std::string json_fields::string_or(std::string_view key, std::string fallback) const {
  return has(key) ? string(key) : fallback;
}

json_fields json_fields::object(std::string_view key) const {
  const nlohmann::json* value = find(key);
  if (!value) fail_field(key, "is missing");
  if (!value->is_object()) fail_field(key, "expected an object, found " + json_type_name(*value));
  return json_fields(*value, source_, prefix_ + (prefix_.empty() ? "" : ".") + std::string(key));
}

}  // namespace owl
