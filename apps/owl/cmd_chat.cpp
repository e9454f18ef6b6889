// owl chat: talk with a model through its chat template, interactively or for one reply.
//
// Interactive mode reads a turn at a `> ` prompt, streams the reply and keeps the history (and
// the KV cache) between turns. Ctrl-C while a reply streams stops that reply; Ctrl-C at the
// prompt, Ctrl-D or /exit ends the program.
#include <chrono>
#include <csignal>
#include <pthread.h>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/chat.h"
#include "owl/chat_session.h"
#include "owl/error.h"
#include "owl/model.h"
#include "owl/tokenizer.h"

namespace owl::cli {

// Shared with `owl template` (defined in cmd_template.cpp).
nlohmann::ordered_json read_json_file(const std::string& path, const std::string& what);
nlohmann::ordered_json read_messages_file(const std::string& path, nlohmann::ordered_json* tools);

namespace {

struct chat_cli_options {
  std::string model_dir;
  std::string system;
  std::string messages_file;
  std::string tools_file;
  bool json = false;
  int64_t max_tokens = -1;
  int64_t context = 0;
  float temperature = -1;
  int64_t seed = -1;
  int threads = 0;
  int stream_delay_ms = 0;  // hidden: slows streaming so tests can press Ctrl-C mid-reply
};

// ---- Ctrl-C ------------------------------------------------------------------------------
// The handler only touches lock-free atomics (async-signal-safe). While a reply streams it
// cancels the reply; at the prompt the interrupted read makes the loop end.
std::atomic<bool> interrupted{false};
std::atomic<chat_session*> streaming{nullptr};
pthread_t main_thread;

extern "C" void on_sigint(int) {
  interrupted.store(true);
  if (chat_session* s = streaming.load()) s->cancel();
  // The kernel may hand the signal to a worker thread of the model; the prompt's read() only
  // returns (EINTR) when the main thread itself is interrupted, so pass it on.
  if (!pthread_equal(pthread_self(), main_thread)) pthread_kill(main_thread, SIGINT);
}

// restart_reads=false lets SIGINT interrupt a blocking read of the prompt (EINTR); while a
// reply streams, SA_RESTART keeps terminal writes from failing half-way.
void install_sigint(bool restart_reads) {
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = restart_reads ? SA_RESTART : 0;
  sigaction(SIGINT, &action, nullptr);
}

// ---- reading a turn ----------------------------------------------------------------------

// One line from stdin without its newline; nullopt at EOF or when Ctrl-C interrupted the read.
std::optional<std::string> read_line() {
  char* buffer = nullptr;
  size_t size = 0;
  const ssize_t n = ::getline(&buffer, &size, stdin);
  std::optional<std::string> line;
  if (n >= 0) {
    line.emplace(buffer, size_t(n));
    if (!line->empty() && line->back() == '\n') line->pop_back();
    if (!line->empty() && line->back() == '\r') line->pop_back();
  }
  std::free(buffer);
  if (!line) clearerr(stdin);
  return line;
}

void show(const char* text) {
  std::fputs(text, stdout);
  std::fflush(stdout);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A user turn: one line; or several when a line ends with '\' (the backslash is dropped);
// or a block between lines holding """ (the quotes are dropped). nullopt: end the program.
std::optional<std::string> read_turn() {
  show("> ");
  std::optional<std::string> line = read_line();
  if (!line) return std::nullopt;
  std::string text;
  if (line->starts_with("\"\"\"")) {
    std::string rest = line->substr(3);
    if (rest.size() >= 3 && ends_with(rest, "\"\"\"")) return rest.substr(0, rest.size() - 3);  // """one line"""
    text = rest;
    bool first = rest.empty();
    while (true) {
      show("... ");
      line = read_line();
      if (!line) return interrupted ? std::nullopt : std::optional<std::string>(text);
      const bool closes = ends_with(*line, "\"\"\"");
      const std::string part = closes ? line->substr(0, line->size() - 3) : *line;
      if (!(closes && part.empty())) {
        if (!first) text += '\n';
        text += part;
        first = false;
      }
      if (closes) return text;
    }
  }
  while (line && ends_with(*line, "\\")) {
    text += line->substr(0, line->size() - 1) + "\n";
    show("... ");
    line = read_line();
    if (!line && interrupted) return std::nullopt;
  }
  if (line) text += *line;
  return text;
}

// ---- the session -------------------------------------------------------------------------

sampling_params sampling_for(const chat_cli_options& o, const model& m) {
  sampling_params sampling = m.defaults().sampling;  // generation_config.json, flags win
  if (o.temperature >= 0) sampling.temperature = o.temperature;
  sampling.seed = o.seed >= 0 ? uint64_t(o.seed) : std::random_device{}();
  return sampling;
}

void print_tool_calls(const parsed_reply& reply) {
  for (const tool_call& call : reply.tool_calls)
    std::fprintf(stderr, "(tool call %s: %s %s)\n", call.id.c_str(), call.name.c_str(),
                 call.arguments.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

// Streams one reply to stdout. Leading whitespace is not shown: SentencePiece models start a
// reply with a space and chat models often with newlines.
void stream_reply(chat_session& chat, const std::optional<std::string>& user_text, const chat_cli_options& o) {
  bool started = false;
  auto on_text = [&](std::string_view piece) {
    if (!started) {
      const size_t first = piece.find_first_not_of(" \t\r\n");
      if (first == std::string_view::npos) return;
      piece.remove_prefix(first);
      started = true;
    }
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    if (o.stream_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o.stream_delay_ms));
  };
  interrupted.store(false);
  install_sigint(/*restart_reads=*/true);
  streaming.store(&chat);
  std::optional<chat_reply> result;
  try {
    result = user_text ? chat.send(*user_text, on_text) : chat.respond(on_text);
  } catch (const owl::error& e) {
    streaming.store(nullptr);
    if (started) show("\n");
    // A failed turn (context full, a template that refuses the conversation) leaves the
    // session as it was, so the conversation can go on.
    std::fprintf(stderr, "owl: error: %s\n", e.what());
    return;
  }
  streaming.store(nullptr);
  show("\n");
  if (result->finish_reason == "cancelled") std::fputs("(reply stopped)\n", stderr);
  if (result->finish_reason == "length" && o.max_tokens < 0)
    std::fputs("(the context is full: /reset to start over)\n", stderr);
  print_tool_calls(result->reply);
}

void interactive(chat_session& chat, const chat_cli_options& o, const std::string& model_name) {
  std::fprintf(stderr, "owl chat: %s (%s template%s). /reset starts over, /system TEXT sets the system prompt,\n"
               "/exit or Ctrl-D quits. Ctrl-C stops a reply. End a line with \\ or use \"\"\" for several lines.\n",
               model_name.c_str(), chat.chat_template_used().is_fallback() ? "ChatML fallback" : "the model's",
               chat.format() == tool_call_format::none ? "" : ", tool calls");
  main_thread = pthread_self();  // before any handler is installed
  while (true) {
    interrupted.store(false);
    install_sigint(/*restart_reads=*/false);
    std::optional<std::string> turn = read_turn();
    if (!turn) {
      show("\n");  // leave the terminal on a fresh line after ^C / ^D
      return;
    }
    const std::string& text = *turn;
    if (text.find_first_not_of(" \t\n") == std::string::npos) continue;
    if (text == "/exit" || text == "/quit") return;
    if (text == "/reset") {
      chat.reset();
      std::fputs("(conversation reset)\n", stderr);
      continue;
    }
    if (text == "/system" || text.starts_with("/system ")) {
      const std::string system = text.size() > 8 ? text.substr(8) : std::string();
      chat.set_system(system);
      std::fputs(system.empty() ? "(system prompt removed)\n" : "(system prompt set)\n", stderr);
      continue;
    }
    if (text.starts_with("/") && text.find_first_of(" \n") == std::string::npos) {
      std::fprintf(stderr, "(unknown command %s: /reset, /system TEXT, /exit)\n", text.c_str());
      continue;
    }
    stream_reply(chat, text, o);
  }
}

void chat(const chat_cli_options& o) {
  const std::filesystem::path dir = o.model_dir.empty() ? default_model_dir() : std::filesystem::path(o.model_dir);
  nlohmann::ordered_json tools, messages;
  if (!o.messages_file.empty()) messages = read_messages_file(o.messages_file, &tools);
  if (!o.tools_file.empty()) {
    tools = read_json_file(o.tools_file, "tools");
    if (!tools.is_array()) fail(o.tools_file, std::string("expected a JSON list of tools, found ") + tools.type_name());
  }

  std::shared_ptr<model> m = model::load(dir, load_options{.threads = o.threads});
  std::shared_ptr<const tokenizer> tok = load_tokenizer(dir);
  chat_options options;
  options.sampling = sampling_for(o, *m);
  options.max_tokens = o.max_tokens;
  options.context = o.context;
  options.tools = tools;
  chat_session chat(m, tok, chat_template::from_model(dir), options);
  if (!messages.is_null()) chat.set_messages(messages);
  if (!o.system.empty()) chat.set_system(o.system);

  if (o.messages_file.empty()) {
    interactive(chat, o, dir.filename().string());
    return;
  }
  // One reply to the given conversation: only the reply goes to stdout.
  chat_reply result = chat.respond();
  if (o.json) {
    nlohmann::ordered_json out = chat.messages().back();
    out["finish_reason"] = result.finish_reason;
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(result.reply.content.data(), 1, result.reply.content.size(), stdout);
    std::fputc('\n', stdout);
    print_tool_calls(result.reply);
  }
  std::fflush(stdout);
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto options = std::make_shared<chat_cli_options>();
  CLI::App* cmd = app.add_subcommand("chat", "Chat with a model through its chat template (default model: bundled stories260K)");
  cmd->add_option("model", options->model_dir, "Hugging Face model folder (default: the bundled stories260K)");
  cmd->add_option("--system", options->system, "System prompt");
  cmd->add_option("--messages", options->messages_file,
                  "JSON file with a list of messages: print one reply to them and exit");
  cmd->add_option("--tools", options->tools_file, "JSON file: a list of tool definitions for the template");
  cmd->add_flag("--json", options->json,
                "With --messages: print the assistant message as JSON (content, reasoning_content, tool_calls)");
  cmd->add_option("-n,--max-tokens", options->max_tokens, "Tokens per reply at most (default: until the end of the turn)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ctx", options->context, "Context (KV cache) size in tokens (default: min(model context, 4096))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temp", options->temperature, "Temperature; 0 = greedy (default: generation_config.json, else greedy)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", options->seed, "Random seed (same seed, same replies)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  // Not shown in --help (empty group): a pause after each streamed piece, so that a test can
  // press Ctrl-C while the tiny bundled model is still answering.
  cmd->add_option("--stream-delay-ms", options->stream_delay_ms, "Pause after each streamed piece")
      ->check(CLI::NonNegativeNumber)
      ->group("");
  cmd->callback([options] { chat(*options); });
}

}  // namespace owl::cli
