// printf.cpp — Python's printf-style formatting: "%s: %.2f" % (name, x) and the format filter.
#include <cmath>
#include <cstdio>

#include "chat/jinja/builtins.h"
#include "chat/jinja/text.h"

namespace owl::jinja {

namespace {

struct spec {
  bool left = false, plus = false, space = false, alternate = false, zero = false;
  int width = -1, precision = -1;
  char conversion = 0;
};

// Pads `body` (with its sign already in front) to the spec's width.
std::string pad(std::string body, const spec& s, bool numeric) {
  const auto len = static_cast<int>(text::length(body));
  if (s.width <= len) return body;
  const auto fill = static_cast<size_t>(s.width - len);
  if (s.left) return body + std::string(fill, ' ');
  if (s.zero && numeric) {
    // Zeros go after the sign and any 0x prefix.
    size_t at = (!body.empty() && (body[0] == '-' || body[0] == '+' || body[0] == ' ')) ? 1 : 0;
    if (body.size() >= at + 2 && body[at] == '0' && (body[at + 1] == 'x' || body[at + 1] == 'X' || body[at + 1] == 'o'))
      at += 2;
    return body.insert(at, fill, '0');
  }
  return std::string(fill, ' ') + body;
}

std::string sign_prefix(bool negative, const spec& s) {
  if (negative) return "-";
  if (s.plus) return "+";
  if (s.space) return " ";
  return "";
}

int64_t integer_arg(const value& v, char conversion) {
  if (v.is_int() || v.is_bool()) return v.to_int();
  if (v.is_float() && (conversion == 'd' || conversion == 'i' || conversion == 'u')) {
    const double d = v.as_float();
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) raise("cannot convert float to integer");
    return static_cast<int64_t>(std::trunc(d));
  }
  if (v.is_undefined()) raise(v.undefined_message());
  raise(std::string("%") + conversion + " format: " +
        (conversion == 'd' || conversion == 'i' || conversion == 'u' ? "a real number" : "an integer") +
        " is required, not " + type_name(v));
}

std::string format_one(const spec& s, const value& v) {
  switch (s.conversion) {
    case 's':
    case 'r':
    case 'a': {
      std::string body;
      if (s.conversion == 's') append_str(body, v);
      else append_repr(body, v);
      if (s.precision >= 0) {
        const std::vector<size_t> b = text::boundaries(body);
        if (static_cast<size_t>(s.precision) + 1 < b.size()) body.resize(b[static_cast<size_t>(s.precision)]);
      }
      return pad(std::move(body), s, false);
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
      const int64_t n = integer_arg(v, s.conversion);
      const uint64_t magnitude = n < 0 ? 0 - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
      char buf[80];
      const char* f = s.conversion == 'x' ? "%llx" : (s.conversion == 'X' ? "%llX" : (s.conversion == 'o' ? "%llo" : "%llu"));
      std::snprintf(buf, sizeof buf, f, static_cast<unsigned long long>(magnitude));
      std::string digits = buf;
      if (s.precision > 0 && static_cast<int>(digits.size()) < s.precision)
        digits.insert(0, static_cast<size_t>(s.precision) - digits.size(), '0');
      std::string body = sign_prefix(n < 0, s);
      if (s.alternate && s.conversion != 'd' && s.conversion != 'i' && s.conversion != 'u')
        body.append(s.conversion == 'o' ? "0o" : (s.conversion == 'x' ? "0x" : "0X"));
      body.append(digits);
      return pad(std::move(body), s, true);
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
      if (v.is_undefined()) raise(v.undefined_message());
      if (!v.is_number()) raise(std::string("must be real number, not ") + type_name(v));
      const double d = v.to_double();
      const int precision = s.precision < 0 ? 6 : std::min(s.precision, 200);
      std::string body = sign_prefix(std::signbit(d) && !std::isnan(d), s);
      if (std::isnan(d) || std::isinf(d)) {
        const bool upper = s.conversion >= 'A' && s.conversion <= 'Z';
        body.append(std::isnan(d) ? (upper ? "NAN" : "nan") : (upper ? "INF" : "inf"));
      } else {
        char format[16];
        std::snprintf(format, sizeof format, "%%%s.%d%c", s.alternate ? "#" : "", precision, s.conversion);
        char buf[1024];  // enough for %f of 1e308 at the capped precision
        std::snprintf(buf, sizeof buf, format, std::fabs(d));
        body.append(buf);
      }
      return pad(std::move(body), s, std::isfinite(d));
    }
    case 'c': {
      std::string body;
      if (v.is_string() && text::length(v.as_string()) == 1) {
        body = v.as_string();
      } else if (v.is_int() || v.is_bool()) {
        const int64_t cp = v.to_int();
        if (cp < 0 || cp > 0x10FFFF) raise("%c arg not in range(0x110000)");
        text::append_utf8(body, static_cast<char32_t>(cp));
      } else {
        raise("%c requires int or char");
      }
      return pad(std::move(body), s, false);
    }
    default: break;
  }
  raise(std::string("unsupported format character '") + s.conversion + "'");
}

}  // namespace

