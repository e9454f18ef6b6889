// ast.h — the parsed form of a template: expressions and statements, as jinja2's nodes.
//
// Every node records the byte offset where it starts, so runtime errors can say line:column.
// Filters and tests are resolved to functions at parse time (an unknown name is a syntax
// error, as in jinja2, which checks them when compiling).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja/builtins.h"
#include "chat/jinja/value.h"

namespace owl::jinja::ast {

enum class expr_kind : uint8_t {
  literal, name, list, tuple, dict, getattr, getitem, slice, call, filter, test,
  negate, plus, logical_not, binary, logical_and, logical_or, concat, compare, condition, nsref,
};

enum class binary_op : uint8_t { add, sub, mul, div, floordiv, mod, pow };
enum class compare_op : uint8_t { eq, ne, lt, lteq, gt, gteq, in, not_in };

struct expr {
  expr(expr_kind k, uint32_t p) : kind(k), pos(p) {}
  virtual ~expr() = default;
  expr_kind kind;
  uint32_t pos;
};
using expr_ptr = std::unique_ptr<expr>;

struct literal : expr {
  literal(uint32_t p, value v) : expr(expr_kind::literal, p), val(std::move(v)) {}
  value val;
};

struct name : expr {
  name(uint32_t p, std::string n) : expr(expr_kind::name, p), id(std::move(n)) {}
  std::string id;
};

// List and tuple displays.
struct sequence : expr {
  sequence(expr_kind k, uint32_t p) : expr(k, p) {}
  std::vector<expr_ptr> items;
};

struct dict_display : expr {
  explicit dict_display(uint32_t p) : expr(expr_kind::dict, p) {}
  std::vector<std::pair<expr_ptr, expr_ptr>> items;
};

struct getattr : expr {
  getattr(uint32_t p, expr_ptr o, std::string a) : expr(expr_kind::getattr, p), object(std::move(o)), attr(std::move(a)) {}
  expr_ptr object;
  std::string attr;
};

struct getitem : expr {
  getitem(uint32_t p, expr_ptr o, expr_ptr i) : expr(expr_kind::getitem, p), object(std::move(o)), index(std::move(i)) {}
  expr_ptr object;
  expr_ptr index;
};

// a[start:stop:step]; only appears as a getitem index. Absent parts are null.
struct slice : expr {
  explicit slice(uint32_t p) : expr(expr_kind::slice, p) {}
  expr_ptr start, stop, step;
};

struct call_args {
  std::vector<expr_ptr> positional;
  std::vector<std::pair<std::string, expr_ptr>> keyword;
  expr_ptr star_args;    // *args
  expr_ptr star_kwargs;  // **kwargs
};

struct call : expr {
  call(uint32_t p, expr_ptr c) : expr(expr_kind::call, p), callee(std::move(c)) {}
  expr_ptr callee;
  call_args args;
};

// value|name(args). `operand` is null for the filter of a {% filter %} or {% set x | f %} block,
// whose input is the rendered body.
struct filter : expr {
  filter(uint32_t p, expr_ptr o, std::string n, filter_fn f)
      : expr(expr_kind::filter, p), operand(std::move(o)), name(std::move(n)), fn(f) {}
  expr_ptr operand;
  std::string name;
  filter_fn fn;
  call_args args;
};

// value is name(args)
struct test : expr {
  test(uint32_t p, expr_ptr o, std::string n, test_fn f)
      : expr(expr_kind::test, p), operand(std::move(o)), name(std::move(n)), fn(f) {}
  expr_ptr operand;
  std::string name;
  test_fn fn;
  call_args args;
};

// -x, +x, not x
struct unary : expr {
  unary(expr_kind k, uint32_t p, expr_ptr o) : expr(k, p), operand(std::move(o)) {}
  expr_ptr operand;
};

// Arithmetic, and/or.
struct binary : expr {
  binary(expr_kind k, uint32_t p, binary_op o, expr_ptr l, expr_ptr r)
      : expr(k, p), op(o), left(std::move(l)), right(std::move(r)) {}
  binary_op op;
  expr_ptr left, right;
};

// a ~ b ~ c
struct concat : expr {
  explicit concat(uint32_t p) : expr(expr_kind::concat, p) {}
  std::vector<expr_ptr> parts;
};

// a < b <= c: each comparison in the chain, as Python.
struct compare : expr {
  compare(uint32_t p, expr_ptr f) : expr(expr_kind::compare, p), first(std::move(f)) {}
  expr_ptr first;
  std::vector<std::pair<compare_op, expr_ptr>> rest;
};

// then if test else otherwise; `otherwise` null means undefined.
struct condition : expr {
  explicit condition(uint32_t p) : expr(expr_kind::condition, p) {}
  expr_ptr test, then, otherwise;
};

// ns.attr as an assignment target.
struct nsref : expr {
  nsref(uint32_t p, std::string n, std::string a) : expr(expr_kind::nsref, p), ns(std::move(n)), attr(std::move(a)) {}
  std::string ns, attr;
};

// ---- statements ----

enum class stmt_kind : uint8_t {
  text, print, if_, for_, set, set_block, macro, call_block, filter_block, with, break_, continue_, body,
};

struct stmt {
  stmt(stmt_kind k, uint32_t p) : kind(k), pos(p) {}
  virtual ~stmt() = default;
  stmt_kind kind;
  uint32_t pos;
};
using stmt_ptr = std::unique_ptr<stmt>;
using body = std::vector<stmt_ptr>;

struct text : stmt {
  text(uint32_t p, std::string t) : stmt(stmt_kind::text, p), data(std::move(t)) {}
  std::string data;
};

struct print : stmt {
  print(uint32_t p, expr_ptr e) : stmt(stmt_kind::print, p), value(std::move(e)) {}
  expr_ptr value;
};

struct if_stmt : stmt {
  explicit if_stmt(uint32_t p) : stmt(stmt_kind::if_, p) {}
  std::vector<std::pair<expr_ptr, body>> branches;  // if and each elif
  body otherwise;
};

struct for_stmt : stmt {
  explicit for_stmt(uint32_t p) : stmt(stmt_kind::for_, p) {}
  expr_ptr target;  // name or tuple of names
  expr_ptr iter;
  expr_ptr filter;  // the inline `if`, or null
  body loop_body, otherwise;
};

struct set_stmt : stmt {
  explicit set_stmt(uint32_t p) : stmt(stmt_kind::set, p) {}
  expr_ptr target;  // name, tuple of names, or nsref
  expr_ptr value;
};

// {% set x | filters %}...{% endset %}
struct set_block : stmt {
  explicit set_block(uint32_t p) : stmt(stmt_kind::set_block, p) {}
  expr_ptr target;
  expr_ptr filter;  // chain of filters with a null innermost operand, or null
  body content;
};

// A parameter list with defaults, shared by macros and call blocks.
struct signature {
  std::vector<std::string> params;
  std::vector<expr_ptr> defaults;  // for the last defaults.size() params
  bool catch_varargs = false;      // the body mentions `varargs`
  bool catch_kwargs = false;       // the body mentions `kwargs`
  bool uses_caller = false;        // the body mentions `caller`
};

struct macro : stmt {
  explicit macro(uint32_t p) : stmt(stmt_kind::macro, p) {}
  std::string name;
  signature sig;
  body content;
};

// {% call(params) macro(args) %}body{% endcall %}
struct call_block : stmt {
  explicit call_block(uint32_t p) : stmt(stmt_kind::call_block, p) {}
  signature sig;
  expr_ptr call;
  body content;
};

struct filter_block : stmt {
  explicit filter_block(uint32_t p) : stmt(stmt_kind::filter_block, p) {}
  expr_ptr filter;  // chain with a null innermost operand
  body content;
};

struct with_stmt : stmt {
  explicit with_stmt(uint32_t p) : stmt(stmt_kind::with, p) {}
  std::vector<std::pair<expr_ptr, expr_ptr>> assignments;
  body content;
};

// A plain group of statements in the current scope ({% generation %}, transformers' tag).
struct body_stmt : stmt {
  explicit body_stmt(uint32_t p) : stmt(stmt_kind::body, p) {}
  body content;
};

}  // namespace owl::jinja::ast
