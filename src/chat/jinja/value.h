// value.h — the template engine's value type, with Python's semantics.
//
// Chat templates are Jinja2 run by Python, so every value behaves like the Python object it
// stands for: None, bool, int (64-bit here), float, str (UTF-8), list, tuple, dict (insertion
// ordered), a generator (what jinja2's map/select/reject filters return: always truthy, no
// len(), consumed by the first loop over it), jinja2's Namespace and LoopContext, callables, and
// jinja2's Undefined (prints as "", fails when used).
//
// Strings and containers are shared by reference, as in Python: `ns.items.append(x)` changes the
// list every holder sees. Containers made during a render are registered with the render's
// container_registry, which empties them all when the render ends; that breaks reference cycles
// a template can build (a namespace holding itself) and keeps destruction shallow.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace owl::jinja {

// An error while parsing or rendering. `offset` is a byte offset into the template source;
// errors raised deep inside a filter start without one and the innermost template node that
// sees the error fills in its own position.
class template_error : public std::runtime_error {
 public:
  static constexpr size_t no_offset = static_cast<size_t>(-1);
  explicit template_error(const std::string& message, size_t offset = no_offset)
      : std::runtime_error(message), offset(offset) {}
  size_t offset;
};

[[noreturn]] void raise(const std::string& message);

class value;
class renderer;
struct list_data;
struct dict_data;
struct loop_state;
class callable;

enum class kind : uint8_t { undefined, none, boolean, integer, floating, string, list, dict, function, loop };
enum class seq_kind : uint8_t { list, tuple, generator };

struct undefined_t {
  std::shared_ptr<const std::string> message;  // why it is undefined; null: "value is undefined"
};
struct none_t {};
// markupsafe's Markup: a str jinja2 treats as already HTML-escaped (from |safe and |escape).
// Adding a plain str to it escapes that str; the rest of the time it is a string.
struct markup_t {
  std::shared_ptr<const std::string> text;
};

class value {
 public:
  value() = default;  // undefined
  static value undefined(std::string message);
  static value none() { return value(none_t{}); }
  static value boolean(bool b) { return value(b); }
  static value integer(int64_t i) { return value(i); }
  static value floating(double f) { return value(f); }
  static value string(std::string s);
  static value string(std::shared_ptr<const std::string> s) { return value(std::move(s)); }
  static value markup(std::string s);
  // A string like `like` (Markup when `like` is Markup).
  static value string_like(const value& like, std::string s);
  static value list(std::vector<value> items, seq_kind k = seq_kind::list);
  static value tuple(std::vector<value> items) { return list(std::move(items), seq_kind::tuple); }
  static value dict();  // empty, insertion ordered
  static value namespace_object();
  static value function(std::shared_ptr<const callable> f) { return value(std::move(f)); }
  static value loop(std::shared_ptr<loop_state> l) { return value(std::move(l)); }

  kind type() const {
    const size_t i = v_.index();
    return i == markup_index ? kind::string : static_cast<kind>(i);
  }
  bool is_undefined() const { return type() == kind::undefined; }
  bool is_none() const { return type() == kind::none; }
  bool is_bool() const { return type() == kind::boolean; }
  bool is_int() const { return type() == kind::integer; }
  bool is_float() const { return type() == kind::floating; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python numbers include bool
  bool is_string() const { return type() == kind::string; }
  bool is_markup() const { return v_.index() == markup_index; }
  bool is_list() const { return type() == kind::list; }  // list, tuple or generator
  bool is_dict() const { return type() == kind::dict; }  // dict or namespace
  bool is_function() const { return type() == kind::function; }
  bool is_loop() const { return type() == kind::loop; }
  bool is_namespace() const;
  bool is_generator() const;

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const { return std::get<int64_t>(v_); }
  double as_float() const { return std::get<double>(v_); }
  // A number as double (bool and int widen).
  double to_double() const;
  // bool and int as int64 (Python bools are ints).
  int64_t to_int() const { return is_bool() ? (as_bool() ? 1 : 0) : as_int(); }
  const std::string& as_string() const { return *string_ptr(); }
  const std::shared_ptr<const std::string>& string_ptr() const {
    if (const auto* m = std::get_if<markup_t>(&v_)) return m->text;
    return std::get<std::shared_ptr<const std::string>>(v_);
  }
  list_data& as_list() const { return *std::get<std::shared_ptr<list_data>>(v_); }
  dict_data& as_dict() const { return *std::get<std::shared_ptr<dict_data>>(v_); }
  const callable& as_function() const { return *std::get<std::shared_ptr<const callable>>(v_); }
  loop_state& as_loop() const { return *std::get<std::shared_ptr<loop_state>>(v_); }
  // Message of an undefined value ("'x' is undefined").
  std::string undefined_message() const;
  // Identity of a container or callable (Python `is`); null for scalars.
  const void* identity() const;

 private:
  template <typename T>
    requires(!std::is_same_v<std::decay_t<T>, value>)
  explicit value(T&& v) : v_(std::forward<T>(v)) {}
  static constexpr size_t markup_index = 10;
  std::variant<undefined_t, none_t, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<list_data>, std::shared_ptr<dict_data>, std::shared_ptr<const callable>,
               std::shared_ptr<loop_state>, markup_t>
      v_;
};

struct list_data {
  std::vector<value> items;
  seq_kind kind = seq_kind::list;
};

// An insertion-ordered dict. Chat-template dicts are small (a message, a tool schema), so keys
// are found by a linear scan; dicts past a few dozen keys get a hash index for string keys.
struct dict_data {
  std::vector<std::pair<value, value>> entries;
  bool is_namespace = false;

