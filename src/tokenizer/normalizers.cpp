#include "tokenizer/normalizers.h"

#include <utf8proc.h>

#include <vector>

#include "owl/error.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

constexpr const char* supported_normalizers =
    "supported: NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Prepend, Replace, Sequence";

class unicode_normalizer final : public normalizer {
 public:
  explicit unicode_normalizer(normal_form form) : form_(form) {}
  void normalize(std::string& text) const override { text = normalize_unicode(text, form_); }

 private:
  normal_form form_;
};

class lowercase_normalizer final : public normalizer {
 public:
  void normalize(std::string& text) const override { text = to_lower(text); }
};

class strip_normalizer final : public normalizer {
 public:
  strip_normalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        size_t i = begin;
        if (!is_whitespace(next_code_point(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t i = end - 1;
        while (i > begin && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
        size_t j = i;
        if (!is_whitespace(next_code_point(text, j))) break;
        end = i;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

// Removes combining marks (run after NFD/NFKD to drop accents).
class strip_accents_normalizer final : public normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    size_t i = 0;
    while (i < text.size()) {
      const size_t start = i;
      const char32_t c = next_code_point(text, i);
      const auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(c));
      if (cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME) continue;
      out.append(text, start, i - start);
    }
    text = std::move(out);
  }
};

class prepend_normalizer final : public normalizer {
 public:
  explicit prepend_normalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  // tokenizers prepends only to non-empty strings.
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class replace_normalizer final : public normalizer {
 public:
  replace_normalizer(std::unique_ptr<regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& text) const override {
    const auto found = pattern_->find_all(text);
    if (found.empty()) return;
    std::string out;
    out.reserve(text.size());
    size_t prev = 0;
    for (const auto& [s, e] : found) {
      out.append(text, prev, s - prev);
      out += content_;
      prev = e;
    }
    out.append(text, prev, std::string::npos);
    text = std::move(out);
  }

 private:
  std::unique_ptr<regex> pattern_;
  std::string content_;
};

class sequence_normalizer final : public normalizer {
 public:
  explicit sequence_normalizer(std::vector<std::unique_ptr<normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override {
    for (const auto& p : parts_) p->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<normalizer>> parts_;
};

}  // namespace

std::unique_ptr<regex> make_pattern(const json& obj, const json_path& at) {
  const json_path p = at.field("pattern");
  const json* pattern = find_field(obj, "pattern");
  if (!pattern) fail(p.where(), "missing pattern", "expected {\"String\": ...} or {\"Regex\": ...}");
  expect_object(*pattern, p);
  if (const json* s = find_field(*pattern, "String")) return regex::literal(expect_string(*s, p.field("String")), p.where());
  if (const json* r = find_field(*pattern, "Regex")) return std::make_unique<regex>(expect_string(*r, p.field("Regex")), p.where());
  fail(p.where(), "unknown pattern kind", "expected {\"String\": ...} or {\"Regex\": ...}");
}

std::unique_ptr<normalizer> make_normalizer(const json& j, const json_path& at, int depth) {
  if (j.is_null()) return nullptr;
  if (depth > max_component_depth) fail(at.where(), "normalizers nested too deeply");
  const std::string type = get_type(j, at);
  if (type == "NFC") return std::make_unique<unicode_normalizer>(normal_form::nfc);
  if (type == "NFD") return std::make_unique<unicode_normalizer>(normal_form::nfd);
  if (type == "NFKC") return std::make_unique<unicode_normalizer>(normal_form::nfkc);
  if (type == "NFKD") return std::make_unique<unicode_normalizer>(normal_form::nfkd);
  if (type == "Lowercase") return std::make_unique<lowercase_normalizer>();
  if (type == "StripAccents") return std::make_unique<strip_accents_normalizer>();
  if (type == "Strip")
    return std::make_unique<strip_normalizer>(get_bool(j, "strip_left", at, true), get_bool(j, "strip_right", at, true));
  if (type == "Prepend") return std::make_unique<prepend_normalizer>(get_string(j, "prepend", at));
  if (type == "Replace") return std::make_unique<replace_normalizer>(make_pattern(j, at), get_string(j, "content", at));
  if (type == "Sequence") {
    const json& list = get_array(j, "normalizers", at);
    std::vector<std::unique_ptr<normalizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto n = make_normalizer(list[i], at.field("normalizers").index(i), depth + 1);
      if (n) parts.push_back(std::move(n));
    }
    return std::make_unique<sequence_normalizer>(std::move(parts));
  }
  fail(at.field("type").where(), "unsupported normalizer '" + type + "'", supported_normalizers);
}

}  // namespace owl::tok
