#include "chat/jinja/text.h"

#include <stdexcept>

#include <utf8proc.h>

namespace owl::jinja::text {

char32_t decode(std::string_view s, size_t i, size_t& length) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  length = 1;
  if (b0 < 0x80) return b0;
  int need = 0;
  char32_t cp = 0;
  if ((b0 & 0xE0) == 0xC0) {
    need = 1;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    need = 2;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    need = 3;
    cp = b0 & 0x07;
  } else {
    return 0xFFFD;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0xFFFD;
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid: treat the lead byte alone.
  static constexpr char32_t min_for[] = {0, 0x80, 0x800, 0x10000};
  if (cp < min_for[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0xFFFD;
  length = static_cast<size_t>(need) + 1;
  return cp;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate has no UTF-8 form
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp <= 0x10FFFF) {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += "\xEF\xBF\xBD";
  }
}

bool is_space(char32_t cp) {
  if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

size_t previous_start(std::string_view s, size_t end) {
  size_t i = end - 1;
  // Step back over at most three continuation bytes, then check the lead decodes to reach `end`.
  for (size_t back = 0; back < 3 && i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80; ++back) --i;
  size_t len;
  decode(s, i, len);
  return i + len == end ? i : end - 1;
}

size_t length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
    } else {
      size_t len;
      decode(s, i, len);
      i += len;
    }
    ++n;
  }
  return n;
}

std::vector<size_t> boundaries(std::string_view s) {
  std::vector<size_t> out;
  out.reserve(s.size() + 1);
  for (size_t i = 0; i < s.size();) {
    out.push_back(i);
    size_t len;
    decode(s, i, len);
    i += len;
  }
  out.push_back(s.size());
  return out;
}

namespace {

// The code points of `chars`, for strip(chars).
std::vector<char32_t> code_points(std::string_view s) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    out.push_back(decode(s, i, len));
    i += len;
  }
  return out;
}

bool in_set(const std::vector<char32_t>& set, char32_t cp) {
  for (char32_t c : set)
    if (c == cp) return true;
  return false;
}

}  // namespace

std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right) {
  const std::vector<char32_t> set = chars ? code_points(*chars) : std::vector<char32_t>{};
  auto strippable = [&](char32_t cp) { return chars ? in_set(set, cp) : is_space(cp); };
  size_t begin = 0, end = s.size();
  if (left) {
    while (begin < end) {
      size_t len;
      const char32_t cp = decode(s, begin, len);
      if (!strippable(cp)) break;
      begin += len;
    }
  }
  if (right) {
    while (end > begin) {
      const size_t start = previous_start(s, end);
      size_t len;
      const char32_t cp = decode(s, start, len);
      if (!strippable(cp)) break;
      end = start;
    }
  }
  return std::string(s.substr(begin, end - begin));
}

namespace {

std::vector<std::string> split_whitespace(std::string_view s, int64_t maxsplit, bool from_right) {
  // Split into (start, end) words first; maxsplit then decides where the remainder starts.
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t cp = decode(s, i, len);
    if (is_space(cp)) {
      i += len;
      continue;
    }
    size_t j = i;
    while (j < s.size()) {
      size_t l2;
      if (is_space(decode(s, j, l2))) break;
      j += l2;
    }
    words.emplace_back(i, j);
    i = j;
  }
  std::vector<std::string> out;
  if (maxsplit < 0 || static_cast<size_t>(maxsplit) + 1 >= words.size()) {
    for (auto [a, b] : words) out.emplace_back(s.substr(a, b - a));
    return out;
  }
  const size_t keep = static_cast<size_t>(maxsplit);
  if (!from_right) {
    for (size_t k = 0; k < keep; ++k) out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
    out.emplace_back(s.substr(words[keep].first));  // the remainder keeps its trailing whitespace
  } else {
    const size_t first_split = words.size() - keep;
    out.emplace_back(s.substr(0, words[first_split - 1].second));
    for (size_t k = first_split; k < words.size(); ++k)
      out.emplace_back(s.substr(words[k].first, words[k].second - words[k].first));
  }
  return out;
}

}  // namespace

