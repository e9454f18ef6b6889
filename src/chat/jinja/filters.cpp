// filters.cpp — jinja2's built-in filters, with transformers' tojson.
//
// Filters that return generators in jinja2 (map, select, reject, selectattr, rejectattr,
// unique, batch, items, reverse) return owl generators: truthy even when empty, no length,
// consumed by the first loop, exactly the behaviour templates depend on.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "chat/jinja/builtins.h"
#include "chat/jinja/methods.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

namespace {

value str_value(const value& v) { return v.is_string() ? v : value::string(to_str(v)); }

value ignore_case(const value& v) { return v.is_string() ? value::string(text::lower(v.as_string())) : v; }

// jinja2's make_attrgetter: "a.b.0" walks items (then attributes) part by part.
std::vector<value> attribute_path(const value& attribute) {
  std::vector<value> parts;
  if (attribute.is_none() || attribute.is_undefined()) return parts;
  if (!attribute.is_string()) return {attribute};
  for (auto& part : text::split(attribute.as_string(), std::string("."), -1, false)) {
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    int64_t n = 0;
    if (digits && std::from_chars(part.data(), part.data() + part.size(), n).ec == std::errc())
      parts.push_back(value::integer(n));
    else
      parts.push_back(value::string(std::move(part)));
  }
  return parts;
}

value get_path(value item, const std::vector<value>& path, const std::optional<value>& fallback = std::nullopt) {
  for (const value& part : path) {
    item = get_item(item, part);
    if (fallback && item.is_undefined()) item = *fallback;
  }
  return item;
}

value generator(std::vector<value> items) { return value::list(std::move(items), seq_kind::generator); }

// ---- the filters ----

value f_abs(renderer&, const value& v, arguments& args) {
  bound_args b("abs", args, {});
  if (v.is_float()) return value::floating(std::fabs(v.as_float()));
  if (v.is_int() || v.is_bool()) {
    const int64_t i = v.to_int();
    if (i == std::numeric_limits<int64_t>::min()) raise("integer overflow (owl's template integers are 64-bit)");
    return value::integer(i < 0 ? -i : i);
  }
  if (v.is_undefined()) raise(v.undefined_message());
  raise("bad operand type for abs(): '" + type_name(v) + "'");
}

value f_attr(renderer&, const value& v, arguments& args) {
  bound_args b("attr", args, {"name"}, 1);
  const std::string name = to_str(b.get(0));
  // Only real attributes: a dict's keys are items, not attributes.
  if (v.is_loop() || v.is_namespace() || method_kind(v, name) != method_access::none) return get_attr(v, name);
  if (v.is_undefined()) raise(v.undefined_message());
  return value::undefined(text::quoted(object_type_repr(v)) + " has no attribute " + text::quoted(name));
}

value f_batch(renderer&, const value& v, arguments& args) {
  bound_args b("batch", args, {"linecount", "fill_with"}, 1);
  const int64_t n = b.integer(0, 1);
  if (n <= 0) raise("batch() linecount must be positive");
  std::vector<value> out, row;
  for (value& item : iterate(v)) {
    if (static_cast<int64_t>(row.size()) == n) out.push_back(value::list(std::exchange(row, {})));
    row.push_back(std::move(item));
  }
  if (!row.empty()) {
    if (b.has(1) && !b.get(1).is_none())
      while (static_cast<int64_t>(row.size()) < n) row.push_back(b.get(1));
    out.push_back(value::list(std::move(row)));
  }
  return generator(std::move(out));
}

value f_capitalize(renderer&, const value& v, arguments& args) {
  bound_args b("capitalize", args, {});
  return value::string_like(v, text::capitalize(to_str(v)));
}

value f_center(renderer& r, const value& v, arguments& args) {
  bound_args b("center", args, {"width"});
  arguments inner;
  inner.positional.push_back(value::integer(b.integer(0, 80)));
  value result;
  call_method(r, str_value(v), "center", inner, result);
  return result;
}

value f_default(renderer&, const value& v, arguments& args) {
  bound_args b("default", args, {"default_value", "boolean"});
  if (v.is_undefined() || (b.flag(1, false) && !truthy(v))) return b.get_or(0, value::string(std::string()));
  return v;
}

value f_dictsort(renderer&, const value& v, arguments& args) {
  bound_args b("dictsort", args, {"case_sensitive", "by", "reverse"});
  const bool case_sensitive = b.flag(0, false);
  const std::string by = b.string(1).value_or("key");
  if (by != "key" && by != "value") raise("You can only sort by either \"key\" or \"value\"");
  if (!v.is_dict() || v.is_namespace()) raise("dictsort() expects a mapping, got " + type_name(v));
  const size_t pos = by == "key" ? 0 : 1;
  std::vector<std::pair<value, value>> entries = v.as_dict().entries;
  auto key = [&](const std::pair<value, value>& e) {
    const value& k = pos == 0 ? e.first : e.second;
    return case_sensitive ? k : ignore_case(k);
  };
  const bool reverse = b.flag(2, false);
  std::stable_sort(entries.begin(), entries.end(), [&](const auto& x, const auto& y) {
    return reverse ? compare(key(y), key(x)) < 0 : compare(key(x), key(y)) < 0;
  });
  std::vector<value> out;
  for (auto& [k, val] : entries) out.push_back(value::tuple({k, val}));
  return value::list(std::move(out));
}

value f_escape(renderer&, const value& v, arguments& args) {
  bound_args b("escape", args, {});
  if (v.is_markup()) return v;
  return value::markup(html_escape(to_str(v)));
}

value f_first(renderer&, const value& v, arguments& args) {
  bound_args b("first", args, {});
  std::vector<value> items = iterate(v);
  if (items.empty()) return value::undefined("No first item, sequence was empty.");
  return items.front();
}

value f_last(renderer&, const value& v, arguments& args) {
  bound_args b("last", args, {});
  if (v.is_generator()) raise("'generator' object is not reversible");
  std::vector<value> items = iterate(v);
  if (items.empty()) return value::undefined("No last item, sequence was empty.");
  return items.back();
}

// Python float(str): surrounding whitespace, underscores between digits, inf/nan spellings.
std::optional<double> parse_float(const std::string& raw) {
  std::string s = text::strip(raw, std::nullopt, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 == s.size() || !isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !isdigit(static_cast<unsigned char>(s[i + 1])))
        return std::nullopt;
      continue;
    }
    clean += s[i];
  }
  std::string lower = text::lower(clean);
  const bool negative = !lower.empty() && lower[0] == '-';
  const std::string body = !lower.empty() && (lower[0] == '-' || lower[0] == '+') ? lower.substr(1) : lower;
  if (body == "inf" || body == "infinity") return negative ? -INFINITY : INFINITY;
  if (body == "nan") return NAN;
  if (body.empty() || !(isdigit(static_cast<unsigned char>(body[0])) || body[0] == '.')) return std::nullopt;
  double d = 0;
  const char* begin = clean.data() + (clean[0] == '+' ? 1 : 0);
  const auto r = std::from_chars(begin, clean.data() + clean.size(), d);
  if (r.ptr != clean.data() + clean.size()) return std::nullopt;
  if (r.ec == std::errc::result_out_of_range) return std::strtod(clean.c_str(), nullptr);
  if (r.ec != std::errc()) return std::nullopt;
  return d;
}

