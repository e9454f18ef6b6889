#include "tokenizer/added_vocab.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace owl::tok {

void token_matcher::add(std::string_view pattern, size_t token_index) {
  uint32_t n = 0;
  for (const char c : pattern) {
    const auto b = static_cast<unsigned char>(c);
    const auto it = nodes_[n].children.find(b);
    if (it != nodes_[n].children.end()) {
      n = it->second;
    } else {
      const auto next = static_cast<uint32_t>(nodes_.size());
      nodes_[n].children.emplace(b, next);
      nodes_.emplace_back();
      n = next;
    }
  }
  // The first token with a given content wins, as tokenizers keeps one id per content.
  if (nodes_[n].token < 0) nodes_[n].token = static_cast<int64_t>(token_index);
}

size_t token_matcher::longest_at(std::string_view text, size_t pos, size_t& token_index) const {
  uint32_t n = 0;
  size_t best = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto it = nodes_[n].children.find(static_cast<unsigned char>(text[i]));
    if (it == nodes_[n].children.end()) break;
    n = it->second;
    if (nodes_[n].token >= 0) {
      best = i + 1 - pos;
      token_index = static_cast<size_t>(nodes_[n].token);
    }
  }
  return best;
}

namespace {

// tokenizers checks single_word with the regexes \w$ and ^\w.
bool ends_with_word(std::string_view s) { return !s.empty() && is_word_char(last_code_point(s)); }
bool starts_with_word(std::string_view s) { return !s.empty() && is_word_char(first_code_point(s)); }

// Start of the run of whitespace that ends `s` (s.size() when there is none).
size_t trailing_space_start(std::string_view s) {
  size_t start = s.size();
  while (start > 0) {
    size_t i = start - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    if (!is_whitespace(next_code_point(s, j))) break;
    start = i;
  }
  return start;
}

// Length of the run of whitespace that starts `s`.
size_t leading_space_len(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    if (!is_whitespace(next_code_point(s, j))) break;
    i = j;
  }
  return i;
}

}  // namespace

void added_vocab::split(const piece& p, const token_matcher& m, std::vector<piece>& out) const {
  const std::string_view text = p.text;
  if (m.empty()) {
    if (!text.empty()) out.push_back(p);
    return;
  }
  size_t start_offset = 0;  // end of the previous emitted split
  auto emit_text = [&](size_t b, size_t e) {
    if (e > b) out.push_back({std::string(text.substr(b, e - b)), -1, p.at_origin && b == 0});
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t index = 0;
    const size_t len = m.longest_at(text, pos, index);
    if (len == 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + len;
    pos = stop;  // matches never overlap, even when the match below is discarded
    const added_token& t = tokens_[index];
    if (t.single_word) {
      const bool start_space = start == 0 || !ends_with_word(text.substr(0, start));
      const bool stop_space = stop == text.size() || !starts_with_word(text.substr(stop));
      if (!start_space || !stop_space) continue;
    }
    // lstrip swallows the whitespace before the token unless an earlier split took it.
    if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), start_offset);
    if (t.rstrip) stop += leading_space_len(text.substr(stop));
    emit_text(start_offset, start);
    out.push_back({std::string(text.substr(start, stop - start)), t.id, false});
    start_offset = stop;
    // rstrip may have consumed text past the trie match; continue scanning after it.
    pos = std::max(pos, stop);
  }
  emit_text(start_offset, text.size());
}

}  // namespace owl::tok
