// lexer.h — splits a template into text and tag tokens exactly as jinja2's lexer does with
// trim_blocks=True and lstrip_blocks=True (transformers' settings).
//
// Whitespace control is resolved here, so the parser only sees final text:
//   {%- / {{- / {#-   strip all whitespace before the tag;  -%} / -}} / -#}  strip all after it;
//   lstrip_blocks     a {% or {# tag alone after indentation drops that indentation ({%+ keeps it);
//   trim_blocks       the newline right after %} or #} is dropped (+%} keeps it);
//   {% raw %}...{% endraw %} becomes one text token.
// Newlines (\r\n, \r) become \n and one trailing newline is dropped, as jinja2 does by default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace owl::jinja {

enum class token_type : uint8_t {
  text,            // template data between tags
  variable_begin,  // {{
  variable_end,    // }}
  block_begin,     // {%
  block_end,       // %}
  name,
  string,
  integer,
  floating,
  op,
  eof,
};

enum class op_kind : uint8_t {
  add, sub, div, floordiv, mul, mod, pow, tilde,
  lbracket, rbracket, lparen, rparen, lbrace, rbrace,
  eq, ne, gt, gteq, lt, lteq, assign, dot, colon, pipe, comma, semicolon,
};

struct token {
  token_type type = token_type::eof;
  op_kind op = op_kind::add;  // for token_type::op
  uint32_t offset = 0;        // byte offset into the normalized source
  std::string text;           // text, name, or the unescaped string literal
  int64_t integer = 0;
  double floating = 0;
};

// jinja2's newline handling: \r\n and \r become \n; one trailing newline is removed.
std::string normalize_newlines(std::string_view source);

// Tokenizes a normalized source. Throws template_error (with offset) on lexical errors.
std::vector<token> tokenize(std::string_view source);

// How a token reads in an error message: "end of print statement", "'endfor'", "'+'".
std::string describe(const token& t);
const char* op_text(op_kind op);

}  // namespace owl::jinja
