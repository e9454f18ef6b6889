// parser.h — turns tokens into the AST, following jinja2's grammar and operator precedence
// (condexpr < or < and < not < comparisons < + - < ~ < * / // % < ** < unary < filters/tests
// < subscripts and calls).
#pragma once

#include <string_view>
#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"

namespace owl::jinja {

// Nesting deeper than this (blocks inside blocks, parentheses, operator chains) is a syntax
// error: it keeps the recursive parser and evaluator far from the native stack limit.
constexpr int max_parse_nesting = 128;

// Parses a whole template. `source` is only used to describe positions in error hints.
// Throws template_error (with offset) on syntax errors.
ast::body parse(const std::vector<token>& tokens, std::string_view source);

// "line:column" (1-based; the column counts code points) of a byte offset.
std::string line_column(std::string_view source, size_t offset);

}  // namespace owl::jinja