// Python int(str, base): whitespace, sign, underscores, 0x/0o/0b prefixes when allowed.
std::optional<int64_t> parse_int(const std::string& raw, int base) {
  std::string s = text::strip(raw, std::nullopt, true, true);
  bool negative = false;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i + 1 < s.size() && s[i] == '0') {
    const char p = static_cast<char>(s[i + 1] | 32);
    const int prefixed = p == 'x' ? 16 : (p == 'o' ? 8 : (p == 'b' ? 2 : 0));
    if (prefixed && (base == 0 || base == prefixed)) {
      base = prefixed;
      i += 2;
      if (i < s.size() && s[i] == '_') ++i;
    }
  }
  if (base == 0) base = 10;
  std::string digits;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '_') {
      if (k == i || k + 1 == s.size() || s[k + 1] == '_') return std::nullopt;
      continue;
    }
    digits += s[k];
  }
  if (digits.empty()) return std::nullopt;
  uint64_t magnitude = 0;
  const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (r.ec != std::errc() || r.ptr != digits.data() + digits.size()) return std::nullopt;
  if (magnitude > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0)) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
}

value f_float(renderer&, const value& v, arguments& args) {
  bound_args b("float", args, {"default"});
  const value fallback = b.get_or(0, value::floating(0.0));
  if (v.is_undefined()) raise(v.undefined_message());  // float(Undefined) raises
  if (v.is_number()) return value::floating(v.to_double());
  if (v.is_string()) {
    if (auto d = parse_float(v.as_string())) return value::floating(*d);
  }
  return fallback;
}

