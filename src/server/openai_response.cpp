// openai_response.cpp — response bodies, SSE chunks and error bodies in OpenAI's shapes, stop
// strings over streamed text, and response ids.
//
// Token text is whatever bytes the tokenizer decoded, which may end in the middle of a UTF-8
// character: every body is dumped with error_handler_t::replace (U+FFFD for invalid bytes)
// rather than letting nlohmann throw, and logprob entries carry the raw bytes in "bytes".
#include <charconv>
#include <cmath>
#include <mutex>
#include <random>

#include "server/openai_protocol.h"

namespace owl::server {

namespace {

using ojson = nlohmann::ordered_json;  // keys in OpenAI's order, as clients and tests read them

std::string dump(const ojson& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// A float logprob as the double JSON will print. Going through the float's shortest decimal
// keeps -0.1f as -0.1 instead of -0.10000000149011612. OpenAI reports impossible tokens as
// -9999.0 (JSON has no -inf, and nlohmann would print null).
double logprob_value(float f) {
  if (!std::isfinite(f)) return -9999.0;
  char buffer[32];
  const auto res = std::to_chars(buffer, buffer + sizeof buffer, f);
  double d = f;
  std::from_chars(buffer, res.ptr, d);
  return d;
}

ojson byte_values(const std::string& text) {
  ojson bytes = ojson::array();
  for (const char c : text) bytes.push_back(static_cast<int>(static_cast<unsigned char>(c)));
  return bytes;
}

// Chat's logprobs object: {content: [{token, logprob, bytes, top_logprobs: [...]}]}.
ojson chat_logprobs(const std::vector<token_logprob>* logprobs) {
  if (logprobs == nullptr) return nullptr;
  ojson content = ojson::array();
  for (const token_logprob& t : *logprobs) {
    ojson top = ojson::array();
    for (const auto& [text, lp] : t.top) {
      top.push_back({{"token", text}, {"logprob", logprob_value(lp)}, {"bytes", byte_values(text)}});
    }
    content.push_back(
        {{"token", t.text}, {"logprob", logprob_value(t.logprob)}, {"bytes", byte_values(t.text)}, {"top_logprobs", std::move(top)}});
  }
  return {{"content", std::move(content)}};
}

// Number of characters (code points) in `text`, as OpenAI counts text_offset: continuation
// bytes do not count, so a character split over two tokens is counted once.
int64_t char_count(const std::string& text) {
  int64_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The legacy completions logprobs object: parallel arrays, and top_logprobs as one
// {token: logprob} map per position. text_offset counts from the start of `text` given here.
ojson completion_logprobs(const std::vector<token_logprob>* logprobs) {
  if (logprobs == nullptr) return nullptr;
  ojson tokens = ojson::array(), token_logprobs = ojson::array(), top_logprobs = ojson::array(), offsets = ojson::array();
  int64_t offset = 0;
  for (const token_logprob& t : *logprobs) {
    tokens.push_back(t.text);
    token_logprobs.push_back(logprob_value(t.logprob));
    ojson top = ojson::object();
    // Two alternatives can decode to the same text; the map keeps the first (the likelier).
    for (const auto& [text, lp] : t.top) {
      if (!top.contains(text)) top[text] = logprob_value(lp);
    }
    top_logprobs.push_back(std::move(top));
    offsets.push_back(offset);
    offset += char_count(t.text);
  }
  return {{"tokens", std::move(tokens)},
          {"token_logprobs", std::move(token_logprobs)},
          {"top_logprobs", std::move(top_logprobs)},
          {"text_offset", std::move(offsets)}};
}

ojson usage_object(const usage_counts& usage) {
  return {{"prompt_tokens", usage.prompt_tokens},
          {"completion_tokens", usage.completion_tokens},
          {"total_tokens", usage.prompt_tokens + usage.completion_tokens}};
}

ojson tool_call_object(const tool_call& call) {
  // OpenAI sends arguments as a JSON string (clients parse it themselves).
  const std::string arguments =
      call.arguments.is_null() ? "{}" : call.arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return {{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", arguments}}}};
}

ojson envelope(const std::string& id, const char* object, int64_t created, const std::string& model) {
  return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"system_fingerprint", "owl"}};
}

// One streamed chat chunk with a single choice.
std::string chat_chunk(const std::string& id, int64_t created, const std::string& model, ojson delta, ojson logprobs,
                       ojson finish_reason) {
  ojson j = envelope(id, "chat.completion.chunk", created, model);
  j["choices"] = ojson::array(
      {{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)}, {"finish_reason", std::move(finish_reason)}}});
  return dump(j);
}

}  // namespace

std::string error_body(const api_error& e) {
  const ojson j = {{"error",
                    {{"message", e.what()},
                     {"type", e.type},
                     {"param", e.param.empty() ? ojson(nullptr) : ojson(e.param)},
                     {"code", e.code.empty() ? ojson(nullptr) : ojson(e.code)}}}};
  return dump(j);
}

std::string chat_completion_body(const std::string& id, int64_t created, const std::string& model,
                                 const parsed_reply& reply, const std::string& finish_reason,
                                 const std::vector<token_logprob>* logprobs, const usage_counts& usage) {
  ojson message = {{"role", "assistant"}};
  // A reply made only of tool calls has null content, as OpenAI sends it.
  message["content"] = reply.content.empty() && !reply.tool_calls.empty() ? ojson(nullptr) : ojson(reply.content);
  if (!reply.reasoning.empty()) message["reasoning_content"] = reply.reasoning;
  if (!reply.tool_calls.empty()) {
    ojson calls = ojson::array();
    for (const tool_call& call : reply.tool_calls) calls.push_back(tool_call_object(call));
    message["tool_calls"] = std::move(calls);
  }
  ojson j = envelope(id, "chat.completion", created, model);
  j["choices"] = ojson::array({{{"index", 0},
                                {"message", std::move(message)},
                                {"logprobs", chat_logprobs(logprobs)},
                                {"finish_reason", finish_reason}}});
  j["usage"] = usage_object(usage);
  return dump(j);
}

std::string completion_body(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                            const std::string& finish_reason, const std::vector<token_logprob>* logprobs,
                            const usage_counts& usage) {
  ojson j = envelope(id, "text_completion", created, model);
  j["choices"] = ojson::array(
      {{{"text", text}, {"index", 0}, {"logprobs", completion_logprobs(logprobs)}, {"finish_reason", finish_reason}}});
  j["usage"] = usage_object(usage);
  return dump(j);
}

std::string models_body(const std::string& model_id, int64_t created) {
  const ojson j = {{"object", "list"},
                   {"data", ojson::array({{{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "owl"}}})}};
  return dump(j);
}

std::string chat_chunk_role(const std::string& id, int64_t created, const std::string& model) {
  return chat_chunk(id, created, model, {{"role", "assistant"}, {"content", ""}}, nullptr, nullptr);
}

std::string chat_chunk_content(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                               const std::vector<token_logprob>* logprobs) {
  return chat_chunk(id, created, model, {{"content", text}}, chat_logprobs(logprobs), nullptr);
}

std::string chat_chunk_reasoning(const std::string& id, int64_t created, const std::string& model, const std::string& text) {
  return chat_chunk(id, created, model, {{"reasoning_content", text}}, nullptr, nullptr);
}

std::string chat_chunk_tool_calls(const std::string& id, int64_t created, const std::string& model,
                                  const std::vector<tool_call>& calls) {
  // Each call is sent whole (name and all arguments) in one chunk; its index is its position in
  // `calls`, so the caller passes all of a reply's calls together.
  ojson list = ojson::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    ojson c = tool_call_object(calls[i]);
    ojson indexed = {{"index", i}};
    for (auto& [key, value] : c.items()) indexed[key] = value;
    list.push_back(std::move(indexed));
  }
  return chat_chunk(id, created, model, {{"tool_calls", std::move(list)}}, nullptr, nullptr);
}

