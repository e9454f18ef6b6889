// owl/server.h — `owl serve`: an OpenAI-compatible HTTP server over one model.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health,
// GET /metrics (Prometheus). Requests from all clients are decoded together by a continuous
// batching scheduler (`parallel` slots). See docs/server.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace owl {

struct server_options {
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: pick a free port (api_server::start returns it)
  std::string api_key;           // empty: no authentication
  int parallel = 4;              // sequences decoded together (scheduler slots)
  int64_t context = 0;           // tokens per slot; 0 = min(model context, 4096)
  int64_t queue_limit = 64;      // requests waiting for a slot; beyond this: 429
  size_t max_body_bytes = 1 << 20;
  int threads = 0;               // model threads; 0 = all cores
  bool repack_weights = true;    // load_options::repack_weights
  int http_threads = 2;          // network threads (they only parse, render and copy)
  double idle_timeout_s = 30;    // a connection must deliver a whole request (or read a reply) in this time
  int max_connections = 256;     // connections beyond this get 503 and are closed
  double drain_timeout_s = 10;   // on shutdown, running requests get this long to finish, then are cancelled
};

// An in-process server: tests run it on port 0; serve() wraps it for the CLI.
class api_server {
 public:
  // Loads the model, its tokenizer and chat template. Throws owl::error.
  api_server(const std::filesystem::path& model, const server_options& options);
  ~api_server();  // stop()
  api_server(const api_server&) = delete;
  api_server& operator=(const api_server&) = delete;

  // Binds and starts accepting. Returns the bound port. Throws owl::error when binding fails.
  int start();
  // Stops accepting, lets running requests finish (up to drain_timeout_s, then cancels them),
  // closes every connection and joins the threads. Idempotent.
  void stop();

  const std::string& model_name() const;  // the id /v1/models reports
  int slots() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// Runs a server until SIGTERM or SIGINT, then shuts down gracefully. Prints
// "owl serve: listening on http://HOST:PORT (model NAME, N slots)" to stderr once ready.
// Returns the process exit code. Throws owl::error when the model cannot be loaded.
int serve(const std::filesystem::path& model, const server_options& options);

}  // namespace owl
