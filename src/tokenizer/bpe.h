// tokenizer/bpe.h — the BPE model of tokenizer.json ("model": {"type": "BPE", ...}).
//
// Merging uses a min-heap of candidate pairs keyed by (merge rank, position) over a linked list
// of symbols, with a hash map pair -> (rank, merged id): O(n log n) per word, so a prompt that
// is one long word (SentencePiece-style tokenizers have no pre-tokenizer) stays fast.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/json_util.h"

namespace owl::tok {

// Transparent hashing so lookups by string_view do not allocate.
struct string_hash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using vocab_map = std::unordered_map<std::string, int32_t, string_hash, std::equal_to<>>;

class bpe_model {
 public:
  // Reads "vocab", "merges" and the options from the model object.
  bpe_model(const json& model, const json_path& at);

  // Appends the ids of one pre-tokenized piece.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  const vocab_map& vocab() const { return vocab_; }
  std::optional<int32_t> token_id(std::string_view token) const;
  int32_t max_id() const { return max_id_; }

 private:
  struct merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t pair_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  const merge* find_merge(int32_t a, int32_t b) const;

  vocab_map vocab_;
  std::unordered_map<uint64_t, merge> merges_;
  int32_t max_id_ = -1;
  std::optional<std::string> unk_token_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::vector<int32_t> byte_ids_;  // id of "<0xXX>" per byte, -1 when missing (byte_fallback)

  // Results for recently seen words; prompts repeat words a lot. Bounded, cleared when full.
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, string_hash, std::equal_to<>> cache_;
};

}  // namespace owl::tok