value f_int(renderer&, const value& v, arguments& args) {
  bound_args b("int", args, {"default", "base"});
  const value fallback = b.get_or(0, value::integer(0));
  if (v.is_undefined()) raise(v.undefined_message());  // int(Undefined) raises
  if (v.is_int() || v.is_bool()) return value::integer(v.to_int());
  auto from_double = [&](double d) {
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return fallback;
    return value::integer(static_cast<int64_t>(std::trunc(d)));
  };
  if (v.is_float()) return from_double(v.as_float());
  if (v.is_string()) {
    if (auto i = parse_int(v.as_string(), static_cast<int>(b.integer(1, 10)))) return value::integer(*i);
    if (auto d = parse_float(v.as_string())) return from_double(*d);
  }
  return fallback;
}

value f_indent(renderer&, const value& v, arguments& args) {
  bound_args b("indent", args, {"width", "first", "blank"});
  if (v.is_undefined()) raise(v.undefined_message());
  if (!v.is_string()) raise("indent() expects a string, got " + type_name(v));
  std::string indention;
  if (b.has(0) && b.get(0).is_string()) {
    indention = b.get(0).as_string();
  } else {
    const int64_t width = b.integer(0, 4);
    if (width > 0) {
      text_budget::check_size(static_cast<size_t>(width));
      indention.assign(static_cast<size_t>(width), ' ');
    }
  }
  // jinja2 appends a newline before splitlines() so a trailing newline keeps its (empty) line.
  const std::vector<std::string> lines = text::splitlines(v.as_string() + "\n");
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i) out += '\n';
    if (i == 0 ? b.flag(1, false) : (b.flag(2, false) || !lines[i].empty())) out += indention;
    out += lines[i];
    text_budget::check_size(out.size());
  }
  return value::string_like(v, std::move(out));
}

value f_items(renderer&, const value& v, arguments& args) {
  bound_args b("items", args, {});
  if (v.is_undefined()) return generator({});
  if (!v.is_dict() || v.is_namespace()) raise("Can only get item pairs from a mapping.");
  std::vector<value> pairs;
  for (const auto& [k, val] : v.as_dict().entries) pairs.push_back(value::tuple({k, val}));
  return generator(std::move(pairs));
}

value f_join(renderer&, const value& v, arguments& args) {
  bound_args b("join", args, {"d", "attribute"});
  const std::string separator = b.has(0) ? to_str(b.get(0)) : std::string();
  const std::vector<value> path = b.has(1) ? attribute_path(b.get(1)) : std::vector<value>{};
  std::string out;
  bool first = true;
  for (const value& item : iterate(v)) {
    if (!first) out += separator;
    first = false;
    append_str(out, path.empty() ? item : get_path(item, path));
    text_budget::check_size(out.size());
  }
  return value::string(std::move(out));
}

value f_length(renderer&, const value& v, arguments& args) {
  bound_args b("length", args, {});
  return value::integer(length(v));
}

value f_list(renderer&, const value& v, arguments& args) {
  bound_args b("list", args, {});
  return value::list(iterate(v));
}

value f_lower(renderer&, const value& v, arguments& args) {
  bound_args b("lower", args, {});
  return value::string_like(v, text::lower(to_str(v)));
}

value f_upper(renderer&, const value& v, arguments& args) {
  bound_args b("upper", args, {});
  return value::string_like(v, text::upper(to_str(v)));
}

value f_title(renderer&, const value& v, arguments& args) {
  bound_args b("title", args, {});
  return value::string_like(v, text::jinja_title(to_str(v)));
}

