// generation.cpp — POST /v1/chat/completions and /v1/completions.
//
// The network thread parses, renders the chat template, tokenizes, checks the context and
// queues the request. From then on a response_sink receives the tokens on the scheduler
// thread: it decodes text incrementally, applies stop strings and hands finished pieces to
// the connection (response_channel posts them to the connection's strand, so the scheduler
// never waits for a socket). A streamed response starts with the sink's first event, which
// keeps its header and role chunk ahead of every content chunk.
//
// Streams with tools: tool-call markup is only known to be a tool call once it is complete,
// so when tools are given (and tool_choice is not "none") the streamed text is held back and
// sent at the end as one content (and/or reasoning) chunk or one tool_calls chunk.
// tool_choice "required" or a named function is enforced by constrained decoding
// (tool_constraint.h): the reply is one call, in the model's own tool-call markup, of an
// allowed tool with arguments matching its parameters schema — so it parses back as a tool
// call and finishes with "tool_calls" (unless max_tokens cuts it short). Models whose template
// has no tool-call syntax owl knows get a 400 instead of an unenforced promise.
#include <chrono>
#include <random>

#include "owl/error.h"
#include "server/api.h"
#include "server/json_constraint.h"
#include "server/tool_constraint.h"

namespace owl::server {
namespace {

using clock_type = std::chrono::steady_clock;

enum class endpoint { chat, completion };

// What a sink needs to know about its request.
struct response_plan {
  endpoint kind = endpoint::chat;
  std::string route;
  std::string id;
  int64_t created = 0;
  std::string model;
  bool stream = false;
  bool include_usage = false;
  bool logprobs = false;
  bool tools = false;           // parse tool calls (chat with tools and tool_choice != "none")
  std::string echo;             // completions with echo: the prompt's text, sent first
  std::vector<std::string> stop;
  std::vector<int32_t> prompt;  // decoding context for the first generated tokens
};

class response_sink : public generation_sink {
 public:
  response_sink(server_context& ctx, std::shared_ptr<response_channel> channel, response_plan plan)
      : ctx_(ctx),
        channel_(std::move(channel)),
        plan_(std::move(plan)),
        decoder_(*ctx_.tok, plan_.prompt),
        matcher_(plan_.stop),
        previous_(plan_.prompt.empty() ? -1 : plan_.prompt.back()),
        submitted_(clock_type::now()) {}

  bool on_token(const token_event& event) override {
    if (channel_->closed()) return false;
    if (generated_ == 0) first_token_ = clock_type::now();
    last_token_ = clock_type::now();
    ++generated_;
    start_stream();
    const std::string piece = decoder_.push(event.token);
    if (plan_.logprobs) pending_logprobs_.push_back(logprob_of(event, piece));
    previous_ = event.token;
    emit(matcher_.push(piece));
    // A stop string ends the request here; the scheduler reports it "cancelled", and
    // stop_matched_ turns that back into "stop".
    return !matcher_.stopped();
  }

  void on_done(const generation_summary& summary) override {
    if (!matcher_.stopped() && (summary.finish_reason == "stop" || summary.finish_reason == "length")) {
      emit(matcher_.push(decoder_.finish()));
      if (!matcher_.stopped()) emit(matcher_.finish());
    }
    record(summary);
    // Last, after the metrics: shutdown waits for this and then tears the server down.
    struct end_flight_guard {
      server_context& ctx;
      ~end_flight_guard() { ctx.end_flight(); }
    } guard{ctx_};
    if (channel_->closed()) return;

    std::string finish = matcher_.stopped() ? "stop" : summary.finish_reason;
    if (finish == "error" || finish == "cancelled") {
      const api_error e = finish == "error" ? api_error(500, "generation failed: " + summary.error)
                                            : api_error(503, "the request was cancelled: the server is shutting down",
                                                        "", "server_shutting_down");
      if (!plan_.stream) {
        ctx_.stats.count_request(plan_.route, e.status);
        channel_->send(error_response(e));
        return;
      }
      // Headers went out already: the error becomes an event, as OpenAI sends it mid-stream.
      start_stream();
      channel_->write(sse_event(error_body(e)));
      channel_->write(sse_event("[DONE]"));
      channel_->end_stream();
      return;
    }

    const usage_counts usage{summary.prompt_tokens, summary.completion_tokens};
    if (plan_.kind == endpoint::chat) {
      finish_chat(finish, usage);
    } else {
      finish_completion(finish, usage);
    }
  }

