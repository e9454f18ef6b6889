#include "chat/jinja/interpreter.h"

#include <optional>

#include "chat/jinja/builtins.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

// A macro, or the caller() of a {% call %} block: a template function with a closure scope.
class macro_function final : public callable {
 public:
  macro_function(const ast::signature& sig, const ast::body& body, std::string name, scope_ptr closure,
                 bool is_caller)
      : sig(sig), content(body), name(std::move(name)), closure(std::move(closure)), is_caller(is_caller) {}
  value call(renderer& r, arguments& args) const override { return r.invoke(*this, args); }
  std::string describe() const override { return "<Macro '" + name + "'>"; }

  const ast::signature& sig;
  const ast::body& content;
  std::string name;
  scope_ptr closure;
  bool is_caller;
};

namespace {

// Fills in the position of the innermost node an error passed through.
template <typename F>
auto at_node(uint32_t pos, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (template_error& e) {
    if (e.offset == template_error::no_offset) e.offset = pos;
    throw;
  }
}

void check_hashable(const value& key) {
  if (key.is_dict() || (key.is_list() && key.as_list().kind == seq_kind::list))
    raise("unhashable type: '" + type_name(key) + "'");
}

}  // namespace

renderer::renderer(const dict_data& variables, const template_limits& limits)
    : variables_(variables), limits_(limits) {}

void renderer::render(const ast::body& body, std::string& out) {
  out_ = top_ = &out;
  auto root = std::make_shared<scope>(nullptr);
  exec(body, root);
}

void renderer::emit(std::string_view text) {
  if (text.empty()) return;
  out_->append(text);
  text_budget::charge(text.size());
  if (out_ == top_ && static_cast<int64_t>(out_->size()) > limits_.max_output_bytes)
    raise("the output exceeds max_output_bytes (" + std::to_string(limits_.max_output_bytes) + ")");
  text_budget::check_size(out_->size());
}

void renderer::count_iteration() {
  if (++iterations_ > limits_.max_loop_iterations)
    raise("loops ran more than max_loop_iterations (" + std::to_string(limits_.max_loop_iterations) +
          ") iterations");
}

void renderer::capture_scope(const scope_ptr& s) {
  if (s->registered) return;
  s->registered = true;
  if (auto* registry = container_registry::current()) registry->add(std::static_pointer_cast<clearable>(s));
}

std::string renderer::capture(const ast::body& body, const scope_ptr& s) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  try {
    exec(body, s);
  } catch (...) {
    out_ = saved;
    throw;
  }
  out_ = saved;
  return buffer;
}

// ---- statements ----

renderer::flow renderer::exec(const ast::body& body, const scope_ptr& s) {
  for (const auto& st : body) {
    const flow f = exec_stmt(*st, s);
    if (f != flow::normal) return f;
  }
  return flow::normal;
}