value f_map(renderer& r, const value& v, arguments& args) {
  if (!truthy(v)) return generator({});
  std::vector<value> out;
  if (args.positional.empty()) {
    std::optional<value> attribute, fallback;
    for (auto& [key, val] : args.keyword) {
      if (key == "attribute") attribute = val;
      else if (key == "default") fallback = val;
      else raise("map() got an unexpected keyword argument '" + key + "'");
    }
    if (!attribute) raise("map requires a filter argument");
    const std::vector<value> path = attribute_path(*attribute);
    for (const value& item : iterate(v))
      out.push_back(get_path(item, path, fallback && !fallback->is_none() ? fallback : std::nullopt));
    return generator(std::move(out));
  }
  const std::string name = to_str(args.positional[0]);
  const filter_fn fn = find_filter(name);
  if (!fn) raise("no filter named '" + name + "'");
  arguments rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const value& item : iterate(v)) {
    arguments copy = rest;
    out.push_back(fn(r, item, copy));
  }
  return generator(std::move(out));
}

// select / reject / selectattr / rejectattr.
value select_or_reject(renderer& r, const value& v, arguments& args, bool keep_when, bool by_attribute) {
  if (!truthy(v)) return generator({});
  size_t next = 0;
  std::vector<value> path;
  if (by_attribute) {
    if (args.positional.empty()) raise("Missing parameter for attribute name");
    path = attribute_path(args.positional[next++]);
  }
  test_fn test = nullptr;
  arguments rest;
  if (next < args.positional.size()) {
    const std::string name = to_str(args.positional[next++]);
    test = find_test(name);
    if (!test) raise("no test named '" + name + "'");
    rest.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(next), args.positional.end());
    rest.keyword = args.keyword;
  }
  std::vector<value> out;
  for (value& item : iterate(v)) {
    const value subject = by_attribute ? get_path(item, path) : item;
    bool passed;
    if (test) {
      arguments copy = rest;
      passed = test(r, subject, copy);
    } else {
      passed = truthy(subject);
    }
    if (passed == keep_when) out.push_back(std::move(item));
  }
  return generator(std::move(out));
}

value f_select(renderer& r, const value& v, arguments& a) { return select_or_reject(r, v, a, true, false); }
value f_reject(renderer& r, const value& v, arguments& a) { return select_or_reject(r, v, a, false, false); }
value f_selectattr(renderer& r, const value& v, arguments& a) { return select_or_reject(r, v, a, true, true); }
value f_rejectattr(renderer& r, const value& v, arguments& a) { return select_or_reject(r, v, a, false, true); }

value min_or_max(const value& v, arguments& args, bool want_max) {
  bound_args b(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = b.flag(0, false);
  const std::vector<value> path = b.has(1) ? attribute_path(b.get(1)) : std::vector<value>{};
  std::vector<value> items = iterate(v);
  if (items.empty()) return value::undefined("No aggregated item, sequence was empty.");
  auto key = [&](const value& item) {
    value k = path.empty() ? item : get_path(item, path);
    return case_sensitive ? k : ignore_case(k);
  };
  size_t best = 0;
  value best_key = key(items[0]);
  for (size_t i = 1; i < items.size(); ++i) {
    value k = key(items[i]);
    if (want_max ? compare(best_key, k, "<") < 0 : compare(k, best_key, "<") < 0) {
      best = i;
      best_key = std::move(k);
    }
  }
  return items[best];
}

value f_min(renderer&, const value& v, arguments& a) { return min_or_max(v, a, false); }
value f_max(renderer&, const value& v, arguments& a) { return min_or_max(v, a, true); }

value f_replace(renderer&, const value& v, arguments& args) {
  bound_args b("replace", args, {"old", "new", "count"}, 2);
  return value::string(text::replace(to_str(v), to_str(b.get(0)), to_str(b.get(1)), b.integer(2, -1)));
}

value f_reverse(renderer&, const value& v, arguments& args) {
  bound_args b("reverse", args, {});
  if (v.is_string()) {
    const std::string& s = v.as_string();
    std::string out;
    for (size_t end = s.size(); end > 0;) {
      const size_t start = text::previous_start(s, end);
      out.append(s, start, end - start);
      end = start;
    }
    return value::string(std::move(out));
  }
  const bool was_generator = v.is_generator();
  std::vector<value> items = iterate(v);
  std::reverse(items.begin(), items.end());
  // reversed() of a sequence is an iterator; a generator can only be listed, then reversed.
  return was_generator ? value::list(std::move(items)) : generator(std::move(items));
}

// Python's round(x, n) for floats: correctly rounded, ties to even (printf does the same).
double round_half_even(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  if (digits > 300) return x;
  if (digits < -308) return 0.0 * x;
  if (digits >= 0) {
    char buf[512];
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(digits), x);
    return std::strtod(buf, nullptr);
  }
  const double scale = std::pow(10.0, static_cast<double>(-digits));
  return std::nearbyint(x / scale) * scale;
}

