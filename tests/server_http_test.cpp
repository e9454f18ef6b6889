// server_http_test.cpp — owl serve's HTTP layer, in process: a server on a free port with the
// bundled stories260K model (no chat template of its own: the ChatML fallback renders), and a
// small blocking Beast client.
//
// owl_lib compiles Beast with these two definitions; the test must see the same templates.
#define BOOST_BEAST_USE_STD_STRING_VIEW
#define BOOST_ASIO_NO_DEPRECATED

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "owl/model.h"
#include "owl/server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;

constexpr const char* api_key = "test-key-123";

struct reply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  json body_json() const { return json::parse(body); }
};

// One keep-alive connection; requests go one after another.
class client {
 public:
  explicit client(int port) : stream_(io_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  }

  reply request(http::verb method, const std::string& target, const std::string& body = {},
                const std::string& key = api_key) {
    http::request<http::string_body> req{method, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
    if (method == http::verb::post) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    stream_.expires_after(std::chrono::seconds(60));
    http::write(stream_, req);
    return read_reply();
  }

  reply read_reply() {
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream_, buffer, parser);
    const auto& res = parser.get();
    reply r;
    r.status = static_cast<int>(res.result_int());
    r.body = res.body();
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(field.value());
    }
    return r;
  }

  beast::tcp_stream& stream() { return stream_; }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
};

reply post(int port, const std::string& target, const std::string& body, const std::string& key = api_key) {
  client c(port);
  return c.request(http::verb::post, target, body, key);
}

reply get(int port, const std::string& target, const std::string& key = api_key) {
  client c(port);
  return c.request(http::verb::get, target, {}, key);
}

// The "data: ..." payloads of an SSE body, in order.
std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(pos, end - pos);
    if (event.starts_with("data: ")) events.push_back(event.substr(6));
    pos = end + 2;
  }
  return events;
}

// The value of one sample of the Prometheus text, or -1 when absent.
double metric(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    const size_t after = pos + series.size();
    if (line_start && after < text.size() && text[after] == ' ') return std::stod(text.substr(after + 1));
    pos = after;
  }
  return -1;
}

class ServerHttpTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    owl::server_options options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.api_key = api_key;
    options.parallel = 2;
    options.threads = 1;
    options.max_body_bytes = 4096;
    server_ = new owl::api_server(owl::default_model_dir(), options);
    port_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static std::string chat_body(bool stream, int max_tokens = 24) {
    json body = {{"model", "stories260K"},
                 {"messages", {{{"role", "user"}, {"content", "Tell me a story about a cat."}}}},
                 {"max_tokens", max_tokens},
                 {"temperature", 0},
                 {"stream", stream}};
    return body.dump();
  }

  static owl::api_server* server_;
  static int port_;
};

owl::api_server* ServerHttpTest::server_ = nullptr;
int ServerHttpTest::port_ = 0;

TEST_F(ServerHttpTest, HealthNeedsNoKey) {
  const reply r = get(port_, "/health", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body_json(), json({{"status", "ok"}}));
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
}

TEST_F(ServerHttpTest, ModelsListsTheModel) {
  const reply r = get(port_, "/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.body_json();
  EXPECT_EQ(j["object"], "list");
  ASSERT_EQ(j["data"].size(), 1u);
  EXPECT_EQ(j["data"][0]["id"], "stories260K");
}

TEST_F(ServerHttpTest, MissingOrWrongKeyIs401) {
  for (const std::string key : {"", "wrong-key", "test-key-12", "test-key-1234"}) {
    const reply r = get(port_, "/v1/models", key);
    EXPECT_EQ(r.status, 401) << key;
    const json j = r.body_json();
    EXPECT_EQ(j["error"]["code"], "invalid_api_key") << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string());
  }
  // Unknown paths do not tell an unauthenticated client anything either.
  EXPECT_EQ(get(port_, "/v1/nothing", "").status, 401);
}

TEST_F(ServerHttpTest, UnknownPathIs404AndWrongMethodIs405) {
  const reply missing = get(port_, "/v1/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.body_json()["error"]["message"].is_string()) << missing.body;

  const reply wrong = get(port_, "/v1/chat/completions");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.headers.at("allow"), "POST");
  EXPECT_TRUE(wrong.body_json()["error"]["message"].is_string()) << wrong.body;
  EXPECT_EQ(post(port_, "/v1/models", "{}").status, 405);
}

TEST_F(ServerHttpTest, BodyOverTheLimitIs413) {
  const std::string big = "{\"x\": \"" + std::string(8000, 'a') + "\"}";
  const reply r = post(port_, "/v1/chat/completions", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.body_json()["error"]["type"], "invalid_request_error") << r.body;
  // The server is still fine afterwards.
  EXPECT_EQ(get(port_, "/health").status, 200);
}

