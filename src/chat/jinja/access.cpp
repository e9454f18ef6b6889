// access.cpp — obj.attr, obj[key] and obj[a:b:c] as jinja2's ImmutableSandboxedEnvironment
// resolves them, plus loop.* and argument binding for builtins.
#include <limits>

#include "chat/jinja/builtins.h"
#include "chat/jinja/methods.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

// ---- argument binding ----

bound_args::bound_args(const char* function, arguments& args, std::initializer_list<const char*> params,
                       size_t required)
    : function_(function), names_(params), values_(params.size()) {
  if (args.positional.size() > names_.size())
    raise(std::string(function_) + "() takes at most " + std::to_string(names_.size()) + " argument(s) (" +
          std::to_string(args.positional.size()) + " given)");
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i];
  for (auto& [key, v] : args.keyword) {
    size_t i = 0;
    while (i < names_.size() && key != names_[i]) ++i;
    if (i == names_.size()) raise(std::string(function_) + "() got an unexpected keyword argument '" + key + "'");
    if (values_[i]) raise(std::string(function_) + "() got multiple values for argument '" + key + "'");
    values_[i] = v;
  }
  for (size_t i = 0; i < required; ++i)
    if (!values_[i]) raise(std::string(function_) + "() missing required argument '" + names_[i] + "'");
}

int64_t bound_args::integer(size_t i, int64_t fallback) const {
  if (!values_[i] || values_[i]->is_none()) return fallback;
  const value& v = *values_[i];
  if (v.is_int() || v.is_bool()) return v.to_int();
  raise(std::string(function_) + "(): '" + names_[i] + "' must be an integer, not " + type_name(v));
}

bool bound_args::flag(size_t i, bool fallback) const { return values_[i] ? truthy(*values_[i]) : fallback; }

std::optional<std::string> bound_args::string(size_t i) const {
  if (!values_[i] || values_[i]->is_none()) return std::nullopt;
  return to_str(*values_[i]);
}

// ---- attribute and item access ----

namespace {

value missing_attribute(const value& obj, std::string_view name) {
  return value::undefined(text::quoted(object_type_repr(obj)) + " has no attribute " + text::quoted(name));
}

value missing_element(const value& obj, const value& key) {
  std::string message = object_type_repr(obj) + " has no element ";
  append_repr(message, key);
  return value::undefined(std::move(message));
}

value unsafe(const value& obj, std::string_view name) {
  return value::undefined("access to attribute '" + std::string(name) + "' of '" + type_name(obj) +
                          "' object is unsafe.");
}

// A str/list/dict method taken as a value (`{% set f = s.strip %}`), called later.
class bound_method final : public callable {
 public:
  bound_method(value self, std::string name) : self_(std::move(self)), name_(std::move(name)) {}
  value call(renderer& r, arguments& args) const override {
    value result;
    if (!call_method(r, self_, name_, args, result)) raise(text::quoted(name_) + " is not callable");
    return result;
  }
  std::string describe() const override {
    return "<built-in method " + name_ + " of " + type_name(self_) + " object>";
  }

 private:
  value self_;
  std::string name_;
};

// loop.cycle(...) and loop.changed(...), bound to one loop.
class loop_method final : public callable {
 public:
  loop_method(value loop, bool cycle) : loop_(std::move(loop)), cycle_(cycle) {}
  value call(renderer&, arguments& args) const override {
    loop_state& l = loop_.as_loop();
    if (!args.keyword.empty()) raise("loop methods take no keyword arguments");
    if (cycle_) {
      if (args.positional.empty()) raise("no items for cycling given");
      return args.positional[l.index0 % args.positional.size()];
    }
    value current = value::list(args.positional, seq_kind::tuple);
    if (l.last_changed && equals(*l.last_changed, current)) return value::boolean(false);
    l.last_changed = std::move(current);
    return value::boolean(true);
  }
  std::string describe() const override { return cycle_ ? "<bound method LoopContext.cycle>" : "<bound method LoopContext.changed>"; }

 private:
  value loop_;
  bool cycle_;
};

value loop_attribute(const value& loop, std::string_view name) {
  const loop_state& l = loop.as_loop();
  const auto n = static_cast<int64_t>(l.items.size());
  const auto i = static_cast<int64_t>(l.index0);
  if (name == "index") return value::integer(i + 1);
  if (name == "index0") return value::integer(i);
  if (name == "revindex") return value::integer(n - i);
  if (name == "revindex0") return value::integer(n - i - 1);
  if (name == "first") return value::boolean(i == 0);
  if (name == "last") return value::boolean(i + 1 == n);
  if (name == "length") return value::integer(n);
  if (name == "depth") return value::integer(static_cast<int64_t>(l.depth0) + 1);
  if (name == "depth0") return value::integer(static_cast<int64_t>(l.depth0));
  if (name == "previtem")
    return i > 0 ? l.items[static_cast<size_t>(i - 1)] : value::undefined("there is no previous item");
  if (name == "nextitem")
    return i + 1 < n ? l.items[static_cast<size_t>(i + 1)] : value::undefined("there is no next item");
  if (name == "cycle") return value::function(std::make_shared<loop_method>(loop, true));
  if (name == "changed") return value::function(std::make_shared<loop_method>(loop, false));
  return missing_attribute(loop, name);
}

// Python's slice.indices(): clamps start/stop for a sequence of `length`.
void slice_bounds(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop, int64_t step,
                  int64_t& first, int64_t& last) {
  const int64_t lower = step > 0 ? 0 : -1;
  const int64_t upper = step > 0 ? length : length - 1;
  auto adjust = [&](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    int64_t x = *v;
    if (x < 0) {
      x += length;
      if (x < lower) x = lower;
    } else if (x > upper) {
      x = upper;
    }
    return x;
  };
  first = adjust(start, step > 0 ? lower : upper);
  last = adjust(stop, step > 0 ? upper : lower);
}

}  // namespace