std::string printf_format(const std::string& format, const value& args) {
  // Python: a tuple gives positional arguments; any other value is the single argument, and a
  // mapping (or anything subscriptable but str) may also serve %(name)s keys.
  const bool is_tuple = args.is_list() && args.as_list().kind == seq_kind::tuple;
  const std::vector<value> positional = is_tuple ? args.as_list().items : std::vector<value>{args};
  const bool mapping = !is_tuple && (args.is_dict() || args.is_list() || args.is_undefined()) && !args.is_namespace();
  size_t next = 0;
  bool used_key = false;
  auto take = [&]() -> const value& {
    if (next >= positional.size()) raise("not enough arguments for format string");
    return positional[next++];
  };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%') {
      out += format[i];
      continue;
    }
    if (++i >= format.size()) raise("incomplete format");
    spec s;
    std::optional<value> keyed;
    if (format[i] == '(') {
      const size_t close = format.find(')', i);
      if (close == std::string::npos) raise("incomplete format key");
      if (!args.is_dict() || args.is_namespace()) raise("format requires a mapping");
      const value* v = args.as_dict().find(std::string_view(format).substr(i + 1, close - i - 1));
      if (!v) raise("KeyError: '" + format.substr(i + 1, close - i - 1) + "'");
      keyed = *v;
      used_key = true;
      i = close + 1;
    }
    for (; i < format.size(); ++i) {
      const char f = format[i];
      if (f == '-') s.left = true;
      else if (f == '+') s.plus = true;
      else if (f == ' ') s.space = true;
      else if (f == '#') s.alternate = true;
      else if (f == '0') s.zero = true;
      else break;
    }
    auto number = [&](int& target) {
      if (i < format.size() && format[i] == '*') {
        const value& w = take();
        if (!w.is_int() && !w.is_bool()) raise("* wants int");
        target = static_cast<int>(std::min<int64_t>(std::max<int64_t>(w.to_int(), -100000), 100000));
        ++i;
        return;
      }
      if (i >= format.size() || format[i] < '0' || format[i] > '9') return;
      target = 0;
      while (i < format.size() && format[i] >= '0' && format[i] <= '9') {
        target = std::min(target * 10 + (format[i] - '0'), 100000);
        ++i;
      }
    };
    number(s.width);
    if (s.width < 0 && s.width != -1) {
      s.left = true;
      s.width = -s.width;
    }
    if (i < format.size() && format[i] == '.') {
      ++i;
      s.precision = 0;
      number(s.precision);
    }
    while (i < format.size() && (format[i] == 'h' || format[i] == 'l' || format[i] == 'L')) ++i;
    if (i >= format.size()) raise("incomplete format");
    s.conversion = format[i];
    if (s.conversion == '%') {
      out += '%';
      continue;
    }
    text_budget::check_size(out.size() + static_cast<size_t>(std::max(s.width, 0)));
    out += format_one(s, keyed ? *keyed : take());
    text_budget::check_size(out.size());
  }
  if (!mapping && !used_key && next < positional.size()) raise("not all arguments converted during string formatting");
  return out;
}

}  // namespace owl::jinja
