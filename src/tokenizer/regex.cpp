#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>

#include "owl/error.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

// Backtracking budget per search. Real tokenizer regexes on real text use a tiny fraction of
// this; a hostile pattern such as `(a+)+$` hits it quickly and becomes an owl::error.
constexpr uint32_t match_limit = 5'000'000;
constexpr uint32_t depth_limit = 100'000;

// Oniguruma's \w (Unicode "word": alphabetic, marks, decimal digits, connector punctuation,
// joiners). PCRE2's UCP \w is narrower (letters, numbers, underscore).
constexpr const char* word_class_body = "\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}";

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

// One JIT stack per thread: the default 32 KiB machine-stack area is too small for long
// alternations on long inputs, and a JIT stack must not be shared between threads.
pcre2_jit_stack* thread_jit_stack() {
  struct holder {
    pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 1024 * 1024, nullptr);
    ~holder() {
      if (stack) pcre2_jit_stack_free(stack);
    }
  };
  thread_local holder h;
  return h.stack;
}

}  // namespace

std::string translate_oniguruma(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 16);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      switch (e) {
        // Oniguruma's \s is exactly White_Space (it includes U+0085, PCRE2's UCP \s did not).
        case 's': out += "\\p{White_Space}"; ++i; continue;
        case 'S': out += "\\P{White_Space}"; ++i; continue;
        case 'w':
          out += in_class ? std::string(word_class_body) : "[" + std::string(word_class_body) + "]";
          ++i;
          continue;
        case 'W':
          if (!in_class) {
            out += "[^" + std::string(word_class_body) + "]";
            ++i;
            continue;
          }
          break;
        // Ruby syntax: \h is a hex digit (PCRE2: horizontal space).
        case 'h': out += in_class ? "0-9a-fA-F" : "[0-9a-fA-F]"; ++i; continue;
        case 'H':
          if (!in_class) {
            out += "[^0-9a-fA-F]";
            ++i;
            continue;
          }
          break;
        case 'u':
          if (i + 5 < p.size() && is_hex(p[i + 2]) && is_hex(p[i + 3]) && is_hex(p[i + 4]) && is_hex(p[i + 5])) {
            out += "\\x{" + std::string(p.substr(i + 2, 4)) + "}";
            i += 5;
            continue;
          }
          break;
        default: break;
      }
      // Copy the escape and the whole (possibly multi-byte) escaped character.
      const size_t n = utf8_seq_len(static_cast<unsigned char>(e));
      out += c;
      out += p.substr(i + 1, n);
      i += n;
      continue;
    }
    // Ruby-syntax inline options: (?m) is dot-all there, PCRE2 spells it (?s).
    if (!in_class && c == '(' && i + 1 < p.size() && p[i + 1] == '?') {
      size_t k = i + 2;
      while (k < p.size() && (p[k] == 'i' || p[k] == 'm' || p[k] == 'x' || p[k] == '-')) ++k;
      if (k > i + 2 && k < p.size() && (p[k] == ':' || p[k] == ')')) {
        out += "(?";
        for (size_t f = i + 2; f < k; ++f) out += p[f] == 'm' ? 's' : p[f];
        i = k - 1;
        continue;
      }
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal member, not the end of the class.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i];
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      const size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {
        out += p.substr(i, close + 2 - i);
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

struct regex::impl {
  pcre2_code* code = nullptr;
  std::string where;
  ~impl() {
    if (code) pcre2_code_free(code);
  }
};

regex::regex(std::string_view pattern, const std::string& where) : impl_(std::make_unique<impl>()) {
  impl_->where = where;
  if (!is_valid_utf8(pattern)) fail(where, "regex pattern is not valid UTF-8");
  const std::string translated = translate_oniguruma(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                              // MULTILINE: in Ruby syntax ^ and $ are line anchors.
                              // NEVER_BACKSLASH_C: \C could cut a UTF-8 character in half.
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NEVER_BACKSLASH_C, &error_code,
                              &error_offset, nullptr);
  if (!impl_->code)
    fail(where, "invalid regex '" + std::string(pattern) + "': " + pcre2_message(error_code) + " at offset " +
                    std::to_string(error_offset));
  // JIT is an optimisation; the interpreter gives the same results if it is unavailable.
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);
}

regex::~regex() = default;

std::unique_ptr<regex> regex::literal(std::string_view literal, const std::string& where) {
  std::string escaped;
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char buf[12];
      std::snprintf(buf, sizeof buf, "\\x{%x}", u);
      escaped += buf;
    } else if (u < 0x80 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
      escaped += '\\';
      escaped += c;
    } else {
      escaped += c;
    }
  }
  return std::make_unique<regex>(escaped, where);
}

std::vector<std::pair<size_t, size_t>> regex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> found;
  // Validate once here so every pcre2_match below can skip its whole-subject UTF check
  // (which would make iterating over a long text quadratic).
  if (!is_valid_utf8(text)) fail(impl_->where, "text is not valid UTF-8");

  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* mc = pcre2_match_context_create(nullptr);
  struct cleanup {
    pcre2_match_data* md;
    pcre2_match_context* mc;
    ~cleanup() {
      pcre2_match_data_free(md);
      pcre2_match_context_free(mc);
    }
  } guard{md, mc};
  if (!md || !mc) fail(impl_->where, "out of memory for a regex match");
  pcre2_set_match_limit(mc, match_limit);
  pcre2_set_depth_limit(mc, depth_limit);
  if (pcre2_jit_stack* stack = thread_jit_stack()) pcre2_jit_stack_assign(mc, nullptr, stack);

  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t last_end = 0;
  bool have_last = false;
  size_t last_match_end = 0;
  while (last_end <= text.size()) {
    const int rc = pcre2_match(impl_->code, subject, text.size(), last_end, PCRE2_NO_UTF_CHECK, md, mc);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
          rc == PCRE2_ERROR_JIT_STACKLIMIT)
        fail(impl_->where, "regex needs too much backtracking on this input (" + pcre2_message(rc) + ")",
             "the pattern may be catastrophic (nested quantifiers)");
      fail(impl_->where, "regex match failed: " + pcre2_message(rc));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t s = ov[0], e = ov[1];
    // \K tricks can report a start before the search offset or an end before the start;
    // clamp so that the loop always moves forward.
    if (s < last_end) s = last_end;
    if (e < s) e = s;
    // Like Oniguruma's iterator: refuse an empty match right where the previous one ended and
    // retry one character further on (this is what keeps the loop finite).
    if (s == e && have_last && last_match_end == e) {
      last_end += last_end < text.size() ? utf8_seq_len(static_cast<unsigned char>(text[last_end])) : 1;
      continue;
    }
    last_end = e;
    last_match_end = e;
    have_last = true;
    found.emplace_back(s, e);
  }
  return found;
}

std::vector<match_span> regex::find_matches(std::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::vector<match_span> spans;
  size_t prev = 0;
  for (const auto& [s, e] : find_all(text)) {
    if (s < prev) continue;  // defensive: never produce overlapping spans
    if (prev != s) spans.push_back({prev, s, false});
    spans.push_back({s, e, true});
    prev = e;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  return spans;
}

}  // namespace owl::tok
