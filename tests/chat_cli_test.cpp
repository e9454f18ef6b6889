// owl chat / owl template end to end, and chat_session through the library. The interactive
// tests drive `owl chat` in a real terminal (tmux) and check what a user would see.
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include "owl/chat_session.h"
#include "owl/error.h"
#include "test_util.h"

namespace owl {
namespace {

using json = nlohmann::ordered_json;

std::filesystem::path bundled() { return std::filesystem::path(OWL_SOURCE_DIR) / "models" / "stories260K"; }

// Whitespace runs collapsed to one space, ends trimmed: the terminal wraps and pads lines.
std::string squeeze(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (space) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// ---- owl template ----

TEST(ChatCli, TemplateMatchesQwen3Golden) {
  // Parsed ordered: tool schemas must reach the template with their keys in file order.
  const json golden = json::parse(test::read_file(test::fixtures() / "golden" / "chat" / "qwen3.json"));
  const auto tokenizer_dir = test::fixtures() / "tokenizers" / "qwen3";  // tokenizer files only, no weights
  test::temp_dir dir("template");
  int checked = 0;
  for (const json& c : golden["cases"]) {
    test::write_file(dir / "messages.json", c["messages"].dump());
    std::string args = "template " + test::shell_quote(tokenizer_dir.string()) + " --messages " +
                       test::shell_quote((dir / "messages.json").string());
    if (c["add_generation_prompt"].get<bool>()) args += " --add-generation-prompt";
    if (c.contains("tools") && !c["tools"].is_null()) {
      test::write_file(dir / "tools.json", c["tools"].dump());
      args += " --tools " + test::shell_quote((dir / "tools.json").string());
    }
    for (const auto& [name, value] : c["kwargs"].items()) args += " --kwarg " + test::shell_quote(name + "=" + value.dump());
    auto r = test::run_owl(args);
    ASSERT_EQ(r.exit_code, 0) << c["conversation"] << ": " << r.err;
    EXPECT_EQ(r.out, c["text"].get<std::string>()) << c["conversation"] << " " << c["kwargs"];  // byte for byte
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

TEST(ChatCli, TemplateErrorsAreOneLine) {
  test::temp_dir dir("template-errors");
  test::write_file(dir / "object.json", R"({"role": "user", "content": "not a list"})");
  test::write_file(dir / "broken.json", R"([{"role": "user", "content": )");
  test::write_file(dir / "ok.json", R"([{"role": "user", "content": "Hi"}])");
  const std::string qwen3 = test::shell_quote((test::fixtures() / "tokenizers" / "qwen3").string());
  for (const std::string& args : {
           "template " + qwen3 + " --messages " + test::shell_quote((dir / "object.json").string()),
           "template " + qwen3 + " --messages " + test::shell_quote((dir / "broken.json").string()),
           "template " + qwen3 + " --messages " + test::shell_quote((dir / "missing.json").string()),
           "template " + qwen3 + " --messages " + test::shell_quote((dir / "ok.json").string()) + " --kwarg nojson=x",
           "template " + test::shell_quote(dir.path().string() + "/nowhere") + " --messages " +
               test::shell_quote((dir / "ok.json").string()),
       }) {
    auto r = test::run_owl(args);
    EXPECT_EQ(r.exit_code, 1) << args;
    EXPECT_TRUE(r.err.starts_with("owl: error: ")) << args << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.out, "") << args;
  }
}

// ---- owl chat --messages ----

// `owl chat --messages` on a conversation (stories260K, greedy, -n 20).
test::command_result chat_messages(const json& messages) {
  test::temp_dir dir("chat");
  test::write_file(dir / "messages.json", messages.dump());
  return test::run_owl("chat --messages " + test::shell_quote((dir / "messages.json").string()) + " --temp 0 -n 20 -t 2");
}

// The reply's content as the session stores it: stdout without the final newline.
std::string reply_to(const json& messages) {
  auto r = chat_messages(messages);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.ends_with("\n")) << r.out;
  return r.out.substr(0, r.out.empty() ? 0 : r.out.size() - 1);
}

TEST(ChatCli, MessagesPrintsOnlyTheReply) {
  const json messages = json::array({{{"role", "user"}, {"content", "Tell me a story."}}});
  auto r = chat_messages(messages);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(squeeze(r.out).empty());
  EXPECT_TRUE(r.out.ends_with("\n"));
  EXPECT_EQ(r.out.find("> "), std::string::npos) << r.out;  // no prompt, no banner
  EXPECT_EQ(chat_messages(messages).out, r.out);            // greedy: the same every time
}

TEST(ChatCli, MessagesErrors) {
  test::temp_dir dir("chat-errors");
  test::write_file(dir / "bad.json", R"([{"content": "no role"}])");
  auto r = test::run_owl("chat --messages " + test::shell_quote((dir / "bad.json").string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.err.starts_with("owl: error: ")) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

// ---- chat_session through the library ----

struct stories_chat {
  std::shared_ptr<model> m = model::load(bundled(), load_options{.threads = 2});
  std::shared_ptr<const tokenizer> tok = tokenizer::from_dir(bundled());
  std::unique_ptr<chat_session> make(int64_t max_tokens, int64_t context = 0) {
    chat_options options;
    options.sampling.temperature = 0;
    options.max_tokens = max_tokens;
    options.context = context;
    return std::make_unique<chat_session>(m, tok, chat_template::from_dir(bundled()), options);
  }
};

TEST(ChatSession, ReusesTheCacheAndMatchesAFreshRun) {
  stories_chat s;
  auto chat = s.make(20);
  EXPECT_NE(std::find(chat->stop_ids().begin(), chat->stop_ids().end(), 2), chat->stop_ids().end());  // </s>
  const chat_reply first = chat->send("Hello there");
  EXPECT_EQ(first.reused_tokens, 0);
  EXPECT_GT(first.generated_tokens, 0);
  const chat_reply second = chat->send("Tell me more");
  EXPECT_GT(second.reused_tokens, first.prompt_tokens);  // the first prompt and its reply stayed cached
  ASSERT_EQ(chat->messages().size(), 4u);
  EXPECT_EQ(chat->messages()[3]["role"], "assistant");
  EXPECT_EQ(chat->messages()[3]["content"], second.reply.content);

  // The same conversation from an empty cache gives the same greedy reply.
  auto fresh = s.make(20);
  json history = chat->messages();
  history.erase(history.end() - 1);
  fresh->set_messages(history);
  const chat_reply again = fresh->respond();
  EXPECT_EQ(again.reused_tokens, 0);
  EXPECT_EQ(again.text, second.text);
}

TEST(ChatSession, CancelStopsTheReplyAndKeepsWhatCame) {
  stories_chat s;
  auto chat = s.make(200);
  int pieces = 0;
  const chat_reply r = chat->send("Tell me a story", [&](std::string_view) {
    if (++pieces == 3) chat->cancel();
  });
  EXPECT_EQ(r.finish_reason, "cancelled");
  EXPECT_LE(r.generated_tokens, 4);
  ASSERT_EQ(chat->messages().size(), 2u);
  EXPECT_EQ(chat->messages()[1]["content"], r.reply.content);
  // The next reply starts normally: the flag clears when a reply starts.
  EXPECT_NE(chat->send("Go on").finish_reason, "cancelled");
}

TEST(ChatSession, ResetAndSystem) {
  stories_chat s;
  auto chat = s.make(5);
  chat->set_system("You tell stories.");
  chat->send("Hi");
  ASSERT_EQ(chat->messages().size(), 3u);
  EXPECT_EQ(chat->messages()[0], json({{"role", "system"}, {"content", "You tell stories."}}));
  chat->reset();
  EXPECT_EQ(chat->messages(), json::array({{{"role", "system"}, {"content", "You tell stories."}}}));
  chat->set_system("");
  EXPECT_EQ(chat->messages(), json::array());
}

TEST(ChatSession, ContextFullIsAnErrorThatLeavesHistoryAlone) {
  stories_chat s;
  auto chat = s.make(5, /*context=*/48);
  chat->send("Hi");
  const json before = chat->messages();
  EXPECT_THROW(chat->send(std::string(300, 'a')), owl::error);
  EXPECT_EQ(chat->messages(), before);
  chat->reset();
  EXPECT_NO_THROW(chat->send("Hi"));
}

// ---- interactive owl chat in a terminal ----

// A tmux server of our own (unique socket), one window running a command; killed at the end.
class terminal {
 public:
  // The command runs under sh, which shows its exit status when it ends ("[exited N]"): tmux's
  // own pane_dead_status is not always filled in. sh gets Ctrl-C too (same process group), so
  // it traps SIGINT and keeps waiting; the trap does not carry over into the command.
  explicit terminal(const std::string& command) {
    static std::atomic<int> counter{0};
    socket_ = "owl-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    const std::string script = "trap : INT; " + command + "; echo \"[exited $?]\"";
    tmux("-f /dev/null start-server \\; set-option -g remain-on-exit on \\; new-session -d -s owl -x 160 -y 50 " +
         test::shell_quote("sh -c " + test::shell_quote(script)));
  }
  ~terminal() { tmux("kill-server"); }

  void type(const std::string& text) { tmux("send-keys -t owl -l " + test::shell_quote(text)); }
  void key(const std::string& name) { tmux("send-keys -t owl " + name); }
  void line(const std::string& text) {
    type(text);
    key("Enter");
  }
  std::string screen() { return tmux("capture-pane -p -J -t owl -S -500"); }

  // Polls the screen until `done(screen)` holds or `seconds` pass; false on timeout.
  bool wait_for(const std::function<bool(const std::string&)>& done, double seconds = 20) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < end) {
      if (done(screen())) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return done(screen());
  }
  bool wait_for_text(const std::string& text, double seconds = 20) {
    return wait_for([&](const std::string& s) { return s.find(text) != std::string::npos; }, seconds);
  }

 private:
  std::string tmux(const std::string& args) {
    std::string command = "tmux -L " + socket_ + " " + args + " 2>/dev/null";
    std::string out;
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char buffer[4096];
      size_t n;
      while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
      pclose(pipe);
    }
    return out;
  }
  std::string socket_;
};

bool have_tmux() { return std::system("command -v tmux >/dev/null 2>&1") == 0; }

// Lines of a screen with trailing blank lines dropped.
std::vector<std::string> lines_of(const std::string& screen) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at < screen.size()) {
    size_t nl = screen.find('\n', at);
    if (nl == std::string::npos) nl = screen.size();
    lines.push_back(screen.substr(at, nl - at));
    at = nl + 1;
  }
  while (!lines.empty() && lines.back().find_first_not_of(' ') == std::string::npos) lines.pop_back();
  return lines;
}

// The screen ends with an empty prompt, and it is the n-th prompt shown.
bool at_prompt(const std::string& screen, int n) {
  const auto lines = lines_of(screen);
  int prompts = 0;
  for (const auto& l : lines) prompts += l.starts_with(">");
  return !lines.empty() && (lines.back() == ">" || lines.back() == "> ") && prompts == n;
}

TEST(ChatCli, InteractiveTwoTurnsAndReset) {
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed";
  const std::string first = reply_to(json::array({{{"role", "user"}, {"content", "Hello there"}}}));
  const std::string second = reply_to(json::array({{{"role", "user"}, {"content", "Hello there"}},
                                                   {{"role", "assistant"}, {"content", first}},
                                                   {{"role", "user"}, {"content", "Tell me more"}}}));
  ASSERT_FALSE(squeeze(first).empty());

  terminal t(std::string("'") + OWL_BINARY + "' chat --temp 0 -n 20 -t 2");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 1); })) << t.screen();
  EXPECT_NE(t.screen().find("/reset"), std::string::npos) << "the banner names the commands:\n" << t.screen();

  t.line("Hello there");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 2); })) << t.screen();
  EXPECT_NE(squeeze(t.screen()).find("> Hello there " + squeeze(first) + " >"), std::string::npos)
      << "first reply, streamed:\n" << t.screen() << "\nexpected: " << first;

  // The second reply depends on the first turn: the history (and KV cache) were kept.
  t.line("Tell me more");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 3); })) << t.screen();
  EXPECT_NE(squeeze(t.screen()).find("> Tell me more " + squeeze(second) + " >"), std::string::npos)
      << "second reply:\n" << t.screen() << "\nexpected: " << second;

  t.line("/reset");
  ASSERT_TRUE(t.wait_for_text("(conversation reset)")) << t.screen();
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 4); })) << t.screen();

  // After the reset the same question gets the first answer again.
  t.line("Hello there");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 5); })) << t.screen();
  const std::string shown = squeeze(t.screen());
  EXPECT_NE(shown.find("(conversation reset) > Hello there " + squeeze(first) + " >"), std::string::npos) << t.screen();

  t.line("/exit");
  EXPECT_TRUE(t.wait_for_text("[exited 0]")) << t.screen();
}

