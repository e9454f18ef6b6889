#include "chat/jinja/parser.h"

#include "chat/jinja/expr_parser.h"

#include <algorithm>
#include <initializer_list>

#include "chat/jinja/text.h"

namespace owl::jinja {

std::string line_column(std::string_view source, size_t offset) {
  offset = std::min(offset, source.size());
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset; ++i)
    if (source[i] == '\n') ++line, line_start = i + 1;
  const size_t column = jinja::text::length(source.substr(line_start, offset - line_start)) + 1;
  return std::to_string(line) + ":" + std::to_string(column);
}

namespace {

using namespace ast;

// Tags that close or continue a block; finding one where it does not belong is a nesting error.
bool is_block_keyword(std::string_view name) {
  static const char* const keywords[] = {"endfor", "endif", "elif", "else", "endset", "endmacro", "endcall",
                                         "endfilter", "endwith", "endraw", "endgeneration", "endblock"};
  for (const char* k : keywords)
    if (name == k) return true;
  return false;
}

class parser : public expression_parser {
 public:
  using expression_parser::expression_parser;

  body run() {
    body result = subparse({});
    if (cur().type != token_type::eof) fail("unexpected " + quoted(cur()));
    return result;
  }

 private:
  // ---- statements ----

  // Statements until a block tag named in `end` (left as the current token) or the end.
  body subparse(std::initializer_list<const char*> end) {
    body out;
    while (cur().type != token_type::eof) {
      const token& t = cur();
      if (t.type == token_type::text) {
        out.push_back(std::make_unique<ast::text>(t.offset, t.text));
        next();
      } else if (t.type == token_type::variable_begin) {
        next();
        auto e = parse_tuple(false, true, {}, false, false);
        expect(token_type::variable_end, "end of print statement");
        out.push_back(std::make_unique<print>(t.offset, std::move(e)));
      } else if (t.type == token_type::block_begin) {
        next();
        for (const char* e : end)
          if (is_name(e)) return out;
        out.push_back(parse_statement());
        expect(token_type::block_end, "end of statement block");
      } else {
        fail("unexpected " + quoted(t));
      }
    }
    return out;
  }

  // `{% tag ... %}body{% end %}`: the block end, then statements up to one of `end`.
  body parse_statements(std::initializer_list<const char*> end, bool drop_needle) {
    skip_op(op_kind::colon);
    expect(token_type::block_end, "end of statement block");
    end_stack_.emplace_back(end);
    body out = subparse(end);
    end_stack_.pop_back();
    if (cur().type == token_type::eof) fail_eof(end);
    if (drop_needle) next();
    return out;
  }

  [[noreturn]] void fail_eof(std::initializer_list<const char*> end) const {
    std::string message = "unexpected end of template, expected " + one_of(end);
    if (!tags_.empty())
      message += " (the '" + tags_.back().first + "' block opened at " +
                 line_column(source_, tags_.back().second) + " is not closed)";
    fail(message);
  }