std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right) {
  if (!sep) return split_whitespace(s, maxsplit, from_right);
  if (sep->empty()) throw std::invalid_argument("empty separator");
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
      const size_t hit = s.find(*sep, start);
      if (hit == std::string_view::npos) break;
      out.emplace_back(s.substr(start, hit - start));
      start = hit + sep->size();
    }
    out.emplace_back(s.substr(start));
    return out;
  }
  std::vector<std::string> reversed;
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(reversed.size()) < maxsplit) {
    if (end < sep->size()) break;
    const size_t hit = s.rfind(*sep, end - sep->size());
    if (hit == std::string_view::npos) break;
    reversed.emplace_back(s.substr(hit + sep->size(), end - hit - sep->size()));
    end = hit;
  }
  reversed.emplace_back(s.substr(0, end));
  out.assign(reversed.rbegin(), reversed.rend());
  return out;
}

std::vector<std::string> splitlines(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0, i = 0;
  while (i < s.size()) {
    size_t len;
    const char32_t cp = decode(s, i, len);
    const bool is_break = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || (cp >= 0x1C && cp <= 0x1E) ||
                          cp == 0x85 || cp == 0x2028 || cp == 0x2029;
    if (!is_break) {
      i += len;
      continue;
    }
    out.emplace_back(s.substr(start, i - start));
    i += len;
    if (cp == '\r' && i < s.size() && s[i] == '\n') ++i;
    start = i;
  }
  if (start < s.size()) out.emplace_back(s.substr(start));
  return out;
}

std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count) {
  std::string out;
  if (from.empty()) {
    // Python inserts `to` before every code point and at the end, up to `count` times.
    int64_t done = 0;
    size_t i = 0;
    while (i <= s.size()) {
      if (count >= 0 && done >= count) break;
      out += to;
      ++done;
      if (i == s.size()) {
        i = s.size() + 1;
        break;
      }
      size_t len;
      decode(s, i, len);
      out.append(s.substr(i, len));
      i += len;
    }
    if (i <= s.size()) out.append(s.substr(i));
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    const size_t hit = s.find(from, start);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(start, hit - start));
    out.append(to);
    start = hit + from.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

int64_t count(std::string_view s, std::string_view needle) {
  if (needle.empty()) return static_cast<int64_t>(length(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(needle); at != std::string_view::npos; at = s.find(needle, at + needle.size())) ++n;
  return n;
}

int64_t find(std::string_view s, std::string_view needle, std::optional<int64_t> start, std::optional<int64_t> end,
             bool from_right) {
  const std::vector<size_t> b = boundaries(s);
  const int64_t n = static_cast<int64_t>(b.size()) - 1;
  // Python slice bounds: negative counts from the end, then clamp to [0, n].
  auto clamp = [n](int64_t v) {
    if (v < 0) v += n;
    return v < 0 ? 0 : (v > n ? n : v);
  };
  const int64_t lo = start ? clamp(*start) : 0;
  const int64_t hi = end ? clamp(*end) : n;
  if (lo > hi || (start && *start > n)) return -1;
  const std::string_view window = s.substr(b[lo], b[hi] - b[lo]);
  const size_t hit = from_right ? window.rfind(needle) : window.find(needle);
  if (hit == std::string_view::npos) return -1;
  // Convert the byte offset back to a code point index.
  const size_t byte = b[lo] + hit;
  size_t lo_i = static_cast<size_t>(lo), hi_i = static_cast<size_t>(n);
  while (lo_i < hi_i) {
    const size_t mid = (lo_i + hi_i) / 2;
    if (b[mid] < byte) lo_i = mid + 1;
    else hi_i = mid;
  }
  return static_cast<int64_t>(lo_i);
}

namespace {

template <typename Map>
std::string map_code_points(std::string_view s, Map map) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t cp = decode(s, i, len);
    if (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) {
      out.append(s.substr(i, len));  // an invalid byte passes through unchanged
    } else {
      map(out, cp);
    }
    i += len;
  }
  return out;
}

char32_t to_upper(char32_t cp) { return cp < 0x80 ? (cp >= 'a' && cp <= 'z' ? cp - 32 : cp) : utf8proc_toupper(cp); }
char32_t to_lower(char32_t cp) { return cp < 0x80 ? (cp >= 'A' && cp <= 'Z' ? cp + 32 : cp) : utf8proc_tolower(cp); }
char32_t to_title(char32_t cp) { return cp < 0x80 ? to_upper(cp) : utf8proc_totitle(cp); }

// Python uses full case mapping; the one multi-character upper-casing that shows up in real
// text is the German sharp s.
void append_upper(std::string& out, char32_t cp) {
  if (cp == 0xDF) {
    out += "SS";
    return;
  }
  append_utf8(out, to_upper(cp));
}

bool is_cased(char32_t cp) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

}  // namespace

