// expr_parser.cpp — jinja2's expression grammar. Precedence, loosest first: a if b else c, or,
// and, not, comparisons (chained, in, not in), + -, ~, * / // %, **, unary - +, then filters,
// tests, subscripts and calls.
#include "chat/jinja/expr_parser.h"

namespace owl::jinja {

using namespace ast;

// ---- assignment targets ----
expr_ptr expression_parser::parse_assign_target(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                                                                         bool with_namespace) {
  const uint32_t pos = cur().offset;
  expr_ptr target;
  if (name_only) target = std::make_unique<name>(pos, expect_name());
  else if (with_tuple) target = parse_tuple(true, true, extra_end, false, with_namespace);
  else target = parse_primary(with_namespace);
  check_assignable(*target);
  return target;
}

void expression_parser::check_assignable(const expr& e) const {
  if (e.kind == expr_kind::name || e.kind == expr_kind::nsref) return;
  if (e.kind == expr_kind::tuple) {
    for (const auto& item : static_cast<const sequence&>(e).items) check_assignable(*item);
    return;
  }
  fail_at(e.kind == expr_kind::literal ? "can't assign to a constant" : "can't assign to this expression", e.pos);
}

// ---- expressions ----
expr_ptr expression_parser::parse_condexpr() {
  nest guard(*this, false);
  expr_ptr e = parse_or();
  while (is_name("if")) {
    auto node = std::make_unique<condition>(next().offset);
    guard.add();
    node->test = parse_or();
    if (skip_name("else")) node->otherwise = parse_condexpr();
    node->then = std::move(e);
    node->pos = node->then->pos;
    e = std::move(node);
  }
  return e;
}

expr_ptr expression_parser::parse_or() {
  nest guard(*this, false);
  expr_ptr left = parse_and();
  while (is_name("or")) {
    const uint32_t pos = next().offset;
    guard.add();
    left = std::make_unique<binary>(expr_kind::logical_or, pos, binary_op::add, std::move(left), parse_and());
  }
  return left;
}

expr_ptr expression_parser::parse_and() {
  nest guard(*this, false);
  expr_ptr left = parse_not();
  while (is_name("and")) {
    const uint32_t pos = next().offset;
    guard.add();
    left = std::make_unique<binary>(expr_kind::logical_and, pos, binary_op::add, std::move(left), parse_not());
  }
  return left;
}

expr_ptr expression_parser::parse_not() {
  if (is_name("not")) {
    nest guard(*this);
    const uint32_t pos = next().offset;
    return std::make_unique<unary>(expr_kind::logical_not, pos, parse_not());
  }
  return parse_compare();
}

expr_ptr expression_parser::parse_compare() {
  expr_ptr first = parse_math1();
  std::unique_ptr<ast::compare> node;
  while (true) {
    compare_op op;
    const uint32_t pos = cur().offset;
    if (cur().type == token_type::op && cur().op == op_kind::eq) op = compare_op::eq;
    else if (cur().type == token_type::op && cur().op == op_kind::ne) op = compare_op::ne;
    else if (cur().type == token_type::op && cur().op == op_kind::lt) op = compare_op::lt;
    else if (cur().type == token_type::op && cur().op == op_kind::lteq) op = compare_op::lteq;
    else if (cur().type == token_type::op && cur().op == op_kind::gt) op = compare_op::gt;
    else if (cur().type == token_type::op && cur().op == op_kind::gteq) op = compare_op::gteq;
    else if (is_name("in")) op = compare_op::in;
    else if (is_name("not") && look().type == token_type::name && look().text == "in") {
      next();
      op = compare_op::not_in;
    } else {
      break;
    }
    next();
    if (!node) node = std::make_unique<ast::compare>(pos, std::move(first));
    node->rest.emplace_back(op, parse_math1());
  }
  if (!node) return first;
  return node;
}

expr_ptr expression_parser::parse_math1() {
  nest guard(*this, false);
  expr_ptr left = parse_concat();
  while (is_op(op_kind::add) || is_op(op_kind::sub)) {
    const token& t = next();
    guard.add();
    const binary_op op = t.op == op_kind::add ? binary_op::add : binary_op::sub;
    left = std::make_unique<binary>(expr_kind::binary, t.offset, op, std::move(left), parse_concat());
  }
  return left;
}

expr_ptr expression_parser::parse_concat() {
  expr_ptr first = parse_math2();
  if (!is_op(op_kind::tilde)) return first;
  auto node = std::make_unique<concat>(first->pos);
  node->parts.push_back(std::move(first));
  while (skip_op(op_kind::tilde)) node->parts.push_back(parse_math2());
  return node;
}

expr_ptr expression_parser::parse_math2() {
  nest guard(*this, false);
  expr_ptr left = parse_pow();
  while (true) {
    binary_op op;
    if (is_op(op_kind::mul)) op = binary_op::mul;
    else if (is_op(op_kind::div)) op = binary_op::div;
    else if (is_op(op_kind::floordiv)) op = binary_op::floordiv;
    else if (is_op(op_kind::mod)) op = binary_op::mod;
    else break;
    const uint32_t pos = next().offset;
    guard.add();
    left = std::make_unique<binary>(expr_kind::binary, pos, op, std::move(left), parse_pow());
  }
  return left;
}

expr_ptr expression_parser::parse_pow() {
  nest guard(*this, false);
  expr_ptr left = parse_unary(true);
  while (is_op(op_kind::pow)) {
    const uint32_t pos = next().offset;
    guard.add();
    left = std::make_unique<binary>(expr_kind::binary, pos, binary_op::pow, std::move(left), parse_unary(true));
  }
  return left;
}

expr_ptr expression_parser::parse_unary(bool with_filter) {
  nest guard(*this);
  expr_ptr node;
  if (is_op(op_kind::sub)) {
    const uint32_t pos = next().offset;
    node = std::make_unique<unary>(expr_kind::negate, pos, parse_unary(false));
  } else if (is_op(op_kind::add)) {
    const uint32_t pos = next().offset;
    node = std::make_unique<unary>(expr_kind::plus, pos, parse_unary(false));
  } else {
    node = parse_primary(false);
  }
  node = parse_postfix(std::move(node), guard);
  if (with_filter) node = parse_filter_expr(std::move(node), guard);
  return node;
}

expr_ptr expression_parser::parse_primary(bool with_namespace) {
  const token& t = cur();
  switch (t.type) {
    case token_type::name: {
      next();
      if (t.text == "true" || t.text == "True") return std::make_unique<literal>(t.offset, value::boolean(true));
      if (t.text == "false" || t.text == "False") return std::make_unique<literal>(t.offset, value::boolean(false));
      if (t.text == "none" || t.text == "None") return std::make_unique<literal>(t.offset, value::none());
      if (with_namespace && is_op(op_kind::dot)) {
        next();
        return std::make_unique<nsref>(t.offset, t.text, expect_name());
      }
      note_special_name(t.text);
      return std::make_unique<name>(t.offset, t.text);
    }
    case token_type::string: {
      std::string s;
      while (cur().type == token_type::string) s += next().text;
      return std::make_unique<literal>(t.offset, value::string(std::move(s)));
    }
    case token_type::integer: next(); return std::make_unique<literal>(t.offset, value::integer(t.integer));
    case token_type::floating: next(); return std::make_unique<literal>(t.offset, value::floating(t.floating));
    case token_type::op:
      if (t.op == op_kind::lparen) {
        next();
        auto e = parse_tuple(false, true, {}, true, false);
        expect_op(op_kind::rparen);
        return e;
      }
      if (t.op == op_kind::lbracket) return parse_list();
      if (t.op == op_kind::lbrace) return parse_dict();
      break;
    default: break;
  }
  if (t.type == token_type::eof) fail("unexpected end of template");
  fail("unexpected " + quoted(t));
}

// The special names a macro body can use; jinja2 only accepts extra arguments when the body
// mentions varargs / kwargs.
void expression_parser::note_special_name(const std::string& id) {
  for (signature* sig : open_signatures_) {
    if (id == "varargs") sig->catch_varargs = true;
    else if (id == "kwargs") sig->catch_kwargs = true;
    else if (id == "caller") sig->uses_caller = true;
  }
}

expr_ptr expression_parser::parse_tuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra_end,
                                        bool explicit_parentheses, bool with_namespace) {
  const uint32_t pos = cur().offset;
  std::vector<expr_ptr> items;
  bool is_tuple = false;
  while (true) {
    if (!items.empty()) expect_op(op_kind::comma);
    if (is_tuple_end(extra_end)) break;
    items.push_back(simplified ? parse_primary(with_namespace) : parse_expression(with_condexpr));
    if (is_op(op_kind::comma)) is_tuple = true;
    else break;
  }
  if (!is_tuple) {
    if (!items.empty()) return std::move(items[0]);
    if (!explicit_parentheses) fail("expected an expression, got " + quoted(cur()));
  }
  auto node = std::make_unique<sequence>(expr_kind::tuple, pos);
  node->items = std::move(items);
  return node;
}