std::string chat_chunk_finish(const std::string& id, int64_t created, const std::string& model,
                              const std::string& finish_reason) {
  return chat_chunk(id, created, model, ojson::object(), nullptr, finish_reason);
}

std::string chat_chunk_usage(const std::string& id, int64_t created, const std::string& model, const usage_counts& usage) {
  ojson j = envelope(id, "chat.completion.chunk", created, model);
  j["choices"] = ojson::array();
  j["usage"] = usage_object(usage);
  return dump(j);
}

std::string completion_chunk(const std::string& id, int64_t created, const std::string& model, const std::string& text,
                             const std::optional<std::string>& finish_reason, const std::vector<token_logprob>* logprobs) {
  ojson j = envelope(id, "text_completion", created, model);
  j["choices"] = ojson::array({{{"text", text},
                                {"index", 0},
                                {"logprobs", completion_logprobs(logprobs)},
                                {"finish_reason", finish_reason ? ojson(*finish_reason) : ojson(nullptr)}}});
  return dump(j);
}

std::string completion_chunk_usage(const std::string& id, int64_t created, const std::string& model,
                                   const usage_counts& usage) {
  ojson j = envelope(id, "text_completion", created, model);
  j["choices"] = ojson::array();
  j["usage"] = usage_object(usage);
  return dump(j);
}

std::string sse_event(std::string_view data) {
  // SSE ends a field at a newline: a multi-line payload needs one "data:" line per line (the
  // client joins them with "\n"). Compact JSON never has one; this keeps any payload intact.
  std::string out;
  out.reserve(data.size() + 8);
  size_t start = 0;
  while (true) {
    const size_t nl = data.find('\n', start);
    out += "data: ";
    out += data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += '\n';
  return out;
}

// ---- stop strings ----

stop_matcher::stop_matcher(std::vector<std::string> stops) {
  // An empty stop string would match everywhere; the request parser refuses them, and this
  // drops them so the matcher stays correct for any caller.
  for (std::string& s : stops) {
    if (!s.empty()) stops_.push_back(std::move(s));
  }
}

std::string stop_matcher::push(std::string_view text) {
  if (stopped_) return {};
  pending_.append(text);
  // The earliest stop string wins: the text before it is all the client may see.
  size_t first = std::string::npos;
  for (const std::string& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    std::string out = pending_.substr(0, first);
    pending_.clear();
    stopped_ = true;
    return out;
  }
  // Hold back the longest tail that could still grow into a stop string. Pending text never
  // exceeds the longest stop string plus one push, so this stays cheap.
  size_t hold = 0;
  for (const std::string& s : stops_) {
    const size_t longest = std::min(s.size() - 1, pending_.size());
    for (size_t n = longest; n > hold; --n) {
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        hold = n;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string stop_matcher::finish() {
  if (stopped_) return {};
  std::string out = std::move(pending_);
  pending_.clear();
  return out;
}

// ---- ids ----

std::string new_id(std::string_view prefix) {
  // One generator for the process, seeded once from the OS; ids only need to be unique, not
  // secret. The mutex makes it safe from any network thread.
  static std::mutex mutex;
  static std::mt19937_64 generator{[] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(prefix);
  std::lock_guard<std::mutex> lock(mutex);
  for (int chunk = 0; chunk < 3; ++chunk) {
    uint64_t bits = generator();
    for (int i = 0; i < 8; ++i, bits >>= 4) id += hex[bits & 15];
  }
  return id;
}

}  // namespace owl::server
