// http_server.cpp — the HTTP/1.1 transport (Boost.Beast over Boost.Asio).
//
// A few network threads run one io_context. Each connection lives on its own strand, so its
// state needs no lock: everything that touches it — reads, writes, responses handed over from
// the scheduler thread through response_channel — is posted there. The defences against
// misbehaving clients:
//   - a whole request (headers and body) must arrive within idle_timeout_s of the previous
//     response, so connections that send nothing or trickle bytes (slowloris) are closed;
//   - header and body sizes are bounded by the parser (431 / 413);
//   - at most max_connections connections; more get 503 and are closed;
//   - writes time out too, so a client that stops reading cannot hold a connection forever.
// While a request is being generated the connection waits for the socket to become readable:
// a client that closes its end is noticed at once (not at the next write), and the
// on_disconnect callbacks cancel its generation so the slot and KV cache are freed.
#include "server/http_server.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "owl/error.h"

namespace owl::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = beast::error_code;

class connection;

// What the listener and every connection share; connections keep it alive with a shared_ptr
// because a response may be handed to a connection after the listener is gone.
struct shared_state {
  http_options options;
  request_handler handler;
  error_responder errors;
  std::shared_ptr<std::atomic<bool>> closing;

  std::atomic<int64_t> busy{0};  // connections that owe a response

  std::mutex mutex;
  std::unordered_map<connection*, std::weak_ptr<connection>> live;

  std::chrono::steady_clock::duration idle() const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(options.idle_timeout_s));
  }
};

class connection : public response_channel, public std::enable_shared_from_this<connection> {
 public:
  connection(tcp::socket&& socket, std::shared_ptr<shared_state> state)
      : stream_(std::move(socket)), state_(std::move(state)) {}

  ~connection() override {
    std::lock_guard lock(state_->mutex);
    state_->live.erase(this);
  }