std::string upper(std::string_view s) {
  return map_code_points(s, [](std::string& out, char32_t cp) { append_upper(out, cp); });
}

std::string lower(std::string_view s) {
  return map_code_points(s, [](std::string& out, char32_t cp) { append_utf8(out, to_lower(cp)); });
}

std::string capitalize(std::string_view s) {
  bool first = true;
  return map_code_points(s, [&first](std::string& out, char32_t cp) {
    append_utf8(out, first ? to_title(cp) : to_lower(cp));
    first = false;
  });
}

std::string title(std::string_view s) {
  bool previous_cased = false;
  return map_code_points(s, [&previous_cased](std::string& out, char32_t cp) {
    append_utf8(out, previous_cased ? to_lower(cp) : to_title(cp));
    previous_cased = is_cased(cp);
  });
}

std::string jinja_title(std::string_view s) {
  // jinja2 splits on runs of [-\s({[<], keeping the separators, and upper-cases the first code
  // point of every piece while lower-casing the rest.
  auto is_sep = [](char32_t cp) { return cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || is_space(cp); };
  std::string out;
  bool piece_start = true;
  bool in_sep = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t cp = decode(s, i, len);
    const bool sep = is_sep(cp);
    if (sep != in_sep) piece_start = true;
    in_sep = sep;
    if (piece_start) append_upper(out, cp);
    else append_utf8(out, to_lower(cp));
    piece_start = false;
    i += len;
  }
  return out;
}

bool is_word_char(char32_t cp) {
  if (cp < 0x80) return cp == '_' || (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z');
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
         (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO);
}

bool is_alpha(char32_t cp) {
  if (cp < 0x80) return (cp | 32) >= 'a' && (cp | 32) <= 'z';
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}

bool is_digit(char32_t cp) {
  if (cp < 0x80) return cp >= '0' && cp <= '9';
  return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_ND;
}

bool is_cased_upper(char32_t cp) {
  const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(cp));
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT;
}

bool is_cased_lower(char32_t cp) { return utf8proc_category(static_cast<utf8proc_int32_t>(cp)) == UTF8PROC_CATEGORY_LL; }

bool is_printable(char32_t cp) {
  if (cp == ' ') return true;
  if (cp < 0x20 || cp == 0x7F) return false;
  if (cp < 0x7F) return true;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

std::string quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out.append(s);
  out += '\'';
  return out;
}

std::string repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  static const char* hex = "0123456789abcdef";
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t cp = decode(s, i, len);
    const bool invalid = cp == 0xFFFD && len == 1 && static_cast<unsigned char>(s[i]) >= 0x80;
    if (invalid) {
      const auto b = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += hex[b >> 4];
      out += hex[b & 15];
    } else if (cp == static_cast<char32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (is_printable(cp)) {
      out.append(s.substr(i, len));
    } else {
      int digits = cp <= 0xFF ? 2 : (cp <= 0xFFFF ? 4 : 8);
      out += digits == 2 ? "\\x" : (digits == 4 ? "\\u" : "\\U");
      for (int d = digits - 1; d >= 0; --d) out += hex[(cp >> (4 * d)) & 15];
    }
    i += len;
  }
  out += quote;
  return out;
}

}  // namespace owl::jinja::text