bool expression_parser::is_tuple_end(std::initializer_list<const char*> extra_end) const {
  const token& t = cur();
  if (t.type == token_type::variable_end || t.type == token_type::block_end || t.type == token_type::eof) return true;
  if (t.type == token_type::op && t.op == op_kind::rparen) return true;
  for (const char* e : extra_end)
    if (is_name(e)) return true;
  return false;
}

expr_ptr expression_parser::parse_list() {
  auto node = std::make_unique<sequence>(expr_kind::list, next().offset);
  while (!is_op(op_kind::rbracket)) {
    if (!node->items.empty()) expect_op(op_kind::comma);
    if (is_op(op_kind::rbracket)) break;
    node->items.push_back(parse_expression(true));
  }
  expect_op(op_kind::rbracket);
  return node;
}

expr_ptr expression_parser::parse_dict() {
  auto node = std::make_unique<dict_display>(next().offset);
  while (!is_op(op_kind::rbrace)) {
    if (!node->items.empty()) expect_op(op_kind::comma);
    if (is_op(op_kind::rbrace)) break;
    auto key = parse_expression(true);
    expect_op(op_kind::colon);
    node->items.emplace_back(std::move(key), parse_expression(true));
  }
  expect_op(op_kind::rbrace);
  return node;
}

expr_ptr expression_parser::parse_postfix(expr_ptr node, nest& guard) {
  while (true) {
    if (is_op(op_kind::dot) || is_op(op_kind::lbracket)) node = parse_subscript(std::move(node));
    else if (is_op(op_kind::lparen)) node = parse_call(std::move(node));
    else break;
    guard.add();
  }
  return node;
}