  void start(bool reject) {
    {
      std::lock_guard lock(state_->mutex);
      state_->live.emplace(this, weak_from_this());
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), reject] {
      if (!reject) return self->do_read();
      // Over the connection cap: answer at once and close, without reading the request.
      self->keep_alive_ = false;
      self->set_awaiting(true);
      self->do_send(self->state_->errors(503, "the server has too many open connections; retry later"));
    });
  }

  // Closes the connection from another thread (server shutdown).
  void close_from_outside() {
    net::post(stream_.get_executor(), [self = shared_from_this()] { self->client_gone(); });
  }

  // ---- response_channel (any thread) ----
  void send(http_response response) override {
    net::post(stream_.get_executor(),
              [self = shared_from_this(), r = std::move(response)]() mutable { self->do_send(std::move(r)); });
  }
  void begin_stream(int status, std::string content_type, header_list headers) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), status, ct = std::move(content_type),
                                       h = std::move(headers)]() mutable { self->do_begin_stream(status, ct, h); });
  }
  void write(std::string data) override {
    if (data.empty()) return;  // an empty chunk would end the chunked body
    net::post(stream_.get_executor(), [self = shared_from_this(), d = std::move(data)]() mutable {
      if (self->gone_ || !self->streaming_) return;
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", d.size());
      self->enqueue(size + std::move(d) + "\r\n", false);
    });
  }
  void end_stream() override {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->gone_ || !self->streaming_) return;
      self->streaming_ = false;
      self->enqueue("0\r\n\r\n", true);
    });
  }
  bool closed() const override { return gone_.load(std::memory_order_acquire); }
  void on_disconnect(std::function<void()> f) override {
    {
      std::lock_guard lock(callbacks_mutex_);
      if (!gone_) {
        on_gone_.push_back(std::move(f));
        return;
      }
    }
    f();
  }

 private:
  struct outgoing {
    std::string data;
    bool ends_response = false;
  };

  // ---- reading a request ----
  void do_read() {
    parser_.emplace();
    parser_->body_limit(state_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(state_->options.max_header_bytes));
    stream_.expires_after(state_->idle());  // covers the whole request, see the file comment
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    // curl sends "Expect: 100-continue" for bodies over 1 KiB and waits a second for it.
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      continue_line_ = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(continue_line_), [self = shared_from_this()](error_code ec, size_t) {
        if (ec) return self->client_gone();
        self->read_body();
      });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](error_code ec, size_t) {
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(error_code ec) {
    if (ec == http::error::body_limit)
      return fail_request(413, "the request body exceeds the limit of " + std::to_string(state_->options.max_body_bytes) +
                                   " bytes");
    if (ec == http::error::header_limit)
      return fail_request(431, "the request headers exceed the limit of " +
                                   std::to_string(state_->options.max_header_bytes) + " bytes");
    const bool http_error = &ec.category() == &http::make_error_code(http::error::bad_target).category();
    if (http_error && ec != http::error::end_of_stream && ec != http::error::partial_message)
      return fail_request(400, "malformed HTTP request: " + ec.message());
    // The client closed between requests, timed out (idle or slow), or reset: just close.
    close_now();
  }

  // A transport-level error: answer it and close, since the rest of the request is unread.
  void fail_request(int status, const std::string& message) {
    keep_alive_ = false;
    set_awaiting(true);
    do_send(state_->errors(status, message));
  }

  void on_request() {
    stream_.expires_never();  // generation may take long; the client's end is watched instead
    http::request<http::string_body> message = parser_->release();
    http_request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.path = request.target.substr(0, request.target.find('?'));
    request.authorization = std::string(message[http::field::authorization]);
    request.body = std::move(message.body());
    keep_alive_ = message.keep_alive();
    set_awaiting(true);
    ++request_seq_;
    watch_for_disconnect();
    try {
      state_->handler(std::move(request), shared_from_this());
    } catch (const std::exception& e) {
      do_send(state_->errors(500, std::string("internal error: ") + e.what()));
    }
  }

  // The socket turns readable while we owe a response: either the client closed (EOF, reset)
  // or it pipelined its next request (data waiting; it is read after this response).
  // The readiness can also be stale (Asio's edge-triggered reactor may report an edge the
  // request's own bytes caused), so a peek decides: EOF or an error means gone, no data yet
  // means keep watching.
  void watch_for_disconnect() {
    stream_.socket().async_wait(tcp::socket::wait_read, [self = shared_from_this(), seq = request_seq_](error_code ec) {
      if (seq != self->request_seq_ || !self->awaiting_ || ec == net::error::operation_aborted) return;
      if (!ec) {
        char byte;
        const ssize_t peeked = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (peeked > 0) return;  // pipelined data, not a close
        if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
          return self->watch_for_disconnect();  // nothing there: a stale readiness
      }
      self->client_gone();
    });
  }

  // ---- writing ----
  void do_send(http_response r) {
    if (gone_ || !awaiting_ || streaming_ || response_started_) return;
    response_started_ = true;
    http::response<http::string_body> res{static_cast<http::status>(r.status), 11};
    res.set(http::field::server, "owl");
    res.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) res.set(name, value);
    res.keep_alive(keep_alive_ && !state_->closing->load());
    res.body() = std::move(r.body);
    res.prepare_payload();
    std::ostringstream text;
    text << res;
    enqueue(std::move(text).str(), true);
  }

  void do_begin_stream(int status, const std::string& content_type, const header_list& headers) {
    if (gone_ || !awaiting_ || streaming_ || response_started_) return;
    response_started_ = true;
    streaming_ = true;
    std::string head = "HTTP/1.1 " + std::to_string(status) + " " +
                       std::string(http::obsolete_reason(static_cast<http::status>(status))) + "\r\n";
    head += "Server: owl\r\nContent-Type: " + content_type + "\r\nTransfer-Encoding: chunked\r\n";
    for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
    head += keep_alive_ && !state_->closing->load() ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    enqueue(std::move(head), false);
  }

  void enqueue(std::string data, bool ends_response) {
    out_.push_back({std::move(data), ends_response});
    if (!writing_) write_next();
  }

  void write_next() {
    writing_ = true;
    stream_.expires_after(state_->idle());  // a client that stops reading is dropped
    net::async_write(stream_, net::buffer(out_.front().data),
                     [self = shared_from_this()](error_code ec, size_t) { self->on_write(ec); });
  }

  void on_write(error_code ec) {
    writing_ = false;
    // An expiry left armed with no operation pending would fail the next write at once.
    stream_.expires_never();
    if (ec) return client_gone();
    if (gone_) {  // closed meanwhile (the disconnect watch), with this write in flight
      out_.clear();
      return;
    }
    const bool ended = out_.front().ends_response;
    out_.pop_front();
    if (ended) return response_complete();
    if (!out_.empty()) write_next();
  }

  void response_complete() {
    set_awaiting(false);
    response_started_ = false;
    ++request_seq_;
    error_code ec;
    stream_.socket().cancel(ec);  // the disconnect watch
    if (keep_alive_ && !state_->closing->load()) return do_read();
    close_gracefully();
  }

  // Half-close, then read whatever the client still sends for a moment: closing a socket with
  // unread input makes the kernel send a reset, which can destroy the response (a 413 sent
  // before the client finished sending its body) before the client reads it.
  void close_gracefully() {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close_now();
    stream_.expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](error_code ec, size_t n) {
      self->drained_ += n;
      if (ec || self->drained_ > (size_t(4) << 20)) return self->close_now();
      self->drain();
    });
  }

  void client_gone() {
    std::vector<std::function<void()>> callbacks;
    {
      std::lock_guard lock(callbacks_mutex_);
      if (gone_) return;
      gone_ = true;
      callbacks.swap(on_gone_);
    }
    close_now();
    for (auto& f : callbacks) f();
  }

  void close_now() {
    {
      std::lock_guard lock(callbacks_mutex_);
      gone_ = true;
    }
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
    if (!writing_) out_.clear();  // else the buffer is still in use until the write completes
    set_awaiting(false);
  }

  void set_awaiting(bool value) {
    if (value == awaiting_) return;
    awaiting_ = value;
    state_->busy.fetch_add(value ? 1 : -1);
  }

  beast::tcp_stream stream_;
  std::shared_ptr<shared_state> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::string continue_line_;
  std::deque<outgoing> out_;
  bool writing_ = false;
  bool keep_alive_ = true;
  bool awaiting_ = false;           // a request was read and its response is not complete
  bool response_started_ = false;
  bool streaming_ = false;
  uint64_t request_seq_ = 0;        // tells a stale disconnect watch from the current one
  std::array<char, 4096> discard_{};
  size_t drained_ = 0;

  std::mutex callbacks_mutex_;
  std::atomic<bool> gone_{false};
  std::vector<std::function<void()>> on_gone_;
};

}  // namespace

