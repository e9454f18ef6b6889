#include "chat/jinja/methods.h"

#include <stdexcept>

#include "chat/jinja/builtins.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

namespace {

using method_fn = value (*)(const value& self, arguments& args);

std::string require_str(const value& v, const char* what) {
  if (!v.is_string()) raise(std::string(what) + " must be str, not " + type_name(v));
  return v.as_string();
}

// s[start:end] by code points for the optional start/end arguments of find/count/startswith.
std::string window(const std::string& s, const bound_args& b, size_t start_i, size_t end_i) {
  if (!b.has(start_i) && !b.has(end_i)) return s;
  value sliced = get_slice(value::string(s), b.get_or(start_i, value::none()), b.get_or(end_i, value::none()),
                           value::none());
  return sliced.is_string() ? sliced.as_string() : std::string();
}

value affix_test(const value& self, arguments& args, bool prefix) {
  bound_args b(prefix ? "startswith" : "endswith", args, {"prefix", "start", "end"}, 1);
  const std::string s = window(self.as_string(), b, 1, 2);
  auto matches = [&](const value& p) {
    const std::string a = require_str(p, prefix ? "startswith first arg" : "endswith first arg");
    if (a.size() > s.size()) return false;
    return prefix ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  const value& arg = b.get(0);
  if (arg.is_list() && arg.as_list().kind == seq_kind::tuple) {
    for (const value& p : arg.as_list().items)
      if (matches(p)) return value::boolean(true);
    return value::boolean(false);
  }
  return value::boolean(matches(arg));
}

value strip_method(const value& self, arguments& args, const char* name, bool left, bool right) {
  bound_args b(name, args, {"chars"});
  std::optional<std::string> chars;
  if (b.has(0) && !b.get(0).is_none()) chars = require_str(b.get(0), "strip arg");
  return value::string_like(self, text::strip(self.as_string(), chars, left, right));
}

value split_method(const value& self, arguments& args, bool from_right) {
  bound_args b(from_right ? "rsplit" : "split", args, {"sep", "maxsplit"});
  std::optional<std::string> sep;
  if (b.has(0) && !b.get(0).is_none()) sep = require_str(b.get(0), "separator");
  if (sep && sep->empty()) raise("empty separator");
  std::vector<value> parts;
  for (auto& piece : text::split(self.as_string(), sep, b.integer(1, -1), from_right))
    parts.push_back(value::string_like(self, std::move(piece)));
  return value::list(std::move(parts));
}

value find_method(const value& self, arguments& args, const char* name, bool from_right, bool must_find) {
  bound_args b(name, args, {"sub", "start", "end"}, 1);
  const std::string sub = require_str(b.get(0), "substring");
  std::optional<int64_t> start, end;
  if (b.has(1) && !b.get(1).is_none()) start = b.integer(1, 0);
  if (b.has(2) && !b.get(2).is_none()) end = b.integer(2, 0);
  const int64_t at = text::find(self.as_string(), sub, start, end, from_right);
  if (at < 0 && must_find) raise("substring not found");
  return value::integer(at);
}

value justify(const value& self, arguments& args, const char* name, int mode) {
  bound_args b(name, args, {"width", "fillchar"}, 1);
  const int64_t width = b.integer(0, 0);
  const std::string fill = b.has(1) ? require_str(b.get(1), "fill character") : " ";
  if (text::length(fill) != 1) raise("The fill character must be exactly one character long");
  const std::string& s = self.as_string();
  const auto len = static_cast<int64_t>(text::length(s));
  if (width <= len) return self;
  text_budget::check_size(static_cast<size_t>(width) * fill.size());
  const int64_t total = width - len;
  // Python's center puts the extra space on the right unless width and len are both odd.
  int64_t left = mode == 0 ? total / 2 + (total & width & 1) : (mode < 0 ? 0 : total);
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = 0; i < total - left; ++i) out += fill;
  return value::string_like(self, std::move(out));
}

template <bool (*Pred)(char32_t)>
value char_class(const value& self, arguments& args) {
  bound_args b("is", args, {});
  const std::string& s = self.as_string();
  if (s.empty()) return value::boolean(false);
  for (size_t i = 0; i < s.size();) {
    size_t len;
    if (!Pred(text::decode(s, i, len))) return value::boolean(false);
    i += len;
  }
  return value::boolean(true);
}

bool alnum(char32_t c) { return text::is_alpha(c) || text::is_digit(c); }

// isupper / islower: at least one cased character, and none of the other case.
value case_test(const value& self, arguments& args, bool upper) {
  bound_args b(upper ? "isupper" : "islower", args, {});
  bool cased = false;
  const std::string& s = self.as_string();
  for (size_t i = 0; i < s.size();) {
    size_t len;
    const char32_t c = text::decode(s, i, len);
    if (upper ? text::is_cased_lower(c) : text::is_cased_upper(c)) return value::boolean(false);
    if (upper ? text::is_cased_upper(c) : text::is_cased_lower(c)) cased = true;
    i += len;
  }
  return value::boolean(cased);
}

value no_args(const value& self, arguments& args, const char* name, std::string (*fn)(std::string_view)) {
  bound_args b(name, args, {});
  return value::string_like(self, fn(self.as_string()));
}

const std::pair<const char*, method_fn> string_methods[] = {
    {"startswith", [](const value& s, arguments& a) { return affix_test(s, a, true); }},
    {"endswith", [](const value& s, arguments& a) { return affix_test(s, a, false); }},
    {"strip", [](const value& s, arguments& a) { return strip_method(s, a, "strip", true, true); }},
    {"lstrip", [](const value& s, arguments& a) { return strip_method(s, a, "lstrip", true, false); }},
    {"rstrip", [](const value& s, arguments& a) { return strip_method(s, a, "rstrip", false, true); }},
    {"split", [](const value& s, arguments& a) { return split_method(s, a, false); }},
    {"rsplit", [](const value& s, arguments& a) { return split_method(s, a, true); }},
    {"splitlines",
     [](const value& s, arguments& a) {
       bound_args b("splitlines", a, {"keepends"});
       std::vector<value> lines;
       for (auto& line : text::splitlines(s.as_string())) lines.push_back(value::string(std::move(line)));
       return value::list(std::move(lines));
     }},
    {"replace",
     [](const value& s, arguments& a) {
       bound_args b("replace", a, {"old", "new", "count"}, 2);
       return value::string_like(s, text::replace(s.as_string(), require_str(b.get(0), "replace() argument 1"),
                                          require_str(b.get(1), "replace() argument 2"), b.integer(2, -1)));
     }},
    {"upper", [](const value& s, arguments& a) { return no_args(s, a, "upper", text::upper); }},
    {"lower", [](const value& s, arguments& a) { return no_args(s, a, "lower", text::lower); }},
    {"title", [](const value& s, arguments& a) { return no_args(s, a, "title", text::title); }},
    {"capitalize", [](const value& s, arguments& a) { return no_args(s, a, "capitalize", text::capitalize); }},
    {"find", [](const value& s, arguments& a) { return find_method(s, a, "find", false, false); }},
    {"rfind", [](const value& s, arguments& a) { return find_method(s, a, "rfind", true, false); }},
    {"index", [](const value& s, arguments& a) { return find_method(s, a, "index", false, true); }},
    {"rindex", [](const value& s, arguments& a) { return find_method(s, a, "rindex", true, true); }},
    {"count",
     [](const value& s, arguments& a) {
       bound_args b("count", a, {"sub", "start", "end"}, 1);
       return value::integer(text::count(window(s.as_string(), b, 1, 2), require_str(b.get(0), "substring")));
     }},
    {"join",
     [](const value& s, arguments& a) {
       bound_args b("join", a, {"iterable"}, 1);
       std::string out;
       size_t i = 0;
       for (const value& item : iterate(b.get(0))) {
         if (!item.is_string())
           raise("sequence item " + std::to_string(i) + ": expected str instance, " + type_name(item) + " found");
         if (i++) out += s.as_string();
         out += item.as_string();
         text_budget::check_size(out.size());
       }
       return value::string(std::move(out));
     }},
    {"isdigit", char_class<text::is_digit>},
    {"isalpha", char_class<text::is_alpha>},
    {"isalnum", char_class<alnum>},
    {"isspace", char_class<text::is_space>},
    {"isupper", [](const value& s, arguments& a) { return case_test(s, a, true); }},
    {"islower", [](const value& s, arguments& a) { return case_test(s, a, false); }},
    {"center", [](const value& s, arguments& a) { return justify(s, a, "center", 0); }},
    {"ljust", [](const value& s, arguments& a) { return justify(s, a, "ljust", -1); }},
    {"rjust", [](const value& s, arguments& a) { return justify(s, a, "rjust", 1); }},
    {"removeprefix",
     [](const value& s, arguments& a) {
       bound_args b("removeprefix", a, {"prefix"}, 1);
       const std::string p = require_str(b.get(0), "removeprefix() argument");
       const std::string& str = s.as_string();
       return str.compare(0, p.size(), p) == 0 ? value::string_like(s, str.substr(p.size())) : s;
     }},
    {"removesuffix",
     [](const value& s, arguments& a) {
       bound_args b("removesuffix", a, {"suffix"}, 1);
       const std::string p = require_str(b.get(0), "removesuffix() argument");
       const std::string& str = s.as_string();
       if (p.empty() || p.size() > str.size() || str.compare(str.size() - p.size(), p.size(), p) != 0) return s;
       return value::string_like(s, str.substr(0, str.size() - p.size()));
     }},
    {"format", [](const value&, arguments&) -> value { raise("str.format is not supported in owl's templates"); }},
};

list_data& mutable_list(const value& self, const char* name) {
  list_data& l = self.as_list();
  if (l.kind != seq_kind::list) raise(text::quoted(type_name(self)) + " object has no attribute " + text::quoted(name));
  return l;
}

const std::pair<const char*, method_fn> list_methods[] = {
    // transformers' ImmutableSandboxedEnvironment refuses append and pop; owl allows them
    // because templates written for other runtimes use `ns.items.append(x)` (see docs/chat.md).
    {"append",
     [](const value& self, arguments& a) {
       bound_args b("append", a, {"object"}, 1);
       text_budget::charge_items(1);
       mutable_list(self, "append").items.push_back(b.get(0));
       return value::none();
     }},
    {"pop",
     [](const value& self, arguments& a) {
       bound_args b("pop", a, {"index"});
       list_data& l = mutable_list(self, "pop");
       if (l.items.empty()) raise("pop from empty list");
       int64_t i = b.integer(0, -1);
       const auto n = static_cast<int64_t>(l.items.size());
       if (i < 0) i += n;
       if (i < 0 || i >= n) raise("pop index out of range");
       value v = l.items[static_cast<size_t>(i)];
       l.items.erase(l.items.begin() + i);
       return v;
     }},
    {"index",
     [](const value& self, arguments& a) {
       bound_args b("index", a, {"value"}, 1);
       const auto& items = self.as_list().items;
       for (size_t i = 0; i < items.size(); ++i)
         if (equals(items[i], b.get(0))) return value::integer(static_cast<int64_t>(i));
       raise(to_str(b.get(0)) + " is not in list");
     }},
    {"count",
     [](const value& self, arguments& a) {
       bound_args b("count", a, {"value"}, 1);
       int64_t n = 0;
       for (const value& v : self.as_list().items) n += equals(v, b.get(0)) ? 1 : 0;
       return value::integer(n);
     }},
};

const std::pair<const char*, method_fn> dict_methods[] = {
    {"items",
     [](const value& self, arguments& a) {
       bound_args b("items", a, {});
       std::vector<value> pairs;
       pairs.reserve(self.as_dict().entries.size());
       for (const auto& [k, v] : self.as_dict().entries) pairs.push_back(value::tuple({k, v}));
       return value::list(std::move(pairs));
     }},
    {"keys",
     [](const value& self, arguments& a) {
       bound_args b("keys", a, {});
       return value::list(iterate(self));
     }},
    {"values",
     [](const value& self, arguments& a) {
       bound_args b("values", a, {});
       std::vector<value> values;
       for (const auto& entry : self.as_dict().entries) values.push_back(entry.second);
       return value::list(std::move(values));
     }},
    {"get",
     [](const value& self, arguments& a) {
       bound_args b("get", a, {"key", "default"}, 1);
       if (const value* v = self.as_dict().find(b.get(0))) return *v;
       return b.get_or(1, value::none());
     }},
    {"copy",
     [](const value& self, arguments& a) {
       bound_args b("copy", a, {});
       value d = value::dict();
       d.as_dict().entries = self.as_dict().entries;
       return d;
     }},
};

template <size_t N>
method_fn lookup(const std::pair<const char*, method_fn> (&table)[N], std::string_view name) {
  for (const auto& [n, fn] : table)
    if (name == n) return fn;
  return nullptr;
}

bool in(std::string_view name, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

method_fn find_method_fn(const value& obj, std::string_view name) {
  switch (obj.type()) {
    case kind::string: return lookup(string_methods, name);
    case kind::list:
      if (obj.as_list().kind == seq_kind::generator) return nullptr;
      if (obj.as_list().kind == seq_kind::tuple && !in(name, {"index", "count"})) return nullptr;
      return lookup(list_methods, name);
    case kind::dict: return obj.as_dict().is_namespace ? nullptr : lookup(dict_methods, name);
    default: return nullptr;
  }
}

}  // namespace

method_access method_kind(const value& obj, std::string_view name) {
  if (find_method_fn(obj, name)) return method_access::safe;
  if (obj.is_dict() && !obj.is_namespace() && in(name, {"pop", "popitem", "setdefault", "update", "clear"}))
    return method_access::unsafe;
  if (obj.is_list() && obj.as_list().kind == seq_kind::list &&
      in(name, {"clear", "reverse", "insert", "sort", "extend", "remove"}))
    return method_access::unsafe;
  return method_access::none;
}

bool call_method(renderer&, const value& obj, std::string_view name, arguments& args, value& result) {
  const method_fn fn = find_method_fn(obj, name);
  if (!fn) return false;
  result = fn(obj, args);
  return true;
}

}  // namespace owl::jinja
