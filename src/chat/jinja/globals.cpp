// globals.cpp — the functions a chat template can call by name: jinja2's range, dict and
// namespace, and transformers' raise_exception and strftime_now.
#include <charconv>
#include <cstdlib>
#include <ctime>

#include "chat/jinja/builtins.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

namespace {

// jinja2's sandbox refuses ranges longer than this (MAX_RANGE).
constexpr int64_t max_range = 100000;

class builtin final : public callable {
 public:
  using fn = value (*)(arguments& args);
  builtin(const char* name, fn f) : name_(name), f_(f) {}
  value call(renderer&, arguments& args) const override { return f_(args); }
  std::string describe() const override { return std::string("<built-in function ") + name_ + ">"; }

 private:
  const char* name_;
  fn f_;
};

value range_fn(arguments& args) {
  if (!args.keyword.empty()) raise("range() takes no keyword arguments");
  const auto& p = args.positional;
  if (p.empty() || p.size() > 3) raise("range expected 1 to 3 arguments, got " + std::to_string(p.size()));
  for (const value& v : p)
    if (!v.is_int() && !v.is_bool()) raise(text::quoted(type_name(v)) + " object cannot be interpreted as an integer");
  int64_t start = 0, stop = 0, step = 1;
  if (p.size() == 1) {
    stop = p[0].to_int();
  } else {
    start = p[0].to_int();
    stop = p[1].to_int();
    if (p.size() == 3) step = p[2].to_int();
  }
  if (step == 0) raise("range() arg 3 must not be zero");
  // Length as Python computes it, in a wide type so extreme bounds cannot overflow.
  __int128 count = 0;
  if (step > 0 && stop > start) count = ((__int128)stop - start - 1) / step + 1;
  if (step < 0 && stop < start) count = ((__int128)start - stop - 1) / -(__int128)step + 1;
  if (count > max_range)
    raise("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + std::to_string(max_range) + ").");
  std::vector<value> items;
  items.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < static_cast<int64_t>(count); ++i) items.push_back(value::integer(start + i * step));
  return value::list(std::move(items));
}

// dict(mapping_or_pairs, **kwargs), also the constructor of namespace().
value make_mapping(arguments& args, bool is_namespace, const char* name) {
  value d = is_namespace ? value::namespace_object() : value::dict();
  dict_data& out = d.as_dict();
  if (args.positional.size() > 1)
    raise(std::string(name) + " expected at most 1 positional argument, got " + std::to_string(args.positional.size()));
  if (!args.positional.empty()) {
    const value& src = args.positional[0];
    if (src.is_dict() && !src.is_namespace()) {
      for (const auto& [k, v] : src.as_dict().entries) out.set(k, v);
    } else {
      for (const value& pair : iterate(src)) {
        std::vector<value> kv = iterate(pair);
        if (kv.size() != 2)
          raise(std::string(name) + " update sequence element has length " + std::to_string(kv.size()) +
                "; 2 is required");
        out.set(kv[0], kv[1]);
      }
    }
  }
  for (auto& [key, v] : args.keyword) out.set(std::string_view(key), v);
  return d;
}

value raise_exception_fn(arguments& args) {
  bound_args b("raise_exception", args, {"message"}, 1);
  raise(to_str(b.get(0)));
}

// The clock: SOURCE_DATE_EPOCH (reproducible builds) when set, else now. Always UTC.
std::time_t now() {
  const char* env = std::getenv("SOURCE_DATE_EPOCH");
  if (!env || !*env) return std::time(nullptr);
  const std::string_view s(env);
  int64_t seconds = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), seconds);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    raise("SOURCE_DATE_EPOCH must be a whole number of seconds since 1970, found '" + std::string(s) + "'");
  return static_cast<std::time_t>(seconds);
}

value strftime_now_fn(arguments& args) {
  bound_args b("strftime_now", args, {"format"}, 1);
  if (!b.get(0).is_string()) raise("strftime_now() argument must be str, not " + type_name(b.get(0)));
  const std::string& format = b.get(0).as_string();
  if (format.size() > 256) raise("strftime_now() format is longer than 256 bytes");
  if (format.find('\0') != std::string::npos) raise("strftime_now() format contains a NUL character");
  const std::time_t t = now();
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) raise("SOURCE_DATE_EPOCH is out of range");
  if (format.empty()) return value::string(std::string());
  // strftime returns 0 both for "too small" and for an empty result; grow a few times.
  for (size_t size = 256; size <= 65536; size *= 16) {
    std::string out(size, '\0');
    const size_t n = std::strftime(out.data(), out.size(), format.c_str(), &tm);
    if (n > 0) {
      out.resize(n);
      return value::string(std::move(out));
    }
  }
  return value::string(std::string());
}

}  // namespace

value find_global(std::string_view name) {
  static const auto range = std::make_shared<const builtin>("range", range_fn);
  static const auto dict = std::make_shared<const builtin>(
      "dict", [](arguments& a) { return make_mapping(a, false, "dict"); });
  static const auto ns = std::make_shared<const builtin>(
      "namespace", [](arguments& a) { return make_mapping(a, true, "namespace"); });
  static const auto raise_exception = std::make_shared<const builtin>("raise_exception", raise_exception_fn);
  static const auto strftime_now = std::make_shared<const builtin>("strftime_now", strftime_now_fn);
  if (name == "range") return value::function(range);
  if (name == "dict") return value::function(dict);
  if (name == "namespace") return value::function(ns);
  if (name == "raise_exception") return value::function(raise_exception);
  if (name == "strftime_now") return value::function(strftime_now);
  return value::undefined(text::quoted(name) + " is undefined");
}

}  // namespace owl::jinja
