// format.cpp — Python's str(), repr() and json.dumps() for template values.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/jinja/text.h"
#include "chat/jinja/value.h"

namespace owl::jinja {

std::string format_float(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f < 0 ? "-inf" : "inf";
  if (f == 0.0) return std::signbit(f) ? "-0.0" : "0.0";
  // Shortest round-trip digits, as Python's repr: to_chars gives "d.ddde+XX".
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof buf, f, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  std::string out;
  if (sci.front() == '-') {
    out += '-';
    sci.remove_prefix(1);
  }
  const size_t e = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e))
    if (c != '.') digits += c;
  int exponent = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+' ? 1 : 0), sci.data() + sci.size(), exponent);
  const int decpt = exponent + 1;  // value = 0.DIGITS * 10^decpt
  const int n = static_cast<int>(digits.size());
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<size_t>(-decpt), '0');
      out += digits;
    } else if (decpt >= n) {
      out += digits;
      out.append(static_cast<size_t>(decpt - n), '0');
      out += ".0";
    } else {
      out += digits.substr(0, static_cast<size_t>(decpt));
      out += '.';
      out += digits.substr(static_cast<size_t>(decpt));
    }
    return out;
  }
  out += digits[0];
  if (n > 1) {
    out += '.';
    out += digits.substr(1);
  }
  const int x = decpt - 1;
  out += x < 0 ? "e-" : "e+";
  const int ax = x < 0 ? -x : x;
  if (ax < 10) out += '0';
  out += std::to_string(ax);
  return out;
}

namespace {

// Containers being printed right now: Python prints a container that contains itself as
// [...] / {...} instead of recursing forever (reprlib's recursion guard).
thread_local std::vector<const void*> tls_printing;

struct printing {
  explicit printing(const void* p) { tls_printing.push_back(p); }
  ~printing() { tls_printing.pop_back(); }
  static bool active(const void* p) {
    return std::find(tls_printing.begin(), tls_printing.end(), p) != tls_printing.end();
  }
};

void append_sequence(std::string& out, const list_data& l) {
  const bool tuple = l.kind == seq_kind::tuple;
  if (printing::active(&l)) {
    out += tuple ? "(...)" : "[...]";
    return;
  }
  printing guard(&l);
  out += tuple ? '(' : '[';
  for (size_t i = 0; i < l.items.size(); ++i) {
    if (i) out += ", ";
    append_repr(out, l.items[i]);
    text_budget::check_size(out.size());
  }
  if (tuple && l.items.size() == 1) out += ',';
  out += tuple ? ')' : ']';
}

void append_mapping(std::string& out, const dict_data& d) {
  if (printing::active(&d)) {
    out += "{...}";
    return;
  }
  printing guard(&d);
  out += '{';
  bool first = true;
  for (const auto& [k, v] : d.entries) {
    if (!first) out += ", ";
    first = false;
    append_repr(out, k);
    out += ": ";
    append_repr(out, v);
    text_budget::check_size(out.size());
  }
  out += '}';
}

}  // namespace

void append_str(std::string& out, const value& v) {
  switch (v.type()) {
    case kind::undefined: return;
    case kind::none: out += "None"; return;
    case kind::boolean: out += v.as_bool() ? "True" : "False"; return;
    case kind::integer: {
      char buf[24];
      const auto r = std::to_chars(buf, buf + sizeof buf, v.as_int());
      out.append(buf, r.ptr);
      return;
    }
    case kind::floating: out += format_float(v.as_float()); return;
    case kind::string: out += v.as_string(); return;
    case kind::list:
      if (v.as_list().kind == seq_kind::generator) {
        out += "<generator object>";
        return;
      }
      stack_guard::check();
      append_sequence(out, v.as_list());
      return;
    case kind::dict:
      stack_guard::check();
      if (v.as_dict().is_namespace) {
        out += "<Namespace ";
        append_mapping(out, v.as_dict());
        out += '>';
      } else {
        append_mapping(out, v.as_dict());
      }
      return;
    case kind::function: out += v.as_function().describe(); return;
    case kind::loop: {
      const loop_state& l = v.as_loop();
      out += "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.items.size()) + ">";
      return;
    }
  }
}

