// tokenizer/unicode.h — UTF-8 and Unicode helpers shared by the tokenizer components.
//
// Everything here works on std::string holding UTF-8. Character classes follow Rust's `char`
// methods, because that is what the `tokenizers` library uses and we must match it exactly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace owl::tok {

// Length of the UTF-8 sequence that starts with `lead` (1 for stray continuation bytes).
size_t utf8_seq_len(unsigned char lead);

// Decodes the code point at s[i] and advances i. `s` must be valid UTF-8.
char32_t next_code_point(std::string_view s, size_t& i);

void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);

// Lossy conversion with Rust's String::from_utf8_lossy rules: every maximal ill-formed
// subsequence becomes one U+FFFD. Valid input is returned unchanged.
std::string to_valid_utf8(std::string_view bytes);

// Rust char::is_whitespace (the Unicode White_Space property).
bool is_whitespace(char32_t cp);
// Rust char::is_numeric (general categories Nd, Nl, No).
bool is_numeric(char32_t cp);
// tokenizers' is_punc: ASCII punctuation or any P* category.
bool is_punctuation(char32_t cp);
// A close approximation of the Unicode `\w` class (alphabetic, marks, digits, connectors).
bool is_word_char(char32_t cp);

// Rust str-per-char to_lowercase (full mapping, no final-sigma context rule), as
// NormalizedString::lowercase does.
std::string to_lower(std::string_view s);

enum class normal_form { nfc, nfd, nfkc, nfkd };
// Unicode normalization via utf8proc. Input must be valid UTF-8.
std::string normalize_unicode(std::string_view s, normal_form form);

// The last / first code point of a non-empty valid UTF-8 string.
char32_t last_code_point(std::string_view s);
char32_t first_code_point(std::string_view s);

}  // namespace owl::tok