value f_round(renderer&, const value& v, arguments& args) {
  bound_args b("round", args, {"precision", "method"});
  const int64_t precision = b.integer(0, 0);
  const std::string method = b.string(1).value_or("common");
  if (method != "common" && method != "ceil" && method != "floor")
    raise("method must be common, ceil or floor");
  if (v.is_undefined()) raise(v.undefined_message());
  if (!v.is_number()) raise("type " + type_name(v) + " doesn't define __round__ method");
  if (method == "common") {
    if (!v.is_float()) {
      if (precision >= 0) return value::integer(v.to_int());
      return value::integer(static_cast<int64_t>(round_half_even(static_cast<double>(v.to_int()), precision)));
    }
    return value::floating(round_half_even(v.as_float(), precision));
  }
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.to_double() * scale;
  return value::floating((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

value f_safe(renderer&, const value& v, arguments& args) {
  bound_args b("safe", args, {});
  return v.is_markup() ? v : value::markup(to_str(v));
}

value f_sort(renderer&, const value& v, arguments& args) {
  bound_args b("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = b.flag(0, false), case_sensitive = b.flag(1, false);
  // attribute may name several comma-separated keys.
  std::vector<std::vector<value>> paths;
  if (b.has(2) && !b.get(2).is_none()) {
    if (b.get(2).is_string()) {
      for (auto& part : text::split(b.get(2).as_string(), std::string(","), -1, false))
        paths.push_back(attribute_path(value::string(part)));
    } else {
      paths.push_back({b.get(2)});
    }
  }
  std::vector<value> items = iterate(v);
  std::vector<std::pair<value, value>> keyed;  // (key, item)
  for (value& item : items) {
    value key;
    if (paths.empty()) {
      key = case_sensitive ? item : ignore_case(item);
    } else {
      std::vector<value> parts;
      for (const auto& p : paths) {
        value k = get_path(item, p);
        parts.push_back(case_sensitive ? k : ignore_case(k));
      }
      key = paths.size() == 1 ? parts[0] : value::list(std::move(parts));
    }
    keyed.emplace_back(std::move(key), std::move(item));
  }
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& x, const auto& y) {
    return reverse ? compare(y.first, x.first) < 0 : compare(x.first, y.first) < 0;
  });
  std::vector<value> out;
  for (auto& [k, item] : keyed) out.push_back(std::move(item));
  return value::list(std::move(out));
}

value f_string(renderer&, const value& v, arguments& args) {
  bound_args b("string", args, {});
  return str_value(v);
}

value f_sum(renderer&, const value& v, arguments& args) {
  bound_args b("sum", args, {"attribute", "start"});
  const std::vector<value> path = b.has(0) ? attribute_path(b.get(0)) : std::vector<value>{};
  value total = b.get_or(1, value::integer(0));
  for (const value& item : iterate(v)) total = add(total, path.empty() ? item : get_path(item, path));
  return total;
}

value f_tojson(renderer&, const value& v, arguments& args) {
  // transformers' signature: tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  bound_args b("tojson", args, {"ensure_ascii", "indent", "separators", "sort_keys"});
  json_options o;
  o.ensure_ascii = b.flag(0, false);
  if (b.has(1) && !b.get(1).is_none()) {
    const value& indent = b.get(1);
    if (indent.is_string()) {
      o.indent = indent.as_string();
    } else {
      const int64_t n = b.integer(1, 0);
      text_budget::check_size(n > 0 ? static_cast<size_t>(n) : 0);
      o.indent = std::string(n > 0 ? static_cast<size_t>(n) : 0, ' ');
    }
    o.item_separator = ",";
  }
  if (b.has(2) && !b.get(2).is_none()) {
    std::vector<value> seps = iterate(b.get(2));
    if (seps.size() != 2 || !seps[0].is_string() || !seps[1].is_string())
      raise("tojson(): separators must be a pair of strings");
    o.item_separator = seps[0].as_string();
    o.key_separator = seps[1].as_string();
  }
  o.sort_keys = b.flag(3, false);
  return value::string(to_json(v, o));
}

value f_trim(renderer&, const value& v, arguments& args) {
  bound_args b("trim", args, {"chars"});
  return value::string_like(v, text::strip(to_str(v), b.string(0), true, true));
}

value f_format(renderer&, const value& v, arguments& args) {
  if (!args.positional.empty() && !args.keyword.empty())
    raise("can't handle positional and keyword arguments at the same time");
  value params;
  if (!args.keyword.empty()) {
    params = value::dict();
    for (auto& [k, val] : args.keyword) params.as_dict().set(std::string_view(k), val);
  } else {
    params = value::tuple(args.positional);
  }
  return value::string_like(v, printf_format(to_str(v), params));
}

value f_unique(renderer&, const value& v, arguments& args) {
  bound_args b("unique", args, {"case_sensitive", "attribute"});
  const bool case_sensitive = b.flag(0, false);
  const std::vector<value> path = b.has(1) ? attribute_path(b.get(1)) : std::vector<value>{};
  std::vector<value> seen, out;
  for (value& item : iterate(v)) {
    value key = path.empty() ? item : get_path(item, path);
    if (!case_sensitive) key = ignore_case(key);
    if (key.is_dict() || (key.is_list() && key.as_list().kind == seq_kind::list))
      raise("unhashable type: '" + type_name(key) + "'");
    if (std::none_of(seen.begin(), seen.end(), [&](const value& s) { return equals(s, key); })) {
      seen.push_back(std::move(key));
      out.push_back(std::move(item));
    }
  }
  return generator(std::move(out));
}

value f_wordcount(renderer&, const value& v, arguments& args) {
  bound_args b("wordcount", args, {});
  const std::string s = to_str(v);
  int64_t words = 0;
  bool in_word = false;
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const bool w = text::is_word_char(text::decode(s, i, len));
    if (w && !in_word) ++words;
    in_word = w;
    i += len;
  }
  return value::integer(words);
}

struct filter_entry {
  const char* name;
  filter_fn fn;
};

const filter_entry filters[] = {
    {"abs", f_abs},         {"attr", f_attr},
    {"batch", f_batch},     {"capitalize", f_capitalize},
    {"center", f_center},   {"count", f_length},
    {"d", f_default},       {"default", f_default},
    {"dictsort", f_dictsort}, {"e", f_escape},
    {"escape", f_escape},   {"first", f_first},
    {"float", f_float},     {"format", f_format},
    {"indent", f_indent},
    {"int", f_int},         {"items", f_items},
    {"join", f_join},       {"last", f_last},
    {"length", f_length},   {"list", f_list},
    {"lower", f_lower},     {"map", f_map},
    {"max", f_max},         {"min", f_min},
    {"reject", f_reject},   {"rejectattr", f_rejectattr},
    {"replace", f_replace}, {"reverse", f_reverse},
    {"round", f_round},     {"safe", f_safe},
    {"select", f_select},   {"selectattr", f_selectattr},
    {"sort", f_sort},       {"string", f_string},
    {"sum", f_sum},         {"title", f_title},
    {"tojson", f_tojson},   {"trim", f_trim},
    {"unique", f_unique},   {"upper", f_upper},
    {"wordcount", f_wordcount},
};

}  // namespace

filter_fn find_filter(std::string_view name) {
  for (const auto& f : filters)
    if (name == f.name) return f.fn;
  return nullptr;
}

}  // namespace owl::jinja
