// owl serve: an OpenAI-compatible HTTP server (see docs/server.md).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "commands.h"
#include "owl/error.h"
#include "owl/model.h"
#include "owl/server.h"

namespace owl::cli {
namespace {

struct serve_cli_options {
  std::string model_dir;
  std::string api_key_file;
  bool no_repack = false;
  server_options server;
};

// The key file's first line, trimmed; a key is never empty.
std::string read_key_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail(path, "cannot read the API key file");
  std::string line;
  std::getline(in, line);
  const size_t first = line.find_first_not_of(" \t\r\n");
  const size_t last = line.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) fail(path, "the API key file is empty", "put the key on its first line");
  return line.substr(first, last - first + 1);
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.starts_with("127.");
}

void serve_command(serve_cli_options& o) {
  o.server.repack_weights = !o.no_repack;
  if (!o.api_key_file.empty()) {
    if (!o.server.api_key.empty()) fail("owl serve", "give --api-key or --api-key-file, not both");
    o.server.api_key = read_key_file(o.api_key_file);
  }
  if (!is_loopback(o.server.host) && o.server.api_key.empty())
    std::fprintf(stderr, "owl serve: warning: listening on %s without an API key: anyone who can reach it can use "
                         "the model (set --api-key or --api-key-file)\n", o.server.host.c_str());
  const std::filesystem::path dir = o.model_dir.empty() ? default_model_dir() : std::filesystem::path(o.model_dir);
  const int code = serve(dir, o.server);
  if (code != 0) std::exit(code);
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto options = std::make_shared<serve_cli_options>();
  server_options& s = options->server;
  CLI::App* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("model", options->model_dir, "Hugging Face model folder or GGUF file (default: the bundled stories260K)");
  cmd->add_option("--host", s.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", s.port, "Port to listen on (0: any free port)")->check(CLI::Range(0, 65535))->capture_default_str();
  cmd->add_option("--api-key", s.api_key, "Require 'Authorization: Bearer KEY' (visible in ps: prefer --api-key-file)");
  cmd->add_option("--api-key-file", options->api_key_file, "Read the API key from the first line of this file");
  cmd->add_option("--parallel", s.parallel, "Requests decoded together (slots)")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--context", s.context, "Tokens per slot (default: min(model context, 4096))")->check(CLI::PositiveNumber);
  cmd->add_option("--queue", s.queue_limit, "Requests waiting for a slot before 429")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-t,--threads", s.threads, "Model threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-body", s.max_body_bytes, "Largest request body in bytes")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--no-repack", options->no_repack,
                "Keep weights in the file's layout and its shared pages (no interleaved rows; for several processes on one file)");
  cmd->callback([options] { serve_command(*options); });
}

}  // namespace owl::cli