 private:
  // The sampled token's text is what the stream decoder produced for it (spacing as in the
  // output); alternatives are decoded after the previous token for the same reason.
  token_logprob logprob_of(const token_event& event, const std::string& piece) const {
    token_logprob t;
    t.text = piece;
    t.logprob = event.logprob;
    for (const auto& [id, lp] : event.top) t.top.emplace_back(token_text(id), lp);
    return t;
  }

  std::string token_text(int32_t id) const {
    if (previous_ < 0) {
      const int32_t ids[] = {id};
      return ctx_.tok->decode(ids);
    }
    const int32_t before[] = {previous_};
    const int32_t pair[] = {previous_, id};
    const std::string head = ctx_.tok->decode(before);
    std::string both = ctx_.tok->decode(pair);
    if (both.starts_with(head)) return both.substr(head.size());
    const int32_t ids[] = {id};
    return ctx_.tok->decode(ids);
  }

  void start_stream() {
    if (!plan_.stream || started_) return;
    started_ = true;
    ctx_.stats.count_request(plan_.route, 200);
    channel_->begin_stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}, {"X-Accel-Buffering", "no"}});
    if (plan_.kind == endpoint::chat) {
      channel_->write(sse_event(chat_chunk_role(plan_.id, plan_.created, plan_.model)));
    } else if (!plan_.echo.empty()) {
      channel_->write(sse_event(completion_chunk(plan_.id, plan_.created, plan_.model, plan_.echo, std::nullopt, nullptr)));
    }
  }

  // Text that is safe to show (no part of a stop string) goes out at once when streaming, with
  // the logprobs of the tokens that made it.
  void emit(const std::string& text) {
    if (text.empty()) return;
    text_ += text;
    const bool held = !plan_.stream || plan_.tools;
    if (held) {
      for (auto& t : pending_logprobs_) logprobs_.push_back(std::move(t));
      pending_logprobs_.clear();
      return;
    }
    const std::vector<token_logprob>* lp = plan_.logprobs ? &pending_logprobs_ : nullptr;
    const std::string chunk = plan_.kind == endpoint::chat
                                  ? chat_chunk_content(plan_.id, plan_.created, plan_.model, text, lp)
                                  : completion_chunk(plan_.id, plan_.created, plan_.model, text, std::nullopt, lp);
    pending_logprobs_.clear();
    channel_->write(sse_event(chunk));
  }

  void finish_chat(std::string finish, const usage_counts& usage) {
    const parsed_reply reply = parse_reply(text_, plan_.tools ? ctx_.tool_format : tool_call_format::none);
    if (plan_.tools && !reply.tool_calls.empty()) finish = "tool_calls";
    for (auto& t : pending_logprobs_) logprobs_.push_back(std::move(t));
    const std::vector<token_logprob>* lp = plan_.logprobs ? &logprobs_ : nullptr;
    if (!plan_.stream) {
      ctx_.stats.count_request(plan_.route, 200);
      http_response r;
      r.body = chat_completion_body(plan_.id, plan_.created, plan_.model, reply, finish, lp, usage);
      channel_->send(std::move(r));
      return;
    }
    start_stream();  // a reply of no tokens at all still gets its role chunk
    if (plan_.tools) {
      if (!reply.reasoning.empty())
        channel_->write(sse_event(chat_chunk_reasoning(plan_.id, plan_.created, plan_.model, reply.reasoning)));
      if (!reply.content.empty())
        channel_->write(sse_event(chat_chunk_content(plan_.id, plan_.created, plan_.model, reply.content, lp)));
      if (!reply.tool_calls.empty())
        channel_->write(sse_event(chat_chunk_tool_calls(plan_.id, plan_.created, plan_.model, reply.tool_calls)));
    }
    channel_->write(sse_event(chat_chunk_finish(plan_.id, plan_.created, plan_.model, finish)));
    if (plan_.include_usage) channel_->write(sse_event(chat_chunk_usage(plan_.id, plan_.created, plan_.model, usage)));
    channel_->write(sse_event("[DONE]"));
    channel_->end_stream();
  }

  void finish_completion(const std::string& finish, const usage_counts& usage) {
    for (auto& t : pending_logprobs_) logprobs_.push_back(std::move(t));
    if (!plan_.stream) {
      ctx_.stats.count_request(plan_.route, 200);
      http_response r;
      r.body = completion_body(plan_.id, plan_.created, plan_.model, plan_.echo + text_, finish,
                               plan_.logprobs ? &logprobs_ : nullptr, usage);
      channel_->send(std::move(r));
      return;
    }
    start_stream();
    channel_->write(sse_event(completion_chunk(plan_.id, plan_.created, plan_.model, "", finish, nullptr)));
    if (plan_.include_usage)
      channel_->write(sse_event(completion_chunk_usage(plan_.id, plan_.created, plan_.model, usage)));
    channel_->write(sse_event("[DONE]"));
    channel_->end_stream();
  }

  void record(const generation_summary& summary) {
    ctx_.stats.add_tokens(summary.prompt_tokens, summary.completion_tokens);
    if (generated_ == 0) return;
    ctx_.stats.observe_first_token(std::chrono::duration<double>(first_token_ - submitted_).count());
    if (generated_ > 1)
      ctx_.stats.observe_per_output_token(std::chrono::duration<double>(last_token_ - first_token_).count() /
                                          double(generated_ - 1));
  }

  server_context& ctx_;
  std::shared_ptr<response_channel> channel_;
  response_plan plan_;
  stream_decoder decoder_;
  stop_matcher matcher_;
  std::string text_;                          // all safe text so far
  std::vector<token_logprob> logprobs_;       // reported at the end
  std::vector<token_logprob> pending_logprobs_;  // tokens whose text is not out yet
  bool started_ = false;
  int32_t previous_ = -1;                     // the last token (prompt or generated)
  int64_t generated_ = 0;
  clock_type::time_point submitted_, first_token_, last_token_;
};

