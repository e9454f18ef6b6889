#include "tokenizer/pre_tokenizers.h"

#include <algorithm>
#include <array>

#include "owl/error.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/unicode.h"

namespace owl::tok {

namespace {

constexpr const char* supported_pre_tokenizers =
    "supported: ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, Punctuation, "
    "BertPreTokenizer, CharDelimiterSplit, Sequence";

// tokenizers' Pattern for a `Fn(char) -> bool`: every matching character is its own match.
template <class Pred>
std::vector<match_span> char_matches(std::string_view s, Pred pred) {
  if (s.empty()) return {{0, 0, false}};
  std::vector<match_span> spans;
  size_t last = 0, i = 0;
  while (i < s.size()) {
    const size_t b = i;
    const char32_t c = next_code_point(s, i);
    if (pred(c)) {
      if (last < b) spans.push_back({last, b, false});
      spans.push_back({b, i, true});
      last = i;
    }
  }
  if (last < s.size()) spans.push_back({last, s.size(), false});
  return spans;
}

// Runs `fn(piece, out)` over every piece that is not an added token.
template <class Fn>
void for_each_text_piece(std::vector<piece>& pieces, Fn fn) {
  std::vector<piece> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    if (p.id >= 0) out.push_back(std::move(p));
    else fn(p, out);
  }
  pieces = std::move(out);
}

split_behavior parse_behavior(const json& j, const json_path& at, std::optional<split_behavior> fallback) {
  const json* v = find_field(j, "behavior");
  if (!v) {
    if (fallback) return *fallback;
    fail(at.field("behavior").where(), "missing split behavior");
  }
  const std::string name = expect_string(*v, at.field("behavior"));
  if (name == "Removed") return split_behavior::removed;
  if (name == "Isolated") return split_behavior::isolated;
  if (name == "MergedWithPrevious") return split_behavior::merged_with_previous;
  if (name == "MergedWithNext") return split_behavior::merged_with_next;
  if (name == "Contiguous") return split_behavior::contiguous;
  fail(at.field("behavior").where(), "unknown split behavior '" + name + "'",
       "supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
}

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
const regex& gpt2_regex() {
  static const regex re(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)",
                        "ByteLevel pre-tokenizer regex");
  return re;
}

class byte_level final : public pre_tokenizer {
 public:
  byte_level(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}
  void pre_tokenize(std::vector<piece>& pieces) const override {
    for_each_text_piece(pieces, [&](piece& p, std::vector<piece>& out) {
      if (add_prefix_space_ && (p.text.empty() || p.text[0] != ' ')) p.text = " " + p.text;
      if (use_regex_) {
        split_piece(p, gpt2_regex().find_matches(p.text), split_behavior::isolated, out);
      } else if (!p.text.empty()) {
        out.push_back(std::move(p));
      }
    });
    // Then every byte becomes its printable stand-in character.
    for (auto& p : pieces) {
      if (p.id >= 0) continue;
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (const char c : p.text) mapped += byte_to_char(static_cast<uint8_t>(c));
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_, use_regex_;
};

enum class prepend_scheme { always, first, never };

class metaspace final : public pre_tokenizer {
 public:
  metaspace(std::string replacement, prepend_scheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    replacement_cp_ = first_code_point(replacement_);
  }
  void pre_tokenize(std::vector<piece>& pieces) const override {
    for_each_text_piece(pieces, [&](piece& p, std::vector<piece>& out) {
      std::string t;
      t.reserve(p.text.size() + replacement_.size());
      for (const char c : p.text) {
        if (c == ' ') t += replacement_;
        else t += c;
      }
      const bool starts = t.compare(0, replacement_.size(), replacement_) == 0;
      // "first" only prepends to the piece that begins the original input, so text after an
      // added token such as "<s>" gets no extra space.
      if (!starts && (scheme_ == prepend_scheme::always || (scheme_ == prepend_scheme::first && p.at_origin)))
        t = replacement_ + t;
      p.text = std::move(t);
      if (split_) {
        const char32_t r = replacement_cp_;
        split_piece(p, char_matches(p.text, [r](char32_t c) { return c == r; }), split_behavior::merged_with_next, out);
      } else if (!p.text.empty()) {
        out.push_back(std::move(p));
      }
    });
  }

 private:
  std::string replacement_;
  char32_t replacement_cp_;
  prepend_scheme scheme_;
  bool split_;
};

class regex_split final : public pre_tokenizer {
 public:
  regex_split(std::unique_ptr<regex> re, split_behavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<piece>& pieces) const override {
    for_each_text_piece(pieces, [&](piece& p, std::vector<piece>& out) {
      auto spans = re_->find_matches(p.text);
      if (invert_)
        for (auto& s : spans) s.is_match = !s.is_match;
      split_piece(p, spans, behavior_, out);
    });
  }

 private:
  std::unique_ptr<regex> re_;
  split_behavior behavior_;
  bool invert_;
};

// Splits on single characters chosen by a predicate (Digits, Punctuation, WhitespaceSplit...).
class char_split final : public pre_tokenizer {
 public:
  using predicate = bool (*)(char32_t);
  char_split(predicate pred, split_behavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(std::vector<piece>& pieces) const override {
    for_each_text_piece(pieces, [&](piece& p, std::vector<piece>& out) {
      split_piece(p, char_matches(p.text, pred_), behavior_, out);
    });
  }

 private:
  predicate pred_;
  split_behavior behavior_;
};

class char_delimiter_split final : public pre_tokenizer {
 public:
  explicit char_delimiter_split(char32_t delimiter) : delimiter_(delimiter) {}
  void pre_tokenize(std::vector<piece>& pieces) const override {
    const char32_t d = delimiter_;
    for_each_text_piece(pieces, [&](piece& p, std::vector<piece>& out) {
      split_piece(p, char_matches(p.text, [d](char32_t c) { return c == d; }), split_behavior::removed, out);
    });
  }

 private:
  char32_t delimiter_;
};

class sequence_pre_tokenizer final : public pre_tokenizer {
 public:
  explicit sequence_pre_tokenizer(std::vector<std::unique_ptr<pre_tokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<piece>& pieces) const override {
    for (const auto& p : parts_) p->pre_tokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<pre_tokenizer>> parts_;
};

bool is_bert_punctuation(char32_t c) { return is_punctuation(c); }

}  // namespace

void split_piece(const piece& p, const std::vector<match_span>& spans, split_behavior behavior,
                 std::vector<piece>& out) {
  struct cut {
    size_t begin, end;
    bool remove;
  };
  std::vector<cut> cuts;
  cuts.reserve(spans.size());
  bool previous_match = false;
  switch (behavior) {
    case split_behavior::isolated:
      for (const auto& s : spans) cuts.push_back({s.begin, s.end, false});
      break;
    case split_behavior::removed:
      for (const auto& s : spans) cuts.push_back({s.begin, s.end, s.is_match});
      break;
    case split_behavior::contiguous:
      for (const auto& s : spans) {
        if (s.is_match == previous_match && !cuts.empty()) cuts.back().end = s.end;
        else cuts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case split_behavior::merged_with_previous:
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !cuts.empty()) cuts.back().end = s.end;
        else cuts.push_back({s.begin, s.end, false});
        previous_match = s.is_match;
      }
      break;
    case split_behavior::merged_with_next:
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !cuts.empty()) cuts.back().begin = it->begin;
        else cuts.push_back({it->begin, it->end, false});
        previous_match = it->is_match;
      }
      std::reverse(cuts.begin(), cuts.end());
      break;
  }
  for (const auto& c : cuts) {
    if (c.remove || c.end <= c.begin) continue;  // tokenizers drops empty splits
    out.push_back({p.text.substr(c.begin, c.end - c.begin), -1, p.at_origin && c.begin == 0});
  }
}

namespace {

struct byte_tables {
  std::array<std::string, 256> to_char;
  std::array<int, 324> to_byte;  // code points 0..323 cover the whole table
  byte_tables() {
    to_byte.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t cp = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++);
      append_utf8(to_char[b], cp);
      to_byte[cp] = b;
    }
  }
};

