// text.h — Python str semantics over UTF-8 bytes, for the template engine.
//
// Templates index, slice, strip, split and case-map strings the way Python does: by code point,
// with Python's idea of whitespace. owl keeps strings as UTF-8; these helpers do the code point
// arithmetic. Invalid bytes (possible in a hostile template) count as one code point each and
// are copied through unchanged, so no operation can fail or crash on them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace owl::jinja::text {

// Decodes the code point at s[i]; sets `length` to its byte count (1 for an invalid byte,
// which decodes as U+FFFD).
char32_t decode(std::string_view s, size_t i, size_t& length);
void append_utf8(std::string& out, char32_t cp);
// Byte offset where the code point ending at `end` (> 0) starts.
size_t previous_start(std::string_view s, size_t end);

// Python's str.isspace(): ASCII whitespace, \x1c-\x1f, \x85, \xa0 and the Unicode spaces.
bool is_space(char32_t cp);
// Code point count (Python len()).
size_t length(std::string_view s);
// Byte offsets of every code point start plus s.size() at the end (size length(s) + 1).
std::vector<size_t> boundaries(std::string_view s);

// Python's str methods. `chars` absent: strip whitespace; present: strip those code points.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
// str.split / str.rsplit. No separator: runs of whitespace, empty pieces dropped.
// maxsplit < 0: unlimited. Throws std::invalid_argument on an empty separator (ValueError).
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit,
                               bool from_right);
// str.splitlines() (without keepends): \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, \u2028, \u2029.
std::vector<std::string> splitlines(std::string_view s);
// str.replace(old, new, count); count < 0 replaces all. An empty `from` inserts between
// code points, as Python does.
std::string replace(std::string_view s, std::string_view from, std::string_view to, int64_t count);
// Occurrences / first position (in code points) of `needle` in s[start:end] (code point bounds,
// Python slice semantics). find returns -1 when absent.
int64_t count(std::string_view s, std::string_view needle);
int64_t find(std::string_view s, std::string_view needle, std::optional<int64_t> start, std::optional<int64_t> end,
             bool from_right);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string capitalize(std::string_view s);  // Python str.capitalize
std::string title(std::string_view s);       // Python str.title
std::string jinja_title(std::string_view s);  // jinja2's title filter (splits on -, space and brackets)
bool is_word_char(char32_t cp);               // \w in Python's re (Unicode)
bool is_printable(char32_t cp);               // str.isprintable() for one code point
bool is_alpha(char32_t cp);
bool is_digit(char32_t cp);
bool is_cased_upper(char32_t cp);
bool is_cased_lower(char32_t cp);

// 'text' in single quotes, for messages (built by appending: GCC 12 warns falsely on "'" + s).
std::string quoted(std::string_view s);

// Python repr() of a str: single quotes unless the text holds ' and no ".
std::string repr(std::string_view s);

}  // namespace owl::jinja::text
