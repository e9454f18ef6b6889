// tokenizer/added_vocab.h — tokenizer.json "added_tokens" and how they are found in text.
//
// As in tokenizers' AddedVocabulary: tokens with normalized=false are matched in the raw text
// first, tokens with normalized=true in the normalized text of what is left, always taking
// the leftmost-longest match; single_word / lstrip / rstrip adjust or veto matches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pre_tokenizers.h"

namespace owl::tok {

struct added_token {
  int32_t id = -1;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

// A set of strings searched leftmost-longest (a byte trie; added tokens are short).
class token_matcher {
 public:
  void add(std::string_view pattern, size_t token_index);
  bool empty() const { return nodes_.size() <= 1; }
  // The longest pattern starting at `pos`: returns its length and sets token_index, or 0.
  size_t longest_at(std::string_view text, size_t pos, size_t& token_index) const;

 private:
  struct node {
    std::unordered_map<unsigned char, uint32_t> children;
    int64_t token = -1;  // index into the token list when a pattern ends here
  };
  std::vector<node> nodes_{1};
};

class added_vocab {
 public:
  // `normalize` is applied to the content of normalized=true tokens (tokenizers matches their
  // normalized form). It may be empty when there is no normalizer.
  template <class Normalize>
  void build(std::vector<added_token> tokens, Normalize normalize) {
    tokens_ = std::move(tokens);
    for (size_t i = 0; i < tokens_.size(); ++i) {
      const auto& t = tokens_[i];
      if (t.content.empty()) continue;
      if (t.normalized) normalized_.add(normalize(t.content), i);
      else raw_.add(t.content, i);
    }
  }

  const std::vector<added_token>& tokens() const { return tokens_; }

  // Cuts `text` into added tokens (id >= 0) and the text between them (id == -1).
  void split_raw(const piece& p, std::vector<piece>& out) const { split(p, raw_, out); }
  void split_normalized(const piece& p, std::vector<piece>& out) const { split(p, normalized_, out); }

 private:
  void split(const piece& p, const token_matcher& m, std::vector<piece>& out) const;

  std::vector<added_token> tokens_;
  token_matcher raw_;
  token_matcher normalized_;
};

}  // namespace owl::tok
