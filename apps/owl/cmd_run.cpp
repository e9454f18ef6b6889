// owl run: stream a continuation of a prompt.
#include <cstdio>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/error.h"
#include "owl/generate.h"
#include "owl/model.h"
#include "owl/tokenizer.h"

namespace owl::cli {
namespace {

struct run_options {
  std::string model_dir;
  std::string prompt;
  int64_t max_tokens = -1;
  int64_t context = 0;
  int threads = 0;
  std::string kv_type = "f32";
  float temperature = -1, top_p = -1, min_p = -1, repeat_penalty = -1;
  int top_k = -1;
  float frequency_penalty = 0, presence_penalty = 0;
  int64_t seed = -1;
  bool json = false;
  bool no_repack = false;
};

void run(const run_options& o) {
  const std::filesystem::path dir = o.model_dir.empty() ? default_model_dir() : std::filesystem::path(o.model_dir);
  auto m = model::load(dir, load_options{.threads = o.threads,
                                         .kv_type = o.kv_type == "f16" ? dtype::f16 : dtype::f32,
                                         .repack_weights = !o.no_repack});
  auto tok = load_tokenizer(dir);

  // Start from the model's generation_config defaults; flags given on the command line win.
  sampling_params sampling = m->defaults().sampling;
  if (o.temperature >= 0) sampling.temperature = o.temperature;
  if (o.top_k >= 0) sampling.top_k = o.top_k;
  if (o.top_p >= 0) sampling.top_p = o.top_p;
  if (o.min_p >= 0) sampling.min_p = o.min_p;
  if (o.repeat_penalty >= 0) sampling.repetition_penalty = o.repeat_penalty;
  sampling.frequency_penalty = o.frequency_penalty;
  sampling.presence_penalty = o.presence_penalty;
  sampling.seed = o.seed >= 0 ? uint64_t(o.seed) : std::random_device{}();

  const std::vector<int32_t> prompt = tok->encode(o.prompt, true);
  // The KV cache is sized to what this run needs: prompt + requested tokens, or --ctx.
  const int64_t model_context = m->info().context_length;
  int64_t capacity = o.context > 0 ? o.context : std::min<int64_t>(model_context, 4096);
  if (o.max_tokens >= 0 && o.context == 0)
    capacity = std::min<int64_t>(model_context, int64_t(prompt.size()) + o.max_tokens);
  if (capacity > model_context)
    throw owl::error("--ctx " + std::to_string(capacity) + " exceeds the model's context of " +
                     std::to_string(model_context) + " tokens");
  auto s = m->new_session(capacity);

  generate_options options;
  options.max_tokens = o.max_tokens;
  options.sampling = sampling;
  options.stop_ids = m->defaults().eos_ids;
  if (auto eos = tok->eos_id()) options.stop_ids.push_back(*eos);

  if (!o.json) {
    std::fwrite(o.prompt.data(), 1, o.prompt.size(), stdout);
    std::fflush(stdout);
  }
  // The prompt's text gives the continuation its spacing; its special tokens (BOS) would
  // only add their markup to that context, so they are left out of it.
  std::vector<int32_t> visible_prompt;
  for (int32_t id : prompt)
    if (!tok->is_special(id)) visible_prompt.push_back(id);
  stream_decoder text(*tok, visible_prompt);
  std::string continuation;
  auto result = generate(*s, prompt, options, [&](int32_t id) {
    std::string piece = text.push(id);
    if (o.json) {
      continuation += piece;
    } else {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  });
  std::string rest = text.finish();
  if (o.json) {
    nlohmann::json out = {{"prompt_ids", prompt}, {"ids", result.tokens}, {"text", continuation + rest},
                          {"finish_reason", result.finish_reason}};
    std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  } else {
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);

  const double prompt_rate = result.prompt_seconds > 0 ? double(result.prompt_tokens) / result.prompt_seconds : 0;
  // The first generated token comes from the prompt pass; the rest each cost one forward.
  const size_t timed = result.tokens.size() > 1 ? result.tokens.size() - 1 : 0;
  const double gen_rate = result.generate_seconds > 0 ? double(timed) / result.generate_seconds : 0;
  std::fprintf(stderr, "owl: prompt %lld tokens, %.1f tokens/s; generated %zu tokens, %.1f tokens/s (%s)\n",
               static_cast<long long>(result.prompt_tokens), prompt_rate, result.tokens.size(), gen_rate,
               result.finish_reason.c_str());
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<run_options>();
  CLI::App* cmd = app.add_subcommand("run", "Stream a continuation of a prompt (default model: bundled stories260K)");
  cmd->add_option("model", options->model_dir, "Hugging Face model folder or GGUF file (default: the bundled stories260K)");
  cmd->add_option("-p,--prompt", options->prompt, "Prompt text");
  cmd->add_option("-n,--max-tokens", options->max_tokens,
                  "Tokens to generate (default: until an end token or the context is full)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--ctx", options->context, "Context (KV cache) size in tokens (default: min(model context, 4096))")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--temp", options->temperature, "Temperature; 0 = greedy (default: generation_config.json, else greedy)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", options->top_k, "Keep the K most likely tokens (0 = off)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", options->top_p, "Nucleus sampling threshold in (0, 1]");
  cmd->add_option("--min-p", options->min_p, "Drop tokens below P x the top probability");
  cmd->add_option("--repeat-penalty", options->repeat_penalty, "Repetition penalty (1 = off)");
  cmd->add_option("--frequency-penalty", options->frequency_penalty, "Frequency penalty (0 = off)");
  cmd->add_option("--presence-penalty", options->presence_penalty, "Presence penalty (0 = off)");
  cmd->add_option("--seed", options->seed, "Random seed (same seed, same output)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", options->threads, "Threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kv-type", options->kv_type, "KV-cache element type: f32 (exact) or f16 (half the memory)")
      ->check(CLI::IsMember({"f32", "f16"}));
  cmd->add_flag("--json", options->json,
                R"(Print {"prompt_ids", "ids", "text", "finish_reason"} instead of streaming the text)");
  cmd->add_flag("--no-repack", options->no_repack, "Keep weights in the file's layout and its shared pages (no interleaved rows; for several processes on one file)");
  cmd->callback([options] { run(*options); });
}

}  // namespace owl::cli