TEST_F(ServerHttpTest, InvalidJsonIs400) {
  const reply r = post(port_, "/v1/chat/completions", "{not json");
  EXPECT_EQ(r.status, 400);
  const json j = r.body_json();
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_TRUE(j["error"]["message"].is_string());
}

TEST_F(ServerHttpTest, ContextOverflowIs400WithBothNumbers) {
  json body = json::parse(chat_body(false));
  body["max_tokens"] = 100000;
  const reply r = post(port_, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  const json j = r.body_json();
  EXPECT_EQ(j["error"]["code"], "context_length_exceeded");
  const std::string message = j["error"]["message"];
  EXPECT_NE(message.find("100000"), std::string::npos) << message;
  EXPECT_NE(message.find("512"), std::string::npos) << message;
}

TEST_F(ServerHttpTest, ChatCompletion) {
  const reply r = post(port_, "/v1/chat/completions", chat_body(false));
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.body_json();
  EXPECT_TRUE(j["id"].get<std::string>().starts_with("chatcmpl-"));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "stories260K");
  ASSERT_EQ(j["choices"].size(), 1u);
  const json& choice = j["choices"][0];
  EXPECT_EQ(choice["index"], 0);
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_TRUE(choice["message"]["content"].is_string());
  EXPECT_FALSE(choice["message"]["content"].get<std::string>().empty());
  const std::string finish = choice["finish_reason"];
  EXPECT_TRUE(finish == "stop" || finish == "length") << finish;
  EXPECT_GT(j["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_GT(j["usage"]["completion_tokens"].get<int>(), 0);
  EXPECT_LE(j["usage"]["completion_tokens"].get<int>(), 24);
  EXPECT_EQ(j["usage"]["total_tokens"].get<int>(),
            j["usage"]["prompt_tokens"].get<int>() + j["usage"]["completion_tokens"].get<int>());
}

TEST_F(ServerHttpTest, StreamedChatMatchesTheWholeReply) {
  const reply whole = post(port_, "/v1/chat/completions", chat_body(false));
  ASSERT_EQ(whole.status, 200) << whole.body;
  const json expected = whole.body_json()["choices"][0];

  const reply streamed = post(port_, "/v1/chat/completions", chat_body(true));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  EXPECT_EQ(streamed.headers.at("content-type"), "text/event-stream");
  EXPECT_EQ(streamed.headers.at("cache-control"), "no-cache");
  const std::vector<std::string> events = sse_data(streamed.body);
  ASSERT_GE(events.size(), 3u) << streamed.body;
  EXPECT_EQ(events.back(), "[DONE]");

  const json first = json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  const std::string id = first["id"];

  std::string content;
  std::string finish;
  for (size_t i = 1; i + 1 < events.size(); ++i) {
    const json chunk = json::parse(events[i]);
    EXPECT_EQ(chunk["id"], id);
    ASSERT_EQ(chunk["choices"].size(), 1u) << events[i];
    const json& choice = chunk["choices"][0];
    if (choice["delta"].contains("content") && choice["delta"]["content"].is_string())
      content += choice["delta"]["content"].get<std::string>();
    if (!choice["finish_reason"].is_null()) {
      EXPECT_TRUE(finish.empty()) << "two finish chunks";
      EXPECT_EQ(i, events.size() - 2) << "the finish chunk comes last";
      finish = choice["finish_reason"];
    }
  }
  EXPECT_EQ(content, expected["message"]["content"].get<std::string>());
  EXPECT_EQ(finish, expected["finish_reason"].get<std::string>());
}

TEST_F(ServerHttpTest, StopStringsCutTheReply) {
  const reply whole = post(port_, "/v1/chat/completions", chat_body(false, 48));
  ASSERT_EQ(whole.status, 200) << whole.body;
  const std::string text = whole.body_json()["choices"][0]["message"]["content"];
  ASSERT_GT(text.size(), 12u);
  const std::string stop = text.substr(6, 4);
  json body = json::parse(chat_body(false, 48));
  body["stop"] = {stop};
  const reply cut = post(port_, "/v1/chat/completions", body.dump());
  ASSERT_EQ(cut.status, 200) << cut.body;
  const json choice = cut.body_json()["choices"][0];
  EXPECT_EQ(choice["message"]["content"], text.substr(0, text.find(stop)));
  EXPECT_EQ(choice["finish_reason"], "stop");
}

TEST_F(ServerHttpTest, TextCompletionWithEcho) {
  const json body = {{"prompt", "Once upon a time"}, {"max_tokens", 12}, {"temperature", 0}, {"echo", true}};
  const reply r = post(port_, "/v1/completions", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = r.body_json();
  EXPECT_EQ(j["object"], "text_completion");
  const std::string text = j["choices"][0]["text"];
  EXPECT_TRUE(text.starts_with("Once upon a time")) << text;
  EXPECT_GT(text.size(), std::string("Once upon a time").size());
}

TEST_F(ServerHttpTest, KeepAliveServesSeveralRequests) {
  client c(port_);
  EXPECT_EQ(c.request(http::verb::get, "/health").status, 200);
  EXPECT_EQ(c.request(http::verb::post, "/v1/chat/completions", chat_body(false, 4)).status, 200);
  EXPECT_EQ(c.request(http::verb::get, "/v1/models").status, 200);
}

TEST_F(ServerHttpTest, MetricsCountRequestsAndTokens) {
  const reply before = get(port_, "/metrics");
  ASSERT_EQ(before.status, 200);
  EXPECT_TRUE(before.headers.at("content-type").starts_with("text/plain; version=0.0.4"));
  const std::string series = "owl_requests_total{route=\"/v1/chat/completions\",status=\"200\"}";
  const double requests = std::max(0.0, metric(before.body, series));
  const double generated = metric(before.body, "owl_generated_tokens_total");
  ASSERT_GE(generated, 0) << before.body;
  EXPECT_GE(metric(before.body, "owl_kv_cache_capacity_tokens"), 512);

  ASSERT_EQ(post(port_, "/v1/chat/completions", chat_body(false, 8)).status, 200);
  const reply after = get(port_, "/metrics");
  EXPECT_EQ(metric(after.body, series), requests + 1) << after.body;
  EXPECT_GT(metric(after.body, "owl_generated_tokens_total"), generated);
  EXPECT_GT(metric(after.body, "owl_time_to_first_token_seconds_count"), 0);
  EXPECT_GE(metric(after.body, "owl_queue_depth"), 0);
  EXPECT_GT(metric(after.body, "owl_forward_steps_total"), 0);
}

// A connection that sends nothing is closed after the idle timeout.
TEST(ServerHttpTimeout, SilentConnectionIsClosed) {
  owl::server_options options;
  options.port = 0;
  options.parallel = 1;
  options.threads = 1;
  options.idle_timeout_s = 0.3;
  owl::api_server s(owl::default_model_dir(), options);
  const int port = s.start();
  client c(port);
  c.stream().expires_after(std::chrono::seconds(10));
  const auto start = std::chrono::steady_clock::now();
  char byte;
  beast::error_code ec;
  c.stream().socket().read_some(net::buffer(&byte, 1), ec);
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(ec == net::error::eof || ec == net::error::connection_reset) << ec.message();
  EXPECT_LT(waited, 5.0);
  // Slow but complete requests within the timeout still work.
  EXPECT_EQ(get(port, "/health").status, 200);
}

// tool_choice "required" / a named function: stories260K's ChatML fallback has no tool-call
// syntax, so forcing a call must be refused (400) rather than promised and not kept; combining
// it with response_format is refused too.
json tool_choice_body(const json& tool_choice) {
  const json tool = {{"type", "function"},
                     {"function",
                      {{"name", "get_weather"},
                       {"parameters",
                        {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}, {"required", {"city"}}}}}}};
  return {{"messages", {{{"role", "user"}, {"content", "Weather in Paris?"}}}},
          {"tools", {tool}},
          {"tool_choice", tool_choice},
          {"max_tokens", 8}};
}

TEST_F(ServerHttpTest, ForcedToolCallWithoutToolSyntaxIs400) {
  client c(port_);
  for (const json& choice : {json("required"), json{{"type", "function"}, {"function", {{"name", "get_weather"}}}}}) {
    const reply r = c.request(http::verb::post, "/v1/chat/completions", tool_choice_body(choice).dump());
    ASSERT_EQ(r.status, 400) << r.body;
    const json error = r.body_json()["error"];
    const std::string message = error["message"];
    EXPECT_NE(message.find("this model's chat template has no tool-call syntax owl knows"), std::string::npos)
        << message;
    EXPECT_NE(message.find("cannot be enforced"), std::string::npos) << message;
    EXPECT_EQ(error["param"], "tool_choice");
  }
  // "auto" is not enforced, so it still works with this model.
  EXPECT_EQ(c.request(http::verb::post, "/v1/chat/completions", tool_choice_body("auto").dump()).status, 200);
}

TEST_F(ServerHttpTest, ResponseFormatWithForcedToolCallIs400) {
  json body = tool_choice_body("required");
  body["response_format"] = {{"type", "json_object"}};
  const reply r = client(port_).request(http::verb::post, "/v1/chat/completions", body.dump());
  ASSERT_EQ(r.status, 400) << r.body;
  const json error = r.body_json()["error"];
  EXPECT_NE(error["message"].get<std::string>().find("response_format"), std::string::npos);
  EXPECT_EQ(error["param"], "response_format");
}

}  // namespace