  const value* find(std::string_view key) const;
  const value* find(const value& key) const;  // Python key equality: 1, 1.0 and True are one key
  void set(value key, value v);
  void set(std::string_view key, value v);

 private:
  void index_if_large() const;
  mutable std::unordered_map<std::string_view, size_t> index_;  // views into the key strings
};

// jinja2's LoopContext: one per for-loop, updated in place as the loop advances.
struct loop_state {
  std::vector<value> items;
  size_t index0 = 0;
  std::optional<value> last_changed;  // loop.changed() memory
  size_t depth0 = 0;
};

struct arguments {
  std::vector<value> positional;
  std::vector<std::pair<std::string, value>> keyword;
};

class callable {
 public:
  virtual ~callable() = default;
  virtual value call(renderer& r, arguments& args) const = 0;
  // Python str() of the function, e.g. "<Macro 'name'>".
  virtual std::string describe() const = 0;
};

// Something else that holds values and must drop them when the render ends: a variable scope
// captured by a macro defined in it (the macro lives in the scope and the scope in the macro).
class clearable {
 public:
  virtual ~clearable() = default;
  virtual void clear_values() = 0;
};

// Containers made while a render runs, emptied when it ends (see the file comment).
class container_registry {
 public:
  container_registry();
  ~container_registry();
  container_registry(const container_registry&) = delete;
  container_registry& operator=(const container_registry&) = delete;
  static container_registry* current();
  void add(std::shared_ptr<list_data> l) { lists_.push_back(std::move(l)); }
  void add(std::shared_ptr<dict_data> d) { dicts_.push_back(std::move(d)); }
  void add(std::shared_ptr<loop_state> l) { loops_.push_back(std::move(l)); }
  void add(std::shared_ptr<clearable> c) { others_.push_back(std::move(c)); }

 private:
  container_registry* previous_;
  std::vector<std::shared_ptr<list_data>> lists_;
  std::vector<std::shared_ptr<dict_data>> dicts_;
  std::vector<std::shared_ptr<loop_state>> loops_;
  std::vector<std::shared_ptr<clearable>> others_;
};

// Guards the native stack against templates (or values) nested deeply enough to overflow it:
// recursion in the engine calls check(), which fails cleanly once the render has used its share.
class stack_guard {
 public:
  stack_guard();
  ~stack_guard();
  stack_guard(const stack_guard&) = delete;
  stack_guard& operator=(const stack_guard&) = delete;
  static void check();
};

// Bounds the text a render builds. Every new string and list is charged to it (so a doubling
// loop, "x" * 10**9 or a loop building big lists stops with an error instead of exhausting
// memory or time): no single string may exceed `max_string` bytes and all strings and lists
// together (16 bytes per list item) may not exceed `max_total`.
class text_budget {
 public:
  text_budget(size_t max_string, size_t max_total);
  ~text_budget();
  text_budget(const text_budget&) = delete;
  text_budget& operator=(const text_budget&) = delete;
  static void charge(size_t bytes);       // a new string of this size
  static void charge_items(size_t count);  // a new list of this many items (16 bytes each)
  static void check_size(size_t bytes);   // a string still being built has reached this size

 private:
  static void add(size_t bytes);
  text_budget* previous_;
  size_t max_string_, max_total_, used_ = 0;
};

// ---- Python semantics (value.cpp, format.cpp) ----

bool truthy(const value& v);
// Python type name: "NoneType", "int", "str", "list", "dict", "Namespace", ...
std::string type_name(const value& v);
// jinja2's object_type_repr: "dict object", "None", ... (for undefined messages).
std::string object_type_repr(const value& v);

bool equals(const value& a, const value& b);
// Three-way comparison for <, <=, >, >= and sorting; raises TypeError for unorderable types
// (`op` names the operator in the message).
int compare(const value& a, const value& b, const char* op = "<");

// Python str(): what {{ v }} prints.
std::string to_str(const value& v);
void append_str(std::string& out, const value& v);
// Python repr(): how a value prints inside a list or dict.
void append_repr(std::string& out, const value& v);
// markupsafe's escape(): & < > " ' as HTML entities.
std::string html_escape(std::string_view s);
// Python repr() of a float: shortest round-trip digits, "1.0", "1e+16", "inf", "nan".
std::string format_float(double f);

struct json_options {
  std::optional<std::string> indent;  // None: one line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool ensure_ascii = false;
  bool sort_keys = false;
};
// Python json.dumps with these options (what transformers' tojson filter calls).
std::string to_json(const value& v, const json_options& options);

value from_json(const nlohmann::ordered_json& j);

// Items of an iterable as Python iterates them: a list's items, a dict's keys, a string's code
// points; Undefined iterates as empty. A generator is consumed (emptied). Raises TypeError for
// values that are not iterable.
std::vector<value> iterate(const value& v);
// Python len(); raises TypeError for values without one.
int64_t length(const value& v);

}  // namespace owl::jinja
