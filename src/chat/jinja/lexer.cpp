#include "chat/jinja/lexer.h"

#include <charconv>
#include <limits>

#include "chat/jinja/text.h"
#include "chat/jinja/value.h"

namespace owl::jinja {

std::string normalize_newlines(std::string_view source) {
  std::string out;
  out.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out += source[i];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

const char* op_text(op_kind op) {
  static const char* const names[] = {"+", "-", "/", "//", "*", "%", "**", "~", "[", "]", "(", ")", "{", "}",
                                      "==", "!=", ">", ">=", "<", "<=", "=", ".", ":", "|", ",", ";"};
  return names[static_cast<int>(op)];
}

std::string describe(const token& t) {
  switch (t.type) {
    case token_type::text: return "template data / text";
    case token_type::variable_begin: return "begin of print statement";
    case token_type::variable_end: return "end of print statement";
    case token_type::block_begin: return "begin of statement block";
    case token_type::block_end: return "end of statement block";
    case token_type::name: return t.text;
    case token_type::string: return "string";
    case token_type::integer: return "integer";
    case token_type::floating: return "float";
    case token_type::op: return op_text(t.op);
    case token_type::eof: return "end of template";
  }
  return "token";
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) { return c == '_' || ((c | 32) >= 'a' && (c | 32) <= 'z'); }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

class lexer {
 public:
  explicit lexer(std::string_view src) : s_(src) {}

  std::vector<token> run() {
    while (pos_ < s_.size()) root();
    token eof;
    eof.type = token_type::eof;
    eof.offset = static_cast<uint32_t>(s_.size());
    out_.push_back(eof);
    return std::move(out_);
  }

 private:
  enum class tag { variable, block, comment, raw };

  [[noreturn]] void fail(const std::string& message, size_t at) { throw template_error(message, at); }

  // Python's str.isspace over the code point at i (0 when i is at the end).
  size_t space_at(size_t i) const {
    if (i >= s_.size()) return 0;
    const auto c = static_cast<unsigned char>(s_[i]);
    if (c < 0x80) return text::is_space(c) ? 1 : 0;
    size_t len;
    return text::is_space(text::decode(s_, i, len)) ? len : 0;
  }
  size_t skip_space(size_t i) const {
    for (size_t n; (n = space_at(i)) != 0;) i += n;
    return i;
  }
  bool at(size_t i, std::string_view lit) const { return s_.substr(i, lit.size()) == lit; }

  void emit_text(std::string_view data, size_t offset) {
    if (data.empty()) return;
    token t;
    t.type = token_type::text;
    t.offset = static_cast<uint32_t>(offset);
    t.text = std::string(data);
    out_.push_back(std::move(t));
  }
  void emit(token_type type, size_t offset) {
    token t;
    t.type = type;
    t.offset = static_cast<uint32_t>(offset);
    out_.push_back(std::move(t));
  }

  // Whitespace control for the text before a tag. sign: '-', '+' or 0.
  std::string_view strip_before(std::string_view data, char sign, bool lstrip_applies) const {
    if (sign == '-') {
      size_t end = data.size();
      while (end > 0) {
        const size_t start = text::previous_start(data, end);
        size_t len;
        if (!text::is_space(text::decode(data, start, len))) break;
        end = start;
      }
      return data.substr(0, end);
    }
    if (sign == '+' || !lstrip_applies) return data;
    const size_t nl = data.rfind('\n');
    const size_t line_start = nl == std::string_view::npos ? 0 : nl + 1;
    if (line_start == 0 && !line_starting_) return data;
    if (line_start == data.size()) return data;  // nothing between the newline and the tag
    for (size_t i = line_start; i < data.size();) {
      size_t len;
      if (!text::is_space(text::decode(data, i, len))) return data;
      i += len;
    }
    return data.substr(0, line_start);
  }

  // Length of `{%[-+]? raw [-]?%}` at i (jinja2's raw_begin), or 0.
  size_t match_raw_begin(size_t i, char& sign) const {
    size_t j = i + 2;
    sign = 0;
    if (j < s_.size() && (s_[j] == '-' || s_[j] == '+')) sign = s_[j++];
    j = skip_space(j);
    if (!at(j, "raw")) return 0;
    j = skip_space(j + 3);
    if (at(j, "-%}")) return skip_space(j + 3) - i;
    if (at(j, "%}")) return j + 2 - i;
    return 0;
  }

  void root() {
    // Find the next tag start; every "{{", "{%" and "{#" is one (jinja2 has no escaping).
    size_t i = pos_;
    tag kind = tag::variable;
    char sign = 0;
    size_t tag_length = 0;
    for (;; ++i) {
      i = s_.find('{', i);
      if (i == std::string_view::npos || i + 1 >= s_.size()) {
        emit_text(s_.substr(pos_), pos_);
        pos_ = s_.size();
        return;
      }
      const char c = s_[i + 1];
      if (c == '%') {
        if (size_t n = match_raw_begin(i, sign)) {
          kind = tag::raw;
          tag_length = n;
          break;
        }
        kind = tag::block;
      } else if (c == '#') {
        kind = tag::comment;
      } else if (c == '{') {
        kind = tag::variable;
      } else {
        continue;
      }
      sign = i + 2 < s_.size() && (s_[i + 2] == '-' || s_[i + 2] == '+') ? s_[i + 2] : 0;
      tag_length = 2 + (sign ? 1 : 0);
      break;
    }
    emit_text(strip_before(s_.substr(pos_, i - pos_), sign, kind != tag::variable), pos_);
    line_starting_ = false;
    const size_t tag_start = i;
    pos_ = i + tag_length;
    switch (kind) {
      case tag::comment: comment(tag_start); break;
      case tag::raw:
        line_starting_ = s_[pos_ - 1] == '\n';
        raw(tag_start);
        break;
      case tag::block:
        emit(token_type::block_begin, tag_start);
        inside_tag(true);
        break;
      case tag::variable:
        emit(token_type::variable_begin, tag_start);
        inside_tag(false);
        break;
    }
  }

  void comment(size_t start) {
    for (size_t j = pos_; j < s_.size(); ++j) {
      if (at(j, "+#}")) {
        pos_ = j + 3;
      } else if (at(j, "-#}")) {
        pos_ = skip_space(j + 3);
      } else if (at(j, "#}")) {
        pos_ = j + 2 + (at(j + 2, "\n") ? 1 : 0);  // trim_blocks
      } else {
        continue;
      }
      line_starting_ = pos_ > 0 && s_[pos_ - 1] == '\n';
      return;
    }
    fail("missing end of comment tag", start);
  }

  void raw(size_t start) {
    for (size_t j = s_.find("{%", pos_); j != std::string_view::npos; j = s_.find("{%", j + 1)) {
      size_t k = j + 2;
      char sign = 0;
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+')) sign = s_[k++];
      k = skip_space(k);
      if (!at(k, "endraw")) continue;
      k = skip_space(k + 6);
      size_t end;
      if (at(k, "+%}")) end = k + 3;
      else if (at(k, "-%}")) end = skip_space(k + 3);
      else if (at(k, "%}")) end = k + 2 + (at(k + 2, "\n") ? 1 : 0);
      else continue;
      emit_text(strip_before(s_.substr(pos_, j - pos_), sign, true), pos_);
      pos_ = end;
      line_starting_ = s_[end - 1] == '\n';
      return;
    }
    fail("missing end of raw directive", start);
  }

  // Tokens of an expression or statement tag, up to and including its end.
  void inside_tag(bool block) {
    std::vector<char> balance;
    while (pos_ < s_.size()) {
      if (balance.empty()) {
        if (block) {
          if (at(pos_, "+%}")) return end_tag(token_type::block_end, pos_ + 3);
          if (at(pos_, "-%}")) return end_tag(token_type::block_end, skip_space(pos_ + 3));
          if (at(pos_, "%}")) return end_tag(token_type::block_end, pos_ + 2 + (at(pos_ + 2, "\n") ? 1 : 0));
        } else {
          if (at(pos_, "-}}")) return end_tag(token_type::variable_end, skip_space(pos_ + 3));
          if (at(pos_, "}}")) return end_tag(token_type::variable_end, pos_ + 2);
        }
      }
      if (size_t n = space_at(pos_)) {
        pos_ += n;
        continue;
      }
      const char c = s_[pos_];
      if (is_digit(c) && number()) continue;
      if (is_name_start(c)) {
        size_t j = pos_ + 1;
        while (j < s_.size() && is_name_char(s_[j])) ++j;
        token t;
        t.type = token_type::name;
        t.offset = static_cast<uint32_t>(pos_);
        t.text = std::string(s_.substr(pos_, j - pos_));
        out_.push_back(std::move(t));
        pos_ = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        string_literal();
        continue;
      }
      operator_token(balance);
    }
  }

  void end_tag(token_type type, size_t end) {
    emit(type, pos_);
    pos_ = end;
    line_starting_ = s_[end - 1] == '\n';
  }

  // Digits with single underscores between them ((\d+_)*\d+); returns the end or `i` if none.
  size_t digits(size_t i) const {
    if (i >= s_.size() || !is_digit(s_[i])) return i;
    size_t j = i;
    while (true) {
      while (j < s_.size() && is_digit(s_[j])) ++j;
      if (j + 1 < s_.size() && s_[j] == '_' && is_digit(s_[j + 1])) {
        ++j;
        continue;
      }
      return j;
    }
  }

  static std::string without_underscores(std::string_view v) {
    std::string out;
    for (char c : v)
      if (c != '_') out += c;
    return out;
  }

  // A float or integer literal at pos_ (jinja2's float_re, then integer_re).
  bool number() {
    const size_t start = pos_;
    // Float: not right after a dot (so x.0.1 is two subscripts).
    if (start == 0 || s_[start - 1] != '.') {
      const size_t int_end = digits(start);
      size_t j = int_end;
      bool is_float = false;
      if (j + 1 < s_.size() && s_[j] == '.' && digits(j + 1) > j + 1) {
        j = digits(j + 1);
        is_float = true;
      }
      if (j < s_.size() && (s_[j] | 32) == 'e') {
        size_t k = j + 1;
        if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
        if (digits(k) > k) {
          j = digits(k);
          is_float = true;
        }
      }
      if (is_float) {
        const std::string clean = without_underscores(s_.substr(start, j - start));
        token t;
        t.type = token_type::floating;
        t.offset = static_cast<uint32_t>(start);
        const auto r = std::from_chars(clean.data(), clean.data() + clean.size(), t.floating);
        if (r.ec == std::errc::result_out_of_range)
          t.floating = clean.find_first_of("eE") != std::string::npos && clean.find("e-") == std::string::npos &&
                               clean.find("E-") == std::string::npos
                           ? std::numeric_limits<double>::infinity()
                           : 0.0;
        out_.push_back(std::move(t));
        pos_ = j;
        return true;
      }
    }
    // Integer: 0b / 0o / 0x prefixes, decimal, or zeros.
    int base = 10;
    size_t j = start;
    std::string body;
    auto prefixed = [&](char letter, int b, auto valid) {
      if (!(s_[start] == '0' && start + 1 < s_.size() && (s_[start + 1] | 32) == letter)) return false;
      size_t k = start + 2;
      std::string d;
      while (k < s_.size()) {
        if (s_[k] == '_' && k + 1 < s_.size() && valid(s_[k + 1])) ++k;
        if (k < s_.size() && valid(s_[k])) d += s_[k++];
        else break;
      }
      if (d.empty()) return false;
      base = b;
      body = d;
      j = k;
      return true;
    };
    auto is_bin = [](char c) { return c == '0' || c == '1'; };
    auto is_oct = [](char c) { return c >= '0' && c <= '7'; };
    auto is_hex = [](char c) { return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'f'); };
    if (!prefixed('b', 2, is_bin) && !prefixed('o', 8, is_oct) && !prefixed('x', 16, is_hex)) {
      if (s_[start] == '0') {
        j = start + 1;
        while (j + 1 < s_.size() && s_[j] == '_' && s_[j + 1] == '0') j += 2;
        while (j < s_.size() && s_[j] == '0') ++j;
        body.assign(1, '0');
      } else {
        j = digits(start);
        body = without_underscores(s_.substr(start, j - start));
      }
    }
    token t;
    t.type = token_type::integer;
    t.offset = static_cast<uint32_t>(start);
    const auto r = std::from_chars(body.data(), body.data() + body.size(), t.integer, base);
    if (r.ec != std::errc()) fail("integer literal too large (owl's template integers are 64-bit)", start);
    out_.push_back(std::move(t));
    pos_ = j;
    return true;
  }

  // Python's unicode-escape decoding of a string literal's body.
  void string_literal() {
    const char quote = s_[pos_];
    const size_t start = pos_;
    size_t j = pos_ + 1;
    while (j < s_.size() && s_[j] != quote) j += s_[j] == '\\' ? 2 : 1;
    if (j >= s_.size()) fail(std::string("unexpected char '") + quote + "' (unterminated string)", start);
    const std::string_view body = s_.substr(start + 1, j - start - 1);
    token t;
    t.type = token_type::string;
    t.offset = static_cast<uint32_t>(start);
    t.text = unescape(body, start);
    out_.push_back(std::move(t));
    pos_ = j + 1;
  }

  std::string unescape(std::string_view b, size_t start) {
    std::string out;
    out.reserve(b.size());
    auto hex_value = [&](size_t i, size_t n, const char* what) {
      uint32_t v = 0;
      for (size_t k = 0; k < n; ++k) {
        const char c = i + k < b.size() ? b[i + k] : 0;
        int d = is_digit(c) ? c - '0' : ((c | 32) >= 'a' && (c | 32) <= 'f' ? (c | 32) - 'a' + 10 : -1);
        if (d < 0) fail(std::string("truncated ") + what + " escape in string literal", start);
        v = v * 16 + static_cast<uint32_t>(d);
      }
      return v;
    };
    char32_t pending_high = 0;  // a \uD83D waiting for its low surrogate
    auto put = [&](char32_t cp) {
      if (pending_high) {
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          text::append_utf8(out, 0x10000 + ((pending_high - 0xD800) << 10) + (cp - 0xDC00));
          pending_high = 0;
          return;
        }
        text::append_utf8(out, 0xFFFD);
        pending_high = 0;
      }
      if (cp >= 0xD800 && cp <= 0xDBFF) pending_high = cp;
      else text::append_utf8(out, cp);
    };
    for (size_t i = 0; i < b.size();) {
      const char c = b[i];
      if (c != '\\') {
        if (pending_high) {
          text::append_utf8(out, 0xFFFD);
          pending_high = 0;
        }
        out += c;
        ++i;
        continue;
      }
      if (i + 1 >= b.size()) {
        out += '\\';
        ++i;
        continue;
      }
      const char e = b[i + 1];
      i += 2;
      switch (e) {
        case '\n': break;  // line continuation
        case '\\': put('\\'); break;
        case '\'': put('\''); break;
        case '"': put('"'); break;
        case 'a': put('\a'); break;
        case 'b': put('\b'); break;
        case 'f': put('\f'); break;
        case 'n': put('\n'); break;
        case 'r': put('\r'); break;
        case 't': put('\t'); break;
        case 'v': put('\v'); break;
        case 'x': put(hex_value(i, 2, "\\xXX")), i += 2; break;
        case 'u': put(hex_value(i, 4, "\\uXXXX")), i += 4; break;
        case 'U': {
          const uint32_t v = hex_value(i, 8, "\\UXXXXXXXX");
          if (v > 0x10FFFF) fail("illegal Unicode character in string literal", start);
          put(v);
          i += 8;
          break;
        }
        case 'N': fail("named Unicode escapes (\\N{...}) are not supported", start);
        default:
          if (e >= '0' && e <= '7') {
            uint32_t v = static_cast<uint32_t>(e - '0');
            for (int k = 0; k < 2 && i < b.size() && b[i] >= '0' && b[i] <= '7'; ++k) v = v * 8 + (b[i++] - '0');
            put(v);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            // Python backslash-escapes non-ASCII before decoding, so "\é" reads as "\xe9".
            size_t len;
            const char32_t cp = text::decode(b, i - 1, len);
            static const char* hex = "0123456789abcdef";
            const int n = cp <= 0xFF ? 2 : (cp <= 0xFFFF ? 4 : 8);
            out += '\\';
            out += n == 2 ? 'x' : (n == 4 ? 'u' : 'U');
            for (int d = n - 1; d >= 0; --d) out += hex[(cp >> (4 * d)) & 15];
            i = i - 1 + len;
          } else {
            out += '\\';
            out += e;
          }
      }
    }
    if (pending_high) text::append_utf8(out, 0xFFFD);
    return out;
  }