value get_attr(const value& obj, std::string_view name) {
  if (obj.is_undefined()) raise(obj.undefined_message());
  // Python's internals (__class__, __globals__, ...) are what a sandbox escape goes through.
  if (name.size() >= 2 && name[0] == '_' && name[1] == '_') return unsafe(obj, name);
  switch (obj.type()) {
    case kind::dict: {
      const dict_data& d = obj.as_dict();
      if (!d.is_namespace) {
        switch (method_kind(obj, name)) {
          case method_access::safe: return value::function(std::make_shared<bound_method>(obj, std::string(name)));
          case method_access::unsafe: return unsafe(obj, name);
          case method_access::none: break;
        }
      }
      if (const value* v = d.find(name)) return *v;
      return missing_attribute(obj, name);
    }
    case kind::loop: return loop_attribute(obj, name);
    case kind::string:
    case kind::list:
      switch (method_kind(obj, name)) {
        case method_access::safe: return value::function(std::make_shared<bound_method>(obj, std::string(name)));
        case method_access::unsafe: return unsafe(obj, name);
        case method_access::none: break;
      }
      return missing_attribute(obj, name);
    default: return missing_attribute(obj, name);
  }
}

value get_item(const value& obj, const value& key) {
  if (obj.is_undefined()) raise(obj.undefined_message());
  switch (obj.type()) {
    case kind::dict:
      if (const value* v = obj.as_dict().find(key)) return *v;
      break;
    case kind::list: {
      const list_data& l = obj.as_list();
      if (l.kind == seq_kind::generator || !(key.is_int() || key.is_bool())) break;
      int64_t i = key.to_int();
      const auto n = static_cast<int64_t>(l.items.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return missing_element(obj, key);
      return l.items[static_cast<size_t>(i)];
    }
    case kind::string: {
      if (!(key.is_int() || key.is_bool())) break;
      const std::string& s = obj.as_string();
      int64_t i = key.to_int();
      const std::vector<size_t> b = text::boundaries(s);
      const auto n = static_cast<int64_t>(b.size()) - 1;
      if (i < 0) i += n;
      if (i < 0 || i >= n) return missing_element(obj, key);
      return value::string_like(obj, s.substr(b[static_cast<size_t>(i)], b[static_cast<size_t>(i) + 1] - b[static_cast<size_t>(i)]));
    }
    default: break;
  }
  // jinja2 falls back to the attribute of that name (d['items'] finds the method when no key
  // "items" exists).
  if (key.is_string()) return get_attr(obj, key.as_string());
  return missing_element(obj, key);
}

value get_slice(const value& obj, const value& start, const value& stop, const value& step) {
  if (obj.is_undefined()) raise(obj.undefined_message());
  // jinja2 compiles a[b:c] to a plain Python subscript (no getitem fallback), so slicing
  // what cannot be sliced is a TypeError, not an undefined value.
  if (obj.is_dict() && !obj.is_namespace()) raise("unhashable type: 'slice'");
  if (!obj.is_string() && !(obj.is_list() && !obj.is_generator()))
    raise(text::quoted(type_name(obj)) + " object is not subscriptable");
  auto bound = [](const value& v) -> std::optional<int64_t> {
    if (v.is_none()) return std::nullopt;
    if (v.is_int() || v.is_bool()) return v.to_int();
    raise("slice indices must be integers or None or have an __index__ method");
  };
  const auto a = bound(start), b = bound(stop), c = bound(step);
  const int64_t st = c.value_or(1);
  if (st == 0) raise("slice step cannot be zero");
  if (st == std::numeric_limits<int64_t>::min()) raise("slice step is too small");
  std::vector<size_t> offsets;
  int64_t n;
  if (obj.is_string()) {
    offsets = text::boundaries(obj.as_string());
    n = static_cast<int64_t>(offsets.size()) - 1;
  } else {
    n = static_cast<int64_t>(obj.as_list().items.size());
  }
  int64_t first, last;
  slice_bounds(n, a, b, st, first, last);
  // Number of picked positions, computed without overflowing for huge steps.
  int64_t count = 0;
  if (st > 0 && last > first) count = (last - first - 1) / st + 1;
  if (st < 0 && first > last) count = (first - last - 1) / -st + 1;
  auto position = [&](int64_t k) { return static_cast<size_t>(first + k * st); };
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    if (st == 1) {
      if (last <= first) return value::string_like(obj, std::string());
      return value::string_like(obj, s.substr(offsets[static_cast<size_t>(first)], offsets[static_cast<size_t>(last)] - offsets[static_cast<size_t>(first)]));
    }
    std::string out;
    for (int64_t i = 0; i < count; ++i) {
      const size_t k = position(i);
      out.append(s, offsets[k], offsets[k + 1] - offsets[k]);
    }
    return value::string_like(obj, std::move(out));
  }
  const auto& items = obj.as_list().items;
  std::vector<value> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(items[position(i)]);
  return value::list(std::move(out), obj.as_list().kind);
}

}  // namespace owl::jinja
