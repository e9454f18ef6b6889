// owl show: what a model is and what running it costs.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "owl/model.h"

namespace owl::cli {
namespace {

struct show_options {
  std::string model_dir;
  bool json = false;
};

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.2f %s", bytes, units[unit]);
  return text;
}

void show(const show_options& o) {
  // Nothing runs: the weights stay as the file stores them (no repacking to wait for).
  auto m = model::load(o.model_dir.empty() ? default_model_dir() : std::filesystem::path(o.model_dir),
                       load_options{.repack_weights = false});
  const model_info& i = m->info();
  const int64_t kv_bytes = i.kv_bytes_per_token * i.context_length;
  if (o.json) {
    nlohmann::json out = {{"architecture", i.architecture},
                          {"total_parameters", i.total_parameters},
                          {"active_parameters", i.active_parameters},
                          {"context_length", i.context_length},
                          {"stored_dtype", i.stored_dtype},
                          {"weight_bytes", i.weight_bytes},
                          {"kv_cache_bytes_full_context", kv_bytes},
                          {"layers", i.layers},
                          {"hidden_size", i.hidden_size},
                          {"heads", i.heads},
                          {"kv_heads", i.kv_heads},
                          {"head_dim", i.head_dim},
                          {"vocab_size", i.vocab_size},
                          {"experts", i.experts},
                          {"experts_per_token", i.experts_per_token}};
    std::printf("%s\n", out.dump(2).c_str());
    return;
  }
  std::printf("architecture       %s\n", i.architecture.c_str());
  std::printf("parameters         %lld total, %lld active per token\n", static_cast<long long>(i.total_parameters),
              static_cast<long long>(i.active_parameters));
  if (i.experts > 0)
    std::printf("experts            %lld routed, %lld per token\n", static_cast<long long>(i.experts),
                static_cast<long long>(i.experts_per_token));
  std::printf("layers             %lld (hidden %lld, heads %lld, kv heads %lld, head dim %lld)\n",
              static_cast<long long>(i.layers), static_cast<long long>(i.hidden_size), static_cast<long long>(i.heads),
              static_cast<long long>(i.kv_heads), static_cast<long long>(i.head_dim));
  std::printf("vocabulary         %lld\n", static_cast<long long>(i.vocab_size));
  std::printf("context length     %lld\n", static_cast<long long>(i.context_length));
  std::printf("stored dtype       %s\n", i.stored_dtype.c_str());
  std::printf("weights memory     %s\n", human_bytes(double(i.weight_bytes)).c_str());
  std::printf("kv cache (full)    %s (float32, %s per token)\n", human_bytes(double(kv_bytes)).c_str(),
              human_bytes(double(i.kv_bytes_per_token)).c_str());
}

}  // namespace

void add_show_command(CLI::App& app) {
  auto options = std::make_shared<show_options>();
  CLI::App* cmd = app.add_subcommand("show", "Architecture, parameter counts, context and memory of a model");
  cmd->add_option("model", options->model_dir, "Hugging Face model folder (default: the bundled stories260K)");
  cmd->add_flag("--json", options->json, "Print the figures as JSON");
  cmd->callback([options] { show(*options); });
}

}  // namespace owl::cli