  void operator_token(std::vector<char>& balance) {
    static const std::pair<std::string_view, op_kind> two[] = {
        {"//", op_kind::floordiv}, {"**", op_kind::pow}, {"==", op_kind::eq},
        {"!=", op_kind::ne},       {">=", op_kind::gteq}, {"<=", op_kind::lteq}};
    static const std::pair<char, op_kind> one[] = {
        {'+', op_kind::add},      {'-', op_kind::sub},      {'/', op_kind::div},      {'*', op_kind::mul},
        {'%', op_kind::mod},      {'~', op_kind::tilde},    {'[', op_kind::lbracket}, {']', op_kind::rbracket},
        {'(', op_kind::lparen},   {')', op_kind::rparen},   {'{', op_kind::lbrace},   {'}', op_kind::rbrace},
        {'>', op_kind::gt},       {'<', op_kind::lt},       {'=', op_kind::assign},   {'.', op_kind::dot},
        {':', op_kind::colon},    {'|', op_kind::pipe},     {',', op_kind::comma},    {';', op_kind::semicolon}};
    token t;
    t.type = token_type::op;
    t.offset = static_cast<uint32_t>(pos_);
    size_t length = 0;
    for (const auto& [lit, op] : two)
      if (at(pos_, lit)) {
        t.op = op;
        length = 2;
        break;
      }
    if (!length) {
      for (const auto& [ch, op] : one)
        if (s_[pos_] == ch) {
          t.op = op;
          length = 1;
          break;
        }
    }
    if (!length) {
      size_t len;
      text::decode(s_, pos_, len);
      fail("unexpected char '" + std::string(s_.substr(pos_, len)) + "'", pos_);
    }
    const char c = s_[pos_];
    if (c == '{' || c == '(' || c == '[') {
      balance.push_back(c == '{' ? '}' : (c == '(' ? ')' : ']'));
    } else if (c == '}' || c == ')' || c == ']') {
      if (balance.empty()) fail(std::string("unexpected '") + c + "'", pos_);
      if (balance.back() != c) fail(std::string("unexpected '") + c + "', expected '" + balance.back() + "'", pos_);
      balance.pop_back();
    }
    out_.push_back(std::move(t));
    pos_ += length;
  }

  std::string_view s_;
  size_t pos_ = 0;
  bool line_starting_ = true;  // the last match ended with a newline (or nothing matched yet)
  std::vector<token> out_;
};

}  // namespace

std::vector<token> tokenize(std::string_view source) { return lexer(source).run(); }

}  // namespace owl::jinja