TEST(ChatCli, InteractiveCtrlCStopsOnlyTheReply) {
  if (!have_tmux()) GTEST_SKIP() << "tmux is not installed";
  // --stream-delay-ms (hidden) paces the tiny model so that Ctrl-C lands mid-reply.
  terminal t(std::string("'") + OWL_BINARY + "' chat --temp 0 -n 400 --stream-delay-ms 20 -t 2");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 1); })) << t.screen();

  t.line("Tell me a long story");
  // Wait until the reply is visibly streaming: some text after the question, no new prompt.
  ASSERT_TRUE(t.wait_for([](const std::string& s) {
    const size_t asked = s.find("> Tell me a long story\n");
    return asked != std::string::npos && squeeze(s.substr(asked)).size() > std::string("> Tell me a long story").size() + 10;
  })) << t.screen();
  ASSERT_FALSE(at_prompt(t.screen(), 2)) << "the reply ended before Ctrl-C could be sent:\n" << t.screen();
  t.key("C-c");
  ASSERT_TRUE(t.wait_for_text("(reply stopped)")) << t.screen();
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 2); })) << t.screen();
  EXPECT_EQ(t.screen().find("[exited"), std::string::npos) << "Ctrl-C during a reply must not end the program";

  // Another turn is answered completely.
  t.line("And then?");
  ASSERT_TRUE(t.wait_for([](const std::string& s) { return at_prompt(s, 3); }, 60)) << t.screen();
  const auto lines = lines_of(t.screen());
  size_t asked = 0;
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].starts_with("> And then?")) asked = i;
  ASSERT_GT(asked, 0u);
  ASSERT_GT(lines.size(), asked + 2) << t.screen();
  EXPECT_GT(squeeze(lines[asked + 1]).size(), 0u) << "a reply after the second question:\n" << t.screen();

  // Ctrl-C at the prompt ends the program normally.
  t.key("C-c");
  EXPECT_TRUE(t.wait_for_text("[exited 0]")) << t.screen();
}

}  // namespace
}  // namespace owl
