// expr_parser.h — the token stream and jinja2's expression grammar, shared by the statement
// parser (parser.cpp). Internal to the engine.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja/ast.h"
#include "chat/jinja/lexer.h"
#include "chat/jinja/parser.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

class expression_parser {
 public:
  expression_parser(const std::vector<token>& tokens, std::string_view source) : t_(tokens), source_(source) {}

 protected:
  using expr = ast::expr;
  using expr_ptr = ast::expr_ptr;
  using expr_kind = ast::expr_kind;
  using call_args = ast::call_args;
  using signature = ast::signature;

  // ---- token stream ----
  const token& cur() const { return t_[i_]; }
  const token& look() const { return t_[std::min(i_ + 1, t_.size() - 1)]; }
  const token& next() {
    const token& t = t_[i_];
    if (t.type != token_type::eof) ++i_;
    return t;
  }
  bool is_name(std::string_view kw) const { return cur().type == token_type::name && cur().text == kw; }
  bool is_op(op_kind op) const { return cur().type == token_type::op && cur().op == op; }
  bool skip_name(std::string_view kw) {
    if (!is_name(kw)) return false;
    next();
    return true;
  }
  bool skip_op(op_kind op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }

  static std::string quoted(const token& t) { return text::quoted(describe(t)); }

  [[noreturn]] void fail(const std::string& message) const { fail_at(message, cur().offset); }
  [[noreturn]] static void fail_at(const std::string& message, size_t offset) { throw template_error(message, offset); }

  void expect_failed(const std::string& expected) const {
    if (cur().type == token_type::eof) fail("unexpected end of template, expected '" + expected + "'");
    fail("expected '" + expected + "', got " + quoted(cur()));
  }
  const token& expect(token_type type, const char* what) {
    if (cur().type != type) expect_failed(what);
    return next();
  }
  void expect_op(op_kind op) {
    if (!is_op(op)) expect_failed(op_text(op));
    next();
  }
  const std::string& expect_name() {
    if (cur().type != token_type::name) expect_failed("name");
    return next().text;
  }
  void expect_name(std::string_view kw) {
    if (!is_name(kw)) expect_failed(std::string(kw));
    next();
  }

  // Counts nesting (recursion and left-deep chains) against max_parse_nesting.
  struct nest {
    explicit nest(expression_parser& p, bool count_entry = true) : p(p) {
      if (count_entry) add();
    }
    ~nest() { p.depth_ -= n; }
    void add() {
      ++n;
      if (++p.depth_ > max_parse_nesting)
        p.fail("template nests too deeply (more than " + std::to_string(max_parse_nesting) + " levels)");
    }
    expression_parser& p;
    int n = 0;
  };

  // ---- expressions (expr_parser.cpp) ----
  expr_ptr parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                               bool with_namespace);
  void check_assignable(const expr& e) const;
  expr_ptr parse_expression(bool with_condexpr) { return with_condexpr ? parse_condexpr() : parse_or(); }
  expr_ptr parse_condexpr();
  expr_ptr parse_or();
  expr_ptr parse_and();
  expr_ptr parse_not();
  expr_ptr parse_compare();
  expr_ptr parse_math1();
  expr_ptr parse_concat();
  expr_ptr parse_math2();
  expr_ptr parse_pow();
  expr_ptr parse_unary(bool with_filter);
  expr_ptr parse_primary(bool with_namespace);
  void note_special_name(const std::string& id);
  expr_ptr parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                       bool explicit_parentheses, bool with_namespace);
  bool is_tuple_end(std::initializer_list<const char*> extra_end) const;
  expr_ptr parse_list();
  expr_ptr parse_dict();
  expr_ptr parse_postfix(expr_ptr node, nest& guard);
  expr_ptr parse_filter_expr(expr_ptr node, nest& guard);
  expr_ptr parse_subscript(expr_ptr node);
  expr_ptr parse_subscribed();
  void parse_call_args(call_args& args);
  expr_ptr parse_call(expr_ptr callee);
  std::string dotted_name();
  expr_ptr parse_filter(expr_ptr node, bool start_inline);
  expr_ptr parse_test(expr_ptr node);

  const std::vector<token>& t_;
  std::string_view source_;
  size_t i_ = 0;
  int depth_ = 0;
  std::vector<signature*> open_signatures_;  // macros being parsed (see note_special_name)
};

}  // namespace owl::jinja
