// routes.cpp — request dispatch: authentication, routes and methods, the small endpoints,
// and turning every failure into OpenAI's error JSON.
#include <algorithm>
#include <cctype>
#include <chrono>

#include "owl/chat_session.h"
#include "owl/error.h"
#include "server/api.h"
#include "server/json_constraint.h"

namespace owl::server {

server_context::server_context(std::shared_ptr<model> m, std::shared_ptr<const tokenizer> t, chat_template tmpl_)
    : llm(std::move(m)), tok(std::move(t)), tmpl(std::move(tmpl_)) {
  tool_format = detect_tool_call_format(tmpl.source());
  chat_stop_ids = end_of_turn_ids(*llm, *tok);
  completion_stop_ids = llm->defaults().eos_ids;
  if (completion_stop_ids.empty())
    if (auto eos = tok->eos_id()) completion_stop_ids.push_back(*eos);
  created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

server_context::~server_context() = default;

void server_context::begin_flight() {
  std::lock_guard lock(flight_mutex);
  ++in_flight;
}

void server_context::end_flight() {
  {
    std::lock_guard lock(flight_mutex);
    --in_flight;
  }
  flight_done.notify_all();
}

bool server_context::wait_idle(double seconds) {
  std::unique_lock lock(flight_mutex);
  return flight_done.wait_for(lock, std::chrono::duration<double>(seconds), [&] { return in_flight == 0; });
}

std::shared_ptr<const token_vocabulary> server_context::vocabulary() {
  // A mutex rather than call_once: a failed build (out of memory) may be retried.
  std::lock_guard lock(vocab_mutex_);
  if (!vocab_) vocab_ = std::make_shared<const token_vocabulary>(*tok);
  return vocab_;
}

http_response error_response(const api_error& e) {
  http_response r;
  r.status = e.status;
  r.body = error_body(e);
  if (e.status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
  if (e.status == 429) r.headers.emplace_back("Retry-After", "1");
  return r;
}

namespace {

// Compares without an early exit, so the time taken does not tell how much of a guess was
// right. The length still leaks; that reveals nothing useful about a random key.
bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool authorized(const server_context& ctx, const std::string& header) {
  if (ctx.api_key.empty()) return true;
  constexpr std::string_view scheme = "Bearer ";
  if (header.size() < scheme.size()) return false;
  // The scheme is case-insensitive (RFC 7235).
  for (size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(header[i])) != std::tolower(static_cast<unsigned char>(scheme[i])))
      return false;
  std::string_view key = std::string_view(header).substr(scheme.size());
  while (!key.empty() && key.front() == ' ') key.remove_prefix(1);
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.remove_suffix(1);
  return constant_time_equal(key, ctx.api_key);
}

struct route {
  std::string_view path;
  std::string_view method;
};
constexpr route routes[] = {
    {"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"},
    {"/health", "GET"},               {"/metrics", "GET"},
};

http_response json_response(std::string body) {
  http_response r;
  r.body = std::move(body);
  return r;
}

}  // namespace

void handle_request(server_context& ctx, http_request&& request, std::shared_ptr<response_channel> channel) {
  const std::string label = metrics::route_label(request.path);
  auto reply = [&](http_response r) {
    ctx.stats.count_request(label, r.status);
    channel->send(std::move(r));
  };
  try {
    const route* found = nullptr;
    for (const route& r : routes)
      if (r.path == request.path) found = &r;
    // Everything but /health needs the key, unknown paths included, so that an
    // unauthenticated client learns nothing about what the server has.
    if (request.path != "/health" && !authorized(ctx, request.authorization))
      throw api_error(401, "invalid API key: send the header 'Authorization: Bearer KEY'", "", "invalid_api_key");
    if (!found) throw api_error(404, "no route " + request.path + " (owl serves /v1/chat/completions, /v1/completions, "
                                      "/v1/models, /health, /metrics)", "", "not_found");
    // HEAD is GET without a body in HTTP; owl does not serve it (405 names what works).
    if (request.method != found->method) {
      api_error e(405, "method " + request.method + " is not allowed on " + request.path + "; use " +
                           std::string(found->method), "", "method_not_allowed");
      http_response r = error_response(e);
      r.headers.emplace_back("Allow", std::string(found->method));
      return reply(std::move(r));
    }
    if (request.path == "/health") return reply(json_response(R"({"status":"ok"})"));
    if (request.path == "/v1/models") return reply(json_response(models_body(ctx.model_id, ctx.created)));
    if (request.path == "/metrics") {
      http_response r;
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      // Counted before rendering so that the scrape sees itself, as most exporters do.
      ctx.stats.count_request(label, 200);
      r.body = ctx.stats.render(ctx.sched->stats());
      channel->send(std::move(r));
      return;
    }
    if (ctx.draining.load())
      throw api_error(503, "the server is shutting down", "", "server_shutting_down");
    // The generation routes answer through the channel themselves (possibly much later).
    if (request.path == "/v1/chat/completions") return handle_chat(ctx, request, channel);
    return handle_completion(ctx, request, channel);
  } catch (const api_error& e) {
    reply(error_response(e));
  } catch (const owl::error& e) {
    // Template errors, unsupported schemas, prompts the scheduler refuses: the request's fault.
    reply(error_response(api_error(400, e.what())));
  } catch (const std::bad_alloc&) {
    reply(error_response(api_error(500, "out of memory")));
  } catch (const std::exception& e) {
    reply(error_response(api_error(500, std::string("internal error: ") + e.what())));
  }
}

}  // namespace owl::server
