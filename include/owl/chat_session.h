// owl/chat_session.h — a conversation with a model: history, prompt rendering through the
// model's chat template, KV-cache reuse between turns, streaming and cancellation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "owl/chat.h"
#include "owl/model.h"
#include "owl/sampler.h"
#include "owl/tokenizer.h"

namespace owl {

struct chat_options {
  sampling_params sampling;    // per reply; the same seed gives the same reply to the same prompt
  int64_t max_tokens = -1;     // per reply; -1: until an end-of-turn token or the context is full.
                               // A reply is also cut short when the context fills up first.
  int64_t context = 0;         // KV-cache size in tokens; 0 = min(model context, 4096)
  // Ordered JSON throughout, as in chat_render_options: templates print dicts with tojson and
  // the key order has to be the one given.
  nlohmann::ordered_json tools;  // null, or a list of tool definitions passed to the template
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // template variables, e.g. {"enable_thinking": false}
};

struct chat_reply {
  parsed_reply reply;           // content / reasoning / tool calls (parse_reply of `text`)
  std::string text;             // the raw generated text, markup included
  std::string finish_reason;    // "stop" (end-of-turn token), "length", "cancelled"
  int64_t prompt_tokens = 0;    // tokens of the rendered prompt
  int64_t reused_tokens = 0;    // of those, already in the KV cache from earlier turns
  int64_t generated_tokens = 0;
  double prompt_seconds = 0;    // processing the new part of the prompt
  double generate_seconds = 0;  // sampling and running the generated tokens
};

class chat_session {
 public:
  // The prompt of each turn is tokenized with encode(prompt, false): chat templates write BOS
  // themselves (as transformers' apply_chat_template(tokenize=True) assumes), so nothing is
  // added. Throws owl::error when `options.context` exceeds the model's context.
  chat_session(std::shared_ptr<model> m, std::shared_ptr<const tokenizer> tok, chat_template tmpl,
               chat_options options = {});
  ~chat_session();
  chat_session(const chat_session&) = delete;
  chat_session& operator=(const chat_session&) = delete;

  // Called with each new piece of reply text as it is decoded (never half a UTF-8 character).
  using text_callback = std::function<void(std::string_view)>;

  // Appends a user message and generates the assistant's reply (see respond()). When the turn
  // fails (template error, context full) the user message is taken back out again.
  chat_reply send(const std::string& user_text, const text_callback& on_text = {});
  // Generates the assistant's reply to the conversation as it stands, appends it to the
  // history as {role: assistant, content, reasoning_content?, tool_calls?} and returns it.
  // A cancelled reply is kept as far as it got. Throws owl::error when the prompt does not
  // fit the context (hint: reset) or the template refuses the conversation.
  chat_reply respond(const text_callback& on_text = {});

  // Stops the reply being generated after the current token. Only sets an atomic flag, so it
  // may be called from another thread or a signal handler. The flag clears when a reply starts.
  void cancel() noexcept { cancel_.store(true, std::memory_order_relaxed); }

  // Forgets the conversation and the KV cache; the system prompt (set_system) is kept.
  void reset();
  // Sets (or, with empty text, removes) the system message at the start of the history.
  void set_system(const std::string& text);
  // Replaces the whole history, e.g. with a conversation loaded from a file.
  void set_messages(const nlohmann::ordered_json& messages);
  void add_message(const nlohmann::ordered_json& message);
  const nlohmann::ordered_json& messages() const { return messages_; }

  tool_call_format format() const { return format_; }
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  const chat_template& chat_template_used() const { return template_; }

 private:
  // Runs ids[common:] (ids[:common] are cached) and samples the reply into `out`.
  void generate_reply(const std::vector<int32_t>& ids, size_t common, const text_callback& on_text, chat_reply& out);

  std::shared_ptr<model> model_;
  std::shared_ptr<const tokenizer> tok_;
  chat_template template_;
  chat_options options_;
  tool_call_format format_;
  std::vector<int32_t> stop_ids_;
  std::unique_ptr<session> session_;
  std::vector<int32_t> cached_;  // the token ids whose keys/values are in session_, in order
  nlohmann::ordered_json messages_ = nlohmann::ordered_json::array();
  std::string system_;
  std::atomic<bool> cancel_{false};
  static_assert(std::atomic<bool>::is_always_lock_free, "cancel() must be async-signal-safe");
};

// The tokens that end an assistant turn for this model: generation_config's eos ids, the
// tokenizer's eos, and the usual end-of-turn markers (<|eot_id|>, <|im_end|>, <|end|>,
// <end_of_turn>, ...) that exist as special tokens in the vocabulary.
std::vector<int32_t> end_of_turn_ids(const model& m, const tokenizer& tok);

// The assistant message a parsed reply becomes in the history (OpenAI / transformers shape:
// tool_calls as [{id, type: "function", function: {name, arguments}}], arguments an object).
nlohmann::ordered_json assistant_message(const parsed_reply& reply, tool_call_format format);

}  // namespace owl