const byte_tables& tables() {
  static const byte_tables t;
  return t;
}

}  // namespace

const std::string& byte_to_char(uint8_t b) { return tables().to_char[b]; }

int char_to_byte(char32_t cp) { return cp < 324 ? tables().to_byte[cp] : -1; }

std::unique_ptr<pre_tokenizer> make_pre_tokenizer(const json& j, const json_path& at, int depth) {
  if (j.is_null()) return nullptr;
  if (depth > max_component_depth) fail(at.where(), "pre-tokenizers nested too deeply");
  const std::string type = get_type(j, at);
  if (type == "ByteLevel")
    return std::make_unique<byte_level>(get_bool(j, "add_prefix_space", at, true), get_bool(j, "use_regex", at, true));
  if (type == "Metaspace") {
    const std::string replacement = get_char(j, "replacement", at, "\xE2\x96\x81");
    prepend_scheme scheme = prepend_scheme::always;
    if (const auto s = get_optional_string(j, "prepend_scheme", at)) {
      if (*s == "always") scheme = prepend_scheme::always;
      else if (*s == "first") scheme = prepend_scheme::first;
      else if (*s == "never") scheme = prepend_scheme::never;
      else fail(at.field("prepend_scheme").where(), "unknown prepend_scheme '" + *s + "'", "supported: first, always, never");
    } else if (!get_bool(j, "add_prefix_space", at, true)) {
      scheme = prepend_scheme::never;  // legacy files carry add_prefix_space instead
    }
    return std::make_unique<metaspace>(replacement, scheme, get_bool(j, "split", at, true));
  }
  if (type == "Split") {
    auto behavior = parse_behavior(j, at, std::nullopt);
    return std::make_unique<regex_split>(make_pattern(j, at), behavior, get_bool(j, "invert", at, false));
  }
  if (type == "Whitespace") {
    // tokenizers keeps the matches of \w+|[^\w\s]+ and drops everything else.
    return std::make_unique<regex_split>(std::make_unique<regex>(R"(\w+|[^\w\s]+)", at.where()),
                                         split_behavior::removed, true);
  }
  if (type == "WhitespaceSplit") return std::make_unique<char_split>(&is_whitespace, split_behavior::removed);
  if (type == "Punctuation")
    return std::make_unique<char_split>(&is_punctuation, parse_behavior(j, at, split_behavior::isolated));
  if (type == "Digits")
    return std::make_unique<char_split>(&is_numeric, get_bool(j, "individual_digits", at, false)
                                                         ? split_behavior::isolated
                                                         : split_behavior::contiguous);
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<pre_tokenizer>> parts;
    parts.push_back(std::make_unique<char_split>(&is_whitespace, split_behavior::removed));
    parts.push_back(std::make_unique<char_split>(&is_bert_punctuation, split_behavior::isolated));
    return std::make_unique<sequence_pre_tokenizer>(std::move(parts));
  }
  if (type == "CharDelimiterSplit")
    return std::make_unique<char_delimiter_split>(first_code_point(get_char(j, "delimiter", at, "")));
  if (type == "Sequence") {
    const json& list = get_array(j, "pretokenizers", at);
    std::vector<std::unique_ptr<pre_tokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_pre_tokenizer(list[i], at.field("pretokenizers").index(i), depth + 1);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<sequence_pre_tokenizer>(std::move(parts));
  }
  fail(at.field("type").where(), "unsupported pre-tokenizer '" + type + "'", supported_pre_tokenizers);
}

}  // namespace owl::tok