renderer::flow renderer::exec_stmt(const ast::stmt& st, const scope_ptr& s) {
  return at_node(st.pos, [&]() -> flow {
    stack_guard::check();
    switch (st.kind) {
      case ast::stmt_kind::text: emit(static_cast<const ast::text&>(st).data); return flow::normal;
      case ast::stmt_kind::print: {
        const value v = eval(*static_cast<const ast::print&>(st).value, s);
        if (v.is_string()) {
          emit(v.as_string());
        } else {
          std::string text;
          append_str(text, v);
          emit(text);
        }
        return flow::normal;
      }
      case ast::stmt_kind::if_: {
        const auto& node = static_cast<const ast::if_stmt&>(st);
        for (const auto& [test, body] : node.branches)
          if (truthy(eval(*test, s))) return exec(body, s);
        return exec(node.otherwise, s);
      }
      case ast::stmt_kind::for_: return exec_for(static_cast<const ast::for_stmt&>(st), s);
      case ast::stmt_kind::set: {
        const auto& node = static_cast<const ast::set_stmt&>(st);
        assign(*node.target, eval(*node.value, s), s);
        return flow::normal;
      }
      case ast::stmt_kind::set_block: {
        const auto& node = static_cast<const ast::set_block&>(st);
        value v = value::string(capture(node.content, std::make_shared<scope>(s)));
        if (node.filter) v = eval_filter(static_cast<const ast::filter&>(*node.filter), s, &v);
        assign(*node.target, v, s);
        return flow::normal;
      }
      case ast::stmt_kind::macro: {
        const auto& node = static_cast<const ast::macro&>(st);
        capture_scope(s);
        s->set(node.name, value::function(std::make_shared<macro_function>(node.sig, node.content, node.name, s, false)));
        return flow::normal;
      }
      case ast::stmt_kind::call_block: exec_call_block(static_cast<const ast::call_block&>(st), s); return flow::normal;
      case ast::stmt_kind::filter_block: {
        const auto& node = static_cast<const ast::filter_block&>(st);
        const value body = value::string(capture(node.content, std::make_shared<scope>(s)));
        const value v = eval_filter(static_cast<const ast::filter&>(*node.filter), s, &body);
        emit(to_str(v));
        return flow::normal;
      }
      case ast::stmt_kind::with: {
        const auto& node = static_cast<const ast::with_stmt&>(st);
        auto inner = std::make_shared<scope>(s);
        std::vector<value> values;
        for (const auto& [target, expr] : node.assignments) values.push_back(eval(*expr, s));
        for (size_t i = 0; i < values.size(); ++i) assign(*node.assignments[i].first, values[i], inner);
        return exec(node.content, inner);
      }
      case ast::stmt_kind::break_: return flow::break_loop;
      case ast::stmt_kind::continue_: return flow::continue_loop;
      case ast::stmt_kind::body: return exec(static_cast<const ast::body_stmt&>(st).content, s);
    }
    return flow::normal;
  });
}