// max_tokens when it fits, the room left when it was not given; else 400.
int64_t fit_context(const server_context& ctx, size_t prompt_size, std::optional<int64_t> max_tokens) {
  const int64_t context = ctx.sched->context();
  const int64_t prompt = int64_t(prompt_size);
  if (prompt >= context)
    throw api_error(400, "the prompt has " + std::to_string(prompt) + " tokens, but the context holds " +
                             std::to_string(context) + " tokens, the reply included",
                    "messages", "context_length_exceeded");
  if (!max_tokens) return context - prompt;
  if (prompt + *max_tokens > context)
    throw api_error(400, "the prompt (" + std::to_string(prompt) + " tokens) plus max_tokens (" +
                             std::to_string(*max_tokens) + ") exceeds the context of " + std::to_string(context) +
                             " tokens",
                    "max_tokens", "context_length_exceeded");
  return *max_tokens;
}

generation_request base_request(const generation_params& params) {
  generation_request r;
  r.sampling = params.sampling;
  if (!params.seed_given) {
    // Different requests must not repeat each other's samples.
    std::random_device device;
    r.sampling.seed = (uint64_t(device()) << 32) ^ device();
  }
  r.top_logprobs = params.logprobs ? params.top_logprobs : -1;
  return r;
}

void submit(server_context& ctx, generation_request request, std::shared_ptr<response_channel> channel,
            response_plan plan) {
  auto sink = std::make_shared<response_sink>(ctx, channel, std::move(plan));
  ctx.begin_flight();
  std::optional<uint64_t> id;
  try {
    id = ctx.sched->submit(std::move(request), sink);
  } catch (...) {
    ctx.end_flight();
    throw;
  }
  if (!id) {
    ctx.end_flight();
    throw api_error(429, "too many requests are waiting; retry shortly", "", "rate_limit_exceeded");
  }
  // A client that goes away frees its slot (and KV cache) at the next step, not at the end.
  scheduler* sched = ctx.sched.get();
  channel->on_disconnect([sched, id = *id] { sched->cancel(id); });
}

}  // namespace

