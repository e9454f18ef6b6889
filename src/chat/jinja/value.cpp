#include "chat/jinja/value.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "chat/jinja/text.h"

#if defined(__linux__)
#include <pthread.h>
#endif

namespace owl::jinja {

void raise(const std::string& message) { throw template_error(message); }

// ---- construction ----

value value::undefined(std::string message) {
  return value(undefined_t{std::make_shared<const std::string>(std::move(message))});
}

value value::string(std::string s) {
  text_budget::charge(s.size());
  return value(std::shared_ptr<const std::string>(std::make_shared<const std::string>(std::move(s))));
}

value value::markup(std::string s) {
  text_budget::charge(s.size());
  return value(markup_t{std::make_shared<const std::string>(std::move(s))});
}

value value::string_like(const value& like, std::string s) {
  return like.is_markup() ? markup(std::move(s)) : string(std::move(s));
}

value value::list(std::vector<value> items, seq_kind k) {
  text_budget::charge_items(items.size() + 1);  // +1: even empty containers cost memory until the render ends
  auto data = std::make_shared<list_data>();
  data->items = std::move(items);
  data->kind = k;
  if (auto* registry = container_registry::current()) registry->add(data);
  return value(std::move(data));
}

value value::dict() {
  text_budget::charge_items(1);
  auto data = std::make_shared<dict_data>();
  if (auto* registry = container_registry::current()) registry->add(data);
  return value(std::move(data));
}

value value::namespace_object() {
  value v = dict();
  v.as_dict().is_namespace = true;
  return v;
}

bool value::is_namespace() const { return is_dict() && as_dict().is_namespace; }
bool value::is_generator() const { return is_list() && as_list().kind == seq_kind::generator; }

double value::to_double() const {
  switch (type()) {
    case kind::boolean: return as_bool() ? 1.0 : 0.0;
    case kind::integer: return static_cast<double>(as_int());
    case kind::floating: return as_float();
    default: raise("expected a number, found " + type_name(*this));
  }
}

std::string value::undefined_message() const {
  const auto& message = std::get<undefined_t>(v_).message;
  return message ? *message : std::string("value is undefined");
}

const void* value::identity() const {
  switch (type()) {
    case kind::list: return std::get<std::shared_ptr<list_data>>(v_).get();
    case kind::dict: return std::get<std::shared_ptr<dict_data>>(v_).get();
    case kind::function: return std::get<std::shared_ptr<const callable>>(v_).get();
    case kind::loop: return std::get<std::shared_ptr<loop_state>>(v_).get();
    default: return nullptr;
  }
}

// ---- dict ----

void dict_data::index_if_large() const {
  constexpr size_t index_from = 24;
  if (entries.size() < index_from || index_.size() == entries.size()) return;
  index_.clear();
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].first.is_string()) index_.emplace(entries[i].first.as_string(), i);
}

const value* dict_data::find(std::string_view key) const {
  index_if_large();
  if (!index_.empty()) {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &entries[it->second].second;
  }
  for (const auto& [k, v] : entries)
    if (k.is_string() && k.as_string() == key) return &v;
  return nullptr;
}

const value* dict_data::find(const value& key) const {
  if (key.is_string()) return find(std::string_view(key.as_string()));
  for (const auto& [k, v] : entries)
    if (equals(k, key)) return &v;
  return nullptr;
}

void dict_data::set(value key, value v) {
  if (const value* existing = find(key)) {
    *const_cast<value*>(existing) = std::move(v);
    return;
  }
  entries.emplace_back(std::move(key), std::move(v));
  if (!index_.empty() && entries.back().first.is_string())
    index_.emplace(entries.back().first.as_string(), entries.size() - 1);
}

void dict_data::set(std::string_view key, value v) {
  if (const value* existing = find(key)) {
    *const_cast<value*>(existing) = std::move(v);
    return;
  }
  set(value::string(std::string(key)), std::move(v));
}

// ---- registry and stack guard ----

namespace {
thread_local container_registry* tls_registry = nullptr;
thread_local text_budget* tls_budget = nullptr;
thread_local uintptr_t tls_stack_base = 0;
thread_local uintptr_t tls_stack_budget = 0;
thread_local int tls_guard_depth = 0;

uintptr_t frame_address() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

// How much of this thread's stack a render may use: at most 4 MiB, and on Linux at most three
// quarters of what is left below the caller (threads can have small stacks).
uintptr_t stack_budget(uintptr_t here) {
  uintptr_t budget = uintptr_t(4) << 20;
#if defined(__linux__)
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* low = nullptr;
    size_t size = 0;
    if (pthread_attr_getstack(&attr, &low, &size) == 0 && low) {
      const auto low_address = reinterpret_cast<uintptr_t>(low);
      if (here > low_address) budget = std::min(budget, (here - low_address) / 4 * 3);
    }
    pthread_attr_destroy(&attr);
  }
#endif
  return budget;
}
}  // namespace