renderer::flow renderer::exec_for(const ast::for_stmt& f, const scope_ptr& s) {
  std::vector<value> items = at_node(f.iter->pos, [&] { return iterate(eval(*f.iter, s)); });
  if (f.filter) {
    // The inline `if` filters before the loop starts, so loop.length and friends count only
    // the items that pass.
    std::vector<value> kept;
    auto probe = std::make_shared<scope>(s);
    for (value& item : items) {
      count_iteration();
      probe->vars.clear();
      assign(*f.target, item, probe);
      if (truthy(eval(*f.filter, probe))) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec(f.otherwise, std::make_shared<scope>(s));
  auto loop = std::make_shared<loop_state>();
  loop->items = std::move(items);
  if (auto* registry = container_registry::current()) registry->add(loop);
  const value loop_value = value::loop(loop);
  scope_ptr iteration;
  for (size_t i = 0; i < loop->items.size(); ++i) {
    count_iteration();
    // A fresh scope per iteration, reused when nothing captured the previous one.
    if (!iteration || iteration.use_count() > 1 || iteration->registered) iteration = std::make_shared<scope>(s);
    else iteration->vars.clear();
    loop->index0 = i;
    const value item = loop->items[i];
    assign(*f.target, item, iteration);
    iteration->set("loop", loop_value);
    if (exec(f.loop_body, iteration) == flow::break_loop) break;
  }
  return flow::normal;
}

void renderer::exec_call_block(const ast::call_block& c, const scope_ptr& s) {
  capture_scope(s);
  auto caller = std::make_shared<macro_function>(c.sig, c.content, "caller", s, true);
  const value result =
      at_node(c.call->pos, [&] { return eval_call(static_cast<const ast::call&>(*c.call), s, value::function(caller)); });
  emit(to_str(result));
}

void renderer::assign(const ast::expr& target, const value& v, const scope_ptr& s) {
  switch (target.kind) {
    case ast::expr_kind::name: s->set(static_cast<const ast::name&>(target).id, v); return;
    case ast::expr_kind::tuple: {
      const auto& targets = static_cast<const ast::sequence&>(target).items;
      const std::vector<value> items = at_node(target.pos, [&] { return iterate(v); });
      if (items.size() != targets.size())
        throw template_error(items.size() < targets.size()
                                 ? "not enough values to unpack (expected " + std::to_string(targets.size()) +
                                       ", got " + std::to_string(items.size()) + ")"
                                 : "too many values to unpack (expected " + std::to_string(targets.size()) + ")",
                             target.pos);
      for (size_t i = 0; i < targets.size(); ++i) assign(*targets[i], items[i], s);
      return;
    }
    case ast::expr_kind::nsref: {
      const auto& ref = static_cast<const ast::nsref&>(target);
      const value ns = lookup(ref.ns, *s);
      if (!ns.is_namespace()) throw template_error("cannot assign attribute on non-namespace object", target.pos);
      ns.as_dict().set(std::string_view(ref.attr), v);
      return;
    }
    default: throw template_error("cannot assign to this expression", target.pos);
  }
}

// ---- expressions ----

value renderer::lookup(std::string_view name, const scope& s) const {
  for (const scope* p = &s; p; p = p->parent.get())
    if (const value* v = p->find(name)) return *v;
  if (const value* v = variables_.find(name)) return *v;
  return find_global(name);
}

value renderer::eval(const ast::expr& e, const scope_ptr& s) {
  return at_node(e.pos, [&] { return eval_node(e, s); });
}

value renderer::eval_node(const ast::expr& e, const scope_ptr& s) {
  stack_guard::check();
  using k = ast::expr_kind;
  switch (e.kind) {
    case k::literal: return static_cast<const ast::literal&>(e).val;
    case k::name: return lookup(static_cast<const ast::name&>(e).id, *s);
    case k::list:
    case k::tuple: {
      std::vector<value> items;
      for (const auto& item : static_cast<const ast::sequence&>(e).items) items.push_back(eval(*item, s));
      return value::list(std::move(items), e.kind == k::list ? seq_kind::list : seq_kind::tuple);
    }
    case k::dict: {
      value d = value::dict();
      for (const auto& [key_expr, value_expr] : static_cast<const ast::dict_display&>(e).items) {
        value key = eval(*key_expr, s);
        check_hashable(key);
        d.as_dict().set(std::move(key), eval(*value_expr, s));
      }
      return d;
    }
    case k::getattr: {
      const auto& node = static_cast<const ast::getattr&>(e);
      return get_attr(eval(*node.object, s), node.attr);
    }
    case k::getitem: {
      const auto& node = static_cast<const ast::getitem&>(e);
      const value object = eval(*node.object, s);
      if (node.index->kind == k::slice) {
        const auto& sl = static_cast<const ast::slice&>(*node.index);
        auto part = [&](const ast::expr_ptr& p) { return p ? eval(*p, s) : value::none(); };
        const value start = part(sl.start), stop = part(sl.stop), step = part(sl.step);
        return get_slice(object, start, stop, step);
      }
      return get_item(object, eval(*node.index, s));
    }
    case k::slice: raise("a slice can only be used in a subscript");
    case k::call: return eval_call(static_cast<const ast::call&>(e), s, std::nullopt);
    case k::filter: return eval_filter(static_cast<const ast::filter&>(e), s, nullptr);
    case k::test: {
      const auto& node = static_cast<const ast::test&>(e);
      const value operand = eval(*node.operand, s);
      arguments args = eval_args(node.args, s);
      return value::boolean(node.fn(*this, operand, args));
    }
    case k::negate: return negate(eval(*static_cast<const ast::unary&>(e).operand, s));
    case k::plus: return unary_plus(eval(*static_cast<const ast::unary&>(e).operand, s));
    case k::logical_not: return value::boolean(!truthy(eval(*static_cast<const ast::unary&>(e).operand, s)));
    case k::binary: {
      const auto& node = static_cast<const ast::binary&>(e);
      const value a = eval(*node.left, s);
      const value b = eval(*node.right, s);
      switch (node.op) {
        case ast::binary_op::add: return add(a, b);
        case ast::binary_op::sub: return subtract(a, b);
        case ast::binary_op::mul: return multiply(a, b);
        case ast::binary_op::div: return true_divide(a, b);
        case ast::binary_op::floordiv: return floor_divide(a, b);
        case ast::binary_op::mod: return modulo(a, b);
        case ast::binary_op::pow: return power(a, b);
      }
      raise("unknown operator");
    }
    case k::logical_and:
    case k::logical_or: {
      // Python's and/or return an operand, not a bool.
      const auto& node = static_cast<const ast::binary&>(e);
      value left = eval(*node.left, s);
      if (truthy(left) == (e.kind == k::logical_or)) return left;
      return eval(*node.right, s);
    }
    case k::concat: {
      std::string out;
      for (const auto& part : static_cast<const ast::concat&>(e).parts) {
        append_str(out, eval(*part, s));
        text_budget::check_size(out.size());
      }
      return value::string(std::move(out));
    }
    case k::compare: return value::boolean(eval_compare(static_cast<const ast::compare&>(e), s));
    case k::condition: {
      const auto& node = static_cast<const ast::condition&>(e);
      if (truthy(eval(*node.test, s))) return eval(*node.then, s);
      if (node.otherwise) return eval(*node.otherwise, s);
      return value::undefined("the inline if-expression evaluated to false and no else section was defined.");
    }
    case k::nsref: raise("a namespace attribute reference can only be assigned to");
  }
  raise("unknown expression");
}

bool renderer::eval_compare(const ast::compare& c, const scope_ptr& s) {
  value left = eval(*c.first, s);
  for (const auto& [op, expr] : c.rest) {
    value right = eval(*expr, s);
    bool ok = false;
    switch (op) {
      case ast::compare_op::eq: ok = equals(left, right); break;
      case ast::compare_op::ne: ok = !equals(left, right); break;
      case ast::compare_op::lt: ok = compare(left, right, "<") < 0; break;
      case ast::compare_op::lteq: ok = compare(left, right, "<=") <= 0; break;
      case ast::compare_op::gt: ok = compare(left, right, ">") > 0; break;
      case ast::compare_op::gteq: ok = compare(left, right, ">=") >= 0; break;
      case ast::compare_op::in: ok = contains(right, left); break;
      case ast::compare_op::not_in: ok = !contains(right, left); break;
    }
    if (!ok) return false;
    left = std::move(right);
  }
  return true;
}

arguments renderer::eval_args(const ast::call_args& a, const scope_ptr& s) {
  arguments args;
  args.positional.reserve(a.positional.size());
  for (const auto& p : a.positional) args.positional.push_back(eval(*p, s));
  if (a.star_args)
    for (value& v : at_node(a.star_args->pos, [&] { return iterate(eval(*a.star_args, s)); }))
      args.positional.push_back(std::move(v));
  for (const auto& [key, expr] : a.keyword) args.keyword.emplace_back(key, eval(*expr, s));
  if (a.star_kwargs) {
    const value d = eval(*a.star_kwargs, s);
    if (!d.is_dict() || d.is_namespace())
      throw template_error("argument after ** must be a mapping, not " + type_name(d), a.star_kwargs->pos);
    for (const auto& [k, v] : d.as_dict().entries) {
      if (!k.is_string()) throw template_error("keywords must be strings", a.star_kwargs->pos);
      args.keyword.emplace_back(k.as_string(), v);
    }
  }
  return args;
}

value renderer::eval_call(const ast::call& c, const scope_ptr& s, std::optional<value> caller) {
  // obj.method(...) calls the method directly instead of building a bound-method object.
  if (c.callee->kind == ast::expr_kind::getattr) {
    const auto& node = static_cast<const ast::getattr&>(*c.callee);
    const value object = eval(*node.object, s);
    arguments args = eval_args(c.args, s);
    if (caller) args.keyword.emplace_back("caller", *caller);
    value result;
    if (call_method(*this, object, node.attr, args, result)) return result;
    const value callee = at_node(node.pos, [&] { return get_attr(object, node.attr); });
    return call_value(callee, args);
  }
  const value callee = eval(*c.callee, s);
  arguments args = eval_args(c.args, s);
  if (caller) args.keyword.emplace_back("caller", *caller);
  return call_value(callee, args);
}

value renderer::call_value(const value& callee, arguments& args) {
  if (callee.is_function()) return callee.as_function().call(*this, args);
  if (callee.is_undefined()) raise(callee.undefined_message());
  if (callee.is_loop()) raise("recursive loops are not supported");
  raise(text::quoted(type_name(callee)) + " object is not callable");
}

value renderer::eval_filter(const ast::filter& f, const scope_ptr& s, const value* input) {
  value operand;
  if (f.operand) {
    operand = f.operand->kind == ast::expr_kind::filter && input
                  ? eval_filter(static_cast<const ast::filter&>(*f.operand), s, input)
                  : eval(*f.operand, s);
  } else if (input) {
    operand = *input;
  }
  arguments args = eval_args(f.args, s);
  return at_node(f.pos, [&] { return f.fn(*this, operand, args); });
}

// ---- macros ----

value renderer::invoke(const macro_function& m, arguments& args) {
  if (call_depth_ >= limits_.max_recursion_depth)
    raise("macro calls nest deeper than max_recursion_depth (" + std::to_string(limits_.max_recursion_depth) + ")");
  ++call_depth_;
  struct depth_guard {
    int& d;
    ~depth_guard() { --d; }
  } guard{call_depth_};

  const ast::signature& sig = m.sig;
  auto frame = std::make_shared<scope>(m.closure);
  const size_t n = sig.params.size();
  const size_t first_default = n - sig.defaults.size();
  const size_t given = std::min(n, args.positional.size());
  for (size_t i = 0; i < given; ++i) frame->set(sig.params[i], args.positional[i]);
  auto take_keyword = [&](std::string_view key) -> std::optional<value> {
    for (auto it = args.keyword.begin(); it != args.keyword.end(); ++it)
      if (it->first == key) {
        value v = std::move(it->second);
        args.keyword.erase(it);
        return v;
      }
    return std::nullopt;
  };
  for (size_t i = given; i < n; ++i) {
    if (auto v = take_keyword(sig.params[i])) frame->set(sig.params[i], std::move(*v));
    else if (i >= first_default) frame->set(sig.params[i], eval(*sig.defaults[i - first_default], frame));
    else frame->set(sig.params[i], value::undefined("parameter '" + sig.params[i] + "' was not provided"));
  }
  if (sig.uses_caller && !m.is_caller) {
    auto c = take_keyword("caller");
    frame->set("caller", c ? std::move(*c) : value::undefined("No caller defined"));
  }
  if (sig.catch_kwargs) {
    value kw = value::dict();
    for (auto& [k, v] : args.keyword) kw.as_dict().set(std::string_view(k), std::move(v));
    frame->set("kwargs", std::move(kw));
  } else if (!args.keyword.empty()) {
    raise("macro '" + m.name + "' takes no keyword argument '" + args.keyword.front().first + "'");
  }
  if (sig.catch_varargs) {
    std::vector<value> extra;
    for (size_t i = given; i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
    frame->set("varargs", value::tuple(std::move(extra)));
  } else if (args.positional.size() > n) {
    raise("macro '" + m.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  return value::string(capture(m.content, frame));
}

}  // namespace owl::jinja
