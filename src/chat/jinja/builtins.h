// builtins.h — what templates can call: filters, tests, globals, attribute and item access,
// and the methods of str, list and dict, each with Python/jinja2 semantics.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/jinja/value.h"

namespace owl::jinja {

using filter_fn = value (*)(renderer& r, const value& operand, arguments& args);
using test_fn = bool (*)(renderer& r, const value& operand, arguments& args);

// Null when jinja2 has no such filter / test (or owl does not implement it).
filter_fn find_filter(std::string_view name);
test_fn find_test(std::string_view name);

// Global functions: range, dict, namespace, raise_exception, strftime_now. Undefined for
// other names.
value find_global(std::string_view name);

// obj.name: Python attribute first (a str/list/dict method), then the item, as jinja2's
// sandboxed getattr. Undefined (with jinja2's message) when neither exists; raises when obj
// itself is undefined.
value get_attr(const value& obj, std::string_view name);
// obj[key]: the item first, then an attribute of that name, as jinja2's getitem.
value get_item(const value& obj, const value& key);
// obj[start:stop:step] for str, list and tuple (absent parts are nullopt... or None).
value get_slice(const value& obj, const value& start, const value& stop, const value& step);
// Calls obj.name(args) without materializing a bound method; false when obj has no such method.
bool call_method(renderer& r, const value& obj, std::string_view name, arguments& args, value& result);

// Binds call arguments to Python-style parameters, for builtins: positional first, then
// keywords by name. Raises TypeError-like errors for unknown or duplicate arguments.
class bound_args {
 public:
  bound_args(const char* function, arguments& args, std::initializer_list<const char*> params,
             size_t required = 0);
  bool has(size_t i) const { return values_[i].has_value(); }
  const value& get(size_t i) const { return *values_[i]; }
  value get_or(size_t i, value fallback) const { return values_[i] ? *values_[i] : std::move(fallback); }
  // Typed access with Python's conversions (bool and int are interchangeable as in Python).
  int64_t integer(size_t i, int64_t fallback) const;
  bool flag(size_t i, bool fallback) const;  // truthiness
  std::optional<std::string> string(size_t i) const;

 private:
  const char* function_;
  std::vector<const char*> names_;
  std::vector<std::optional<value>> values_;
};

// Python arithmetic and operators (operators.cpp).
value add(const value& a, const value& b);
value subtract(const value& a, const value& b);
value multiply(const value& a, const value& b);
value true_divide(const value& a, const value& b);
value floor_divide(const value& a, const value& b);
value modulo(const value& a, const value& b);
value power(const value& a, const value& b);
value negate(const value& a);
value unary_plus(const value& a);
bool contains(const value& container, const value& item);  // item in container
// Python's `format % args` (printf.cpp): %s %r %d %i %f %e %g %x %o %c %%, flags, width,
// precision and %(key)s.
std::string printf_format(const std::string& format, const value& args);

}  // namespace owl::jinja