std::string to_str(const value& v) {
  if (v.is_string()) return v.as_string();
  std::string out;
  append_str(out, v);
  return out;
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

void append_repr(std::string& out, const value& v) {
  if (v.is_markup()) {
    out += "Markup(" + text::repr(v.as_string()) + ")";
  } else if (v.is_string()) {
    out += text::repr(v.as_string());
  } else if (v.is_undefined()) {
    out += "Undefined";
  } else {
    append_str(out, v);
  }
}

// ---- json.dumps ----

namespace {

void append_json_string(std::string& out, std::string_view s, bool ensure_ascii) {
  static const char* hex = "0123456789abcdef";
  auto u_escape = [&out](unsigned cp) {
    out += "\\u";
    for (int d = 3; d >= 0; --d) out += hex[(cp >> (4 * d)) & 15];
  };
  out += '"';
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      case '\b': out += "\\b"; ++i; continue;
      case '\f': out += "\\f"; ++i; continue;
      default: break;
    }
    if (c < 0x20 || (ensure_ascii && c == 0x7F)) {
      u_escape(c);
      ++i;
      continue;
    }
    if (c < 0x80 || !ensure_ascii) {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    size_t len;
    const char32_t cp = text::decode(s, i, len);
    if (cp >= 0x10000) {
      const char32_t v = cp - 0x10000;
      u_escape(0xD800 + (v >> 10));
      u_escape(0xDC00 + (v & 0x3FF));
    } else {
      u_escape(cp);
    }
    i += len;
  }
  out += '"';
}

std::string json_float(double f) {
  if (std::isnan(f)) return "NaN";
  if (std::isinf(f)) return f < 0 ? "-Infinity" : "Infinity";
  return format_float(f);
}

[[noreturn]] void not_serializable(const value& v) {
  raise("Object of type " + type_name(v) + " is not JSON serializable");
}

std::string json_key(const value& k) {
  switch (k.type()) {
    case kind::string: return k.as_string();
    case kind::integer: return std::to_string(k.as_int());
    case kind::floating: return json_float(k.as_float());
    case kind::boolean: return k.as_bool() ? "true" : "false";
    case kind::none: return "null";
    default: raise("keys must be str, int, float, bool or None, not " + type_name(k));
  }
}

void dump(std::string& out, const value& v, const json_options& o, int level) {
  switch (v.type()) {
    case kind::none: out += "null"; return;
    case kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case kind::integer: out += std::to_string(v.as_int()); return;
    case kind::floating: out += json_float(v.as_float()); return;
    case kind::string: append_json_string(out, v.as_string(), o.ensure_ascii); return;
    default: break;
  }
  const bool is_sequence = v.is_list() && v.as_list().kind != seq_kind::generator;
  const bool is_mapping = v.is_dict() && !v.as_dict().is_namespace;
  if (!is_sequence && !is_mapping) not_serializable(v);
  stack_guard::check();
  if (printing::active(v.identity())) raise("Circular reference detected");
  printing guard(v.identity());
  const size_t count = is_sequence ? v.as_list().items.size() : v.as_dict().entries.size();
  if (count == 0) {
    out += is_sequence ? "[]" : "{}";
    return;
  }
  std::string newline_indent;
  if (o.indent) {
    newline_indent = "\n";
    for (int i = 0; i <= level; ++i) newline_indent += *o.indent;
  }
  out += is_sequence ? '[' : '{';
  out += newline_indent;
  const std::string separator = o.item_separator + newline_indent;
  if (is_sequence) {
    const auto& items = v.as_list().items;
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += separator;
      dump(out, items[i], o, level + 1);
      text_budget::check_size(out.size());
    }
  } else {
    std::vector<const std::pair<value, value>*> entries;
    for (const auto& e : v.as_dict().entries) entries.push_back(&e);
    if (o.sort_keys)
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto* a, const auto* b) { return compare(a->first, b->first) < 0; });
    bool first = true;
    for (const auto* e : entries) {
      if (!first) out += separator;
      first = false;
      append_json_string(out, json_key(e->first), o.ensure_ascii);
      out += o.key_separator;
      dump(out, e->second, o, level + 1);
      text_budget::check_size(out.size());
    }
  }
  if (o.indent) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *o.indent;
  }
  out += is_sequence ? ']' : '}';
}

}  // namespace

std::string to_json(const value& v, const json_options& options) {
  std::string out;
  dump(out, v, options, 0);
  return out;
}

}  // namespace owl::jinja