  static std::string one_of(const std::vector<const char*>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i) out += i + 1 == names.size() ? " or " : ", ";
      out += jinja::text::quoted(names[i]);
    }
    return out;
  }

  stmt_ptr parse_statement() {
    const token& t = cur();
    if (t.type != token_type::name) fail("tag name expected");
    nest guard(*this);
    const std::string& tag = t.text;
    tags_.emplace_back(tag, t.offset);
    stmt_ptr result;
    if (tag == "if") result = parse_if();
    else if (tag == "for") result = parse_for();
    else if (tag == "set") result = parse_set();
    else if (tag == "macro") result = parse_macro();
    else if (tag == "call") result = parse_call_block();
    else if (tag == "filter") result = parse_filter_block();
    else if (tag == "with") result = parse_with();
    else if (tag == "print") result = parse_print();
    else if (tag == "generation") result = parse_generation();
    else if (tag == "break" || tag == "continue") result = parse_loop_control();
    else {
      tags_.pop_back();
      if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
          tag == "autoescape")
        fail(jinja::text::quoted(tag) + " is not supported: chat templates are rendered standalone, without a loader");
      if (is_block_keyword(tag)) {
        std::string message = "unexpected '" + tag + "'";
        if (!end_stack_.empty()) message += ", expected " + one_of(end_stack_.back());
        fail(message);
      }
      fail("unknown tag '" + tag + "'");
    }
    tags_.pop_back();
    return result;
  }

  stmt_ptr parse_if() {
    auto node = std::make_unique<if_stmt>(next().offset);
    while (true) {
      auto test = parse_tuple(false, false, {}, false, false);
      body b = parse_statements({"elif", "else", "endif"}, false);
      node->branches.emplace_back(std::move(test), std::move(b));
      const std::string tag = next().text;
      if (tag == "elif") continue;
      if (tag == "else") node->otherwise = parse_statements({"endif"}, true);
      break;
    }
    return node;
  }

  stmt_ptr parse_for() {
    auto node = std::make_unique<for_stmt>(next().offset);
    node->target = parse_assign_target(true, false, {"in"}, false);
    expect_name("in");
    node->iter = parse_tuple(false, false, {"recursive"}, false, false);
    if (skip_name("if")) node->filter = parse_expression(true);
    if (is_name("recursive")) fail("recursive for loops are not supported");
    ++loop_depth_;
    node->loop_body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (next().text == "else") node->otherwise = parse_statements({"endfor"}, true);
    return node;
  }

  stmt_ptr parse_set() {
    const uint32_t pos = next().offset;
    auto target = parse_assign_target(true, false, {}, true);
    if (skip_op(op_kind::assign)) {
      auto node = std::make_unique<set_stmt>(pos);
      node->target = std::move(target);
      node->value = parse_tuple(false, true, {}, false, false);
      return node;
    }
    auto node = std::make_unique<set_block>(pos);
    node->target = std::move(target);
    if (node->target->kind == expr_kind::nsref) fail("a block set cannot assign a namespace attribute");
    if (is_op(op_kind::pipe)) node->filter = parse_filter(nullptr, false);
    node->content = parse_statements({"endset"}, true);
    return node;
  }

  void parse_signature(signature& sig) {
    expect_op(op_kind::lparen);
    while (!is_op(op_kind::rparen)) {
      if (!sig.params.empty()) expect_op(op_kind::comma);
      const token& t = cur();
      sig.params.push_back(expect_name());
      if (t.text == "true" || t.text == "false" || t.text == "none" || t.text == "True" || t.text == "False" ||
          t.text == "None")
        fail_at("can't assign to constant '" + t.text + "'", t.offset);
      if (skip_op(op_kind::assign)) sig.defaults.push_back(parse_expression(true));
      else if (!sig.defaults.empty()) fail("non-default argument follows default argument");
    }
    expect_op(op_kind::rparen);
  }

  // A macro or call-block body: its own function scope, where break/continue cannot reach an
  // outer loop.
  body parse_function_body(signature& sig, const char* end) {
    open_signatures_.push_back(&sig);
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    body b = parse_statements({end}, true);
    loop_depth_ = saved_loops;
    open_signatures_.pop_back();
    return b;
  }

  stmt_ptr parse_macro() {
    auto node = std::make_unique<macro>(next().offset);
    node->name = expect_name();
    parse_signature(node->sig);
    node->content = parse_function_body(node->sig, "endmacro");
    return node;
  }

  stmt_ptr parse_call_block() {
    auto node = std::make_unique<call_block>(next().offset);
    if (is_op(op_kind::lparen)) parse_signature(node->sig);
    const uint32_t call_pos = cur().offset;
    node->call = parse_expression(true);
    if (node->call->kind != expr_kind::call) fail_at("expected call", call_pos);
    node->content = parse_function_body(node->sig, "endcall");
    return node;
  }

  stmt_ptr parse_filter_block() {
    auto node = std::make_unique<filter_block>(next().offset);
    node->filter = parse_filter(nullptr, true);
    node->content = parse_statements({"endfilter"}, true);
    return node;
  }

  stmt_ptr parse_with() {
    auto node = std::make_unique<with_stmt>(next().offset);
    while (cur().type != token_type::block_end) {
      if (!node->assignments.empty()) expect_op(op_kind::comma);
      auto target = parse_assign_target(true, false, {}, false);
      expect_op(op_kind::assign);
      node->assignments.emplace_back(std::move(target), parse_expression(true));
    }
    node->content = parse_statements({"endwith"}, true);
    return node;
  }

  stmt_ptr parse_print() {
    auto node = std::make_unique<body_stmt>(next().offset);
    while (cur().type != token_type::block_end) {
      if (!node->content.empty()) expect_op(op_kind::comma);
      const uint32_t pos = cur().offset;
      node->content.push_back(std::make_unique<print>(pos, parse_expression(true)));
    }
    return node;
  }

  stmt_ptr parse_generation() {
    auto node = std::make_unique<body_stmt>(next().offset);
    node->content = parse_statements({"endgeneration"}, true);
    return node;
  }

  stmt_ptr parse_loop_control() {
    const token& t = next();
    if (loop_depth_ == 0) fail_at(jinja::text::quoted(t.text) + " outside of a for loop", t.offset);
    return std::make_unique<stmt>(t.text == "break" ? stmt_kind::break_ : stmt_kind::continue_, t.offset);
  }


  int loop_depth_ = 0;
  std::vector<std::vector<const char*>> end_stack_;
  std::vector<std::pair<std::string, uint32_t>> tags_;  // open blocks, for error hints
};

}  // namespace

ast::body parse(const std::vector<token>& tokens, std::string_view source) { return parser(tokens, source).run(); }

}  // namespace owl::jinja
