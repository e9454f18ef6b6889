// json_constraint.h — constrained decoding for response_format json_object / json_schema.
//
// A byte-level pushdown automaton (see json_constraint.cpp) checks every vocabulary token's
// bytes against the current state so that the generated text is always a prefix of valid
// JSON matching the schema. Schemas are compiled to a small node graph first
// (json_schema_compile.cpp); keywords that cannot be enforced are refused with owl::error.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "owl/tokenizer.h"
#include "server/token_constraint.h"

namespace owl::server {

// What each token id adds to the output text, computed once per model and shared by every
// request's constraint (read-only after construction, so safe to share across threads).
class token_vocabulary {
 public:
  // Token bytes are decode({a, id}) minus decode({a}) for a fixed ordinary token a, so that
  // context-dependent spacing (SentencePiece's "▁" at the start of the text) comes out as it
  // does mid-text. Tokens that are only part of a UTF-8 character (byte-fallback "<0xE4>",
  // byte-level pieces) decode to U+FFFD; their bytes come from the piece instead.
  explicit token_vocabulary(const tokenizer& tok);
  // Explicit bytes per id (tests, or vocabularies built elsewhere). special[i]: never allowed
  // inside JSON; its bytes (if any) are its text, for literal markup (see special_tokens()).
  token_vocabulary(std::vector<std::string> bytes, std::vector<bool> special);

  size_t size() const { return bytes_.size(); }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  bool is_special(int32_t id) const { return special_[static_cast<size_t>(id)]; }
  // Special tokens with text (e.g. Mistral's "[TOOL_CALLS]"): never part of JSON, but the
  // tool-call constraint (tool_constraint.cpp) allows them where its literal markup spells them.
  std::span<const int32_t> special_tokens() const { return special_ids_; }

  // Candidate tokens (not special, non-empty bytes) sorted by bytes, with lcp[i] = length of
  // the common prefix of entries i-1 and i: a trie walked in order, so that shared prefixes
  // are checked once and a failing prefix skips every token that starts with it.
  struct sorted_tokens {
    std::vector<int32_t> ids;
    std::vector<uint32_t> lcp;
  };
  const sorted_tokens& all_tokens() const { return all_; }
  // Tokens that are not "plain string content" (see below), for the fast path inside strings.
  const sorted_tokens& non_plain_tokens() const { return non_plain_; }
  // Plain tokens: whole UTF-8 characters, none of them '"', '\\' or a control character, so
  // they are valid anywhere inside a JSON string body. Sorted by character count;
  // plain_upto(n) = how many of them have at most n characters.
  std::span<const int32_t> plain_tokens() const { return plain_; }
  size_t plain_upto(uint32_t chars) const;
  size_t max_token_bytes() const { return max_bytes_; }

 private:
  void build_indexes();

  std::vector<std::string> bytes_;
  std::vector<bool> special_;
  sorted_tokens all_, non_plain_;
  std::vector<int32_t> plain_;
  std::vector<int32_t> special_ids_;
  std::vector<size_t> plain_upto_;  // index: char count (capped at the longest plain token)
  size_t max_bytes_ = 0;
};

// Shared by the constraints: walks `tokens` as a trie, marking allowed[id] = 1 for every token
// whose whole bytes are accepted. step(k, byte) feeds byte k of the current token from the
// state after k bytes (the caller's level k) to level k + 1 and says whether it was accepted;
// levels up to a shared prefix are reused. Returns whether any token was marked.
template <class Step>
bool mark_accepted_tokens(const token_vocabulary& vocab, const token_vocabulary::sorted_tokens& tokens,
                          std::vector<uint8_t>& allowed, Step&& step) {
  size_t good = 0;  // prefix length of the last token tried whose states are valid
  bool any = false;
  for (size_t i = 0; i < tokens.ids.size(); ++i) {
    const uint32_t shared = tokens.lcp[i];
    if (shared > good) continue;  // starts with the prefix that just failed
    const int32_t id = tokens.ids[i];
    const std::string& bytes = vocab.bytes(id);
    size_t k = shared;
    for (; k < bytes.size(); ++k)
      if (!step(k, static_cast<uint8_t>(bytes[k]))) break;
    good = k;
    if (k == bytes.size()) {
      allowed[static_cast<size_t>(id)] = 1;
      any = true;
    }
  }
  return any;
}

// Shared by the constraints: masks every logit whose token is not allowed (ids past the
// vocabulary included), first allowing the end tokens when allow_end is set.
void apply_allowed(std::vector<uint8_t>& allowed, bool allow_end, const std::vector<int32_t>& end_ids,
                   std::span<float> logits);

// schema == nullptr: json_object mode (any JSON object). Otherwise a JSON Schema; throws
// owl::error naming the keyword when it uses something that cannot be enforced.
// end_ids: the tokens that end the output (must not be empty). They are allowed only once the
// value is complete — or when no token at all can continue the output (the vocabulary cannot
// spell a needed character, or a recursive schema ran into the depth limit), so that
// generation ends instead of being stuck; the text is then incomplete.
std::unique_ptr<token_constraint> make_json_constraint(std::shared_ptr<const token_vocabulary> vocab,
                                                       const nlohmann::json* schema,
                                                       std::vector<int32_t> end_ids);

}  // namespace owl::server