expr_ptr expression_parser::parse_filter_expr(expr_ptr node, nest& guard) {
  while (true) {
    if (is_op(op_kind::pipe)) node = parse_filter(std::move(node), false);
    else if (is_name("is")) node = parse_test(std::move(node));
    else if (is_op(op_kind::lparen)) node = parse_call(std::move(node));
    else break;
    guard.add();
  }
  return node;
}

expr_ptr expression_parser::parse_subscript(expr_ptr node) {
  const token& t = next();
  if (t.op == op_kind::dot) {
    const token& attr = next();
    if (attr.type == token_type::name) return std::make_unique<getattr>(t.offset, std::move(node), attr.text);
    if (attr.type != token_type::integer) fail_at("expected name or number", attr.offset);
    return std::make_unique<getitem>(t.offset, std::move(node),
                                     std::make_unique<literal>(attr.offset, value::integer(attr.integer)));
  }
  std::vector<expr_ptr> args;
  while (!is_op(op_kind::rbracket)) {
    if (!args.empty()) expect_op(op_kind::comma);
    args.push_back(parse_subscribed());
  }
  expect_op(op_kind::rbracket);
  if (args.empty()) fail_at("expected subscript expression", t.offset);
  expr_ptr index;
  if (args.size() == 1) {
    index = std::move(args[0]);
  } else {
    auto tuple = std::make_unique<sequence>(expr_kind::tuple, t.offset);
    tuple->items = std::move(args);
    index = std::move(tuple);
  }
  return std::make_unique<getitem>(t.offset, std::move(node), std::move(index));
}