void handle_chat(server_context& ctx, const http_request& request, std::shared_ptr<response_channel> channel) {
  chat_request chat = parse_chat_request(request.body, ctx.limits);
  const bool tools = chat.tools.is_array() && !chat.tools.empty() && chat.tool_choice != "none";

  chat_render_options render;
  render.messages = chat.messages;
  // The ChatML fallback concatenates message['content'] as a string and knows nothing of tool
  // calls: an assistant turn that only calls tools (content null, as OpenAI clients send it)
  // renders as an empty turn rather than failing the whole conversation.
  if (ctx.tmpl.is_fallback())
    for (auto& m : render.messages)
      if (m.contains("content") && m["content"].is_null()) m["content"] = "";
  if (tools) render.tools = chat.tools;
  render.add_generation_prompt = true;
  if (chat.template_kwargs.is_object()) render.extra = chat.template_kwargs;
  std::string prompt_text;
  try {
    prompt_text = ctx.tmpl.render(render);
  } catch (const owl::error& e) {
    throw api_error(400, std::string("the chat template refused the conversation: ") + e.what(), "messages");
  }
  // Templates write BOS themselves (see chat_session.h), so no special tokens are added.
  std::vector<int32_t> prompt = ctx.tok->encode(prompt_text, false);
  if (prompt.empty()) throw api_error(400, "the rendered prompt has no tokens", "messages");

  generation_request r = base_request(chat.params);
  r.max_tokens = fit_context(ctx, prompt.size(), chat.params.max_tokens);
  r.stop_ids = ctx.chat_stop_ids;
  // tool_choice holds "none", "auto", "required" or "function" (tool_choice_function names it).
  const bool forced = tools && (chat.tool_choice == "required" || chat.tool_choice == "function");
  if (forced) {
    if (chat.format != output_format::text)
      throw api_error(400, "response_format cannot be combined with tool_choice 'required' or a named function: "
                           "the reply is a tool call, constrained by the tool's parameters",
                      "response_format");
    if (ctx.tool_format == tool_call_format::none)
      throw api_error(400, "this model's chat template has no tool-call syntax owl knows; tool_choice '" +
                               chat.tool_choice + "' cannot be enforced",
                      "tool_choice");
    try {
      r.constraint = make_tool_call_constraint(ctx.vocabulary(), ctx.tool_format, chat.tools,
                                               chat.tool_choice == "function" ? chat.tool_choice_function : std::string(),
                                               r.stop_ids);
    } catch (const owl::error& e) {
      throw api_error(400, std::string("tool_choice cannot be enforced: ") + e.what(), "tools");
    }
  } else if (chat.format != output_format::text) {
    try {
      r.constraint = make_json_constraint(ctx.vocabulary(), chat.format == output_format::json_schema ? &chat.schema : nullptr,
                                          r.stop_ids);
    } catch (const owl::error& e) {
      throw api_error(400, std::string("unsupported response_format: ") + e.what(), "response_format");
    }
  }

  response_plan plan;
  plan.kind = endpoint::chat;
  plan.route = "/v1/chat/completions";
  plan.id = new_id("chatcmpl-");
  plan.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  plan.model = chat.params.model.empty() ? ctx.model_id : chat.params.model;
  plan.stream = chat.params.stream;
  plan.include_usage = chat.params.include_usage;
  plan.logprobs = chat.params.logprobs;
  plan.tools = tools;
  plan.stop = chat.params.stop;
  r.prompt = prompt;
  plan.prompt = std::move(prompt);
  submit(ctx, std::move(r), std::move(channel), std::move(plan));
}

void handle_completion(server_context& ctx, const http_request& request, std::shared_ptr<response_channel> channel) {
  completion_request completion = parse_completion_request(request.body, ctx.limits);
  std::vector<int32_t> prompt = completion.prompt_tokens;
  if (prompt.empty()) {
    // Completions continue raw text: the tokenizer adds BOS as it would for `owl run`.
    prompt = ctx.tok->encode(completion.prompt, true);
  } else {
    const auto vocab = int64_t(ctx.tok->vocab_size());
    for (size_t i = 0; i < prompt.size(); ++i)
      if (prompt[i] < 0 || prompt[i] >= vocab)
        throw api_error(400, "token id " + std::to_string(prompt[i]) + " is outside the vocabulary of " +
                                 std::to_string(vocab) + " tokens", "prompt[" + std::to_string(i) + "]");
  }
  if (prompt.empty()) throw api_error(400, "the prompt has no tokens", "prompt");

  generation_request r = base_request(completion.params);
  r.max_tokens = fit_context(ctx, prompt.size(), completion.params.max_tokens);
  r.stop_ids = ctx.completion_stop_ids;

  response_plan plan;
  plan.kind = endpoint::completion;
  plan.route = "/v1/completions";
  plan.id = new_id("cmpl-");
  plan.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  plan.model = completion.params.model.empty() ? ctx.model_id : completion.params.model;
  plan.stream = completion.params.stream;
  plan.include_usage = completion.params.include_usage;
  plan.logprobs = completion.params.logprobs;
  plan.stop = completion.params.stop;
  if (completion.echo)
    plan.echo = completion.prompt_tokens.empty() ? completion.prompt : ctx.tok->decode(completion.prompt_tokens);
  r.prompt = prompt;
  plan.prompt = std::move(prompt);
  submit(ctx, std::move(r), std::move(channel), std::move(plan));
}

}  // namespace owl::server
