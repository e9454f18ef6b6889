// operators.cpp — Python's arithmetic and `in`, on 64-bit ints (overflow is an error, not a
// bignum) and doubles.
#include <cmath>
#include <limits>

#include "chat/jinja/builtins.h"

namespace owl::jinja {

namespace {

[[noreturn]] void overflow() { raise("integer overflow (owl's template integers are 64-bit)"); }

[[noreturn]] void unsupported(const char* op, const value& a, const value& b) {
  raise(std::string("unsupported operand type(s) for ") + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
}

void check_defined(const value& a, const value& b) {
  if (a.is_undefined()) raise(a.undefined_message());
  if (b.is_undefined()) raise(b.undefined_message());
}

bool both_ints(const value& a, const value& b) {
  return (a.is_int() || a.is_bool()) && (b.is_int() || b.is_bool());
}

bool same_sequence_kind(const value& a, const value& b) {
  return a.is_list() && b.is_list() && a.as_list().kind == b.as_list().kind && a.as_list().kind != seq_kind::generator;
}

// s * n and n * s for str, list and tuple.
value repeat(const value& seq, int64_t n) {
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && static_cast<uint64_t>(n) > std::numeric_limits<size_t>::max() / s.size()) overflow();
    text_budget::check_size(s.size() * static_cast<size_t>(n));
    std::string out;
    out.reserve(s.size() * static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) out += s;
    return value::string_like(seq, std::move(out));
  }
  const auto& items = seq.as_list().items;
  // Charged before the vector is built, so [x] * 10**9 fails without allocating it.
  if (!items.empty() && static_cast<uint64_t>(n) > (std::numeric_limits<size_t>::max() / 16) / items.size()) overflow();
  text_budget::charge_items(items.size() * static_cast<size_t>(n));
  std::vector<value> out;
  out.reserve(items.size() * static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return value::list(std::move(out), seq.as_list().kind);
}

// CPython's float divmod: the floor quotient and a remainder with the divisor's sign.
void float_divmod(double x, double y, double& floordiv, double& mod) {
  mod = std::fmod(x, y);
  double div = (x - mod) / y;
  if (mod != 0.0) {
    if ((y < 0) != (mod < 0)) {
      mod += y;
      div -= 1.0;
    }
  } else {
    mod = std::copysign(0.0, y);
  }
  if (div != 0.0) {
    floordiv = std::floor(div);
    if (div - floordiv > 0.5) floordiv += 1.0;
  } else {
    floordiv = std::copysign(0.0, x / y);
  }
}

}  // namespace

value add(const value& a, const value& b) {
  check_defined(a, b);
  if (both_ints(a, b)) {
    int64_t r;
    if (__builtin_add_overflow(a.to_int(), b.to_int(), &r)) overflow();
    return value::integer(r);
  }
  if (a.is_number() && b.is_number()) return value::floating(a.to_double() + b.to_double());
  if (a.is_string() && b.is_string()) {
    text_budget::check_size(a.as_string().size() + b.as_string().size());
    if (a.is_markup() || b.is_markup()) {
      // Markup + str escapes the plain side (markupsafe's __add__ / __radd__).
      auto escaped = [](const value& v) { return v.is_markup() ? v.as_string() : html_escape(v.as_string()); };
      return value::markup(escaped(a) + escaped(b));
    }
    return value::string(a.as_string() + b.as_string());
  }
  if (same_sequence_kind(a, b)) {
    std::vector<value> items = a.as_list().items;
    items.insert(items.end(), b.as_list().items.begin(), b.as_list().items.end());
    return value::list(std::move(items), a.as_list().kind);
  }
  if (a.is_string() || (a.is_list() && !a.is_generator()))
    raise("can only concatenate " + type_name(a) + " (not \"" + type_name(b) + "\") to " + type_name(a));
  unsupported("+", a, b);
}

value subtract(const value& a, const value& b) {
  check_defined(a, b);
  if (both_ints(a, b)) {
    int64_t r;
    if (__builtin_sub_overflow(a.to_int(), b.to_int(), &r)) overflow();
    return value::integer(r);
  }
  if (a.is_number() && b.is_number()) return value::floating(a.to_double() - b.to_double());
  unsupported("-", a, b);
}

value multiply(const value& a, const value& b) {
  check_defined(a, b);
  if (both_ints(a, b)) {
    int64_t r;
    if (__builtin_mul_overflow(a.to_int(), b.to_int(), &r)) overflow();
    return value::integer(r);
  }
  if (a.is_number() && b.is_number()) return value::floating(a.to_double() * b.to_double());
  const bool a_seq = a.is_string() || (a.is_list() && !a.is_generator());
  const bool b_seq = b.is_string() || (b.is_list() && !b.is_generator());
  if (a_seq && (b.is_int() || b.is_bool())) return repeat(a, b.to_int());
  if (b_seq && (a.is_int() || a.is_bool())) return repeat(b, a.to_int());
  if (a_seq && b.is_float()) raise("can't multiply sequence by non-int of type 'float'");
  if (b_seq && a.is_float()) raise("can't multiply sequence by non-int of type 'float'");
  unsupported("*", a, b);
}

value true_divide(const value& a, const value& b) {
  check_defined(a, b);
  if (!a.is_number() || !b.is_number()) unsupported("/", a, b);
  const double y = b.to_double();
  if (y == 0.0) raise("division by zero");
  return value::floating(a.to_double() / y);
}

value floor_divide(const value& a, const value& b) {
  check_defined(a, b);
  if (both_ints(a, b)) {
    const int64_t x = a.to_int(), y = b.to_int();
    if (y == 0) raise("integer division or modulo by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1) overflow();
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) --q;
    return value::integer(q);
  }
  if (!a.is_number() || !b.is_number()) unsupported("//", a, b);
  if (b.to_double() == 0.0) raise("float floor division by zero");
  double q, m;
  float_divmod(a.to_double(), b.to_double(), q, m);
  return value::floating(q);
}

value modulo(const value& a, const value& b) {
  // str % x formats even when x is Undefined (it prints as ""), as Python's str.__mod__ runs first.
  if (a.is_string()) return value::string_like(a, printf_format(a.as_string(), b));
  check_defined(a, b);
  if (both_ints(a, b)) {
    const int64_t x = a.to_int(), y = b.to_int();
    if (y == 0) raise("integer division or modulo by zero");
    if (y == -1) return value::integer(0);
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return value::integer(r);
  }
  if (a.is_number() && b.is_number()) {
    if (b.to_double() == 0.0) raise("float modulo by zero");
    double q, m;
    float_divmod(a.to_double(), b.to_double(), q, m);
    return value::floating(m);
  }
  unsupported("%", a, b);
}

value power(const value& a, const value& b) {
  check_defined(a, b);
  if (both_ints(a, b)) {
    int64_t base = a.to_int(), exponent = b.to_int();
    if (exponent >= 0) {
      int64_t result = 1;
      while (exponent > 0) {
        if (exponent & 1)
          if (__builtin_mul_overflow(result, base, &result)) overflow();
        exponent >>= 1;
        if (exponent && __builtin_mul_overflow(base, base, &base)) overflow();
      }
      return value::integer(result);
    }
    if (base == 0) raise("0.0 cannot be raised to a negative power");
    return value::floating(std::pow(static_cast<double>(base), static_cast<double>(exponent)));
  }
  if (!a.is_number() || !b.is_number()) unsupported("** or pow()", a, b);
  const double x = a.to_double(), y = b.to_double();
  if (x == 0.0 && y < 0) raise("0.0 cannot be raised to a negative power");
  if (x < 0 && y != std::floor(y)) raise("a negative number raised to a fractional power is complex");
  return value::floating(std::pow(x, y));
}

value negate(const value& a) {
  if (a.is_undefined()) raise(a.undefined_message());
  if (a.is_int() || a.is_bool()) {
    if (a.to_int() == std::numeric_limits<int64_t>::min()) overflow();
    return value::integer(-a.to_int());
  }
  if (a.is_float()) return value::floating(-a.as_float());
  raise("bad operand type for unary -: '" + type_name(a) + "'");
}

value unary_plus(const value& a) {
  if (a.is_undefined()) raise(a.undefined_message());
  if (a.is_int() || a.is_bool()) return value::integer(a.to_int());
  if (a.is_float()) return a;
  raise("bad operand type for unary +: '" + type_name(a) + "'");
}

bool contains(const value& container, const value& item) {
  switch (container.type()) {
    case kind::undefined: return false;  // Undefined iterates as empty
    case kind::string:
      if (!item.is_string())
        raise("'in <string>' requires string as left operand, not " + type_name(item));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case kind::list:
      for (const value& v : iterate(container))
        if (equals(v, item)) return true;
      return false;
    case kind::dict:
      if (container.as_dict().is_namespace) break;
      if (item.is_list() && item.as_list().kind != seq_kind::tuple) raise("unhashable type: '" + type_name(item) + "'");
      if (item.is_dict()) raise("unhashable type: 'dict'");
      return container.as_dict().find(item) != nullptr;
    default: break;
  }
  raise("argument of type '" + type_name(container) + "' is not iterable");
}

}  // namespace owl::jinja
