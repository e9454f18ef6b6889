// json_constraint.cpp — token_constraint for response_format json_object / json_schema.
//
// mask() walks the vocabulary sorted by bytes (token_vocabulary::all_tokens), keeping one
// automaton state per prefix length, so a prefix shared by many tokens is checked once and the
// first invalid byte skips every token starting with it. Inside a string body most tokens are
// plain text; those are allowed from a precomputed list without walking them.
#include <algorithm>
#include <limits>

#include "owl/error.h"
#include "server/json_automaton.h"
#include "server/json_constraint.h"

namespace owl::server {
namespace {

using namespace json_detail;

class json_constraint final : public token_constraint {
 public:
  json_constraint(std::shared_ptr<const token_vocabulary> vocab, schema_graph g, std::vector<int32_t> end_ids)
      : vocab_(std::move(vocab)), automaton_(std::move(g)), end_ids_(std::move(end_ids)) {
    automaton_.initial(state_);
    levels_.resize(vocab_->max_token_bytes() + 1);
    allowed_.resize(vocab_->size());
  }

  void mask(std::span<float> logits) override {
    std::fill(allowed_.begin(), allowed_.end(), uint8_t{0});
    bool any = false;
    if (!ended_ && state_.stacks() > 0 && !automaton_.only_end(state_)) {
      if (auto room = automaton_.plain_string_room(state_)) {
        const size_t n = vocab_->plain_upto(*room);
        const auto plain = vocab_->plain_tokens();
        for (size_t i = 0; i < n; ++i) allowed_[static_cast<size_t>(plain[i])] = 1;
        any = n > 0;
        any |= walk(vocab_->non_plain_tokens());
      } else {
        any = walk(vocab_->all_tokens());
      }
    }
    // End tokens: once complete, or as the way out when nothing else can follow.
    apply_allowed(allowed_, ended_ || !any || automaton_.can_end(state_), end_ids_, logits);
  }

  void accept(int32_t token) override {
    if (ended_) return;
    if (std::find(end_ids_.begin(), end_ids_.end(), token) != end_ids_.end()) {
      ended_ = true;
      return;
    }
    if (token < 0 || static_cast<size_t>(token) >= vocab_->size() || vocab_->is_special(token)) {
      state_.clear();  // not allowed by mask(): nothing valid can follow any more
      return;
    }
    for (char ch : vocab_->bytes(token)) {
      if (!automaton_.feed_state(state_, static_cast<uint8_t>(ch), next_)) {
        state_.clear();
        return;
      }
      std::swap(state_, next_);
    }
  }

  bool complete() const override { return ended_ || automaton_.can_end(state_); }

 private:
  // Marks every token of `tokens` whose bytes the automaton accepts from state_.
  bool walk(const token_vocabulary::sorted_tokens& tokens) {
    levels_[0] = state_;
    return mark_accepted_tokens(*vocab_, tokens, allowed_, [&](size_t k, uint8_t byte) {
      return automaton_.feed_state(levels_[k], byte, levels_[k + 1]);
    });
  }

  std::shared_ptr<const token_vocabulary> vocab_;
  json_automaton automaton_;
  std::vector<int32_t> end_ids_;
  state state_, next_;
  std::vector<state> levels_;   // levels_[k]: state after the first k bytes of the token in hand
  std::vector<uint8_t> allowed_;
  bool ended_ = false;
};

}  // namespace

void apply_allowed(std::vector<uint8_t>& allowed, bool allow_end, const std::vector<int32_t>& end_ids,
                   std::span<float> logits) {
  if (allow_end)
    for (int32_t id : end_ids)
      if (id >= 0 && static_cast<size_t>(id) < allowed.size()) allowed[static_cast<size_t>(id)] = 1;
  const float neg_inf = -std::numeric_limits<float>::infinity();
  const size_t n = std::min(logits.size(), allowed.size());
  for (size_t i = 0; i < n; ++i)
    if (!allowed[i]) logits[i] = neg_inf;
  for (size_t i = n; i < logits.size(); ++i) {
    // Ids past the tokenizer's vocabulary (padded embedding rows) have no text.
    if (std::find(end_ids.begin(), end_ids.end(), static_cast<int32_t>(i)) == end_ids.end()) logits[i] = neg_inf;
  }
}

std::unique_ptr<token_constraint> make_json_constraint(std::shared_ptr<const token_vocabulary> vocab,
                                                       const nlohmann::json* schema,
                                                       std::vector<int32_t> end_ids) {
  if (!vocab) fail("json constraint", "no vocabulary given");
  if (end_ids.empty()) fail("json constraint", "no end token ids given", "pass the request's stop ids (e.g. EOS)");
  return std::make_unique<json_constraint>(std::move(vocab), compile_schema(schema), std::move(end_ids));
}

}  // namespace owl::server
