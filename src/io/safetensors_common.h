// io/safetensors_common.h — small helpers shared by the safetensors reader and writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace owl::detail {

// `text` quoted for a one-line error message: control and non-ASCII bytes escaped, long text cut.
std::string quote_name(std::string_view text, size_t max_chars = 120);
// The same without the quotes; quotes and backslashes are escaped only when escape_quotes.
std::string printable(std::string_view text, size_t max_chars, bool escape_quotes);

// Offset of the first byte that breaks UTF-8 (overlongs, surrogates, > U+10FFFF), or npos.
size_t invalid_utf8_offset(std::string_view text);

// Parses JSON from untrusted text: duplicate object keys and nesting deeper than max_depth are
// owl::errors (nlohmann would silently keep the last duplicate). `where` prefixes every message;
// `what` names the document ("header", "index").
nlohmann::json parse_untrusted_json(std::string_view text, const std::string& where, const std::string& what,
                                    int max_depth);

// "array", "string", ... for messages.
std::string json_kind(const nlohmann::json& value);

}  // namespace owl::detail
