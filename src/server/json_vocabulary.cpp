// json_vocabulary.cpp — token_vocabulary: the exact bytes each token adds to the output, and
// the sorted indexes the JSON automaton's mask() walks.
#include <algorithm>
#include <array>
#include <optional>

#include "owl/error.h"
#include "server/json_constraint.h"

namespace owl::server {
namespace {

// Decodes UTF-8 to code points; nullopt when invalid.
std::optional<std::vector<uint32_t>> code_points(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (n < 0 || i + static_cast<size_t>(n) >= s.size()) return std::nullopt;
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (int k = 1; k <= n; ++k) {
      const auto d = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
      if ((d & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (d & 0x3F);
    }
    out.push_back(cp);
    i += static_cast<size_t>(n) + 1;
  }
  return out;
}

// GPT-2 byte-level alphabet, inverted: code point -> byte (or -1).
const std::array<int, 324>& byte_level_inverse() {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t;
    t.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[static_cast<size_t>(printable ? b : next++)] = b;
    }
    return t;
  }();
  return table;
}

// The raw bytes a piece stands for, when the piece says so by itself: "<0xE4>" (byte
// fallback) or a byte-level piece ("Ġ" = space). nullopt otherwise.
std::optional<std::string> bytes_from_piece(const std::string& piece) {
  auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
  if (piece.size() == 6 && piece.rfind("<0x", 0) == 0 && piece[5] == '>' && hex(piece[3]) >= 0 && hex(piece[4]) >= 0)
    return std::string(1, static_cast<char>(hex(piece[3]) * 16 + hex(piece[4])));
  const auto cps = code_points(piece);
  if (!cps || cps->empty()) return std::nullopt;
  std::string out;
  for (uint32_t cp : *cps) {
    if (cp >= byte_level_inverse().size() || byte_level_inverse()[cp] < 0) return std::nullopt;
    out.push_back(static_cast<char>(byte_level_inverse()[cp]));
  }
  return out;
}

bool contains_replacement(const std::string& s) { return s.find("\xEF\xBF\xBD") != std::string::npos; }

// Characters in a token that may stand anywhere inside a JSON string body; nullopt if not so.
std::optional<uint32_t> plain_chars(const std::string& s) {
  const auto cps = code_points(s);
  if (!cps) return std::nullopt;
  for (uint32_t cp : *cps) {
    if (cp < 0x20 || cp == '"' || cp == '\\') return std::nullopt;
    if (cp >= 0xD800 && cp <= 0xDFFF) return std::nullopt;  // CESU-style surrogates are invalid UTF-8
    if (cp > 0x10FFFF) return std::nullopt;
  }
  // Overlong encodings: code_points accepts them, so re-check by length.
  size_t expected = 0;
  for (uint32_t cp : *cps) expected += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  if (expected != s.size()) return std::nullopt;
  return static_cast<uint32_t>(cps->size());
}

}  // namespace

token_vocabulary::token_vocabulary(const tokenizer& tok) {
  const size_t n = tok.vocab_size();
  bytes_.resize(n);
  special_.assign(n, false);
  // A fixed ordinary token in front: its own text is removed again, and every token after it
  // is decoded as it would be mid-text.
  std::optional<int32_t> anchor;
  if (auto ids = tok.encode("a", false); !ids.empty()) anchor = ids.back();
  const std::string anchor_text = anchor ? tok.decode(std::vector<int32_t>{*anchor}) : std::string();
  for (size_t i = 0; i < n; ++i) {
    const auto id = static_cast<int32_t>(i);
    special_[i] = tok.is_special(id);
    if (special_[i]) {
      // Decoded alone, with special tokens kept, as the server's stream decoder shows them.
      bytes_[i] = tok.decode(std::vector<int32_t>{id});
      continue;
    }
    std::string text;
    bool have = false;
    if (anchor) {
      const std::string both = tok.decode(std::vector<int32_t>{*anchor, id});
      if (both.size() >= anchor_text.size() && both.compare(0, anchor_text.size(), anchor_text) == 0) {
        text = both.substr(anchor_text.size());
        have = true;
      }
    }
    if (!have) text = tok.decode(std::vector<int32_t>{id});
    if (contains_replacement(text)) {
      // Part of a multi-byte character: decode() replaced it; the piece has the real bytes.
      if (auto raw = bytes_from_piece(tok.token_piece(id))) text = *raw;
    }
    bytes_[i] = std::move(text);
  }
  build_indexes();
}

token_vocabulary::token_vocabulary(std::vector<std::string> bytes, std::vector<bool> special)
    : bytes_(std::move(bytes)), special_(std::move(special)) {
  special_.resize(bytes_.size(), false);
  build_indexes();
}

void token_vocabulary::build_indexes() {
  std::vector<int32_t> ids;
  special_ids_.clear();
  for (size_t i = 0; i < bytes_.size(); ++i) {
    if (bytes_[i].empty()) continue;
    (special_[i] ? special_ids_ : ids).push_back(static_cast<int32_t>(i));
  }
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return bytes(a) < bytes(b); });

  auto index = [&](const std::vector<int32_t>& sorted) {
    sorted_tokens t;
    t.ids = sorted;
    t.lcp.resize(sorted.size(), 0);
    for (size_t i = 1; i < sorted.size(); ++i) {
      const std::string& a = bytes(sorted[i - 1]);
      const std::string& b = bytes(sorted[i]);
      uint32_t k = 0;
      while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
      t.lcp[i] = k;
    }
    return t;
  };
  all_ = index(ids);

  std::vector<int32_t> non_plain;
  std::vector<std::pair<uint32_t, int32_t>> plain;
  for (int32_t id : ids) {
    max_bytes_ = std::max(max_bytes_, bytes(id).size());
    if (auto chars = plain_chars(bytes(id))) {
      plain.emplace_back(*chars, id);
    } else {
      non_plain.push_back(id);
    }
  }
  non_plain_ = index(non_plain);
  std::stable_sort(plain.begin(), plain.end());
  plain_.clear();
  for (const auto& p : plain) plain_.push_back(p.second);
  const uint32_t longest = plain.empty() ? 0 : plain.back().first;
  plain_upto_.assign(longest + 1, 0);
  size_t j = 0;
  for (uint32_t c = 0; c <= longest; ++c) {
    while (j < plain.size() && plain[j].first <= c) ++j;
    plain_upto_[c] = j;
  }
}

size_t token_vocabulary::plain_upto(uint32_t chars) const {
  if (plain_upto_.empty()) return 0;
  return chars >= plain_upto_.size() ? plain_.size() : plain_upto_[chars];
}

}  // namespace owl::server