expr_ptr expression_parser::parse_subscribed() {
  const uint32_t pos = cur().offset;
  expr_ptr start;
  if (!is_op(op_kind::colon)) {
    start = parse_expression(true);
    if (!is_op(op_kind::colon)) return start;
  }
  next();  // the first colon
  auto node = std::make_unique<slice>(pos);
  node->start = std::move(start);
  if (!is_op(op_kind::colon) && !is_op(op_kind::rbracket) && !is_op(op_kind::comma))
    node->stop = parse_expression(true);
  if (skip_op(op_kind::colon) && !is_op(op_kind::rbracket) && !is_op(op_kind::comma))
    node->step = parse_expression(true);
  return node;
}

void expression_parser::parse_call_args(call_args& args) {
  const uint32_t pos = cur().offset;
  expect_op(op_kind::lparen);
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    if (!ok) fail_at("invalid syntax for function call expression", pos);
  };
  while (!is_op(op_kind::rparen)) {
    if (require_comma) {
      expect_op(op_kind::comma);
      if (is_op(op_kind::rparen)) break;
    }
    if (skip_op(op_kind::mul)) {
      ensure(!args.star_args && !args.star_kwargs);
      args.star_args = parse_expression(true);
    } else if (skip_op(op_kind::pow)) {
      ensure(!args.star_kwargs);
      args.star_kwargs = parse_expression(true);
    } else if (cur().type == token_type::name && look().type == token_type::op && look().op == op_kind::assign) {
      ensure(!args.star_kwargs);
      std::string key = next().text;
      next();
      args.keyword.emplace_back(std::move(key), parse_expression(true));
    } else {
      ensure(!args.star_args && !args.star_kwargs && args.keyword.empty());
      args.positional.push_back(parse_expression(true));
    }
    require_comma = true;
  }
  expect_op(op_kind::rparen);
}

expr_ptr expression_parser::parse_call(expr_ptr callee) {
  const uint32_t pos = callee->pos;  // errors in a call point at what is called
  auto node = std::make_unique<call>(pos, std::move(callee));
  parse_call_args(node->args);
  return node;
}

std::string expression_parser::dotted_name() {
  std::string n = expect_name();
  while (skip_op(op_kind::dot)) n += "." + expect_name();
  return n;
}

expr_ptr expression_parser::parse_filter(expr_ptr node, bool start_inline) {
  nest guard(*this, false);
  while (is_op(op_kind::pipe) || start_inline) {
    if (!start_inline) next();
    start_inline = false;
    const uint32_t pos = cur().offset;
    std::string n = dotted_name();
    const filter_fn fn = find_filter(n);
    if (!fn) fail_at("no filter named '" + n + "'", pos);
    auto f = std::make_unique<filter>(pos, std::move(node), std::move(n), fn);
    if (is_op(op_kind::lparen)) parse_call_args(f->args);
    node = std::move(f);
    guard.add();
  }
  return node;
}

expr_ptr expression_parser::parse_test(expr_ptr node) {
  const uint32_t pos = next().offset;  // `is`
  const bool negated = skip_name("not");
  const uint32_t name_pos = cur().offset;
  std::string n = dotted_name();
  const test_fn fn = find_test(n);
  if (!fn) fail_at("no test named '" + n + "'", name_pos);
  auto t = std::make_unique<test>(pos, std::move(node), std::move(n), fn);
  const token& c = cur();
  const bool arg_starts = c.type == token_type::name || c.type == token_type::string ||
                          c.type == token_type::integer || c.type == token_type::floating ||
                          (c.type == token_type::op &&
                           (c.op == op_kind::lparen || c.op == op_kind::lbracket || c.op == op_kind::lbrace));
  if (is_op(op_kind::lparen)) {
    parse_call_args(t->args);
  } else if (arg_starts && !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) fail("you cannot chain multiple tests with is");
    nest guard(*this);
    t->args.positional.push_back(parse_postfix(parse_primary(false), guard));
  }
  if (!negated) return t;
  return std::make_unique<unary>(expr_kind::logical_not, pos, std::move(t));
}

}  // namespace owl::jinja
