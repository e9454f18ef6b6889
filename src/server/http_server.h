// http_server.h — HTTP/1.1 transport for owl serve, without Beast in the interface.
//
// Boost.Beast stays inside http_server.cpp (its headers are heavy); the routes see plain
// requests and a response_channel. One connection handles one request at a time (keep-alive,
// no pipelining in parallel); a response may be sent later from any thread (the scheduler's),
// which the channel hands over to the connection's strand.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace owl::server {

using header_list = std::vector<std::pair<std::string, std::string>>;

struct http_request {
  std::string method;         // "GET", "POST", ...
  std::string target;         // as sent
  std::string path;           // target without the query string
  std::string authorization;  // the Authorization header, or empty
  std::string body;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  header_list headers;  // extra headers (Retry-After, Allow, ...)
};

// Where a request's response goes. Every method is thread-safe and returns at once: the work
// is posted to the connection's strand and happens there in call order.
class response_channel {
 public:
  virtual ~response_channel() = default;
  virtual void send(http_response response) = 0;  // a complete response
  // A chunked response (SSE): headers now, then write() pieces, then end_stream().
  virtual void begin_stream(int status, std::string content_type, header_list headers) = 0;
  virtual void write(std::string data) = 0;
  virtual void end_stream() = 0;
  // True once the client has gone (closed the connection, a write failed, a timeout).
  virtual bool closed() const = 0;
  // `f` runs once when the client goes before the response is complete (on a network
  // thread), or at once when it has already gone. Used to cancel the request's generation.
  virtual void on_disconnect(std::function<void()> f) = 0;
};

using request_handler = std::function<void(http_request&&, std::shared_ptr<response_channel>)>;
// Errors found by the transport (413, 431, 400 on malformed HTTP, 503 when full) are answered
// with a body from here, so every error is OpenAI's JSON.
using error_responder = std::function<http_response(int status, const std::string& message)>;

struct http_options {
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 2;
  double idle_timeout_s = 30;
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  int max_connections = 256;
};

class http_server {
 public:
  http_server(http_options options, request_handler handler, error_responder errors);
  ~http_server();  // stop()
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  int start();            // binds, listens, starts the threads; returns the port
  void stop_accepting();  // closes the listening socket; open connections go on
  // Responses written from now on ask the client to close the connection (shutdown).
  void set_closing() { closing_->store(true); }
  void stop();            // closes every connection and joins the threads
  int64_t connections() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::shared_ptr<std::atomic<bool>> closing_ = std::make_shared<std::atomic<bool>>(false);
};

// SIGINT and SIGTERM are handled (not fatal) from construction on, so that a "ready" line
// printed after it can be followed by a signal at once. wait() blocks until one arrives and
// returns its number.
class termination_signals {
 public:
  termination_signals();
  ~termination_signals();
  int wait();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace owl::server