container_registry::container_registry() : previous_(tls_registry) { tls_registry = this; }

container_registry::~container_registry() {
  tls_registry = previous_;
  // Empty every container first: each one still holds a reference to every other, so no
  // destructor recurses, and cycles lose their edges. Then the (now empty) objects go.
  for (auto& l : lists_) l->items.clear();
  for (auto& d : dicts_) d->entries.clear();
  for (auto& l : loops_) {
    l->items.clear();
    l->last_changed.reset();
  }
  for (auto& c : others_) c->clear_values();
}

container_registry* container_registry::current() { return tls_registry; }

stack_guard::stack_guard() {
  if (tls_guard_depth++ == 0) {
    tls_stack_base = frame_address();
    tls_stack_budget = stack_budget(tls_stack_base);
  }
}

stack_guard::~stack_guard() {
  if (--tls_guard_depth == 0) tls_stack_base = 0;
}

void stack_guard::check() {
  if (!tls_stack_base) return;
  const uintptr_t here = frame_address();
  const uintptr_t used = here < tls_stack_base ? tls_stack_base - here : here - tls_stack_base;
  if (used > tls_stack_budget)
    raise("template nests too deeply (values or calls nested past the native stack budget)");
}

text_budget::text_budget(size_t max_string, size_t max_total)
    : previous_(tls_budget), max_string_(max_string), max_total_(max_total) {
  tls_budget = this;
}

text_budget::~text_budget() { tls_budget = previous_; }

void text_budget::charge(size_t bytes) {
  check_size(bytes);
  add(bytes);
}

void text_budget::charge_items(size_t count) { add(count > SIZE_MAX / 16 ? SIZE_MAX : count * 16); }

void text_budget::add(size_t bytes) {
  text_budget* b = tls_budget;
  if (!b) return;
  b->used_ = bytes > SIZE_MAX - b->used_ ? SIZE_MAX : b->used_ + bytes;
  if (b->used_ > b->max_total_)
    raise("the template built more than " + std::to_string(b->max_total_) +
          " bytes of strings and lists in total (16 x max_output_bytes)");
}

void text_budget::check_size(size_t bytes) {
  const text_budget* b = tls_budget;
  if (b && bytes > b->max_string_)
    raise("a string would exceed max_output_bytes (" + std::to_string(b->max_string_) + " bytes)");
}

// ---- Python semantics ----

bool truthy(const value& v) {
  switch (v.type()) {
    case kind::undefined:
    case kind::none: return false;
    case kind::boolean: return v.as_bool();
    case kind::integer: return v.as_int() != 0;
    case kind::floating: return v.as_float() != 0.0;
    case kind::string: return !v.as_string().empty();
    case kind::list: return v.as_list().kind == seq_kind::generator || !v.as_list().items.empty();
    case kind::dict: return v.as_dict().is_namespace || !v.as_dict().entries.empty();
    case kind::function: return true;
    case kind::loop: return !v.as_loop().items.empty();
  }
  return false;
}

std::string type_name(const value& v) {
  switch (v.type()) {
    case kind::undefined: return "Undefined";
    case kind::none: return "NoneType";
    case kind::boolean: return "bool";
    case kind::integer: return "int";
    case kind::floating: return "float";
    case kind::string: return "str";
    case kind::list:
      switch (v.as_list().kind) {
        case seq_kind::list: return "list";
        case seq_kind::tuple: return "tuple";
        case seq_kind::generator: return "generator";
      }
      return "list";
    case kind::dict: return v.as_dict().is_namespace ? "Namespace" : "dict";
    case kind::function: return "function";
    case kind::loop: return "LoopContext";
  }
  return "object";
}

std::string object_type_repr(const value& v) {
  if (v.is_none()) return "None";
  if (v.is_namespace()) return "jinja2.utils.Namespace object";
  if (v.is_loop()) return "jinja2.runtime.LoopContext object";
  return type_name(v) + " object";
}

