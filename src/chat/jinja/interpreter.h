// interpreter.h — renders a parsed template: jinja2's scoping, statements and expressions.
//
// Scoping follows jinja2: {% set %} writes the innermost scope; every for-loop iteration, macro
// call and {% with %} block opens a new scope whose reads fall through to the enclosing one
// (so a loop cannot change outer variables — templates use namespace() for that); if-blocks
// open none. Macros see their defining scope as it is when they are called.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "chat/jinja/ast.h"
#include "owl/chat.h"

namespace owl::jinja {

struct scope final : clearable {
  explicit scope(std::shared_ptr<scope> p) : parent(std::move(p)) {}
  const value* find(std::string_view name) const {
    for (const auto& [k, v] : vars)
      if (k == name) return &v;
    return nullptr;
  }
  void set(std::string_view name, value v) {
    for (auto& [k, old] : vars)
      if (k == name) {
        old = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }
  void clear_values() override {
    vars.clear();
    parent.reset();
  }
  // Names point into the AST or are literals ("loop", "caller"), both outliving the render.
  std::vector<std::pair<std::string_view, value>> vars;
  std::shared_ptr<scope> parent;
  bool registered = false;  // handed to the container_registry (captured by a macro)
};
using scope_ptr = std::shared_ptr<scope>;

class macro_function;

class renderer {
 public:
  renderer(const dict_data& variables, const template_limits& limits);
  // Renders `body` into `out`. Throws template_error (with offset) on errors.
  void render(const ast::body& body, std::string& out);

  // A macro or call-block caller invoked from a call expression.
  value invoke(const macro_function& m, arguments& args);

 private:
  enum class flow : uint8_t { normal, break_loop, continue_loop };

  flow exec(const ast::body& body, const scope_ptr& s);
  flow exec_stmt(const ast::stmt& st, const scope_ptr& s);
  flow exec_for(const ast::for_stmt& f, const scope_ptr& s);
  void exec_call_block(const ast::call_block& c, const scope_ptr& s);
  // Renders `body` in scope `s` into a fresh buffer and returns it.
  std::string capture(const ast::body& body, const scope_ptr& s);

  value eval(const ast::expr& e, const scope_ptr& s);
  value eval_node(const ast::expr& e, const scope_ptr& s);
  value eval_call(const ast::call& c, const scope_ptr& s, std::optional<value> caller);
  value eval_filter(const ast::filter& f, const scope_ptr& s, const value* input);
  bool eval_compare(const ast::compare& c, const scope_ptr& s);
  arguments eval_args(const ast::call_args& a, const scope_ptr& s);
  value call_value(const value& callee, arguments& args);
  value lookup(std::string_view name, const scope& s) const;

  void assign(const ast::expr& target, const value& v, const scope_ptr& s);
  void capture_scope(const scope_ptr& s);  // a closure now holds `s`
  void count_iteration();
  void emit(std::string_view text);

  const dict_data& variables_;
  template_limits limits_;
  std::string* out_ = nullptr;
  std::string* top_ = nullptr;  // the render's own output, which max_output_bytes bounds
  int call_depth_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace owl::jinja
