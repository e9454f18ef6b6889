#include "io/safetensors_common.h"

#include <set>
#include <vector>

#include "owl/error.h"

namespace owl::detail {

std::string printable(std::string_view text, size_t max_chars, bool escape_quotes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  size_t shown = 0;
  for (char c : text) {
    if (shown == max_chars) {
      out += "...";
      break;
    }
    unsigned char u = static_cast<unsigned char>(c);
    if (escape_quotes && (c == '\'' || c == '\\')) {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f || u >= 0x80) {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    } else {
      out += c;
    }
    ++shown;
  }
  return out;
}

std::string quote_name(std::string_view text, size_t max_chars) {
  return "'" + printable(text, max_chars, true) + "'";
}

size_t invalid_utf8_offset(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;  // continuation byte, 0xc0/0xc1 (always overlong) or > 0xf4
    }
    if (n - i < len) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += len;
  }
  return std::string_view::npos;
}

std::string json_kind(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
      return value.get<int64_t>() < 0 ? "a negative integer" : "an integer";
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a non-integer number";
    default: return "an unsupported JSON value";
  }
}

namespace {

struct frame {
  bool is_object = false;
  std::string name;  // the key this container was stored under ("" for the root)
  std::string last_key;
  std::set<std::string, std::less<>> keys;
};

}  // namespace

nlohmann::json parse_untrusted_json(std::string_view text, const std::string& where, const std::string& what,
                                    int max_depth) {
  if (size_t bad = invalid_utf8_offset(text); bad != std::string_view::npos)
    fail(where, what + " is not valid UTF-8 (bad byte at offset " + std::to_string(bad) + ")",
         "the file is corrupt or not in this format");

  std::vector<frame> stack;
  auto open_container = [&](int depth, bool is_object) {
    if (depth >= max_depth)
      fail(where,
           what + " nests deeper than expected (more than " + std::to_string(max_depth) + " levels" +
               (stack.empty() ? std::string() : " under " + quote_name(stack.back().is_object
                                                                      ? stack.back().last_key
                                                                      : stack.back().name)) +
               ")",
           "the file is corrupt or not in this format");
    frame f;
    f.is_object = is_object;
    if (!stack.empty()) f.name = stack.back().is_object ? stack.back().last_key : stack.back().name;
    stack.push_back(std::move(f));
  };

  using event = nlohmann::json::parse_event_t;
  nlohmann::json::parser_callback_t callback = [&](int depth, event ev, nlohmann::json& parsed) -> bool {
    switch (ev) {
      case event::object_start: open_container(depth, true); break;
      case event::array_start: open_container(depth, false); break;
      case event::object_end:
      case event::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case event::key: {
        if (stack.empty() || !stack.back().is_object) break;  // cannot happen for a well-formed parse
        frame& top = stack.back();
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!top.keys.insert(key).second)
          fail(where,
               "duplicate key " + quote_name(key) + " in " + what +
                   (stack.size() > 1 ? " object " + quote_name(top.name) : std::string()) +
                   ", expected every key once",
               "the file is corrupt or was written by a broken tool");
        top.last_key = key;
        break;
      }
      case event::value: break;
    }
    return true;
  };

  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true,
                                 /*ignore_comments=*/false);
  } catch (const nlohmann::json::exception& e) {
    fail(where, what + " is not valid JSON: " + printable(e.what(), 240, false),
         "the file is corrupt, truncated or not in this format");
  }
}

}  // namespace owl::detail
