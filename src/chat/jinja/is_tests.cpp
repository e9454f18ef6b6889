// is_tests.cpp — jinja2's tests (`x is defined`, `n is divisibleby 3`, `select('equalto', x)`).
#include "chat/jinja/builtins.h"

namespace owl::jinja {

namespace {

// The one argument of a comparison-style test.
const value& operand_arg(const char* name, arguments& args) {
  if (args.positional.size() != 1 || !args.keyword.empty())
    raise(std::string("test '") + name + "' takes exactly one argument");
  return args.positional[0];
}

void no_args(const char* name, arguments& args) {
  if (!args.positional.empty() || !args.keyword.empty())
    raise(std::string("test '") + name + "' takes no arguments");
}

bool t_defined(renderer&, const value& v, arguments& a) { return no_args("defined", a), !v.is_undefined(); }
bool t_undefined(renderer&, const value& v, arguments& a) { return no_args("undefined", a), v.is_undefined(); }
bool t_none(renderer&, const value& v, arguments& a) { return no_args("none", a), v.is_none(); }
bool t_boolean(renderer&, const value& v, arguments& a) { return no_args("boolean", a), v.is_bool(); }
bool t_true(renderer&, const value& v, arguments& a) { return no_args("true", a), v.is_bool() && v.as_bool(); }
bool t_false(renderer&, const value& v, arguments& a) { return no_args("false", a), v.is_bool() && !v.as_bool(); }
bool t_integer(renderer&, const value& v, arguments& a) { return no_args("integer", a), v.is_int(); }
bool t_float(renderer&, const value& v, arguments& a) { return no_args("float", a), v.is_float(); }
bool t_number(renderer&, const value& v, arguments& a) { return no_args("number", a), v.is_number(); }
bool t_string(renderer&, const value& v, arguments& a) { return no_args("string", a), v.is_string(); }
bool t_mapping(renderer&, const value& v, arguments& a) {
  return no_args("mapping", a), v.is_dict() && !v.is_namespace();
}
bool t_callable(renderer&, const value& v, arguments& a) {
  // Undefined counts: jinja2's Undefined defines __call__ (which raises).
  return no_args("callable", a), v.is_function() || v.is_loop() || v.is_undefined();
}
bool t_escaped(renderer&, const value&, arguments& a) { return no_args("escaped", a), false; }

// iter(v) succeeds: str, list, tuple, dict, generator, and Undefined (which iterates as empty).
bool t_iterable(renderer&, const value& v, arguments& a) {
  no_args("iterable", a);
  return v.is_undefined() || v.is_string() || v.is_list() || (v.is_dict() && !v.is_namespace());
}

// len(v) and v.__getitem__ exist: not generators, but Undefined qualifies.
bool t_sequence(renderer&, const value& v, arguments& a) {
  no_args("sequence", a);
  return v.is_undefined() || v.is_string() || (v.is_list() && !v.is_generator()) ||
         (v.is_dict() && !v.is_namespace());
}

bool t_lower(renderer& r, const value& v, arguments& a) {
  no_args("lower", a);
  arguments none;
  value result;
  call_method(r, value::string(to_str(v)), "islower", none, result);
  return truthy(result);
}

bool t_upper(renderer& r, const value& v, arguments& a) {
  no_args("upper", a);
  arguments none;
  value result;
  call_method(r, value::string(to_str(v)), "isupper", none, result);
  return truthy(result);
}

bool t_odd(renderer&, const value& v, arguments& a) {
  no_args("odd", a);
  return equals(modulo(v, value::integer(2)), value::integer(1));
}

bool t_even(renderer&, const value& v, arguments& a) {
  no_args("even", a);
  return equals(modulo(v, value::integer(2)), value::integer(0));
}

bool t_divisibleby(renderer&, const value& v, arguments& a) {
  return equals(modulo(v, operand_arg("divisibleby", a)), value::integer(0));
}

bool t_eq(renderer&, const value& v, arguments& a) { return equals(v, operand_arg("eq", a)); }
bool t_ne(renderer&, const value& v, arguments& a) { return !equals(v, operand_arg("ne", a)); }
bool t_lt(renderer&, const value& v, arguments& a) { return compare(v, operand_arg("lt", a), "<") < 0; }
bool t_le(renderer&, const value& v, arguments& a) { return compare(v, operand_arg("le", a), "<=") <= 0; }
bool t_gt(renderer&, const value& v, arguments& a) { return compare(v, operand_arg("gt", a), ">") > 0; }
bool t_ge(renderer&, const value& v, arguments& a) { return compare(v, operand_arg("ge", a), ">=") >= 0; }
bool t_in(renderer&, const value& v, arguments& a) { return contains(operand_arg("in", a), v); }

// Python `is`: the same object. Scalars compare by type and value (None, True and small ints
// are singletons in CPython; owl does not model object identity for other scalars).
bool t_sameas(renderer&, const value& v, arguments& a) {
  const value& other = operand_arg("sameas", a);
  if (v.type() != other.type()) return false;
  if (v.identity() || other.identity()) return v.identity() == other.identity();
  return equals(v, other);
}

struct test_entry {
  const char* name;
  test_fn fn;
};

const test_entry tests[] = {
    {"defined", t_defined},   {"undefined", t_undefined}, {"none", t_none},
    {"boolean", t_boolean},   {"true", t_true},           {"false", t_false},
    {"integer", t_integer},   {"float", t_float},         {"number", t_number},
    {"string", t_string},     {"mapping", t_mapping},     {"iterable", t_iterable},
    {"sequence", t_sequence}, {"callable", t_callable},   {"sameas", t_sameas},
    {"escaped", t_escaped},   {"lower", t_lower},         {"upper", t_upper},
    {"odd", t_odd},           {"even", t_even},           {"divisibleby", t_divisibleby},
    {"in", t_in},             {"==", t_eq},               {"eq", t_eq},
    {"equalto", t_eq},        {"!=", t_ne},               {"ne", t_ne},
    {"<", t_lt},              {"lt", t_lt},               {"lessthan", t_lt},
    {"<=", t_le},             {"le", t_le},               {">", t_gt},
    {"gt", t_gt},             {"greaterthan", t_gt},      {">=", t_ge},
    {"ge", t_ge},
};

}  // namespace

test_fn find_test(std::string_view name) {
  for (const auto& t : tests)
    if (name == t.name) return t.fn;
  return nullptr;
}

}  // namespace owl::jinja