namespace {

// Exact int/float comparison (Python compares the mathematical values).
int compare_int_float(int64_t i, double f) {
  if (std::isnan(f)) return 2;  // unordered
  constexpr double two63 = 9223372036854775808.0;
  if (f >= two63) return -1;
  if (f < -two63) return 1;
  const double t = std::trunc(f);
  const auto ti = static_cast<int64_t>(t);
  if (i != ti) return i < ti ? -1 : 1;
  if (f == t) return 0;
  return f > t ? -1 : 1;
}

// -1, 0, 1, or 2 when unordered (NaN).
int compare_numbers(const value& a, const value& b) {
  if (a.is_float() || b.is_float()) {
    if (a.is_float() && b.is_float()) {
      const double x = a.as_float(), y = b.as_float();
      if (std::isnan(x) || std::isnan(y)) return 2;
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (a.is_float()) {
      const int c = compare_int_float(b.to_int(), a.as_float());
      return c == 2 ? 2 : -c;
    }
    return compare_int_float(a.to_int(), b.as_float());
  }
  const int64_t x = a.to_int(), y = b.to_int();
  return x < y ? -1 : (x > y ? 1 : 0);
}

}  // namespace

bool equals(const value& a, const value& b) {
  if (a.is_number() && b.is_number()) return compare_numbers(a, b) == 0;
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case kind::undefined:
    case kind::none: return true;
    case kind::string: return a.string_ptr() == b.string_ptr() || a.as_string() == b.as_string();
    case kind::list: {
      const list_data& x = a.as_list();
      const list_data& y = b.as_list();
      if (&x == &y) return true;
      if (x.kind != y.kind || x.kind == seq_kind::generator || x.items.size() != y.items.size()) return false;
      stack_guard::check();
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!equals(x.items[i], y.items[i])) return false;
      return true;
    }
    case kind::dict: {
      const dict_data& x = a.as_dict();
      const dict_data& y = b.as_dict();
      if (&x == &y) return true;
      if (x.is_namespace || y.is_namespace || x.entries.size() != y.entries.size()) return false;
      stack_guard::check();
      for (const auto& [k, v] : x.entries) {
        const value* other = y.find(k);
        if (!other || !equals(v, *other)) return false;
      }
      return true;
    }
    default: return a.identity() == b.identity();
  }
}

int compare(const value& a, const value& b, const char* op) {
  if (a.is_undefined()) raise(a.undefined_message());
  if (b.is_undefined()) raise(b.undefined_message());
  if (a.is_number() && b.is_number()) {
    const int c = compare_numbers(a, b);
    // NaN: every ordering comparison is false; report "greater" for < and "less" for >.
    if (c == 2) return std::strchr(op, '<') ? 1 : -1;
    return c;
  }
  if (a.is_string() && b.is_string()) {
    // UTF-8 byte order is code point order.
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list() && a.as_list().kind == b.as_list().kind && a.as_list().kind != seq_kind::generator) {
    const auto& x = a.as_list().items;
    const auto& y = b.as_list().items;
    stack_guard::check();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i)
      if (!equals(x[i], y[i])) return compare(x[i], y[i], op);
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  raise(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
        type_name(b) + "'");
}

std::vector<value> iterate(const value& v) {
  switch (v.type()) {
    case kind::undefined: return {};
    case kind::list: {
      list_data& l = v.as_list();
      if (l.kind == seq_kind::generator) return std::move(l.items);  // consumed, as in Python
      return l.items;
    }
    case kind::dict: {
      if (v.as_dict().is_namespace) break;
      std::vector<value> keys;
      keys.reserve(v.as_dict().entries.size());
      for (const auto& entry : v.as_dict().entries) keys.push_back(entry.first);
      return keys;
    }
    case kind::string: {
      const std::string& s = v.as_string();
      std::vector<value> chars;
      for (size_t i = 0; i < s.size();) {
        size_t len;
        text::decode(s, i, len);
        chars.push_back(value::string(s.substr(i, len)));
        i += len;
      }
      return chars;
    }
    default: break;
  }
  raise(text::quoted(type_name(v)) + " object is not iterable");
}

int64_t length(const value& v) {
  switch (v.type()) {
    case kind::undefined: return 0;
    case kind::string: return static_cast<int64_t>(text::length(v.as_string()));
    case kind::list:
      if (v.as_list().kind == seq_kind::generator) break;
      return static_cast<int64_t>(v.as_list().items.size());
    case kind::dict:
      if (v.as_dict().is_namespace) break;
      return static_cast<int64_t>(v.as_dict().entries.size());
    case kind::loop: return static_cast<int64_t>(v.as_loop().items.size());
    default: break;
  }
  raise("object of type '" + type_name(v) + "' has no len()");
}

value from_json(const nlohmann::ordered_json& j) {
  using t = nlohmann::ordered_json::value_t;
  switch (j.type()) {
    case t::null: return value::none();
    case t::boolean: return value::boolean(j.get<bool>());
    case t::number_integer: return value::integer(j.get<int64_t>());
    case t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return value::integer(static_cast<int64_t>(u));
      return value::floating(static_cast<double>(u));
    }
    case t::number_float: return value::floating(j.get<double>());
    case t::string: return value::string(j.get<std::string>());
    case t::array: {
      stack_guard::check();
      std::vector<value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(from_json(item));
      return value::list(std::move(items));
    }
    case t::object: {
      stack_guard::check();
      value d = value::dict();
      auto& entries = d.as_dict().entries;
      entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) entries.emplace_back(value::string(it.key()), from_json(it.value()));
      return d;
    }
    default: return value::none();  // binary / discarded: not produced by JSON text
  }
}

}  // namespace owl::jinja
