// chat_session.cpp — one conversation: render, tokenize, reuse the KV cache, generate, parse.
//
// Each turn renders the whole conversation again (templates are free to rewrite earlier turns:
// Qwen3 drops the reasoning of answered turns, for instance), tokenizes it and compares the
// ids with those already in the KV cache. When the cache holds a prefix of the new prompt
// only the new suffix is run; otherwise the cache is dropped and the prompt runs from the
// start. A session has no way to drop just its tail, so a prompt that diverges anywhere costs
// a full re-run; with templates that render history stably that is only the first turn.
#include "owl/chat_session.h"

#include <algorithm>
#include <chrono>
#include <string_view>

#include "owl/error.h"

namespace owl {
namespace {

using json = nlohmann::ordered_json;

// Spellings of "end of turn" across model families. Only those that are special tokens of the
// vocabulary count: a byte-level vocabulary could hold "</s>" as ordinary text.
constexpr std::string_view end_of_turn_pieces[] = {
    "<|eot_id|>", "<|eom_id|>",  "<|im_end|>", "<|end|>",  "<end_of_turn>", "<|endoftext|>",
    "<｜end▁of▁sentence｜>", "</s>", "<|return|>", "<|call|>",
};

void add_unique(std::vector<int32_t>& ids, int32_t id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

}  // namespace

std::vector<int32_t> end_of_turn_ids(const model& m, const tokenizer& tok) {
  std::vector<int32_t> ids;
  for (int32_t id : m.defaults().eos_ids) add_unique(ids, id);
  if (auto eos = tok.eos_id()) add_unique(ids, *eos);
  for (std::string_view piece : end_of_turn_pieces)
    if (auto id = tok.token_id(piece); id && tok.is_special(*id)) add_unique(ids, *id);
  return ids;
}

json assistant_message(const parsed_reply& reply, tool_call_format format) {
  json message = {{"role", "assistant"}, {"content", reply.content}};
  if (!reply.reasoning.empty()) message["reasoning_content"] = reply.reasoning;
  if (!reply.tool_calls.empty()) {
    json calls = json::array();
    for (const tool_call& call : reply.tool_calls)
      calls.push_back({{"id", call.id},
                       {"type", "function"},
                       {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
    message["tool_calls"] = std::move(calls);
    // DeepSeek V3's template renders tool calls only for an assistant message whose content
    // is none; the others test `not content` or accept "", and some (Qwen3) fail on none.
    if (format == tool_call_format::deepseek_v3 && reply.content.empty()) message["content"] = nullptr;
  }
  return message;
}

chat_session::chat_session(std::shared_ptr<model> m, std::shared_ptr<const tokenizer> tok, chat_template tmpl,
                           chat_options options)
    : model_(std::move(m)),
      tok_(std::move(tok)),
      template_(std::move(tmpl)),
      options_(std::move(options)),
      format_(detect_tool_call_format(template_.source())) {
  if (!model_ || !tok_) fail("chat_session", "a model and a tokenizer are required");
  const int64_t model_context = model_->info().context_length;
  const int64_t capacity = options_.context > 0 ? options_.context : std::min<int64_t>(model_context, 4096);
  if (capacity > model_context)
    fail("chat_session", "context " + std::to_string(capacity) + " exceeds the model's context of " +
                             std::to_string(model_context) + " tokens");
  if (!options_.extra.is_object()) options_.extra = json::object();
  stop_ids_ = end_of_turn_ids(*model_, *tok_);
  session_ = model_->new_session(capacity);
}

chat_session::~chat_session() = default;

void chat_session::reset() {
  messages_ = json::array();
  if (!system_.empty()) messages_.push_back({{"role", "system"}, {"content", system_}});
  session_->reset();
  cached_.clear();
}

void chat_session::set_system(const std::string& text) {
  system_ = text;
  const bool has_system = !messages_.empty() && messages_[0].is_object() && messages_[0].value("role", "") == "system";
  if (text.empty()) {
    if (has_system) messages_.erase(messages_.begin());
  } else if (has_system) {
    messages_[0]["content"] = text;
  } else {
    messages_.insert(messages_.begin(), json{{"role", "system"}, {"content", text}});
  }
}

void chat_session::set_messages(const json& messages) {
  if (!messages.is_array()) fail("messages", "expected a JSON list of messages, found " + std::string(messages.type_name()));
  for (const json& m : messages)
    if (!m.is_object() || !m.contains("role"))
      fail("messages", "expected each message to be an object with a role, found " + m.dump());
  messages_ = messages;
  system_.clear();
  if (!messages_.empty() && messages_[0]["role"] == "system" && messages_[0].value("content", json()).is_string())
    system_ = messages_[0]["content"].get<std::string>();
}

void chat_session::add_message(const json& message) {
  if (!message.is_object() || !message.contains("role"))
    fail("message", "expected an object with a role, found " + message.dump());
  messages_.push_back(message);
}

chat_reply chat_session::send(const std::string& user_text, const text_callback& on_text) {
  messages_.push_back({{"role", "user"}, {"content", user_text}});
  try {
    return respond(on_text);
  } catch (...) {
    messages_.erase(messages_.end() - 1);
    throw;
  }
}

chat_reply chat_session::respond(const text_callback& on_text) {
  cancel_.store(false, std::memory_order_relaxed);
  chat_reply out;

  chat_render_options render;
  render.messages = messages_;
  render.tools = options_.tools;
  render.add_generation_prompt = true;
  render.extra = options_.extra;
  const std::string prompt = template_.render(render);
  const std::vector<int32_t> ids = tok_->encode(prompt, false);
  if (ids.empty()) fail("chat", "the rendered prompt has no tokens", "add a message");
  out.prompt_tokens = int64_t(ids.size());

  // Reuse the cache when it holds a prefix of this prompt. At least one token must run to
  // get logits, so a prompt that is entirely cached (it never grows between turns in
  // practice) runs again from the start.
  size_t common = 0;
  while (common < cached_.size() && common < ids.size() && cached_[common] == ids[common]) ++common;
  if (common < cached_.size() || common == ids.size()) {
    session_->reset();
    cached_.clear();
    common = 0;
  }
  const int64_t room = session_->capacity() - session_->n_past();
  const int64_t suffix = int64_t(ids.size() - common);
  if (suffix >= room)  // the prompt plus at least one reply token must fit
    fail("chat", "the conversation needs " + std::to_string(ids.size()) + " tokens plus the reply, but the context holds " +
                     std::to_string(session_->capacity()),
         "start over (/reset in owl chat) or give a larger --ctx");
  out.reused_tokens = int64_t(common);
  try {
    generate_reply(ids, common, on_text, out);
  } catch (...) {
    // Whatever failed (a callback, memory), the cache may hold tokens cached_ does not list.
    session_->reset();
    cached_.clear();
    throw;
  }
  out.reply = parse_reply(out.text, format_);
  messages_.push_back(assistant_message(out.reply, format_));
  return out;
}

void chat_session::generate_reply(const std::vector<int32_t>& ids, size_t common, const text_callback& on_text,
                                  chat_reply& out) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  std::span<const float> logits = session_->forward(std::span<const int32_t>(ids).subspan(common));
  cached_ = ids;
  const auto after_prompt = clock::now();
  out.prompt_seconds = std::chrono::duration<double>(after_prompt - start).count();

  // A reply is bounded by -n and by the room left: unlike `owl run`, a chat turn that fills
  // the context ends with finish_reason "length" instead of failing before it starts.
  int64_t limit = session_->capacity() - session_->n_past() + 1;  // the last token needs no forward
  if (options_.max_tokens >= 0) limit = std::min(limit, options_.max_tokens);

  sampler pick(options_.sampling, logits.size());
  std::vector<int32_t> history = ids;  // penalties count the whole conversation, cached or not
  std::vector<int32_t> generated;
  std::vector<float> scratch;
  stream_decoder decoder(*tok_, ids);
  out.finish_reason = "length";
  for (int64_t i = 0; i < limit; ++i) {
    if (cancel_.load(std::memory_order_relaxed)) {
      out.finish_reason = "cancelled";
      break;
    }
    scratch.assign(logits.begin(), logits.end());
    const int32_t token = pick.sample(scratch, history);
    if (std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end()) {
      out.finish_reason = "stop";
      break;
    }
    generated.push_back(token);
    history.push_back(token);
    std::string piece = decoder.push(token);
    out.text += piece;
    if (on_text && !piece.empty()) on_text(piece);
    if (i + 1 < limit && !cancel_.load(std::memory_order_relaxed)) {
      logits = session_->forward(std::span<const int32_t>(&token, 1));
      cached_.push_back(token);
    }
  }
  const std::string rest = decoder.finish();  // an incomplete character held back at the end
  out.text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  if (out.finish_reason == "length" && cancel_.load(std::memory_order_relaxed)) out.finish_reason = "cancelled";
  out.generated_tokens = int64_t(generated.size());
  out.generate_seconds = std::chrono::duration<double>(clock::now() - after_prompt).count();
}

}  // namespace owl
