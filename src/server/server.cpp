// server.cpp — owl::server and owl::serve: load the model, wire the scheduler, the routes and
// the transport together, and take them apart again in an order that loses no response.
#include "owl/server.h"

#include <csignal>
#include <cstdio>
#include <cstring>

#include "owl/error.h"
#include "server/api.h"
#include "server/http_server.h"

namespace owl {

struct api_server::impl {
  server_options options;
  // Declared before the context so that it is destroyed after it: the scheduler (in the
  // context) holds sinks that hold connections, which must go while the io_context exists.
  std::unique_ptr<owl::server::http_server> http;
  std::unique_ptr<owl::server::server_context> ctx;
  int port = 0;
  bool stopped = false;
};

namespace {

std::string model_name_of(std::filesystem::path path) {
  if (path.filename().empty()) path = path.parent_path();  // "models/x/"
  return path.filename().string();
}

}  // namespace

api_server::api_server(const std::filesystem::path& model_path, const server_options& options) : impl_(std::make_unique<impl>()) {
  impl_->options = options;
  if (options.parallel < 1) fail("owl serve", "--parallel must be at least 1, found " + std::to_string(options.parallel));
  if (options.queue_limit < 0) fail("owl serve", "--queue must not be negative");
  std::shared_ptr<model> m =
      model::load(model_path, load_options{.threads = options.threads, .repack_weights = options.repack_weights});
  std::shared_ptr<const tokenizer> tok = load_tokenizer(model_path);
  chat_template tmpl = chat_template::from_model(model_path);
  auto ctx = std::make_unique<owl::server::server_context>(m, tok, std::move(tmpl));
  ctx->model_id = model_name_of(model_path);
  ctx->api_key = options.api_key;
  owl::server::scheduler_options so;
  so.parallel = options.parallel;
  so.context = options.context;
  so.queue_limit = options.queue_limit;
  ctx->sched = std::make_unique<owl::server::scheduler>(m, so);
  impl_->ctx = std::move(ctx);
}

api_server::~api_server() { stop(); }

int api_server::start() {
  if (impl_->http) return impl_->port;
  const server_options& o = impl_->options;
  owl::server::http_options ho;
  ho.host = o.host;
  ho.port = o.port;
  ho.threads = o.http_threads;
  ho.idle_timeout_s = o.idle_timeout_s;
  ho.max_body_bytes = o.max_body_bytes;
  ho.max_connections = o.max_connections;
  owl::server::server_context* ctx = impl_->ctx.get();
  impl_->http = std::make_unique<owl::server::http_server>(
      ho,
      [ctx](owl::server::http_request&& request, std::shared_ptr<owl::server::response_channel> channel) {
        owl::server::handle_request(*ctx, std::move(request), std::move(channel));
      },
      [ctx](int status, const std::string& message) {
        ctx->stats.count_request("other", status);
        std::string code = status == 413 ? "request_too_large" : status == 503 ? "server_busy" : "";
        return owl::server::error_response(owl::server::api_error(status, message, "", code));
      });
  impl_->port = impl_->http->start();
  return impl_->port;
}

void api_server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  owl::server::server_context& ctx = *impl_->ctx;
  ctx.draining.store(true);  // new generation requests get 503
  if (impl_->http) {
    impl_->http->set_closing();
    impl_->http->stop_accepting();
  }
  // Running requests finish (their responses are written meanwhile), within a bound.
  const bool drained = ctx.wait_idle(impl_->options.drain_timeout_s);
  ctx.sched->shutdown(/*drain=*/drained);
  ctx.wait_idle(5);  // the cancelled ones report on_done
  if (impl_->http) impl_->http->stop();
  // The scheduler goes before the transport: it may still hold sinks, and they connections.
  ctx.sched.reset();
  impl_->http.reset();
}

const std::string& api_server::model_name() const { return impl_->ctx->model_id; }
int api_server::slots() const { return impl_->options.parallel; }

int serve(const std::filesystem::path& model_path, const server_options& options) {
  api_server s(model_path, options);
  owl::server::termination_signals signals;  // before "listening": a signal right after it is handled
  const int port = s.start();
  const std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::fprintf(stderr, "owl serve: listening on http://%s:%d (model %s, %d slots)\n", host.c_str(), port,
               s.model_name().c_str(), s.slots());
  std::fflush(stderr);
  const int signal = signals.wait();
  std::fprintf(stderr, "owl serve: %s received, finishing running requests\n", signal == SIGINT ? "SIGINT" : "SIGTERM");
  std::fflush(stderr);
  s.stop();
  std::fputs("owl serve: stopped\n", stderr);
  return 0;
}

}  // namespace owl
