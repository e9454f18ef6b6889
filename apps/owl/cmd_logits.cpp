// owl logits: one full forward pass over given token ids, logits written as safetensors.
// The debugging tool the golden tests use to compare with transformers.
#include <cstdio>
#include <string>

#include "commands.h"
#include "owl/error.h"
#include "owl/model.h"
#include "owl/safetensors.h"

namespace owl::cli {
namespace {

struct logits_options {
  std::string model_dir;
  std::string tokens;
  std::string out;
  int threads = 0;
};

std::vector<int32_t> parse_token_list(const std::string& text) {
  std::vector<int32_t> ids;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string item = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    size_t used = 0;
    long long value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || value < 0 || value > INT32_MAX)
      throw owl::error("--tokens: expected comma-separated token ids like 1,2,3, found '" + item + "'");
    ids.push_back(int32_t(value));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return ids;
}

void logits(const logits_options& o) {
  const std::vector<int32_t> ids = parse_token_list(o.tokens);
  auto m = model::load(o.model_dir, load_options{.threads = o.threads});
  auto s = m->new_session(int64_t(ids.size()) <= m->info().context_length ? int64_t(ids.size()) : 0);
  std::span<const float> all = s->forward(ids, true);
  const int64_t vocab = m->info().vocab_size;
  std::vector<tensor_to_write> tensors{
      {"logits", dtype::f32, {int64_t(ids.size()), vocab}, std::as_bytes(all)},
      {"input_ids", dtype::i32, {int64_t(ids.size())}, std::as_bytes(std::span(ids))},
  };
  write_safetensors(o.out, tensors, {{"model", m->info().dir.string()}, {"architecture", m->info().architecture}});
}

}  // namespace

void add_logits_command(CLI::App& app) {
  auto options = std::make_shared<logits_options>();
  CLI::App* cmd = app.add_subcommand("logits", "Write the logits [T, vocab] of one forward pass as safetensors");
  cmd->add_option("model", options->model_dir, "Hugging Face model folder")->required();
  cmd->add_option("--tokens", options->tokens, "Comma-separated token ids, e.g. 1,2,3")->required();
  cmd->add_option("--out", options->out, "Output .safetensors file (tensor 'logits', float32)")->required();
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->callback([options] { logits(*options); });
}

}  // namespace owl::cli