struct http_server::impl {
  net::io_context io;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<tcp::acceptor> acceptor;
  std::shared_ptr<shared_state> state = std::make_shared<shared_state>();
  std::vector<std::thread> threads;
  bool stopped = false;

  void accept() {
    acceptor->async_accept(net::make_strand(io), [this](error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor->is_open()) return;
      if (!ec) {
        size_t live;
        {
          std::lock_guard lock(state->mutex);
          live = state->live.size();
        }
        const bool reject = live >= size_t(std::max(1, state->options.max_connections));
        // Streams are many small writes (one SSE event per token): send each at once rather
        // than let Nagle's algorithm hold it back waiting for the client's ACK.
        error_code nodelay_ec;
        socket.set_option(tcp::no_delay(true), nodelay_ec);
        std::make_shared<connection>(std::move(socket), state)->start(reject);
      }
      // Accept errors (e.g. out of file descriptors) are transient: keep accepting.
      accept();
    });
  }
};

http_server::http_server(http_options options, request_handler handler, error_responder errors)
    : impl_(std::make_unique<impl>()) {
  impl_->state->options = std::move(options);
  impl_->state->handler = std::move(handler);
  impl_->state->errors = std::move(errors);
  impl_->state->closing = closing_;
}

http_server::~http_server() { stop(); }

int http_server::start() {
  const http_options& o = impl_->state->options;
  const std::string where = "owl serve: " + o.host + ":" + std::to_string(o.port);
  error_code ec;
  tcp::resolver resolver(impl_->io);
  auto endpoints = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (ec || endpoints.empty()) fail(where, "cannot resolve the host: " + ec.message());
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  tcp::acceptor& acceptor = impl_->acceptor.emplace(net::make_strand(impl_->io));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail(where, "cannot listen: " + ec.message(), "is another server using the port? pick one with --port");
  const int port = acceptor.local_endpoint().port();
  impl_->work.emplace(net::make_work_guard(impl_->io));
  impl_->accept();
  for (int i = 0; i < std::max(1, o.threads); ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
  return port;
}

void http_server::stop_accepting() {
  if (!impl_->acceptor) return;
  net::post(impl_->acceptor->get_executor(), [this] {
    error_code ec;
    impl_->acceptor->close(ec);
  });
}

void http_server::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  closing_->store(true);
  stop_accepting();
  // Responses being written (the last chunks of a drained stream) get a moment to finish.
  const auto flush_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (impl_->state->busy.load() > 0 && std::chrono::steady_clock::now() < flush_deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<std::shared_ptr<connection>> open;
  {
    std::lock_guard lock(impl_->state->mutex);
    for (auto& [ptr, weak] : impl_->state->live)
      if (auto c = weak.lock()) open.push_back(std::move(c));
  }
  for (auto& c : open) c->close_from_outside();
  open.clear();
  impl_->work.reset();
  // Give the posted closes a moment to run, then stop whatever is left (a connection kept
  // alive by a response still in flight).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (connections() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  impl_->io.stop();
  for (std::thread& t : impl_->threads)
    if (t.joinable()) t.join();
  impl_->threads.clear();
}

int64_t http_server::connections() const {
  std::lock_guard lock(impl_->state->mutex);
  return int64_t(impl_->state->live.size());
}

struct termination_signals::impl {
  net::io_context io;
  net::signal_set signals{io, SIGINT, SIGTERM};
};

termination_signals::termination_signals() : impl_(std::make_unique<impl>()) {}
termination_signals::~termination_signals() = default;

int termination_signals::wait() {
  int received = 0;
  impl_->signals.async_wait([&](error_code ec, int signal) {
    if (!ec) received = signal;
  });
  impl_->io.run();
  impl_->io.restart();
  return received;
}

}  // namespace owl::server
